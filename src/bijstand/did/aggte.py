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

import numpy as np
import pandas as pd
from scipy.stats import norm

from bijstand.did.bootstrap import analytic_se, multiplier_bootstrap

KINDS = ("simple", "dynamic", "group", "calendar")
_KEY = {"dynamic": "event_time", "group": "group", "calendar": "time"}


@dataclass
class AggregateResult:
    """An aggregation of ATT(g,t) (R ``aggte``).

    Attributes
    ----------
    kind
        ``"simple"``, ``"dynamic"``, ``"group"`` or ``"calendar"``.
    overall
        ``{"att", "se", "ci_lower", "ci_upper"}`` of the overall summary parameter.
    table
        One row per event time / group / period (``event_time|group|time, att, se, ci_lower, ci_upper``; plus
        ``ucb_lower, ucb_upper`` of the uniform band when bootstrapped); empty for ``simple``.
    crit_val
        Critical value of ``table``'s band: uniform (sup-t over the rows) when bootstrapped, else normal.
    influence
        Influence function of the overall parameter (n units).
    influence_table
        Influence functions of the rows (n units × rows).
    cluster_codes, n_clusters
        Clusters used for inference (from ``att_gt(cluster=...)``).
    n_boot
        Bootstrap draws used (0 = analytic).
    """

    kind: str
    overall: dict
    table: pd.DataFrame
    crit_val: float
    influence: np.ndarray = field(repr=False)
    influence_table: np.ndarray = field(repr=False)
    cluster_codes: np.ndarray | None = field(repr=False)
    n_clusters: int
    n_boot: int


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


def aggregate(result, kind: str = "simple", *, min_e: float = -np.inf, max_e: float = np.inf,
              balance_e: int | None = None, n_boot: int | None = None, seed: int | None = None) -> AggregateResult:
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
    """
    options = result.options
    n_boot = options["n_boot"] if n_boot is None else n_boot
    seed = options["seed"] if seed is None else seed
    alpha = options["alpha"]
    table = result.table
    group = table["group"].to_numpy(float)
    time = table["time"].to_numpy(float)
    att = table["att"].to_numpy(float)
    keys, rows, with_wif, rule = _plan(kind, group, time, min_e=min_e, max_e=max_e, balance_e=balance_e)
    used = np.concatenate(rows) if rows else np.array([], int)
    if np.isnan(att[used]).any():
        raise ValueError("aggregate: some ATT(g,t) used by this aggregation are NaN (cells without treated or "
                         "comparison units); R's aggte stops here as well")

    unit_groups, weights = result.unit_groups, result.unit_weights
    n = unit_groups.size
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
    row_influence = weight_matrix @ result.influence_t          # rows x n
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

    columns = np.vstack([overall_influence[None, :], row_influence]).T       # n x (1 + rows)
    z = float(norm.ppf(1 - alpha / 2))
    if n_boot:
        boot = multiplier_bootstrap(columns, n_boot=n_boot, seed=seed, cluster_codes=result.cluster_codes,
                                    n_clusters=result.n_clusters, boot_weights=options["boot_weights"],
                                    alpha=alpha, band_columns=slice(1, None))
        se, crit = boot.se, boot.crit_val
    else:
        se, crit = analytic_se(columns, result.cluster_codes, result.n_clusters), z
    overall_dict = {"att": overall, "se": float(se[0]), "ci_lower": overall - z * se[0],
                    "ci_upper": overall + z * se[0]}
    out = pd.DataFrame(columns=["att", "se", "ci_lower", "ci_upper"], dtype=float)
    if kind != "simple":
        key_values = keys.astype(np.int64) if np.all(np.mod(keys, 1) == 0) else keys
        out = pd.DataFrame({_KEY[kind]: key_values, "att": values, "se": se[1:]})
        out["ci_lower"] = out["att"] - z * out["se"]
        out["ci_upper"] = out["att"] + z * out["se"]
        if n_boot:
            out["ucb_lower"] = out["att"] - crit * out["se"]
            out["ucb_upper"] = out["att"] + crit * out["se"]
    return AggregateResult(kind=kind, overall=overall_dict, table=out, crit_val=crit,
                           influence=overall_influence, influence_table=row_influence.T,
                           cluster_codes=result.cluster_codes, n_clusters=result.n_clusters, n_boot=n_boot or 0)
