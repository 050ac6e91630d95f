r"""One vocabulary for every estimator's results.

Every result object in :mod:`bijstand.did` reports its headline parameter as an :class:`Effect` and its rows (cells,
event times, groups, periods, terms) as a tidy table with the columns :data:`TIDY_COLUMNS` (after the key columns),
the way R's ``broom::tidy`` does for every model:

``estimate, se, statistic, p_value, ci_lower, ci_upper``

with ``statistic`` :math:`= (\hat\theta - \theta_0)/\widehat{se}` and the interval
:math:`\hat\theta \pm c_{1-\alpha/2}\,\widehat{se}`, where the critical value :math:`c` is the normal quantile
(``critical="normal"``, what R ``did`` and ``didimputation`` report) or the quantile of Student's :math:`t` with
:math:`G - 1` degrees of freedom, :math:`G` the number of clusters (``critical="t"``, fixest's default for clustered
standard errors and the better choice with few clusters).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from scipy import stats

Critical = Literal["normal", "t"]
CRITICAL: tuple[str, ...] = ("normal", "t")

#: Columns of every tidy table, after its key columns.
TIDY_COLUMNS: tuple[str, ...] = ("estimate", "se", "statistic", "p_value", "ci_lower", "ci_upper")


def check_option(name: str, value: str, allowed: tuple[str, ...], aliases: dict[str, str] | None = None) -> str:
    """Return the canonical spelling of an option value, or raise ``ValueError`` naming the allowed values.

    ``aliases`` maps other accepted spellings (e.g. R's ``"nevertreated"``) to the canonical one.
    """
    aliases = aliases or {}
    if isinstance(value, str) and value in aliases:
        return aliases[value]
    if value not in allowed:
        accepted = sorted(set(allowed) | set(aliases))
        raise ValueError(f"{name} must be one of {accepted}, got {value!r}")
    return value


def degrees_of_freedom(critical: Critical, n_clusters: int | None) -> int | None:
    """Degrees of freedom of the reference distribution: ``None`` (normal) or :math:`G - 1`."""
    critical = check_option("critical", critical, CRITICAL)
    if critical == "normal":
        return None
    if n_clusters is None or n_clusters < 2:
        raise ValueError(f"critical='t' needs at least two clusters, got {n_clusters!r}")
    return int(n_clusters) - 1


def critical_value(alpha: float, dof: int | None) -> float:
    """Two-sided critical value :math:`c_{1-\\alpha/2}` of the normal (``dof=None``) or :math:`t_{dof}`."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    q = 1 - alpha / 2
    return float(stats.norm.ppf(q) if dof is None else stats.t.ppf(q, dof))


def two_sided_p(statistic, dof: int | None):
    """Two-sided p-value of a statistic under the normal (``dof=None``) or :math:`t_{dof}`."""
    statistic = np.abs(np.asarray(statistic, float))
    p = 2 * (stats.norm.sf(statistic) if dof is None else stats.t.sf(statistic, dof))
    return float(p) if p.ndim == 0 else p


@dataclass(frozen=True)
class Effect:
    """One summary parameter with its inference.

    Attributes
    ----------
    estimate, se
        Point estimate :math:`\\hat\\theta` and standard error.
    statistic, p_value
        :math:`(\\hat\\theta - \\theta_0)/\\widehat{se}` and its two-sided p-value (:math:`\\theta_0` = ``null``).
    ci_lower, ci_upper
        :math:`\\hat\\theta \\mp c\\,\\widehat{se}` (or the bounds of an inverted test, for bootstrap intervals).
    crit_value, dof
        The critical value :math:`c` and the degrees of freedom of its distribution (``None`` = normal).
    alpha
        One minus the confidence level.
    n_clusters
        Clusters behind the standard error (``None`` when not clustered).
    inference
        How the standard error, p-value and interval were obtained, e.g. ``"analytic, clustered by area"``.
    null
        :math:`\\theta_0` of ``statistic`` and ``p_value``.
    """

    estimate: float
    se: float
    statistic: float
    p_value: float
    ci_lower: float
    ci_upper: float
    crit_value: float
    dof: int | None
    alpha: float
    n_clusters: int | None
    inference: str
    null: float = 0.0

    @classmethod
    def from_se(cls, estimate: float, se: float, *, alpha: float = 0.05, dof: int | None = None,
                n_clusters: int | None = None, inference: str = "analytic", null: float = 0.0) -> Effect:
        """An effect with a Wald interval and p-value from its standard error."""
        crit = critical_value(alpha, dof)
        estimate, se = float(estimate), float(se)
        statistic = (estimate - null) / se if se > 0 else float("nan")
        p_value = two_sided_p(statistic, dof) if np.isfinite(statistic) else float("nan")
        return cls(estimate=estimate, se=se, statistic=float(statistic), p_value=p_value,
                   ci_lower=estimate - crit * se, ci_upper=estimate + crit * se, crit_value=crit, dof=dof,
                   alpha=float(alpha), n_clusters=None if n_clusters is None else int(n_clusters),
                   inference=inference, null=float(null))

    def as_dict(self) -> dict:
        """The fields as a plain dict (for tables and results records)."""
        return asdict(self)

    def covers(self, value: float) -> bool:
        """Whether the interval contains ``value``."""
        return bool(self.ci_lower <= value <= self.ci_upper)

    def __str__(self) -> str:
        level = f"{100 * (1 - self.alpha):g}%"
        ref = "N(0,1)" if self.dof is None else f"t({self.dof})"
        return (f"estimate {self.estimate:.6g} (se {self.se:.6g}), {level} CI [{self.ci_lower:.6g}, "
                f"{self.ci_upper:.6g}], p = {self.p_value:.4g} [{self.inference}; critical value {self.crit_value:.4g}"
                f" from {ref}]")


def wald_columns(table, *, alpha: float, dof: int | None, estimate: str = "estimate", se: str = "se"):
    """Add ``statistic, p_value, ci_lower, ci_upper`` to a table with ``estimate`` and ``se`` (in place)."""
    crit = critical_value(alpha, dof)
    est = table[estimate].to_numpy(float)
    sd = table[se].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = np.where(sd > 0, est / sd, np.nan)
    table["statistic"] = statistic
    table["p_value"] = np.where(np.isfinite(statistic), two_sided_p(np.nan_to_num(statistic), dof), np.nan)
    table["ci_lower"] = est - crit * sd
    table["ci_upper"] = est + crit * sd
    return table
