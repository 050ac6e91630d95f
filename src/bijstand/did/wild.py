r"""Wild cluster bootstrap of the t statistic for estimators that are linear in the outcome.

For an estimate :math:`\hat\theta = a'y` with a cluster-robust standard error
:math:`\widehat{se}(y) = (c\sum_g S_g(y)^2)^{1/2}`, :math:`S(y)` linear in :math:`y` (the cluster scores), the
wild cluster bootstrap draws outcomes

.. math::

    y^*_b = \tilde y + \tilde u \circ v_{g(\cdot)b},\qquad t^*_b = \frac{a'y^*_b - \theta_b}{\widehat{se}(y^*_b)}

with one multiplier :math:`v_{gb}` per cluster and draw (mean 0, variance 1), and reports
:math:`p = B^{-1}\#\{b: |t^*_b| \ge |t|\}`, :math:`t = (\hat\theta - \theta_0)/\widehat{se}(y)`:

* restricted (WCR, ``bootstrap="restricted"``): :math:`\tilde y, \tilde u` are the fitted values and residuals of
  the model with :math:`H_0: \theta = \theta_0` imposed, and :math:`\theta_b = \theta_0`;
* unrestricted (WCU): the unrestricted fit, and :math:`\theta_b = \hat\theta`.

Because :math:`a'y^*` and :math:`S(y^*)` are linear in :math:`y^*`, everything is precomputed once:
:math:`a'y^*_b - \theta_b = k'v_b` and :math:`S(y^*_b) = K v_b` with the :math:`G`-vector
:math:`k_g = \sum_{i \in g} a_i\tilde u_i` and the :math:`G\times G` matrix :math:`K_{hg} = S_h(\tilde u \circ 1_g)`
(the approach of Roodman, MacKinnon, Nielsen & Webb 2019, "Fast and wild", used by ``boottest`` and
``fwildclusterboot``); all :math:`B` draws are then two matrix products. Under the restricted bootstrap
:math:`\tilde u` is linear in :math:`\theta_0`, so :math:`k` and :math:`K` are too and the p-value of any
:math:`\theta_0` costs :math:`O(GB)`: the confidence interval is the set of :math:`\theta_0` not rejected at
level :math:`\alpha`, found by bisection on the p-value (test inversion, as ``boottest``).

Estimators:

* :func:`wild_bootstrap_twfe` — the static TWFE coefficient, a TWFE event-study coefficient, or a linear
  combination of event-study coefficients (unit and period effects absorbed exactly); clustered SE with fixest's
  CR1 factor :math:`c = \frac{G}{G-1}\frac{n-1}{n-K}` taken from :mod:`bijstand.did.twfe` (so :math:`t` at the data
  is fixest's);
* :func:`wild_bootstrap_imputation` — an estimate of :func:`bijstand.did.imputation.imputation` with its
  conservative SE (:math:`c = 1`). The restricted model under :math:`H_0: \tau_{it} = \theta_0` for every treated
  observation is :math:`y_{it} - \theta_0 D_{it} = \alpha_i + \lambda_t (+ X_{it}'\beta) + u_{it}` fitted on *all*
  observations (weighted as the first stage); only the restricted bootstrap is offered (the unrestricted
  imputation model fits every treated observation exactly and leaves nothing to resample there).

Multipliers (``multiplier``): Rademacher :math:`\pm1`, Mammen's two-point, or Webb's six-point distribution (drawn
as in :func:`bijstand.did.bootstrap.multiplier_weights`). With Rademacher and :math:`G \le 12` clusters (or
:math:`2^G \le` ``n_boot``) the :math:`2^G` sign vectors are enumerated instead of drawn (``full_enumeration``;
``n_boot`` is then :math:`2^G`), as ``wildboottest`` and ``fwildclusterboot`` do; with so few clusters Webb's
weights (:math:`6^G` vectors) are the better choice.

Conventions compared with ``wildboottest`` 0.3.2 (``WildboottestCL``, the reference implementation in the tests):
the bootstrap statistics are the same (its "11" type: :math:`t^* = (R\beta^* - r)/se^*` restricted,
:math:`(R\beta^* - R\hat\beta)/se^*` unrestricted, CR1 scores). It differs in (i) the small-sample factor,
:math:`\frac{G}{G-1}\frac{n-1}{n-k}` with :math:`k` = every column of its design matrix, so with unit and period
dummies written out its :math:`t` and :math:`t^*` equal ours times :math:`\sqrt{c_{\text{fixest}}/c_{\text{wbt}}}`
(p-values are unaffected: the factor scales :math:`t` and every :math:`t^*` alike); (ii) its p-value counts
:math:`|t^*| > |t|` strictly, where we count :math:`|t^*| \ge |t|` (up to a relative :math:`10^{-10}`, so that
the enumerated draw that reproduces the data counts); (iii) it tests :math:`\theta_0 = 0` only and has no
interval.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import sparse

from bijstand.did.bootstrap import multiplier_weights
from bijstand.did.imputation import (
    COLLINEARITY_TOL, ImputationResult, TwoWayLeastSquares, _sequential_pivots,
)
from bijstand.did.results import Effect, check_option, critical_value

Bootstrap = Literal["restricted", "unrestricted"]
Multiplier = Literal["rademacher", "mammen", "webb"]
BOOTSTRAPS: tuple[str, ...] = ("restricted", "unrestricted")
MULTIPLIERS: tuple[str, ...] = ("rademacher", "mammen", "webb")
_ALIASES = {"WCR": "restricted", "WCU": "unrestricted", "wcr": "restricted", "wcu": "unrestricted"}

#: Enumerate all Rademacher sign vectors up to this many clusters.
ENUMERATE_MAX_CLUSTERS = 12
#: Clusters above which the G x G score matrix becomes too large (use analytic or randomisation inference).
MAX_CLUSTERS = 4000
#: Relative tolerance under which |t*| counts as equal to |t| in the p-value.
TIE_TOLERANCE = 1e-10


@dataclass
class WildBootstrapResult:
    r"""Result of :func:`wild_bootstrap_twfe` / :func:`wild_bootstrap_imputation`.

    Attributes
    ----------
    overall
        :class:`~bijstand.did.results.Effect`: the estimate, its analytic clustered SE, :math:`t` at ``null``, the
        bootstrap p-value, and the interval by test inversion (``-inf``/``inf`` when the p-value never falls to
        :math:`\alpha`, e.g. with very few clusters). ``crit_value`` is the :math:`1-\alpha` quantile of
        :math:`|t^*|` at ``null``; ``dof`` is ``None``.
    term
        What was tested (``"D"``, ``"event_time 2"``, ``"0.5*e0 + 0.5*e1"``, ``"overall"``, ...).
    t_boot
        The :math:`B` bootstrap statistics :math:`t^*_b` at ``null``.
    multipliers
        The :math:`B \times G` multipliers used (columns = clusters in sorted order of their labels).
    bootstrap, multiplier, n_boot, full_enumeration, n_clusters, small_sample_factor, estimator
        Design of the bootstrap (``small_sample_factor`` multiplies the CR0 variance: fixest's for TWFE, 1 for
        the imputation estimator).
    """

    overall: Effect
    term: str
    t_boot: np.ndarray = field(repr=False)
    multipliers: np.ndarray = field(repr=False)
    bootstrap: str
    multiplier: str
    n_boot: int
    full_enumeration: bool
    n_clusters: int
    small_sample_factor: float
    estimator: str
    null: float

    def tidy(self) -> pd.DataFrame:
        """One row: ``term, estimate, se, statistic, p_value, ci_lower, ci_upper``."""
        e = self.overall
        return pd.DataFrame([{"term": self.term, "estimate": e.estimate, "se": e.se, "statistic": e.statistic,
                              "p_value": e.p_value, "ci_lower": e.ci_lower, "ci_upper": e.ci_upper}])

    @property
    def table(self) -> pd.DataFrame:
        """Same as :meth:`tidy`."""
        return self.tidy()

    def glance(self) -> pd.DataFrame:
        """One-row description of the bootstrap."""
        return pd.DataFrame([{"estimator": self.estimator, "term": self.term, "bootstrap": self.bootstrap,
                              "multiplier": self.multiplier, "n_boot": self.n_boot,
                              "full_enumeration": self.full_enumeration, "n_clusters": self.n_clusters,
                              "null": self.null, "inference": self.overall.inference}])

    def summary(self) -> str:
        """Printable summary."""
        e = self.overall
        draws = f"all {self.n_boot} sign vectors" if self.full_enumeration else f"{self.n_boot} draws"
        return "\n".join([
            f"Wild cluster bootstrap ({self.bootstrap}, {self.multiplier} multipliers, {draws}) — {self.estimator}",
            f"Term: {self.term}   Clusters: {self.n_clusters}   H0: theta = {self.null:g}",
            f"estimate {e.estimate:.6g}   se {e.se:.6g}   t {e.statistic:.4g}   bootstrap p = {e.p_value:.4g}",
            f"{100 * (1 - e.alpha):g}% CI by test inversion [{e.ci_lower:.6g}, {e.ci_upper:.6g}]",
        ])

    def __str__(self) -> str:
        return self.summary()


# ----------------------------------------------------------------------------------------------------------------
# The engine: precomputed k and K, p-value as a function of theta_0, inversion
# ----------------------------------------------------------------------------------------------------------------

def _multiplier_matrix(kind: str, n_clusters: int, n_boot: int, seed, multipliers) -> tuple[np.ndarray, bool]:
    """G x B multipliers, and whether they are the full Rademacher enumeration."""
    if multipliers is not None:
        v = np.asarray(multipliers, float)
        if v.ndim != 2 or v.shape[1] != n_clusters:
            raise ValueError(f"multipliers must be an n_boot x n_clusters matrix ({n_clusters} clusters), "
                             f"got shape {v.shape}")
        return v.T.copy(), False
    if n_boot < 1:
        raise ValueError(f"n_boot must be positive, got {n_boot}")
    if kind == "rademacher" and (n_clusters <= ENUMERATE_MAX_CLUSTERS or 2.0 ** n_clusters <= n_boot):
        return np.array(list(itertools.product([-1.0, 1.0], repeat=n_clusters))).T, True
    rng = np.random.default_rng(seed)
    return multiplier_weights(kind, (n_clusters, n_boot), rng), False


class _Engine:
    r"""p-value of :math:`H_0: \theta = \theta_0` from :math:`k(\theta_0) = k_a + \theta_0 k_b` and
    :math:`K(\theta_0) = K_a + \theta_0 K_b` (restricted) or fixed :math:`k, K` (unrestricted)."""

    def __init__(self, *, estimate, se, factor, V, k_a, K_a, k_b=None, K_b=None):
        self.estimate, self.se, self.factor = estimate, se, factor
        self.n_a = k_a @ V
        self.P = K_a @ V
        self.restricted = k_b is not None
        if self.restricted:
            self.n_b = k_b @ V
            Q = K_b @ V
            self.pp = np.einsum("ij,ij->j", self.P, self.P)
            self.pq = np.einsum("ij,ij->j", self.P, Q)
            self.qq = np.einsum("ij,ij->j", Q, Q)
        else:
            self.pp = np.einsum("ij,ij->j", self.P, self.P)

    def t_boot(self, theta0: float) -> np.ndarray:
        if self.restricted:
            numerator = self.n_a + theta0 * self.n_b
            denominator = self.pp + 2 * theta0 * self.pq + theta0 * theta0 * self.qq
        else:
            numerator, denominator = self.n_a, self.pp
        with np.errstate(divide="ignore", invalid="ignore"):
            return numerator / np.sqrt(self.factor * np.maximum(denominator, 0.0))

    def t_stat(self, theta0: float) -> float:
        return (self.estimate - theta0) / self.se

    def p_value(self, theta0: float) -> float:
        t_star = np.abs(self.t_boot(theta0))
        observed = abs(self.t_stat(theta0))
        exceed = t_star >= observed * (1 - TIE_TOLERANCE)
        return float(np.mean(exceed & np.isfinite(t_star) | np.isinf(t_star)))

    def interval(self, alpha: float) -> tuple[float, float]:
        if not self.restricted:
            t_star = np.sort(np.abs(self.t_boot(0.0)))[::-1]
            # p(theta0) > alpha  <=>  #{|t*| >= |t(theta0)|} > alpha B  <=>  |t(theta0)| <= the (floor(alpha B)+1)-th
            index = int(np.floor(alpha * t_star.size))
            if index >= t_star.size:
                return -np.inf, np.inf
            q = t_star[index]
            return self.estimate - q * self.se, self.estimate + q * self.se
        return self._bound(alpha, -1.0), self._bound(alpha, +1.0)

    def _bound(self, alpha: float, direction: float) -> float:
        inside = self.estimate  # t = 0, p = 1
        step = critical_value(alpha, None) * self.se
        outside = None
        for _ in range(60):
            candidate = inside + direction * step
            if self.p_value(candidate) <= alpha:
                outside = candidate
                break
            inside = candidate
            step *= 2
        if outside is None:
            return direction * np.inf
        for _ in range(200):
            if abs(outside - inside) <= 1e-12 * max(1.0, abs(self.estimate)) + 1e-9 * self.se:
                break
            middle = 0.5 * (inside + outside)
            if self.p_value(middle) > alpha:
                inside = middle
            else:
                outside = middle
        return 0.5 * (inside + outside)


def _cluster_spread(u: np.ndarray, cluster: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """The n x len(clusters) matrix whose column j is ``u`` on the rows of cluster ``clusters[j]``, 0 elsewhere."""
    out = np.zeros((u.size, clusters.size))
    position = np.full(int(cluster.max()) + 1, -1)
    position[clusters] = np.arange(clusters.size)
    rows = np.flatnonzero(position[cluster] >= 0)
    out[rows, position[cluster[rows]]] = u[rows]
    return out


def _score_matrix(score_fn, u: np.ndarray, cluster: np.ndarray, n_clusters: int, chunk: int = 256) -> np.ndarray:
    r""":math:`K_{hg} = S_h(u \circ 1_g)`, columns built ``chunk`` clusters at a time."""
    K = np.empty((n_clusters, n_clusters))
    for start in range(0, n_clusters, chunk):
        clusters = np.arange(start, min(n_clusters, start + chunk))
        K[:, clusters] = score_fn(_cluster_spread(u, cluster, clusters))
    return K


def _finish(engine: _Engine, *, V, full_enumeration, null, alpha, confint, term, estimator, bootstrap, multiplier,
            n_clusters, factor) -> WildBootstrapResult:
    t_boot = engine.t_boot(null)
    p_value = engine.p_value(null)
    lower, upper = engine.interval(alpha) if confint else (np.nan, np.nan)
    finite = np.abs(t_boot[np.isfinite(t_boot)])
    crit = float(np.quantile(finite, 1 - alpha)) if finite.size else np.nan
    overall = Effect(estimate=float(engine.estimate), se=float(engine.se), statistic=float(engine.t_stat(null)),
                     p_value=p_value, ci_lower=float(lower), ci_upper=float(upper), crit_value=crit, dof=None,
                     alpha=float(alpha), n_clusters=int(n_clusters),
                     inference=f"wild cluster bootstrap ({bootstrap}, {multiplier})", null=float(null))
    return WildBootstrapResult(overall=overall, term=term, t_boot=t_boot, multipliers=V.T, bootstrap=bootstrap,
                               multiplier=multiplier, n_boot=int(V.shape[1]), full_enumeration=full_enumeration,
                               n_clusters=int(n_clusters), small_sample_factor=float(factor), estimator=estimator,
                               null=float(null))


def _fixest_factor(frame: pd.DataFrame, *, unit: str, time: str, cluster: str, n_slopes: int, n_clusters: int
                   ) -> float:
    r"""fixest's CR1 factor :math:`\frac{G}{G-1}\frac{n-1}{n-K}` for ``y ~ slopes | unit + time``.

    The count :math:`K` is the one :func:`bijstand.did.twfe._fit_clustered` pins (slopes plus fixed-effect levels,
    an effect nested in the clusters counting as one parameter), from :func:`bijstand.did.twfe._fixest_factor`;
    ``tests/test_wild_reference.py`` checks that both give the same factor and standard error.
    """
    from bijstand.did.twfe import _fixest_factor as twfe_factor

    return twfe_factor(frame, n_slopes=n_slopes, nobs=len(frame), unit=unit, time=time, cluster_column=cluster,
                       n_clusters=n_clusters)


def _check_common(bootstrap, multiplier, alpha, n_clusters):
    bootstrap = check_option("bootstrap", bootstrap, BOOTSTRAPS, _ALIASES)
    multiplier = check_option("multiplier", multiplier, MULTIPLIERS)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if n_clusters < 2:
        raise ValueError(f"the wild cluster bootstrap needs at least two clusters, got {n_clusters}")
    if n_clusters > MAX_CLUSTERS:
        raise ValueError(f"{n_clusters} clusters: the wild cluster bootstrap here forms a G x G matrix and is "
                         f"limited to {MAX_CLUSTERS} clusters; with that many clusters analytic inference is fine")
    return bootstrap, multiplier


# ----------------------------------------------------------------------------------------------------------------
# (a), (b): TWFE coefficients and linear combinations
# ----------------------------------------------------------------------------------------------------------------

def _event_regressors(frame: pd.DataFrame, *, time: str, group: str, leads, lags, reference, bin_endpoints
                      ) -> tuple[pd.DataFrame, list[int], list[str]]:
    """Relative-time dummies as :func:`bijstand.did.twfe.event_study_twfe` builds them."""
    treated = frame[group] > 0
    if not treated.any():
        raise ValueError(f"column {group!r} has no treated units (all 0)")
    event_time = (frame[time] - frame[group]).where(treated)
    low = int(event_time.min()) if leads is None else -int(leads)
    high = int(event_time.max()) if lags is None else int(lags)
    if low > high:
        raise ValueError(f"empty event window: leads={leads}, lags={lags}")
    if not low <= reference <= high:
        raise ValueError(f"reference={reference} is outside the event window [{low}, {high}]")
    if bin_endpoints:
        event_time = event_time.clip(lower=low, upper=high)
    else:
        outside = treated & ((event_time < low) | (event_time > high))
        frame, event_time = frame.loc[~outside].copy(), event_time.loc[~outside]
    event_times = [e for e in range(low, high + 1) if e != reference and (event_time == e).any()]
    columns = [f"event_m{-e}" if e < 0 else f"event_p{e}" for e in event_times]
    for e, column in zip(event_times, columns):
        frame[column] = (event_time == e).astype(float).to_numpy()
    return frame, event_times, columns


def wild_bootstrap_twfe(
    data: pd.DataFrame,
    *,
    y: str,
    unit: str,
    time: str,
    group: str,
    event_time: int | dict[int, float] | None = None,
    leads: int | None = None,
    lags: int | None = None,
    reference: int = -1,
    bin_endpoints: bool = True,
    cluster: str | None = None,
    null: float = 0.0,
    bootstrap: Bootstrap = "restricted",
    multiplier: Multiplier = "webb",
    n_boot: int = 999,
    seed: int | None = None,
    alpha: float = 0.05,
    confint: bool = True,
    multipliers: np.ndarray | None = None,
) -> WildBootstrapResult:
    r"""Wild cluster bootstrap test and interval for a TWFE coefficient or a combination of event-study coefficients.

    The model is :func:`bijstand.did.twfe.twfe_static`'s
    :math:`y_{it} = \alpha_i + \lambda_t + \beta D_{it} + \varepsilon_{it}` (``event_time=None``) or
    :func:`bijstand.did.twfe.event_study_twfe`'s
    :math:`y_{it} = \alpha_i + \lambda_t + \sum_{e \ne r}\beta_e 1\{t - G_i = e\} + \varepsilon_{it}`, and the
    parameter :math:`\theta = \beta`, :math:`\beta_e` (``event_time=e``) or :math:`\sum_e c_e\beta_e`
    (``event_time={e: c_e}``). With :math:`\tilde X` the regressors after absorbing both effects,
    :math:`a = \tilde X(\tilde X'\tilde X)^{-1}R` and :math:`\hat\theta = a'y`; the restricted residuals are
    :math:`\hat u + (\hat\theta - \theta_0)\,a / a'a`. See the module docstring for the bootstrap.

    Parameters
    ----------
    data, y, unit, time, group
        Long panel as in :func:`bijstand.did.twfe.twfe_static`.
    event_time
        ``None`` (static coefficient), an event time, or a dict of event time -> coefficient of the combination.
    leads, lags, reference, bin_endpoints
        Event-study window, as in :func:`bijstand.did.twfe.event_study_twfe` (ignored for the static model).
    cluster
        Cluster column (default ``unit``).
    null
        :math:`\theta_0` of the reported test.
    bootstrap
        ``"restricted"`` (WCR, default) or ``"unrestricted"`` (WCU); ``"WCR"``/``"WCU"`` are accepted.
    multiplier
        ``"webb"`` (default), ``"rademacher"`` or ``"mammen"``.
    n_boot, seed
        Draws and seed (``numpy.random.default_rng``); ignored under full Rademacher enumeration.
    alpha, confint
        Level of the interval; ``confint=False`` skips the inversion.
    multipliers
        An ``n_boot x G`` matrix of multipliers to use instead of drawing (clusters in sorted label order), e.g.
        to reproduce another program draw by draw.

    Returns
    -------
    WildBootstrapResult

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(3)
    >>> unit, period = np.repeat(np.arange(8), 10), np.tile(np.arange(1, 11), 8)
    >>> first = np.repeat([4, 4, 6, 6, 8, 0, 0, 0], 10)
    >>> y = rng.normal(size=8).repeat(10) + 0.1 * period + 1.0 * ((first > 0) & (period >= first))
    >>> panel = pd.DataFrame({"unit": unit, "period": period, "first": first,
    ...                       "y": y + rng.normal(scale=0.5, size=80)})
    >>> result = wild_bootstrap_twfe(panel, y="y", unit="unit", time="period", group="first",
    ...                              multiplier="rademacher")
    >>> result.n_boot, result.full_enumeration
    (256, True)
    >>> print(f"{result.overall.estimate:.3f} p = {result.overall.p_value:.4f}")
    0.773 p = 0.0156
    """
    from bijstand.did.twfe import _require_columns, _validate_panel

    _require_columns(data, {"y": y, "unit": unit, "time": time, "group": group, "cluster": cluster})
    _validate_panel(data, y=y, unit=unit, time=time, group=group)
    frame = data[[c for c in dict.fromkeys([y, unit, time, group, cluster]) if c is not None]].copy()
    if event_time is None:
        frame["D"] = ((frame[group] > 0) & (frame[time] >= frame[group])).astype(float)
        if frame["D"].nunique() < 2:
            raise ValueError(f"column {group!r} gives no variation in treatment: D is constant")
        columns, contrast, term = ["D"], np.array([1.0]), "D"
    else:
        frame, event_times, columns = _event_regressors(frame, time=time, group=group, leads=leads, lags=lags,
                                                        reference=reference, bin_endpoints=bin_endpoints)
        weights = {int(event_time): 1.0} if not isinstance(event_time, dict) else {int(k): float(c) for k, c in
                                                                                   event_time.items()}
        unknown = [e for e in weights if e not in event_times]
        if unknown:
            raise ValueError(f"event_time {unknown} has no coefficient in the event study (estimated: "
                             f"{event_times}; the reference period {reference} is normalised to 0)")
        contrast = np.array([weights.get(e, 0.0) for e in event_times])
        term = (f"event_time {next(iter(weights))}" if not isinstance(event_time, dict)
                else " + ".join(f"{c:g}*e{e}" for e, c in weights.items()))
    cluster_column = unit if cluster is None else cluster
    cluster_codes = pd.factorize(frame[cluster_column].to_numpy(), sort=True)[0].astype(np.int64)
    n_clusters = int(cluster_codes.max()) + 1
    bootstrap, multiplier = _check_common(bootstrap, multiplier, alpha, n_clusters)

    unit_codes = pd.factorize(frame[unit].to_numpy(), sort=True)[0].astype(np.int64)
    time_codes = pd.factorize(frame[time].to_numpy(), sort=True)[0].astype(np.int64)
    effects = TwoWayLeastSquares(unit_codes, time_codes, n_units=int(unit_codes.max()) + 1,
                                 n_times=int(time_codes.max()) + 1)
    yv = frame[y].to_numpy(float)
    X_raw = frame[columns].to_numpy(float)
    X_tilde = effects.residuals(X_raw)
    gram = X_tilde.T @ X_tilde
    collinear = _sequential_pivots(gram, (X_raw * X_raw).sum(axis=0)) <= COLLINEARITY_TOL
    if collinear.any():
        raise ValueError(f"the regressors {[c for c, bad in zip(columns, collinear) if bad]} are collinear with the "
                         f"unit and period effects (e.g. an event study with every relative period and no "
                         f"never-treated units): bin or drop more event times")
    gram_inv = np.linalg.inv(gram)
    a = X_tilde @ (gram_inv @ contrast)
    y_tilde = effects.residuals(yv)
    estimate = float(a @ y_tilde)

    def residualize(Z: np.ndarray) -> np.ndarray:
        Z_tilde = effects.residuals(Z)
        return Z_tilde - X_tilde @ (gram_inv @ (X_tilde.T @ Z_tilde))

    cluster_sum = sparse.csr_matrix((a, (cluster_codes, np.arange(a.size))), shape=(n_clusters, a.size))

    def scores(Z: np.ndarray) -> np.ndarray:
        return cluster_sum @ residualize(Z)

    u_hat = residualize(yv[:, None])[:, 0]
    score_at_data = scores(yv[:, None])[:, 0]
    factor = _fixest_factor(frame, unit=unit, time=time, cluster=cluster_column, n_slopes=len(columns),
                            n_clusters=n_clusters)
    se = float(np.sqrt(factor * score_at_data @ score_at_data))

    def k_of(u):
        return np.bincount(cluster_codes, a * u, n_clusters)

    V, full = _multiplier_matrix(multiplier, n_clusters, n_boot, seed, multipliers)
    if bootstrap == "restricted":
        u_a = u_hat + estimate * a / (a @ a)
        u_b = -a / (a @ a)
        engine = _Engine(estimate=estimate, se=se, factor=factor, V=V,
                         k_a=k_of(u_a), K_a=_score_matrix(scores, u_a, cluster_codes, n_clusters),
                         k_b=k_of(u_b), K_b=_score_matrix(scores, u_b, cluster_codes, n_clusters))
    else:
        engine = _Engine(estimate=estimate, se=se, factor=factor, V=V, k_a=k_of(u_hat),
                         K_a=_score_matrix(scores, u_hat, cluster_codes, n_clusters))
    estimator = "static TWFE" if event_time is None else "TWFE event study"
    return _finish(engine, V=V, full_enumeration=full, null=null, alpha=alpha, confint=confint, term=term,
                   estimator=estimator, bootstrap=bootstrap, multiplier=multiplier, n_clusters=n_clusters,
                   factor=factor)


# ----------------------------------------------------------------------------------------------------------------
# (c): the imputation estimator
# ----------------------------------------------------------------------------------------------------------------

def wild_bootstrap_imputation(
    result: ImputationResult,
    *,
    term: str | int = "overall",
    null: float = 0.0,
    multiplier: Multiplier = "webb",
    n_boot: int = 999,
    seed: int | None = None,
    alpha: float = 0.05,
    confint: bool = True,
    multipliers: np.ndarray | None = None,
) -> WildBootstrapResult:
    r"""Restricted wild cluster bootstrap of an imputation estimate (:func:`bijstand.did.imputation.imputation`).

    Under :math:`H_0: \tau_{it} = \theta_0` for all treated observations the outcome model is
    :math:`y_{it} - \theta_0 D_{it} = \alpha_i + \lambda_t (+X_{it}'\beta) + u_{it}` on all observations of the
    estimation sample (weighted least squares with the estimator's ``weights``). Bootstrap outcomes are
    :math:`y^* = \hat y_0 + \theta_0 D + v_{g} \hat u_0`; on each the imputation estimate
    :math:`v'y^*` and its conservative SE (the same :math:`v^*`, recentring cells and clusters as the estimate)
    are recomputed — in closed form, since both are linear in :math:`y^*` — and
    :math:`t^* = (v'y^* - \theta_0)/\widehat{se}(y^*)` is compared with
    :math:`t = (\hat\theta - \theta_0)/\widehat{se}`. Clusters are those of the result.

    Parameters
    ----------
    result
        An :class:`~bijstand.did.imputation.ImputationResult`.
    term
        ``"overall"`` (default: the result's overall parameter), ``"ATT"`` (static result) or an event time of its
        table.
    null, multiplier, n_boot, seed, alpha, confint, multipliers
        As in :func:`wild_bootstrap_twfe`.

    Returns
    -------
    WildBootstrapResult
    """
    if not isinstance(result, ImputationResult):
        raise ValueError(f"wild_bootstrap_imputation: result must be an ImputationResult, got {type(result).__name__}")
    design = result._design
    names = result.estimate_names
    key = {"overall": names[-1], "ATT": "ATT"}.get(term, f"e{term}" if not isinstance(term, str) else term)
    if key not in names:
        allowed = [n if n == "ATT" else int(n[1:]) for n in names if n != "overall"]
        raise ValueError(f"term must be 'overall' or one of {allowed}, got {term!r}")
    k = names.index(key)
    bootstrap, multiplier = _check_common("restricted", multiplier, alpha, design.n_clusters)
    if design.wtr[:, [k]].nnz == 0:
        raise ValueError(f"term {term!r} has no treated observations")
    v = design.v_column(k)
    v_se = design.v_column(k, se=True)
    # the estimate and SE as the result reports them (v'y and the scores below reproduce them to rounding)
    row = result.overall if k == len(names) - 1 else result.table.iloc[k]
    estimate, se = float(row.estimate), float(row.se)

    def scores(Z: np.ndarray) -> np.ndarray:
        return design.scores_one(design.imputation_residuals(Z), k, v_se)
    restricted_model = TwoWayLeastSquares(design.unit, design.time, n_units=int(design.unit.max()) + 1,
                                          n_times=int(design.time.max()) + 1, covariates=design.X, weights=design.w)
    u_a = restricted_model.residuals(design.y)
    u_b = -restricted_model.residuals(design.treated.astype(float))
    cluster = design.cluster

    def k_of(u):
        return np.bincount(cluster, v * u, design.n_clusters)

    V, full = _multiplier_matrix(multiplier, design.n_clusters, n_boot, seed, multipliers)
    engine = _Engine(estimate=estimate, se=se, factor=1.0, V=V,
                     k_a=k_of(u_a), K_a=_score_matrix(scores, u_a, cluster, design.n_clusters),
                     k_b=k_of(u_b), K_b=_score_matrix(scores, u_b, cluster, design.n_clusters))
    label = result.overall_label if key == names[-1] and term == "overall" else key
    return _finish(engine, V=V, full_enumeration=full, null=null, alpha=alpha, confint=confint, term=str(label),
                   estimator="imputation (BJS)", bootstrap=bootstrap, multiplier=multiplier,
                   n_clusters=design.n_clusters, factor=1.0)
