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

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

Critical = Literal["normal", "t"]
CRITICAL: tuple[str, ...] = ("normal", "t")

#: Comparison groups of Callaway & Sant'Anna; R ``did``'s spellings are accepted as aliases.
ControlGroup = Literal["never", "notyet", "nevertreated", "notyettreated"]
CONTROL_GROUPS: tuple[str, ...] = ("never", "notyet")
CONTROL_GROUP_ALIASES: dict[str, str] = {"nevertreated": "never", "notyettreated": "notyet"}

#: Distributions of bootstrap multipliers (mean 0, variance 1), see :func:`bijstand.did.bootstrap.multiplier_weights`.
Multiplier = Literal["rademacher", "mammen", "webb"]
MULTIPLIERS: tuple[str, ...] = ("rademacher", "mammen", "webb")

#: Columns of every tidy table, after its key columns.
TIDY_COLUMNS: tuple[str, ...] = ("estimate", "se", "statistic", "p_value", "ci_lower", "ci_upper")
#: Columns of a uniform (simultaneous) confidence band, when one exists.
BAND_COLUMNS: tuple[str, ...] = ("ucb_lower", "ucb_upper")


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


def check_control_group(value: str) -> str:
    """Canonical comparison group: ``"never"`` or ``"notyet"`` (R's ``"nevertreated"``/``"notyettreated"`` too)."""
    return check_option("control_group", value, CONTROL_GROUPS, CONTROL_GROUP_ALIASES)


def check_multiplier(value: str) -> str:
    """Canonical multiplier distribution (``"rademacher"``, ``"mammen"`` or ``"webb"``), else ``ValueError``."""
    return check_option("multiplier", value, MULTIPLIERS)


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


# ----------------------------------------------------------------------------------------------------------------
# Tidy tables, glance rows and printed summaries, written once for every result class
# ----------------------------------------------------------------------------------------------------------------

def tidy_order(table: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Columns in the order of the vocabulary: ``keys``, :data:`TIDY_COLUMNS`, :data:`BAND_COLUMNS`, the rest."""
    first = [c for c in (*keys, *TIDY_COLUMNS, *BAND_COLUMNS) if c in table.columns]
    return table[first + [c for c in table.columns if c not in first]]


def effect_table(effect: Effect, term: str = "overall") -> pd.DataFrame:
    """One-row tidy table (key column ``term``) of an :class:`Effect`."""
    row = {"term": term, **{c: getattr(effect, c) for c in TIDY_COLUMNS}}
    return pd.DataFrame([row])


def glance_frame(**fields) -> pd.DataFrame:
    """The one-row ``glance()`` DataFrame of a result (fields in the order given)."""
    return pd.DataFrame([fields])


#: R's significance codes (``printCoefmat``), as fixest and lm print them.
SIGNIF_CODES_P = "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"
#: R ``did``'s code in ``summary(aggte(...))``: a star when the interval does not cover 0.
SIGNIF_CODES_INTERVAL = "Signif. codes: '*' confidence band does not cover 0"

Stars = Literal["p", "interval"]


def significance_stars(p_value: float) -> str:
    """R's codes for a p-value: ``***`` < 0.001 <= ``**`` < 0.01 <= ``*`` < 0.05 <= ``.`` < 0.1 <= blank."""
    if not np.isfinite(p_value):
        return ""
    for bound, code in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p_value < bound:
            return code
    return ""


def interval_star(lower: float, upper: float) -> str:
    """R ``did``'s ``*``: the interval lies entirely on one side of 0."""
    if not (np.isfinite(lower) and np.isfinite(upper)):
        return ""
    return "*" if (lower > 0 or upper < 0) else ""


def format_number(value, digits: int = 4) -> str:
    """Fixed ``digits`` decimals for ordinary magnitudes, scientific notation for very small or large ones."""
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if value is None or (isinstance(value, (float, np.floating)) and not np.isfinite(value)):
        return "NA" if value is None or np.isnan(value) else ("Inf" if value > 0 else "-Inf")
    if not isinstance(value, (float, np.floating)):
        return str(value)
    magnitude = abs(float(value))
    if magnitude != 0 and (magnitude < 10 ** (-digits + 1) or magnitude >= 1e6):
        return f"{value:.{max(digits - 1, 1)}e}"
    return f"{value:.{digits}f}"


def format_p_value(p_value: float) -> str:
    """p-values as R prints them: four decimals, ``<1e-04``-style below that."""
    if p_value is None or not np.isfinite(p_value):
        return "NA"
    return f"{p_value:.4f}" if p_value >= 1e-4 else f"{p_value:.1e}"


def format_table(table: pd.DataFrame, *, stars: Stars | None = "p", digits: int = 4) -> str:
    """A tidy table as text, numbers formatted, with a column of significance codes."""
    if table.empty:
        return "(no rows)"
    shown = pd.DataFrame(index=table.index)
    for column in table.columns:
        values = table[column]
        if column == "p_value":
            shown[column] = [format_p_value(v) for v in values]
        elif pd.api.types.is_float_dtype(values):
            shown[column] = [format_number(v, digits) for v in values]
        else:
            shown[column] = values.astype(str)
    if stars == "p" and "p_value" in table.columns:
        shown[" "] = [significance_stars(p) for p in table["p_value"]]
    elif stars == "interval":
        lower, upper = (("ucb_lower", "ucb_upper") if "ucb_lower" in table.columns else ("ci_lower", "ci_upper"))
        if lower in table.columns:
            shown[" "] = [interval_star(lo, hi) for lo, hi in zip(table[lower], table[upper], strict=True)]
    return shown.to_string(index=False)


def describe_critical(effect: Effect) -> str:
    """``"1.96 from N(0,1), 95% intervals"`` / ``"2.08 from t(21), 95% intervals"``."""
    reference = "N(0,1)" if effect.dof is None else f"t({effect.dof})"
    return f"{effect.crit_value:.4g} from {reference}, {100 * (1 - effect.alpha):g}% intervals"


def summary_text(*, title: str, header: Sequence[tuple[str, object]], overall: Effect | None = None,
                 overall_label: str = "Overall", table: pd.DataFrame | None = None, table_label: str = "",
                 stars: Stars | None = "p", notes: Sequence[str] = ()) -> str:
    """The printable summary every result's ``summary()`` returns (R ``summary(aggte(...))`` / fixest style).

    Parameters
    ----------
    title
        First line (the estimator).
    header
        ``(label, value)`` lines: aggregation, control group, base period, units, clusters, inference, critical
        value, ...; ``None`` values are skipped.
    overall
        The headline parameter, printed as a one-row table.
    table
        The tidy table of rows (event times, groups, cells, terms).
    stars
        ``"p"``: R's p-value codes (fixest, ``lm``); ``"interval"``: R ``did``'s ``*`` when the interval (the
        uniform band when there is one) does not cover 0; ``None``: no codes.
    notes
        Lines printed at the end.
    """
    rule = "-" * max(len(title), 40)
    lines = [title, rule]
    width = max((len(label) for label, value in header if value is not None), default=0) + 2
    for label, value in header:
        if value is not None:
            lines.append(f"{label + ':':<{width}}{value}")
    if overall is not None:
        lines += ["", f"{overall_label}:", format_table(effect_table(overall).drop(columns="term"), stars=stars)]
    if table is not None:
        lines += ["", f"{table_label}:" if table_label else "", format_table(table, stars=stars)]
        if not table_label:
            lines.pop(-2)
    if stars is not None and (overall is not None or table is not None):
        lines += ["---", SIGNIF_CODES_P if stars == "p" else SIGNIF_CODES_INTERVAL]
    lines += list(notes)
    return "\n".join(lines)


class ResultMixin:
    """``tidy()`` and ``__str__`` for result classes that define ``table``, ``summary()`` and ``glance()``."""

    table: pd.DataFrame

    def tidy(self) -> pd.DataFrame:
        """The tidy table (a copy of ``table``: key columns, then ``estimate, se, statistic, p_value, ci_lower,
        ci_upper`` and ``ucb_lower, ucb_upper`` when a uniform band exists)."""
        return self.table.copy()

    def summary(self) -> str:  # pragma: no cover - every result class overrides it
        raise NotImplementedError

    def glance(self) -> pd.DataFrame:  # pragma: no cover - every result class overrides it
        raise NotImplementedError

    def __str__(self) -> str:
        return self.summary()
