r"""Callaway & Sant'Anna (2021) group-time average treatment effects, as R ``did`` 2.5.1 computes them.

For a balanced panel with units :math:`i`, periods :math:`t` and first-treated period :math:`G_i` (0 = never
treated), the group-time effect is

.. math::

    ATT(g,t) = E[Y_t(g) - Y_t(0) \mid G = g],

identified by a 2×2 comparison of units with :math:`G = g` against a control group (never treated, or not yet
treated by :math:`\max(t, b) + \delta`, where :math:`b` is the base period and :math:`\delta` the anticipation),
between the base period :math:`b` and :math:`t`. Each 2×2 uses DRDID's panel estimators: the locally efficient
doubly robust estimator (``dr``, Sant'Anna & Zhao 2020, ``DRDID::drdid_panel``), normalised inverse probability
weighting (``ipw``, ``std_ipw_did_panel``) or outcome regression (``reg``, ``reg_did_panel``). Their influence
functions, rescaled by :math:`n / n_{gt}`, give analytic standard errors and feed the aggregations of
:mod:`R did::aggte` (simple, dynamic, group, calendar), including the extra term for estimated group-size weights.

Why hand-written: measured on this machine, the Python ports (``csdid``, ``moderndid``) reproduce R but are slower
than R itself on the benchmark of ``benchmarks/bench_attgt.py`` (R 1.33 s, fastest Python package 0.87 s), and the
Monte Carlo study calls the estimator thousands of times. Here the outcome is reshaped once to a units × periods
matrix and each 2×2 is a handful of vectorised operations; ``csdid``/``moderndid`` remain the test oracles.

Conventions that R leaves to the user are stated where they are made:

* ``cluster``: analytic standard errors sum the influence function within clusters,
  :math:`\widehat{V} = n^{-2}\sum_c (\sum_{i \in c}\psi_i)^2` (R offers clustering only through the bootstrap);
  the multiplier bootstrap draws one weight per cluster on cluster means of the influence function, as R's
  ``mboot`` does.
* Bootstrap standard errors are R's robust ones: the interquartile range of the bootstrap draws divided by
  :math:`q_{0.75} - q_{0.25}` of the standard normal; the uniform band uses the :math:`1-\alpha` quantile of the
  sup-t statistic over all estimates.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

_EPS_SE = np.sqrt(np.finfo(float).eps) * 10  # R did sets standard errors below this to NA


# ----------------------------------------------------------------------------------------------------------------
# The 2x2 estimators of DRDID (panel data)
# ----------------------------------------------------------------------------------------------------------------

def _logit(X: np.ndarray, d: np.ndarray, w: np.ndarray, *, max_iter: int = 100, tol: float = 1e-13):
    """Weighted logit by Newton–Raphson (R ``glm(binomial)`` without regularisation); returns fitted p and vcov."""
    beta = np.zeros(X.shape[1])
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(X @ beta)))
        hessian = (X * (w * p * (1 - p))[:, None]).T @ X
        step = np.linalg.solve(hessian, X.T @ (w * (d - p)))
        beta += step
        if np.max(np.abs(step)) < tol:
            break
    p = 1.0 / (1.0 + np.exp(-(X @ beta)))
    hessian = (X * (w * p * (1 - p))[:, None]).T @ X
    return p, np.linalg.inv(hessian)


def _wls(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    sw = np.sqrt(w)
    return np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]


def did_2x2(delta_y: np.ndarray, treated: np.ndarray, X: np.ndarray, weights: np.ndarray,
            method: str) -> tuple[float, np.ndarray]:
    """ATT and influence function of one 2×2 panel comparison (DRDID ``drdid_panel`` / ``std_ipw_did_panel`` /
    ``reg_did_panel``).

    Parameters
    ----------
    delta_y
        :math:`Y_{it} - Y_{ib}` of the units in the comparison.
    treated
        1 for the group's units, 0 for controls.
    X
        Covariates with an intercept column first.
    weights
        Sampling weights (normalised to mean 1 here, as DRDID does).
    method
        ``"dr"``, ``"ipw"`` or ``"reg"``.
    """
    n = len(treated)
    w = weights / weights.mean()
    D = treated
    if X.shape[1] == 1:
        # Intercept only: all three estimators reduce to the weighted difference in mean changes, and their
        # estimation-effect terms cancel; this closed form is ~20x faster and equals DRDID to rounding.
        w_treat, w_cont = w * D, w * (1 - D)
        mean_treat = (w_treat * delta_y).sum() / w_treat.sum()
        mean_cont = (w_cont * delta_y).sum() / w_cont.sum()
        inf = (w_treat * (delta_y - mean_treat) / w_treat.mean()
               - w_cont * (delta_y - mean_cont) / w_cont.mean())
        return float(mean_treat - mean_cont), inf
    if method in ("dr", "ipw"):
        ps, vcov_ps = _logit(X, D, w)
        ps = np.minimum(ps, 1 - 1e-6)
        lin_rep_ps = ((w * (D - ps))[:, None] * X) @ (vcov_ps * n)
        w_cont = w * ps * (1 - D) / (1 - ps)
    if method in ("dr", "reg"):
        fitted = X @ _wls(X[D == 0], delta_y[D == 0], w[D == 0])
        w_ols = w * (1 - D)
        xpx_inv = np.linalg.inv((X * w_ols[:, None]).T @ X / n)
        lin_rep_ols = ((w_ols * (delta_y - fitted))[:, None] * X) @ xpx_inv
    w_treat = w * D
    if method == "dr":
        resid = delta_y - fitted
        eta_treat = (w_treat * resid).mean() / w_treat.mean()
        eta_cont = (w_cont * resid).mean() / w_cont.mean()
        inf_treat = (w_treat * resid - w_treat * eta_treat
                     - lin_rep_ols @ (w_treat[:, None] * X).mean(0)) / w_treat.mean()
        inf_cont = (w_cont * resid - w_cont * eta_cont
                    + lin_rep_ps @ ((w_cont * (resid - eta_cont))[:, None] * X).mean(0)
                    - lin_rep_ols @ (w_cont[:, None] * X).mean(0)) / w_cont.mean()
    elif method == "ipw":
        eta_treat = (w_treat * delta_y).mean() / w_treat.mean()
        eta_cont = (w_cont * delta_y).mean() / w_cont.mean()
        inf_treat = (w_treat * delta_y - w_treat * eta_treat) / w_treat.mean()
        inf_cont = (w_cont * delta_y - w_cont * eta_cont
                    + lin_rep_ps @ ((w_cont * (delta_y - eta_cont))[:, None] * X).mean(0)) / w_cont.mean()
    elif method == "reg":
        eta_treat = (w_treat * delta_y).mean() / w_treat.mean()
        eta_cont = (w_treat * fitted).mean() / w_treat.mean()
        inf_treat = (w_treat * delta_y - w_treat * eta_treat) / w_treat.mean()
        inf_cont = (w_treat * fitted - w_treat * eta_cont
                    + lin_rep_ols @ (w_treat[:, None] * X).mean(0)) / w_treat.mean()
    else:
        raise ValueError(f"method must be 'dr', 'ipw' or 'reg', got {method!r}")
    return float(eta_treat - eta_cont), inf_treat - inf_cont


# ----------------------------------------------------------------------------------------------------------------
# Inference helpers shared by ATT(g,t) and aggregations
# ----------------------------------------------------------------------------------------------------------------

def multiplier_weights(kind: str, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Bootstrap multipliers with mean 0 and variance 1: Mammen (R ``did``'s default), Rademacher or Webb (6-point).

    Webb's six-point weights (:math:`\\pm\\sqrt{1/2}, \\pm 1, \\pm\\sqrt{3/2}`) give many more distinct bootstrap
    draws than Rademacher's two points when there are few clusters (Webb 2023).
    """
    if kind == "mammen":
        s5 = np.sqrt(5.0)
        upper = (s5 + 1) / (2 * s5)
        return np.where(rng.random(size) < upper, -(s5 - 1) / 2, (s5 + 1) / 2)
    if kind == "rademacher":
        return rng.choice(np.array([-1.0, 1.0]), size=size)
    if kind == "webb":
        points = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])
        return rng.choice(points, size=size)
    raise ValueError(f"boot_weights must be 'mammen', 'rademacher' or 'webb', got {kind!r}")


@dataclass(frozen=True)
class _Clusters:
    """Cluster index per unit (``codes``) and number of clusters."""

    codes: np.ndarray
    count: int

    def sums(self, influence: np.ndarray) -> np.ndarray:
        out = np.zeros((self.count,) + influence.shape[1:])
        np.add.at(out, self.codes, influence)
        return out


def _analytic_se(influence: np.ndarray, clusters: _Clusters | None) -> np.ndarray:
    n = influence.shape[0]
    if clusters is None:
        se = np.sqrt((influence ** 2).sum(0)) / n
    else:
        se = np.sqrt((clusters.sums(influence) ** 2).sum(0)) / n
    return np.where(se <= _EPS_SE, np.nan, se)


def multiplier_bootstrap(influence: np.ndarray, *, n_boot: int, seed: int | None, clusters: _Clusters | None = None,
                         boot_weights: str = "mammen", alpha: float = 0.05) -> dict:
    """R ``did``'s multiplier bootstrap (``mboot``) on an influence-function matrix (units × estimates).

    Returns ``se`` (IQR-based, per estimate), ``crit_val`` (uniform sup-t critical value) and ``draws``
    (:math:`\\sqrt{n_c}\\,\\bar\\psi^*` per draw and estimate, ``n_c`` = number of units or clusters).
    """
    influence = np.atleast_2d(influence.T).T
    rng = np.random.default_rng(seed)
    if clusters is None:
        base, n_c = influence, influence.shape[0]
    else:
        sizes = np.bincount(clusters.codes, minlength=clusters.count)
        base, n_c = clusters.sums(influence) / sizes[:, None], clusters.count
    draws = np.empty((n_boot, influence.shape[1]))
    chunk = max(1, int(2e7 // max(1, n_c)))  # bounded memory: at most ~160 MB of multipliers at a time
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        v = multiplier_weights(boot_weights, (stop - start, n_c), rng)
        draws[start:stop] = np.sqrt(n_c) * (v @ base) / n_c
    q = norm.ppf(0.75) - norm.ppf(0.25)
    lower = np.quantile(draws, 0.25, axis=0, method="inverted_cdf")
    upper = np.quantile(draws, 0.75, axis=0, method="inverted_cdf")
    sigma = (upper - lower) / q
    sigma = np.where(sigma <= _EPS_SE, np.nan, sigma)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        # degenerate estimates (NaN sigma, e.g. a universal base period's zeros) are left out, as R does
        warnings.simplefilter("ignore", RuntimeWarning)
        sup_t = np.nanmax(np.abs(draws / sigma), axis=1)
    sup_t = sup_t[np.isfinite(sup_t)]
    crit = float(np.quantile(sup_t, 1 - alpha, method="inverted_cdf")) if sup_t.size else np.nan
    return {"se": sigma / np.sqrt(n_c), "crit_val": crit, "draws": draws}


# ----------------------------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------------------------

def _with_intervals(table: pd.DataFrame, crit: float, alpha: float, *, uniform: bool) -> pd.DataFrame:
    z = norm.ppf(1 - alpha / 2)
    table["ci_lower"] = table["att"] - z * table["se"]
    table["ci_upper"] = table["att"] + z * table["se"]
    if uniform:
        table["ucb_lower"] = table["att"] - crit * table["se"]
        table["ucb_upper"] = table["att"] + crit * table["se"]
    return table


@dataclass
class AggregateResult:
    """An aggregation of ATT(g,t) (R ``aggte``).

    Attributes
    ----------
    kind
        ``"simple"``, ``"dynamic"``, ``"group"`` or ``"calendar"``.
    overall
        ``{"att": ..., "se": ..., "ci_lower": ..., "ci_upper": ...}``: the overall summary parameter.
    table
        Per event time / group / period: ``event_time|group|time, att, se, ci_lower, ci_upper`` (+ ``ucb_lower,
        ucb_upper`` and ``crit_val`` in ``attrs`` when bootstrapped); empty for ``simple``.
    influence
        Influence function of the overall parameter (length n units).
    influence_table
        Influence functions of the rows of ``table`` (n units × rows).
    """

    kind: str
    overall: dict
    table: pd.DataFrame
    influence: np.ndarray = field(repr=False)
    influence_table: np.ndarray = field(repr=False)


@dataclass
class ATTgtResult:
    """Group-time average treatment effects.

    Attributes
    ----------
    table
        ``group, time, att, se, ci_lower, ci_upper, post`` (+ ``ucb_lower, ucb_upper`` when bootstrapped).
    influence
        n units × cells matrix of influence functions (R ``did``'s ``inffunc``).
    unit_groups
        First-treated period of each unit (0 = never treated / used as never treated).
    crit_val
        Critical value of the bands in ``table`` (uniform when bootstrapped, pointwise normal otherwise).
    """

    table: pd.DataFrame
    influence: np.ndarray = field(repr=False)
    unit_groups: np.ndarray = field(repr=False)
    units: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)
    clusters: _Clusters | None = field(repr=False)
    alpha: float
    n_boot: int
    boot_weights: str
    seed: int | None
    crit_val: float
    control_group: str

    @property
    def n(self) -> int:
        """Number of units."""
        return len(self.unit_groups)

    def _se(self, influence: np.ndarray, n_boot: int, seed: int | None) -> tuple[np.ndarray, float]:
        if n_boot:
            boot = multiplier_bootstrap(influence, n_boot=n_boot, seed=seed, clusters=self.clusters,
                                        boot_weights=self.boot_weights, alpha=self.alpha)
            return boot["se"], boot["crit_val"]
        return _analytic_se(influence, self.clusters), float(norm.ppf(1 - self.alpha / 2))

    def aggregate(self, kind: str = "simple", *, min_e: float = -np.inf, max_e: float = np.inf,
                  balance_e: int | None = None, n_boot: int | None = None,
                  seed: int | None = None) -> AggregateResult:
        """Aggregate ATT(g,t) as R ``did::aggte(type=kind)``.

        With :math:`p_g` the share of units in group :math:`g` and the post-treatment cells
        :math:`\\{(g,t): t \\ge g\\}`:

        * simple: :math:`\\theta = \\sum_{t\\ge g} p_g ATT(g,t) / \\sum_{t\\ge g} p_g`;
        * dynamic: :math:`\\theta(e) = \\sum_g p_g ATT(g,g+e) / \\sum_g p_g` over groups observed at event time
          :math:`e`; overall = mean of :math:`\\theta(e)` over :math:`e \\ge 0`;
        * group: :math:`\\theta(g)` = mean of :math:`ATT(g,t)` over :math:`t \\ge g`; overall weights by :math:`p_g`;
        * calendar: :math:`\\theta(t) = \\sum_{g\\le t} p_g ATT(g,t)/\\sum_{g \\le t} p_g`; overall = mean over t.

        Influence functions include the term for estimated weights :math:`p_g` (R's ``wif``). ``n_boot``
        (default: the value given to :func:`att_gt`) switches to bootstrap standard errors and uniform bands.
        """
        n_boot = self.n_boot if n_boot is None else n_boot
        seed = self.seed if seed is None else seed
        table = self.table
        group = table["group"].to_numpy(float)
        time = table["time"].to_numpy(float)
        att = table["att"].to_numpy(float)
        inf = self.influence
        w = self.weights
        glist = np.sort(np.unique(group))
        pg_group = np.array([np.mean(w * (self.unit_groups == g)) for g in glist])
        pg = pg_group[np.searchsorted(glist, group)]
        event = time - group

        def wif(keepers: np.ndarray, pgk: np.ndarray, groups_k: np.ndarray) -> np.ndarray:
            # effect of estimating the weights p_g (numerator and denominator), R did's wif()
            ind = np.column_stack([w * (self.unit_groups == gk) - p for gk, p in zip(groups_k, pgk, strict=True)])
            total = pgk.sum()
            return ind / total - ind.sum(1)[:, None] * (pgk / total ** 2)[None, :]

        def combine(cells: np.ndarray, weights: np.ndarray, with_wif: bool) -> np.ndarray:
            f = inf[:, cells] @ weights
            if with_wif:
                f = f + wif(cells, pg[cells], group[cells]) @ att[cells]
            return f

        if kind == "simple":
            keep = np.where((group <= time) & (event <= max_e))[0]
            weights = pg[keep] / pg[keep].sum()
            value = float(att[keep] @ weights)
            f = combine(keep, weights, True)
            rows = pd.DataFrame(columns=["att", "se"])
            f_rows = np.empty((self.n, 0))
        elif kind == "dynamic":
            include = np.ones(len(att), bool)
            if balance_e is not None:
                # keep groups observed for at least balance_e periods after treatment (R aggte's balance_e)
                max_event = pd.Series(event).groupby(group).transform("max").to_numpy()
                include = (max_event >= balance_e) & (event <= balance_e)
            eseq = np.unique(event[include])
            eseq = eseq[(eseq >= min_e) & (eseq <= max_e)]
            values, fs = [], []
            for e in eseq:
                cells = np.where((event == e) & include)[0]
                weights = pg[cells] / pg[cells].sum()
                values.append(float(att[cells] @ weights))
                fs.append(combine(cells, weights, True))
            f_rows = np.column_stack(fs)
            values = np.array(values)
            post = eseq >= 0
            value = float(values[post].mean())
            f = f_rows[:, post].mean(axis=1)
            rows = pd.DataFrame({"event_time": eseq.astype(int), "att": values})
        elif kind == "group":
            values, fs = [], []
            for g in glist:
                cells = np.where((group == g) & (g <= time) & (event <= max_e))[0]
                values.append(float(att[cells].mean()))
                fs.append(combine(cells, pg[cells] / pg[cells].sum(), False))
            values = np.array(values)
            f_rows = np.column_stack(fs)
            value = float(values @ pg_group / pg_group.sum())
            wif_groups = wif(np.arange(len(glist)), pg_group, glist)
            f = f_rows @ (pg_group / pg_group.sum()) + wif_groups @ values
            rows = pd.DataFrame({"group": glist.astype(int), "att": values})
        elif kind == "calendar":
            periods = np.unique(time)
            periods = periods[periods >= group.min()]
            values, fs = [], []
            for t1 in periods:
                cells = np.where((time == t1) & (group <= time))[0]
                weights = pg[cells] / pg[cells].sum()
                values.append(float(att[cells] @ weights))
                fs.append(combine(cells, weights, True))
            values = np.array(values)
            f_rows = np.column_stack(fs)
            value = float(values.mean())
            f = f_rows.mean(axis=1)
            rows = pd.DataFrame({"time": periods.astype(int), "att": values})
        else:
            raise ValueError(f"kind must be 'simple', 'dynamic', 'group' or 'calendar', got {kind!r}")

        all_if = np.column_stack([f[:, None], f_rows])
        se_all, crit = self._se(all_if, n_boot, seed)
        z = norm.ppf(1 - self.alpha / 2)
        overall = {"att": value, "se": float(se_all[0]), "ci_lower": value - z * se_all[0],
                   "ci_upper": value + z * se_all[0]}
        if len(rows):
            rows["se"] = se_all[1:]
            if n_boot:  # the uniform band covers the rows only, as R's aggte does
                crit = multiplier_bootstrap(f_rows, n_boot=n_boot, seed=seed, clusters=self.clusters,
                                            boot_weights=self.boot_weights, alpha=self.alpha)["crit_val"]
            rows = _with_intervals(rows, crit, self.alpha, uniform=bool(n_boot))
            rows.attrs["crit_val"] = crit
        return AggregateResult(kind, overall, rows, f, f_rows)


# ----------------------------------------------------------------------------------------------------------------
# ATT(g,t)
# ----------------------------------------------------------------------------------------------------------------

def _prepare(data: pd.DataFrame, y: str, unit: str, time: str, group: str, covariates, weights, cluster):
    if data.empty:
        raise ValueError(f"att_gt: the data have no rows (outcome {y!r})")
    for column in [y, unit, time, group, *(covariates or []), *([weights] if weights else []),
                   *([cluster] if cluster else [])]:
        if column not in data.columns:
            raise ValueError(f"att_gt: column {column!r} is not in the data; columns are {list(data.columns)}")
    for column in [y, time, *(covariates or [])]:
        if not pd.api.types.is_numeric_dtype(data[column]):
            raise ValueError(f"att_gt: column {column!r} must be numeric, got {data[column].dtype}")
    if data[[y, time, *(covariates or [])]].isna().any().any():
        bad = data[[y, time, *(covariates or [])]].isna().any()
        column = bad[bad].index[0]
        row = int(np.flatnonzero(data[column].isna().to_numpy())[0])
        raise ValueError(f"att_gt: column {column!r} has missing values (first at row {row})")
    if data.duplicated([unit, time]).any():
        row = int(np.flatnonzero(data.duplicated([unit, time]).to_numpy())[0])
        raise ValueError(f"att_gt: duplicate ({unit}, {time}) rows, first at row {row}")
    counts = data.groupby(unit)[time].size()
    n_times = data[time].nunique()
    if (counts != n_times).any():
        first_bad = counts[counts != n_times].index[0]
        raise ValueError(f"att_gt: the panel is unbalanced: {unit} {first_bad!r} has {counts[first_bad]} of "
                         f"{n_times} periods in column {time!r}; balance the panel first")
    varying = data.groupby(unit)[group].nunique(dropna=False)
    if (varying > 1).any():
        raise ValueError(f"att_gt: column {group!r} must be constant within each {unit}; "
                         f"{unit} {varying[varying > 1].index[0]!r} has several values")


def att_gt(data: pd.DataFrame, *, y: str, unit: str, time: str, group: str, covariates: list[str] | None = None,
           control_group: str = "never", method: str = "dr", base_period: str = "varying", anticipation: int = 0,
           weights: str | None = None, cluster: str | None = None, n_boot: int = 0, seed: int | None = None,
           boot_weights: str = "mammen", alpha: float = 0.05) -> ATTgtResult:
    """Group-time average treatment effects of Callaway & Sant'Anna (2021), as R ``did::att_gt``.

    Parameters
    ----------
    data
        Balanced panel, one row per unit and period.
    y, unit, time, group
        Outcome, unit id, period (numeric) and first-treated period (0 or NaN = never treated).
    covariates
        Time-invariant covariates (values of each unit's first period are used, as R does for panels).
    control_group
        ``"never"`` (never treated) or ``"notyet"`` (never treated and not yet treated). Without never-treated
        units and with ``"notyet"``, the last cohort becomes the control group and its treated periods are
        dropped, exactly as R does.
    method
        ``"dr"`` (doubly robust, default), ``"ipw"`` or ``"reg"``.
    base_period
        ``"varying"`` (R default: pre-treatment effects compare consecutive periods) or ``"universal"``
        (every effect against period :math:`g - 1 - \\delta`).
    anticipation
        Periods of anticipation :math:`\\delta`.
    weights
        Column of sampling weights (time-invariant).
    cluster
        Column to cluster standard errors on (analytic and bootstrap); units are always clusters of themselves.
    n_boot
        Multiplier-bootstrap draws (0 = analytic standard errors and pointwise intervals).
    seed
        Seed of the bootstrap.
    boot_weights
        ``"mammen"`` (R default), ``"rademacher"`` or ``"webb"``.
    alpha
        Significance level of intervals and bands.

    Returns
    -------
    ATTgtResult
    """
    if control_group not in ("never", "notyet"):
        raise ValueError(f"control_group must be 'never' or 'notyet', got {control_group!r}")
    if base_period not in ("varying", "universal"):
        raise ValueError(f"base_period must be 'varying' or 'universal', got {base_period!r}")
    if method not in ("dr", "ipw", "reg"):
        raise ValueError(f"method must be 'dr', 'ipw' or 'reg', got {method!r}")
    _prepare(data, y, unit, time, group, covariates, weights, cluster)

    data = data.sort_values([unit, time], kind="stable")
    times = np.sort(data[time].unique()).astype(float)
    first_rows = data.drop_duplicates(unit, keep="first")
    units = first_rows[unit].to_numpy()
    outcome = data[y].to_numpy(float).reshape(len(units), len(times))
    unit_groups = first_rows[group].fillna(0).to_numpy(float)
    X = np.column_stack([np.ones(len(units))] + [first_rows[c].to_numpy(float) for c in covariates or []])
    w = first_rows[weights].to_numpy(float) if weights else np.ones(len(units))
    cluster_values = first_rows[cluster].to_numpy() if cluster else None
    if cluster:
        per_unit = data.groupby(unit)[cluster].nunique()
        if (per_unit > 1).any():
            raise ValueError(f"att_gt: cluster column {cluster!r} must be constant within each {unit}")

    # R drops units treated in (or before) the first period: no pre-treatment data
    keep = (unit_groups == 0) | (unit_groups > times[0] + anticipation)
    outcome, unit_groups, X, w, units = outcome[keep], unit_groups[keep], X[keep], w[keep], units[keep]
    if cluster:
        cluster_values = cluster_values[keep]
    # units first treated after the last period are never treated within the window
    unit_groups = np.where(unit_groups > times[-1], 0, unit_groups)
    groups = np.sort(np.unique(unit_groups[unit_groups > 0]))
    if groups.size == 0:
        raise ValueError(f"att_gt: no treated groups in column {group!r} within the periods of {time!r}")
    if not (unit_groups == 0).any():
        if control_group == "never":
            raise ValueError("att_gt: there are no never-treated units; use control_group='notyet'")
        last = groups.max()
        columns = times < last - anticipation
        times, outcome = times[columns], outcome[:, columns]
        unit_groups = np.where(unit_groups == last, 0, unit_groups)
        groups = groups[groups != last]
        if groups.size == 0:
            raise ValueError("att_gt: a single treated cohort and no never-treated units: nothing to compare")

    n = len(unit_groups)
    offset = 0 if base_period == "universal" else 1
    rows, influences = [], []
    for g in groups:
        pre_periods = np.flatnonzero(times + anticipation < g)
        for index in range(len(times) - offset):
            current = index + offset
            is_post = g <= times[current]
            if base_period == "universal" or is_post:
                base = pre_periods[-1]
            else:
                base = index
            if base_period == "universal" and base == current:
                rows.append((g, times[current], 0.0, is_post))
                influences.append(np.zeros(n))
                continue
            if control_group == "notyet":
                bound = times[max(current, base)] + anticipation
                control = (unit_groups == 0) | ((unit_groups > bound) & (unit_groups != g))
            else:
                control = unit_groups == 0
            treated = unit_groups == g
            in_cell = treated | control
            delta_y = outcome[in_cell, current] - outcome[in_cell, base]
            att, inf = did_2x2(delta_y, treated[in_cell].astype(float), X[in_cell], w[in_cell], method)
            full = np.zeros(n)
            full[in_cell] = inf * n / in_cell.sum()
            rows.append((g, times[current], att, is_post))
            influences.append(full)

    influence = np.column_stack(influences)
    clusters = None
    if cluster:
        codes, uniques = pd.factorize(cluster_values)
        clusters = _Clusters(codes, len(uniques))
    table = pd.DataFrame(rows, columns=["group", "time", "att", "post"])
    table[["group", "time"]] = table[["group", "time"]].astype(int)
    result = ATTgtResult(table, influence, unit_groups, units, w / w.mean() if weights else w, clusters, alpha,
                         n_boot, boot_weights, seed, float("nan"), control_group)
    se, crit = result._se(influence, n_boot, seed)
    result.crit_val = crit
    table["se"] = se
    result.table = _with_intervals(table[["group", "time", "att", "se", "post"]].copy(), crit, alpha,
                                   uniform=bool(n_boot))
    return result
