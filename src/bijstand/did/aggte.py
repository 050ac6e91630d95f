r"""Aggregations of ATT(g,t) into summary parameters, as R ``did::aggte`` 2.5.1 computes them.

With :math:`p_g = n^{-1}\sum_i w_i 1\{G_i = g\}` (sampling weights of mean 1) and the post-treatment cells
:math:`\{(g,t): g \le t\}`:

* ``simple``: :math:`\theta = \sum_{t \ge g} p_g ATT(g,t) / \sum_{t\ge g} p_g` (cells with
  :math:`t \le g + \text{max\_e}` only);
* ``dynamic`` (event study): :math:`\theta(e) = \sum_g p_g ATT(g, g+e) / \sum_g p_g` over the groups observed at
  event time :math:`e`; the overall parameter is the mean of :math:`\theta(e)` over :math:`e \ge 0`.
  ``min_e``/``max_e`` restrict the event times reported; ``balance_e`` keeps only groups observed at least
  ``balance_e`` periods after treatment (R's definition, including its window on :math:`e`);
* ``group``: :math:`\theta(g)` = mean of :math:`ATT(g,t)` over :math:`g \le t \le g + \text{max\_e}`; overall
  :math:`\sum_g p_g \theta(g) / \sum_g p_g`;
* ``calendar``: :math:`\theta(t) = \sum_{g \le t} p_g ATT(g,t) / \sum_{g\le t} p_g` for periods from the first
  group on; overall = mean over those periods.

Influence functions are the weighted sums of the cells' influence functions plus, where the weights
:math:`p_g/\sum p_g` are estimated from the data, R's extra term (``wif``):

.. math::

    \psi^{w}_i = \sum_{k} ATT_k \Big[\frac{w_i 1\{G_i = g_k\} - p_{g_k}}{\sum_{k'} p_{g_{k'}}}
       - \frac{p_{g_k}}{(\sum_{k'} p_{g_{k'}})^2}\sum_{k'}(w_i 1\{G_i = g_{k'}\} - p_{g_{k'}})\Big].

The extra term enters the simple, dynamic (per event time), calendar (per period) and group (overall)
parameters, exactly where R adds it. R compares ``max_e`` with periods recoded to 1, 2, ... in ``simple`` and
``group``; this is mirrored (identical when periods are consecutive integers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from bijstand.did.bootstrap import analytic_se, multiplier_bootstrap
from bijstand.did.results import (
    Critical, Effect, ResultMixin, check_option, degrees_of_freedom, glance_frame, summary_text,
    tidy_order, wald_columns,
)

Kind = Literal["simple", "dynamic", "group", "calendar"]
KINDS: tuple[str, ...] = ("simple", "dynamic", "group", "calendar")
_KEY = {"dynamic": "event_time", "group": "group", "calendar": "time"}
_TITLES = {"simple": "simple (average over post-treatment cells)", "dynamic": "dynamic (event study)",
           "group": "group (by cohort)", "calendar": "calendar (by period)"}
_OVERALL_LABELS = {"simple": "Overall ATT", "dynamic": "Overall ATT (average over event times e >= 0)",
                   "group": "Overall ATT (average over groups)", "calendar": "Overall ATT (average over periods)"}
_TABLE_LABELS = {"dynamic": "Dynamic effects", "group": "Group effects", "calendar": "Time effects"}


@dataclass
class AggregateResult(ResultMixin):
    """An aggregation of ATT(g,t) (R ``aggte``).

    Attributes
    ----------
    kind
        ``"simple"``, ``"dynamic"``, ``"group"`` or ``"calendar"``.
    overall
        The overall summary parameter as an :class:`~bijstand.did.results.Effect` (estimate, se, statistic,
        p_value, interval, critical value and its degrees of freedom, inference).
    table
        One row per event time / group / period: ``event_time|group|time, estimate, se, statistic, p_value,
        ci_lower, ci_upper`` (pointwise) and ``ucb_lower, ucb_upper`` (uniform band) when bootstrapped; empty
        for ``simple``.
    band_crit_value
        Critical value of ``table``'s uniform band (bootstrap sup-t over the rows), ``None`` without bootstrap.
    influence
        Influence function of the overall parameter (n units).
    influence_table
        Influence functions of the rows (n units × rows).
    cluster_codes, n_clusters
        Clusters used for inference (from ``att_gt(cluster=...)``; units when none).
    n_boot
        Bootstrap draws used (0 = analytic).
    options
        ``att_gt``'s options, with this aggregation's ``critical``, ``min_e``, ``max_e``, ``balance_e``.
    n_units
        Units that entered ``att_gt``.

    Examples
    --------
    >>> import moderndid
    >>> from bijstand.did import att_gt
    >>> mpdta = moderndid.load_mpdta().to_pandas()
    >>> cs = att_gt(mpdta, y="lemp", unit="countyreal", time="year", group="first.treat")
    >>> simple = cs.aggregate("simple")
    >>> print(f"{simple.overall.estimate:.4f} ({simple.overall.se:.4f})")
    -0.0400 (0.0120)
    >>> simple.overall.ci_lower < simple.overall.estimate < simple.overall.ci_upper
    True
    >>> print(simple)
    Aggregated treatment effects (R did::aggte)
    -------------------------------------------
    Estimator:      Callaway & Sant'Anna (2021), doubly robust (dr)
    Aggregation:    simple (average over post-treatment cells)
    Control group:  never treated
    Base period:    varying
    Units:          500
    Clusters:       500 (units)
    Inference:      analytic (influence function), by unit (500 units)
    Critical value: 1.96 from N(0,1), 95% intervals
    <BLANKLINE>
    Overall ATT:
    estimate     se statistic p_value ci_lower ci_upper
     -0.0400 0.0120   -3.3199  0.0009  -0.0635  -0.0164 *
    ---
    Signif. codes: '*' confidence band does not cover 0
    """

    kind: str
    overall: Effect
    table: pd.DataFrame
    band_crit_value: float | None
    influence: np.ndarray = field(repr=False)
    influence_table: np.ndarray = field(repr=False)
    cluster_codes: np.ndarray | None = field(repr=False)
    n_clusters: int
    n_boot: int
    options: dict = field(default_factory=dict, repr=False)
    n_units: int = 0

    def summary(self) -> str:
        """Printable summary, as R ``summary(aggte(...))``: header, overall ATT, then the rows with R's stars."""
        from bijstand.did.attgt import CONTROL_GROUP_LABELS, METHOD_LABELS, describe_inference

        options = self.options
        band = (f"; uniform band {self.band_crit_value:.4g} (bootstrap sup-t over the rows)"
                if self.band_crit_value is not None else "")
        reference = "N(0,1)" if self.overall.dof is None else f"t({self.overall.dof})"
        inference = describe_inference({**options, "n_boot": self.n_boot}, self.n_clusters)
        header = [
            ("Estimator", f"Callaway & Sant'Anna (2021), {METHOD_LABELS.get(options.get('method'), '?')}"),
            ("Aggregation", _TITLES[self.kind]),
            ("Control group", CONTROL_GROUP_LABELS.get(options.get("control_group"), None)),
            ("Base period", options.get("base_period")),
            ("Anticipation", options.get("anticipation") or None),
            ("Units", self.n_units),
            ("Clusters", self.n_clusters if options.get("cluster") else f"{self.n_clusters} (units)"),
            ("Sampling weights", options.get("weights")),
            ("Inference", inference),
            ("Critical value", f"{self.overall.crit_value:.4g} from {reference}, "
                               f"{100 * (1 - self.overall.alpha):g}% {'' if self.kind == 'simple' else 'pointwise '}"
                               f"intervals{band}"),
        ]
        table = None if self.kind == "simple" else self.table
        return summary_text(title="Aggregated treatment effects (R did::aggte)", header=header,
                            overall=self.overall, overall_label=_OVERALL_LABELS[self.kind], table=table,
                            table_label=_TABLE_LABELS.get(self.kind, ""), stars="interval")

    def glance(self) -> pd.DataFrame:
        """One row: estimator, aggregation, the overall effect's columns, n_units, n_clusters, options."""
        overall = self.overall
        return glance_frame(estimator="att_gt", aggregation=self.kind, estimate=overall.estimate, se=overall.se,
                            p_value=overall.p_value, ci_lower=overall.ci_lower, ci_upper=overall.ci_upper,
                            n_units=self.n_units, n_clusters=self.n_clusters,
                            control_group=self.options.get("control_group"), method=self.options.get("method"),
                            base_period=self.options.get("base_period"), inference=overall.inference,
                            critical=self.options.get("critical"), dof=overall.dof, alpha=overall.alpha,
                            n_boot=self.n_boot)


@dataclass(frozen=True)
class AggregatePoint:
    """Point estimates of an aggregation without inference (used by randomisation inference)."""

    overall: float
    keys: np.ndarray
    rows: np.ndarray


def _rank_in(values: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Position (1-based) of each value in the sorted support: R ``aggte``'s recoding of periods."""
    return np.searchsorted(support, values) + 1.0


def _plan(kind: str, group: np.ndarray, time: np.ndarray, *, min_e: float, max_e: float,
          balance_e: int | None) -> tuple[np.ndarray, list[np.ndarray], bool, str]:
    """Rows of an aggregation: keys, the cells in each row, whether rows carry the weights' term, overall rule.

    The overall rule is ``"single"`` (the one row is the parameter), ``"mean_post"`` (mean of rows with key >= 0),
    ``"mean"`` (mean of all rows) or ``"pg"`` (rows weighted by group size, with the weights' term).
    """
    support = np.unique(time)
    t_rank, g_rank = _rank_in(time, support), _rank_in(group, support)
    post = group <= time
    if kind == "simple":
        keep = np.flatnonzero(post & (t_rank <= g_rank + max_e))
        return np.array([0.0]), [keep], True, "single"
    if kind == "group":
        keys = np.unique(group)
        rows = [np.flatnonzero((group == g) & post & (t_rank <= g_rank + max_e)) for g in keys]
        return keys, rows, False, "pg"
    if kind == "dynamic":
        event = time - group
        keys = np.unique(event)
        include = np.ones(group.size, bool)
        if balance_e is not None:
            keys = keys[(keys <= balance_e) & (keys >= balance_e - support[-1] + support[0])]
            include = support[-1] - group >= balance_e
        keys = keys[(keys >= min_e) & (keys <= max_e)]
        rows = [np.flatnonzero((event == e) & include) for e in keys]
        return keys, rows, True, "mean_post"
    if kind == "calendar":
        keys = support[support >= group.min()]
        rows = [np.flatnonzero((time == t) & post) for t in keys]
        return keys, rows, True, "mean"
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def _group_shares(unit_groups: np.ndarray, weights: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """:math:`p_g = n^{-1}\\sum_i w_i 1\\{G_i = g\\}` for each g in ``groups``."""
    values, codes = np.unique(unit_groups, return_inverse=True)
    totals = np.bincount(codes, weights=weights, minlength=values.size) / unit_groups.size
    index = np.searchsorted(values, groups)
    found = (index < values.size) & (values[np.minimum(index, values.size - 1)] == groups)
    return np.where(found, totals[np.minimum(index, values.size - 1)], 0.0)


def _weights_term(att: np.ndarray, pg: np.ndarray, cell_codes: np.ndarray, unit_codes: np.ndarray,
                  weights: np.ndarray, n_codes: int) -> np.ndarray:
    """R's ``wif(keepers, ...) %*% att[keepers]`` in O(n): the effect of estimating the weights p_g."""
    total = pg.sum()
    weighted = pg @ att
    att_by_group = np.bincount(cell_codes, weights=att, minlength=n_codes)[unit_codes]
    count_by_group = np.bincount(cell_codes, minlength=n_codes)[unit_codes]
    return (weights * att_by_group - weighted) / total - (weights * count_by_group - total) * weighted / total**2


def point_estimates(group: np.ndarray, time: np.ndarray, att: np.ndarray, unit_groups: np.ndarray,
                    weights: np.ndarray, kind: str, *, min_e: float = -np.inf, max_e: float = np.inf,
                    balance_e: int | None = None) -> AggregatePoint:
    """Point estimates of an aggregation from cell estimates only (no influence functions)."""
    keys, rows, _, rule = _plan(kind, group, time, min_e=min_e, max_e=max_e, balance_e=balance_e)
    pg = _group_shares(unit_groups, weights, group)
    values = np.empty(len(rows))
    for r, cells in enumerate(rows):
        if kind == "group":
            values[r] = att[cells].mean() if cells.size else np.nan
        else:
            share = pg[cells] / pg[cells].sum() if cells.size else pg[cells]
            values[r] = share @ att[cells] if cells.size else np.nan
    overall = _overall_value(values, keys, rule, unit_groups, weights)
    return AggregatePoint(overall=overall, keys=keys, rows=values)


class PointAggregator:
    """Point estimates of one aggregation for many sets of cell estimates at once (randomisation inference).

    The rows and cells of the aggregation are fixed by the cells' groups and periods; only the ATT(g,t) and the
    group shares change between permutations of the adoption dates.
    """

    def __init__(self, group: np.ndarray, time: np.ndarray, kind: str, *, min_e: float = -np.inf,
                 max_e: float = np.inf, balance_e: int | None = None):
        self.kind = kind
        self.keys, rows, _, self.rule = _plan(kind, group, time, min_e=min_e, max_e=max_e, balance_e=balance_e)
        self.incidence = np.zeros((len(rows), group.size))
        for r, cells in enumerate(rows):
            self.incidence[r, cells] = 1.0

    def __call__(self, att: np.ndarray, pg_cells: np.ndarray, pg_keys: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Overall (P,) and row (P x rows) estimates from ATT(g,t) (P x K) and each cell's p_g (P x K).

        ``pg_keys`` (P x rows) are the shares of the groups that are the rows of a ``group`` aggregation.
        """
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.kind == "group":
                rows = att @ self.incidence.T / self.incidence.sum(1)
            else:
                rows = (att * pg_cells) @ self.incidence.T / (pg_cells @ self.incidence.T)
            if self.rule == "single":
                overall = rows[:, 0]
            elif self.rule == "mean_post":
                overall = rows[:, self.keys >= 0].mean(axis=1)
            elif self.rule == "mean":
                overall = rows.mean(axis=1)
            else:
                overall = (rows * pg_keys).sum(1) / pg_keys.sum(1)
        return overall, rows


def _overall_value(values: np.ndarray, keys: np.ndarray, rule: str, unit_groups: np.ndarray,
                   weights: np.ndarray) -> float:
    if rule == "single":
        return float(values[0])
    if rule == "mean_post":
        return float(values[keys >= 0].mean())
    if rule == "mean":
        return float(values.mean())
    pgg = _group_shares(unit_groups, weights, keys)
    return float(values @ pgg / pgg.sum())


@dataclass(frozen=True)
class AggregateInfluence:
    """Point estimates and influence functions of an aggregation (array level; no inference yet)."""

    keys: np.ndarray              # row keys (event times / groups / periods; [0] for simple)
    values: np.ndarray            # row estimates
    overall: float                # overall estimate
    row_influence: np.ndarray     # rows x n units
    overall_influence: np.ndarray  # n units


def aggregate_arrays(group: np.ndarray, time: np.ndarray, att: np.ndarray, influence_t: np.ndarray,
                     unit_groups: np.ndarray, weights: np.ndarray, kind: Kind, *, min_e: float = -np.inf,
                     max_e: float = np.inf, balance_e: int | None = None) -> AggregateInfluence:
    """Estimates and influence functions of an aggregation from the cells' estimates and influence functions.

    ``influence_t`` is cells × units (the transpose of R's ``inffunc``). Raises ``ValueError`` when a cell the
    aggregation needs is NaN, as R's ``aggte`` stops.
    """
    kind = check_option("kind", kind, KINDS)
    keys, rows, with_wif, rule = _plan(kind, group, time, min_e=min_e, max_e=max_e, balance_e=balance_e)
    used = np.concatenate(rows) if rows else np.array([], int)
    if np.isnan(att[used]).any():
        raise ValueError("aggregate: some ATT(g,t) used by this aggregation are NaN (cells without treated or "
                         "comparison units); R's aggte stops here as well")
    pg = _group_shares(unit_groups, weights, group)
    values_codes, unit_codes = np.unique(unit_groups, return_inverse=True)
    cell_codes = np.searchsorted(values_codes, group)
    n_codes = values_codes.size

    # rows' influence functions: one matrix product for the weighted sums of the cells' influence functions
    weight_matrix = np.zeros((len(rows), att.size))
    values = np.empty(len(rows))
    for r, cells in enumerate(rows):
        if kind == "group":
            share = np.full(cells.size, 1.0 / cells.size) if cells.size else np.zeros(0)
            values[r] = att[cells].mean() if cells.size else np.nan
        else:
            share = pg[cells] / pg[cells].sum() if cells.size else np.zeros(0)
            values[r] = share @ att[cells] if cells.size else np.nan
        weight_matrix[r, cells] = share
    row_influence = weight_matrix @ influence_t          # rows x n
    if with_wif:
        for r, cells in enumerate(rows):
            if cells.size:
                row_influence[r] += _weights_term(att[cells], pg[cells], cell_codes[cells], unit_codes, weights,
                                                  n_codes)

    overall = _overall_value(values, keys, rule, unit_groups, weights)
    if rule == "single":
        overall_influence = row_influence[0]
    elif rule == "mean_post":
        overall_influence = row_influence[keys >= 0].mean(axis=0)
    elif rule == "mean":
        overall_influence = row_influence.mean(axis=0)
    else:
        pgg = _group_shares(unit_groups, weights, keys)
        overall_influence = (pgg / pgg.sum()) @ row_influence + _weights_term(
            values, pgg, np.searchsorted(values_codes, keys), unit_codes, weights, n_codes)
    return AggregateInfluence(keys=keys, values=values, overall=overall, row_influence=row_influence,
                              overall_influence=overall_influence)


def aggregate(result, kind: Kind = "simple", *, min_e: float = -np.inf, max_e: float = np.inf,
              balance_e: int | None = None, n_boot: int | None = None, seed: int | None = None,
              critical: Critical | None = None) -> AggregateResult:
    """Aggregate an :class:`~bijstand.did.attgt.ATTgtResult` as R ``did::aggte(type=kind)``.

    Parameters
    ----------
    result
        Output of :func:`bijstand.did.attgt.att_gt`.
    kind
        ``"simple"``, ``"dynamic"``, ``"group"`` or ``"calendar"`` (definitions in the module docstring).
    min_e, max_e, balance_e
        R's event-time restrictions (see the module docstring for where each applies).
    n_boot, seed
        Multiplier-bootstrap draws and seed; default those given to ``att_gt``. With draws, standard errors are
        the bootstrap's and ``table`` gets a uniform band over its rows.
    critical
        ``"normal"`` or ``"t"`` (t with G - 1 degrees of freedom) for p-values and pointwise intervals; default
        the one given to ``att_gt``.

    Returns
    -------
    AggregateResult

    Examples
    --------
    >>> import moderndid
    >>> from bijstand.did import att_gt
    >>> mpdta = moderndid.load_mpdta().to_pandas()
    >>> cs = att_gt(mpdta, y="lemp", unit="countyreal", time="year", group="first.treat")
    >>> dynamic = aggregate(cs, "dynamic")
    >>> dynamic.table[["event_time", "estimate", "se"]].round(4)
       event_time  estimate      se
    0          -3    0.0305  0.0150
    1          -2   -0.0006  0.0133
    2          -1   -0.0245  0.0142
    3           0   -0.0199  0.0118
    4           1   -0.0510  0.0169
    5           2   -0.1373  0.0364
    6           3   -0.1008  0.0344
    >>> print(f"{dynamic.overall.estimate:.4f} [{dynamic.overall.ci_lower:.4f}, {dynamic.overall.ci_upper:.4f}]")
    -0.0772 [-0.1164, -0.0381]
    """
    options = result.options
    n_boot = options["n_boot"] if n_boot is None else n_boot
    seed = options["seed"] if seed is None else seed
    critical = options.get("critical", "normal") if critical is None else critical
    critical = check_option("critical", critical, ("normal", "t"))
    alpha = options["alpha"]
    table = result.table
    group = table["group"].to_numpy(float)
    time = table["time"].to_numpy(float)
    att = table["estimate"].to_numpy(float)
    agg = aggregate_arrays(group, time, att, result.influence_t, result.unit_groups, result.unit_weights, kind,
                           min_e=min_e, max_e=max_e, balance_e=balance_e)
    columns = np.vstack([agg.overall_influence[None, :], agg.row_influence]).T       # n x (1 + rows)
    dof = degrees_of_freedom(critical, result.n_clusters)
    band = None
    if n_boot:
        boot = multiplier_bootstrap(columns, n_boot=n_boot, seed=seed, cluster_codes=result.cluster_codes,
                                    n_clusters=result.n_clusters, multiplier=options["multiplier"],
                                    alpha=alpha, band_columns=slice(1, None))
        se, band = boot.se, (boot.crit_value if kind != "simple" else None)
    else:
        se = analytic_se(columns, result.cluster_codes, result.n_clusters)
    from bijstand.did.attgt import describe_inference

    inference = describe_inference({**options, "n_boot": n_boot}, result.n_clusters)
    overall = Effect.from_se(agg.overall, se[0], alpha=alpha, dof=dof, n_clusters=result.n_clusters,
                             inference=inference)
    if kind == "simple":
        out = pd.DataFrame(columns=["estimate", "se", "statistic", "p_value", "ci_lower", "ci_upper"], dtype=float)
    else:
        keys = agg.keys
        key_values = keys.astype(np.int64) if np.all(np.mod(keys, 1) == 0) else keys
        out = wald_columns(pd.DataFrame({_KEY[kind]: key_values, "estimate": agg.values, "se": se[1:]}),
                           alpha=alpha, dof=dof)
        if n_boot:
            out["ucb_lower"] = out["estimate"] - band * out["se"]
            out["ucb_upper"] = out["estimate"] + band * out["se"]
        out = tidy_order(out, [_KEY[kind]])
    agg_options = {**options, "critical": critical, "min_e": min_e, "max_e": max_e, "balance_e": balance_e}
    return AggregateResult(kind=kind, overall=overall, table=out, band_crit_value=band,
                           influence=agg.overall_influence, influence_table=agg.row_influence.T,
                           cluster_codes=result.cluster_codes, n_clusters=result.n_clusters, n_boot=n_boot or 0,
                           options=agg_options, n_units=result.n_units)
