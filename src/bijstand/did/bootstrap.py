r"""Influence-function inference for Callaway–Sant'Anna estimates: analytic, multiplier bootstrap, wild score test.

Every estimate :math:`\hat\theta_k` of :mod:`bijstand.did.attgt` and :mod:`bijstand.did.aggte` comes with an
influence function :math:`\psi_{ik}` over units :math:`i = 1..n` (R ``did``'s convention:
:math:`\hat\theta_k - \theta_k \approx n^{-1}\sum_i \psi_{ik}`). With clusters :math:`c` (units are their own
clusters when none are given) the cluster scores are :math:`S_{ck} = \sum_{i \in c}\psi_{ik}` and

* the analytic standard error is :math:`\widehat{se}_k = n^{-1}\sqrt{\sum_c S_{ck}^2}` (R's
  ``sqrt(mean(psi^2)/n)`` without clusters);
* a multiplier-bootstrap draw is :math:`\hat\theta^*_{bk} - \hat\theta_k = n^{-1}\sum_c v_{cb} S_{ck}` with
  i.i.d. multipliers :math:`v` of mean 0 and variance 1 (R ``did::mboot``, which sums the influence function
  within clusters). The bootstrap standard error is R's robust one,
  :math:`(q_{0.75} - q_{0.25}) / (z_{0.75} - z_{0.25})` of the draws, and the uniform (sup-t) critical value is
  the :math:`1-\alpha` quantile of :math:`\max_k |\hat\theta^*_{bk} - \hat\theta_k| / \widehat{se}_k`.

Multipliers: R ``did`` 2.5.1 draws Rademacher signs (:math:`\pm 1`; ``BMisc::multiplier_bootstrap``'s C++
fills them bit by bit), although some of R's documentation mentions Mammen weights; this was confirmed on the
``mpdta`` bootstrap fixtures, whose SEs for the 20-unit 2004 cohort sit 5-15% above the analytic ones, as
Rademacher (not Mammen) draws reproduce. Mammen's skewed two-point weights remain available. With few clusters
Webb's six-point weights give :math:`6^{G}` instead of :math:`2^{G}` distinct draws, which matters for
:math:`G \lesssim 12` (Webb 2023).
:func:`wild_bootstrap_test` turns this into a p-value for an aggregate parameter. It is a wild *score* bootstrap
of the *unrestricted* kind (WCU: the null is not imposed on the scores); the restricted wild cluster bootstrap of
regression estimators (WCR) is a different method.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from bijstand.did.results import (
    Effect, Multiplier, ResultMixin, check_multiplier, effect_table, glance_frame, summary_text,
)

#: R ``did`` reports standard errors at or below this as NA (degenerate influence function).
EPS_SE = float(np.sqrt(np.finfo(float).eps) * 10)

_SQRT5 = np.sqrt(5.0)
_MAMMEN_LOW = (1 - _SQRT5) / 2
_MAMMEN_HIGH = (1 + _SQRT5) / 2
_MAMMEN_P_LOW = (_SQRT5 + 1) / (2 * _SQRT5)
_WEBB_POINTS = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])


def multiplier_weights(multiplier: Multiplier, size: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    r"""Draw bootstrap multipliers with mean 0 and variance 1.

    Parameters
    ----------
    multiplier
        ``"mammen"``: :math:`(1-\sqrt5)/2` with probability :math:`(\sqrt5+1)/(2\sqrt5)`, else
        :math:`(1+\sqrt5)/2`; ``"rademacher"``: :math:`\pm1` with probability 1/2 (R ``did``'s draws);
        ``"webb"``: :math:`\pm\sqrt{1/2}, \pm1, \pm\sqrt{3/2}` with probability 1/6 each.
    size
        Shape of the array of draws.
    rng
        Generator (``numpy.random.default_rng(seed)``).
    """
    multiplier = check_multiplier(multiplier)
    if multiplier == "mammen":
        return np.where(rng.random(size) < _MAMMEN_P_LOW, _MAMMEN_LOW, _MAMMEN_HIGH)
    if multiplier == "rademacher":
        return rng.integers(0, 2, size=size) * 2.0 - 1.0
    return _WEBB_POINTS[rng.integers(0, 6, size=size)]


def cluster_scores(influence: np.ndarray, cluster_codes: np.ndarray | None, n_clusters: int | None = None
                   ) -> np.ndarray:
    """Sum an influence function (n units, or n units × k estimates) within clusters.

    ``cluster_codes`` are integer codes 0..G-1 per unit; ``None`` returns the influence function unchanged
    (every unit its own cluster).
    """
    influence = np.asarray(influence, float)
    if cluster_codes is None:
        return influence
    n_clusters = int(cluster_codes.max()) + 1 if n_clusters is None else n_clusters
    if influence.ndim == 1:
        return np.bincount(cluster_codes, weights=influence, minlength=n_clusters)
    # one-hot product rather than np.add.at: BLAS, and exact sums of the same terms
    onehot = np.zeros((n_clusters, influence.shape[0]))
    onehot[cluster_codes, np.arange(influence.shape[0])] = 1.0
    return onehot @ influence


def analytic_se(influence: np.ndarray, cluster_codes: np.ndarray | None = None,
                n_clusters: int | None = None) -> np.ndarray:
    r"""Influence-function standard errors :math:`n^{-1}\sqrt{\sum_c S_{ck}^2}` (NaN where degenerate, as R).

    ``influence`` is n units × k estimates (or a vector); returns k standard errors (or a 1-vector).
    """
    influence = np.asarray(influence, float)
    matrix = influence if influence.ndim == 2 else influence[:, None]
    n = matrix.shape[0]
    scores = cluster_scores(matrix, cluster_codes, n_clusters)
    # einsum: column sums of squares without an n x k temporary
    se = np.sqrt(np.einsum("ij,ij->j", scores, scores)) / n
    return np.where(se <= EPS_SE, np.nan, se)


@dataclass(frozen=True)
class BootstrapResult(ResultMixin):
    """Multiplier-bootstrap output (standard errors and the uniform band's critical value of k estimates).

    Attributes
    ----------
    se
        Robust (IQR-based) bootstrap standard error per estimate; NaN where the draws are degenerate.
    crit_value
        Uniform (sup-t) critical value over the non-degenerate estimates at level ``alpha`` (NaN if none).
    draws
        ``n_boot`` × k matrix of :math:`\\hat\\theta^* - \\hat\\theta`.
    n_clusters
        Number of clusters the multipliers were drawn for.
    multiplier, n_boot, alpha
        The design of the bootstrap.
    """

    se: np.ndarray
    crit_value: float
    draws: np.ndarray = field(repr=False)
    n_clusters: int
    multiplier: str = "rademacher"
    n_boot: int = 0
    alpha: float = 0.05

    @property
    def table(self) -> pd.DataFrame:
        """One row per estimate (``column`` = its position): ``column, se`` (there are no point estimates here)."""
        return pd.DataFrame({"column": np.arange(self.se.size), "se": self.se})

    def summary(self) -> str:
        """Printable summary."""
        header = [("Inference", f"multiplier bootstrap ({self.multiplier}, {self.n_boot} draws)"),
                  ("Clusters", self.n_clusters),
                  ("Uniform band", f"sup-t critical value {self.crit_value:.4g} at {100 * (1 - self.alpha):g}%")]
        return summary_text(title="Multiplier bootstrap", header=header, table=self.table, table_label="Estimates",
                            stars=None)

    def glance(self) -> pd.DataFrame:
        """One row: inference, multiplier, n_boot, n_clusters, crit_value, alpha."""
        return glance_frame(inference="multiplier bootstrap", multiplier=self.multiplier, n_boot=self.n_boot,
                            n_clusters=self.n_clusters, crit_value=self.crit_value, alpha=self.alpha)


_IQR_NORMAL = float(norm.ppf(0.75) - norm.ppf(0.25))


def _order_statistic(draws: np.ndarray, prob: float) -> np.ndarray:
    """R ``quantile(type=1)`` per column: the ceil(n p)-th smallest value (inverse of the empirical CDF)."""
    n = draws.shape[0]
    index = max(int(np.ceil(n * prob)) - 1, 0)
    return np.partition(draws, index, axis=0)[index]


def multiplier_bootstrap(influence: np.ndarray, *, n_boot: int, seed: int | None,
                         cluster_codes: np.ndarray | None = None, n_clusters: int | None = None,
                         multiplier: Multiplier = "rademacher", alpha: float = 0.05,
                         band_columns: np.ndarray | slice | None = None) -> BootstrapResult:
    r"""R ``did``'s multiplier bootstrap (``mboot``) on an n units × k influence-function matrix.

    Parameters
    ----------
    influence
        Influence functions, n units × k estimates (a vector is one estimate).
    n_boot
        Number of draws.
    seed
        Seed of ``numpy.random.default_rng``.
    cluster_codes, n_clusters
        Cluster of each unit (codes 0..G-1); multipliers are drawn per cluster on the cluster sums.
    multiplier
        ``"rademacher"`` (R's), ``"mammen"`` or ``"webb"`` (:func:`multiplier_weights`).
    alpha
        Level of the uniform band.
    band_columns
        Columns the sup-t statistic runs over (default: all).
    """
    if n_boot < 2:
        raise ValueError(f"n_boot must be at least 2 for a bootstrap, got {n_boot}")
    multiplier = check_multiplier(multiplier)
    influence = np.asarray(influence, float)
    matrix = influence if influence.ndim == 2 else influence[:, None]
    n = matrix.shape[0]
    scores = cluster_scores(matrix, cluster_codes, n_clusters) / n
    n_c = scores.shape[0]
    rng = np.random.default_rng(seed)
    # bounded memory: at most ~2e7 multipliers (160 MB) at a time when the panel is large
    chunk = max(1, int(2e7 // max(1, n_c)))
    draws = np.empty((n_boot, scores.shape[1]))
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        draws[start:stop] = multiplier_weights(multiplier, (stop - start, n_c), rng) @ scores
    # R drops columns whose draws are (numerically) all zero before taking quantiles
    # (on R's scale of the draws, sqrt(G) times the mean of v * cluster sums)
    r_scale = n / np.sqrt(n_c)
    degenerate = ~(np.einsum("ij,ij->j", draws, draws) * r_scale**2 > EPS_SE)
    spread = _order_statistic(draws, 0.75) - _order_statistic(draws, 0.25)
    se = np.where(degenerate, np.nan, spread / _IQR_NORMAL)
    se = np.where(se <= EPS_SE, np.nan, se)
    columns = np.arange(scores.shape[1]) if band_columns is None else np.arange(scores.shape[1])[band_columns]
    columns = columns[np.isfinite(se[columns])]
    crit = np.nan
    if columns.size:
        sup_t = np.max(np.abs(draws[:, columns] / se[columns]), axis=1)
        sup_t = sup_t[np.isfinite(sup_t)]
        if sup_t.size:
            crit = float(_order_statistic(sup_t[:, None], 1 - alpha)[0])
    return BootstrapResult(se=se, crit_value=crit, draws=draws, n_clusters=n_c, multiplier=multiplier,
                           n_boot=n_boot, alpha=alpha)


@dataclass(frozen=True)
class WildBootstrapTest(ResultMixin):
    """Result of :func:`wild_bootstrap_test` (unrestricted wild score bootstrap).

    Attributes
    ----------
    estimate, se
        The aggregate estimate and its cluster-robust analytic standard error.
    statistic
        :math:`(\\hat\\theta - \\theta_0)/\\widehat{se}` (``studentize=True``) or :math:`\\hat\\theta - \\theta_0`.
    p_value
        Share of bootstrap statistics at least as large as the observed one, counting the observed draw:
        :math:`(1 + \\#\\{|T^*_b| \\ge |T|\\}) / (B + 1)`.
    null
        :math:`\\theta_0`.
    n_clusters, n_boot, multiplier, studentize
        Design of the bootstrap.
    alpha
        Level recorded in ``overall``.
    inference
        ``"wild score bootstrap (unrestricted, <multiplier>), <B> draws, studentized"`` (or unstudentized).
    """

    estimate: float
    se: float
    statistic: float
    p_value: float
    null: float
    n_clusters: int
    n_boot: int
    multiplier: str
    studentize: bool
    inference: str
    alpha: float = 0.05

    @property
    def overall(self) -> Effect:
        """The tested parameter: estimate and analytic SE with the bootstrap p-value (no interval: NaN)."""
        return Effect(estimate=self.estimate, se=self.se, statistic=self.statistic, p_value=self.p_value,
                      ci_lower=float("nan"), ci_upper=float("nan"), crit_value=float("nan"), dof=None,
                      alpha=self.alpha, n_clusters=self.n_clusters, inference=self.inference, null=self.null)

    @property
    def table(self) -> pd.DataFrame:
        """One row (``term = "overall"``) with the tidy columns; ``ci_lower, ci_upper`` are NaN (a test only)."""
        return effect_table(self.overall)

    def summary(self) -> str:
        """Printable summary."""
        header = [("Test", f"H0: theta = {self.null:g}"), ("Inference", self.inference),
                  ("Clusters", self.n_clusters),
                  ("Statistic", "(estimate - null) / clustered analytic SE, each draw studentised by its own SE"
                   if self.studentize else "estimate - null (unstudentised)")]
        return summary_text(title="Wild score bootstrap test", header=header, overall=self.overall, stars="p")

    def glance(self) -> pd.DataFrame:
        """One row: inference, multiplier, studentize, n_boot, n_clusters, p_value."""
        return glance_frame(inference=self.inference, multiplier=self.multiplier, studentize=self.studentize,
                            n_boot=self.n_boot, n_clusters=self.n_clusters, null=self.null, p_value=self.p_value)


def wild_bootstrap_test(aggregate, *, null: float = 0.0, n_boot: int = 999, seed: int | None = None,
                        multiplier: Multiplier = "webb", studentize: bool = True,
                        alpha: float = 0.05) -> WildBootstrapTest:
    r"""Wild score bootstrap p-value (unrestricted) of :math:`H_0: \theta = \theta_0` for an aggregate's parameter.

    The bootstrap perturbs the cluster scores of the influence function, :math:`T^*_b = n^{-1}\sum_c v_{cb}
    S_c / se^*_b` with :math:`se^*_b = n^{-1}\sqrt{\sum_c v_{cb}^2 S_c^2}` (``studentize``; the unstudentised
    version drops the denominators), and compares :math:`|T|` with :math:`|T^*|`. The scores are centred at the
    estimate, so the bootstrap is of the "unrestricted" (WCU) kind: it does not impose the null when
    generating draws, which is what the influence-function representation allows without re-estimating.
    (The restricted wild cluster bootstrap, WCR, imposes the null by re-estimating the model under it; the project
    implements it separately, for regression estimators.)

    Parameters
    ----------
    aggregate
        An :class:`~bijstand.did.aggte.AggregateResult` (or an :class:`~bijstand.did.attgt.ATTgtResult`, whose
        simple aggregate is tested). Clusters are those given to ``att_gt(cluster=...)``, else units.
    null
        :math:`\theta_0`.
    n_boot, seed, multiplier
        Draws, seed and multiplier distribution (``"webb"``, ``"rademacher"`` or ``"mammen"``).
    studentize
        Studentise each draw by its own cluster-robust standard error.
    alpha
        Level recorded in ``overall``.
    """
    multiplier = check_multiplier(multiplier)
    if hasattr(aggregate, "aggregate") and hasattr(aggregate, "influence_t"):
        aggregate = aggregate.aggregate("simple", n_boot=0)
    influence = np.asarray(aggregate.influence, float)
    n = influence.shape[0]
    scores = cluster_scores(influence, aggregate.cluster_codes, aggregate.n_clusters) / n
    estimate = float(aggregate.overall.estimate)
    rng = np.random.default_rng(seed)
    v = multiplier_weights(multiplier, (n_boot, scores.size), rng)
    draws = v @ scores
    se = float(np.sqrt(scores @ scores))
    if studentize:
        statistic = (estimate - null) / se
        boot = draws / np.sqrt((v * v) @ (scores * scores))
    else:
        statistic = estimate - null
        boot = draws
    # a tiny tolerance so that draws equal to the statistic up to rounding count as "at least as large"
    p_value = (1 + np.sum(np.abs(boot) >= abs(statistic) * (1 - 1e-12))) / (n_boot + 1)
    inference = (f"wild score bootstrap (unrestricted, {multiplier}), {n_boot} draws, "
                 f"{'studentized' if studentize else 'unstudentized'}")
    return WildBootstrapTest(estimate=estimate, se=se, statistic=float(statistic), p_value=float(p_value),
                             null=float(null), n_clusters=int(scores.size), n_boot=n_boot, multiplier=multiplier,
                             studentize=bool(studentize), inference=inference, alpha=alpha)
