r"""Randomisation inference for staggered adoption: permute adoption dates across areas.

Under the sharp null of no effect in any area and period, the outcomes do not depend on when an area was treated,
so every reassignment of the observed adoption dates (the vector of first-treated periods) across areas is as
likely as the one observed when dates were assigned at random (or exchangeably) across areas. Re-estimating the
Callaway–Sant'Anna statistic for each reassignment gives its null distribution, and

.. math::

    p = \frac{\#\{\pi : |T(\pi)| \ge |T_{obs}|\}}{\#\text{assignments}}

is exact whatever the number of clusters: with 22 areas and cohorts of one or two areas, this is where analytic
cluster-robust standard errors fail (see ``tests/test_few_cluster_inference.py``). When the number of distinct
assignments (:math:`G! / \prod_g m_g!` for cohort sizes :math:`m_g`) is at most ``max_exact`` they are all
enumerated; otherwise ``n_perm`` random permutations are drawn and :math:`p = (1 + \#\{b: |T_b| \ge |T_{obs}|\})
/ (1 + n_{perm})`` (valid as a Monte Carlo p-value).

Dates are permuted at the level of ``cluster`` when ``att_gt`` had one (all units of an area keep a common date),
else across units. Only point estimates are recomputed (no influence functions), from the arrays that
:func:`~bijstand.did.attgt.att_gt` already built, so a permutation costs well under a millisecond for 22 areas.

Two statistics are available. The default is the estimate itself, :math:`T = \hat\theta`. With
``studentize=True`` it is :math:`T = \hat\theta / \widehat{se}`, the clustered analytic (influence-function)
standard error recomputed under every permutation. Both tests are exact under the sharp null. In randomised
experiments the studentised permutation test is in addition asymptotically valid for the weak null of a zero
*average* effect with heterogeneous effects (Wu & Ding 2021, JASA); that result motivates the option here, it is
not proven for staggered adoption. It costs influence functions for every permutation (milliseconds for 22 areas).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import combinations
from math import factorial

import numpy as np
import pandas as pd

from bijstand.did.aggte import KINDS, PointAggregator, aggregate_arrays, point_estimates
from bijstand.did.attgt import ATTgtResult, _cell_design, _membership, _sample, att_gt, estimate_cells
from bijstand.did.bootstrap import analytic_se
from bijstand.did.results import Effect, ResultMixin, effect_table, glance_frame, summary_text


@dataclass(frozen=True)
class RandomizationTest(ResultMixin):
    """Result of :func:`randomization_test`.

    Attributes
    ----------
    estimate
        The aggregate parameter on the observed adoption dates.
    se
        Its clustered analytic standard error (computed when ``studentize``; NaN otherwise).
    statistic
        The test statistic on the observed dates: ``estimate / se`` (``studentize``) or ``estimate``.
    p_value
        Two-sided permutation p-value (``abs`` of the statistic).
    permuted
        The statistic under each permutation (all distinct assignments when ``exact``).
    exact
        Whether all distinct assignments were enumerated.
    n_assignments
        Number of distinct assignments of the dates to the permuted units.
    studentize
        Whether the statistic is studentised.
    statistic_name
        Which statistic, e.g. ``"simple overall, studentized (estimate / clustered analytic SE)"``.
    n_clusters
        Number of permuted units (clusters, or units without clusters).
    inference
        ``"randomization inference (exact, 12 assignments)"`` or ``"... (999 random permutations)"``.
    alpha
        Level recorded in ``overall``.
    """

    estimate: float
    se: float
    statistic: float
    p_value: float
    permuted: np.ndarray = field(repr=False)
    exact: bool
    n_assignments: int
    studentize: bool
    statistic_name: str
    n_clusters: int
    inference: str
    alpha: float = 0.05

    @property
    def overall(self) -> Effect:
        """The tested parameter with the permutation p-value (no interval: a test of the sharp null only)."""
        return Effect(estimate=self.estimate, se=self.se, statistic=self.statistic, p_value=self.p_value,
                      ci_lower=float("nan"), ci_upper=float("nan"), crit_value=float("nan"), dof=None,
                      alpha=self.alpha, n_clusters=self.n_clusters, inference=self.inference)

    @property
    def table(self) -> pd.DataFrame:
        """One row (``term`` = the statistic's name) with the tidy columns; no interval (NaN)."""
        return effect_table(self.overall, term=self.statistic_name)

    def summary(self) -> str:
        """Printable summary."""
        header = [("Test", "sharp null of no effect in any unit and period, adoption dates permuted"),
                  ("Statistic", self.statistic_name), ("Inference", self.inference),
                  ("Permuted units", self.n_clusters)]
        return summary_text(title="Randomisation inference", header=header, overall=self.overall, stars="p")

    def glance(self) -> pd.DataFrame:
        """One row: inference, statistic_name, studentize, exact, n_assignments, n_permuted, p_value."""
        return glance_frame(inference=self.inference, statistic_name=self.statistic_name,
                            studentize=self.studentize, exact=self.exact, n_assignments=self.n_assignments,
                            n_permuted=int(self.permuted.size), n_clusters=self.n_clusters, p_value=self.p_value)


def n_distinct_assignments(dates: np.ndarray) -> int:
    """Number of distinct permutations of a vector of adoption dates, :math:`G!/\\prod_g m_g!`."""
    counts = pd.Series(dates).value_counts().to_numpy()
    total = factorial(len(dates))
    for c in counts:
        total //= factorial(int(c))
    return total


def distinct_assignments(dates: np.ndarray) -> Iterator[np.ndarray]:
    """All distinct permutations of a multiset of dates (positions of each value chosen in turn)."""
    values, counts = np.unique(dates, return_counts=True)
    size = len(dates)

    def place(level: int, free: tuple[int, ...], current: np.ndarray) -> Iterator[np.ndarray]:
        if level == len(values):
            yield current.copy()
            return
        for chosen in combinations(free, int(counts[level])):
            current[list(chosen)] = values[level]
            rest = tuple(i for i in free if i not in chosen)
            yield from place(level + 1, rest, current)

    yield from place(0, tuple(range(size)), np.empty(size, dtype=float))


def _statistic_function(statistic, min_e, max_e, balance_e) -> tuple[Callable, str]:
    """Map ``statistic`` to f(group, time, att, unit_groups, weights) -> float."""
    if callable(statistic):
        return statistic, getattr(statistic, "__name__", "custom statistic")
    if isinstance(statistic, str):
        kind, key = statistic, None
    else:
        kind, key = statistic
    if kind not in KINDS:
        raise ValueError(f"statistic must be one of {KINDS}, a (kind, key) pair or a callable, got {statistic!r}")

    def compute(group, time, att, unit_groups, weights):
        point = point_estimates(group, time, att, unit_groups, weights, kind, min_e=min_e, max_e=max_e,
                                balance_e=balance_e)
        if key is None:
            return point.overall
        match = np.flatnonzero(point.keys == key)
        return float(point.rows[match[0]]) if match.size else np.nan

    label = f"{kind} overall" if key is None else f"{kind} row {key}"
    return compute, label


def _batched_statistics(source: ATTgtResult, permuted_unit_groups: np.ndarray, kind: str, key, *,
                        min_e: float, max_e: float, balance_e: int | None, chunk: int = 256) -> np.ndarray:
    """The statistic for many permutations at once (no covariates, no units dropped).

    Permuting the recoded groups is the same as recoding permuted dates (the recoding acts value by value), and
    the set of group values, hence every cell's design, is the same under all permutations: only the group sums
    change. ``permuted_unit_groups`` is P x n over the units that entered ``source``.
    """
    options = source.options
    panel = source.panel
    sample = _sample(panel.times, panel.raw_groups, options["control_group"], options["anticipation"], warn=False)
    Y = panel.outcome[sample.periods]
    w = source.unit_weights
    n = w.size
    design = _cell_design(sample.times, sample.groups, options["control_group"], options["base_period"],
                          options["anticipation"])
    values = np.unique(sample.unit_groups)
    treated, control = _membership(values, design)
    treated, control = treated.astype(float), control.astype(float)
    aggregator = PointAggregator(design.group, sample.times[design.current], kind, min_e=min_e, max_e=max_e,
                                 balance_e=balance_e)
    cell_codes = np.searchsorted(values, design.group)
    key_codes = np.searchsorted(values, aggregator.keys) if kind == "group" else None
    out = []
    for start in range(0, permuted_unit_groups.shape[0], chunk):
        codes = np.searchsorted(values, permuted_unit_groups[start:start + chunk])      # P x n
        n_p = codes.shape[0]
        onehot_w = (codes.T[:, :, None] == np.arange(values.size)) * w[:, None, None]    # n x P x H
        # one matrix product for all permutations: periods x (permutations * groups)
        sums = (Y @ onehot_w.reshape(n, -1)).reshape(Y.shape[0], n_p, values.size)
        group_weight = onehot_w.sum(0)                                                    # P x H
        change = sums[design.current] - sums[design.base]                                 # K x P x H
        with np.errstate(invalid="ignore", divide="ignore"):
            att = (np.einsum("kph,hk->pk", change, treated, optimize=True) / (group_weight @ treated)
                   - np.einsum("kph,hk->pk", change, control, optimize=True) / (group_weight @ control))
        pg = group_weight / n
        overall, rows = aggregator(att, pg[:, cell_codes], pg[:, key_codes] if key_codes is not None else None)
        if key is None:
            out.append(overall)
        else:
            match = np.flatnonzero(aggregator.keys == key)
            out.append(rows[:, match[0]] if match.size else np.full(att.shape[0], np.nan))
    return np.concatenate(out)


def _batched_studentized(source: ATTgtResult, permuted_unit_groups: np.ndarray, kind: str, key, *,
                         min_e: float, max_e: float, balance_e: int | None, chunk: int = 128
                         ) -> tuple[np.ndarray, np.ndarray]:
    r"""Estimates and clustered analytic SEs of an aggregation for many permutations at once (no covariates, no
    units dropped): the batched counterpart of :func:`_studentized_function`.

    As in :func:`_batched_statistics` the cells' design is the same under every permutation and only the group
    sums change. The statistic's influence function is linear in the cells' influence functions,
    :math:`\psi_i = \sum_k b_k \psi_{ik} + \text{(weights' terms)}`, with :math:`b = c'W` the cell weights of the
    aggregation's rows :math:`W` combined by the overall rule :math:`c`; with
    :math:`\psi_{ik} = n w_i s_{k h_i}(\Delta Y_{ik} - m_{k h_i})` (``h_i`` the unit's group) it is
    :math:`n w_i [\sum_k b_k s_{kh}\Delta Y_{ik} - \sum_k b_k s_{kh} m_{kh}]_{h = h_i}`: products of
    permutations x groups x cells with cells x units arrays, never the permutations x cells x units influence
    functions. Equal to the one-permutation-at-a-time path to rounding (tested to 1e-12).
    """
    from bijstand.did.aggte import _plan
    from bijstand.did.bootstrap import EPS_SE

    options = source.options
    panel = source.panel
    sample = _sample(panel.times, panel.raw_groups, options["control_group"], options["anticipation"], warn=False)
    Y = panel.outcome[sample.periods]
    w = source.unit_weights
    n = w.size
    design = _cell_design(sample.times, sample.groups, options["control_group"], options["base_period"],
                          options["anticipation"])
    times = sample.times[design.current]
    values = np.unique(sample.unit_groups)
    n_values = values.size
    treated, control = _membership(values, design)
    treated, control = treated.astype(float), control.astype(float)                 # H x K
    delta_y = Y[design.current] - Y[design.base]                                     # K x n
    keys, rows, with_wif, rule = _plan(kind, design.group, times, min_e=min_e, max_e=max_e, balance_e=balance_e)
    n_rows, n_cells = len(rows), design.group.size
    incidence = np.zeros((n_rows, n_cells))
    for r, cells in enumerate(rows):
        incidence[r, cells] = 1.0
    row_size = incidence.sum(1)
    used = incidence.any(0)
    cell_codes = np.searchsorted(values, design.group)
    cell_onehot = np.zeros((n_cells, n_values))
    cell_onehot[np.arange(n_cells), cell_codes] = 1.0
    count_by_group = incidence @ cell_onehot                                         # R x H
    if key is not None:
        match = np.flatnonzero(keys == key)
        if not match.size:
            nan = np.full(permuted_unit_groups.shape[0], np.nan)
            return nan, nan.copy()
    cluster_onehot = None
    if panel.clusters is not None:
        cluster_codes, uniques = pd.factorize(panel.clusters[sample.units], sort=True)
        cluster_onehot = np.zeros((n, len(uniques)))
        cluster_onehot[np.arange(n), cluster_codes] = 1.0
    estimates, ses = [], []
    for start in range(0, permuted_unit_groups.shape[0], chunk):
        codes = np.searchsorted(values, permuted_unit_groups[start:start + chunk])  # P x n
        n_p = codes.shape[0]
        onehot_w = (codes[:, :, None] == np.arange(n_values)) * w[None, :, None]    # P x n x H
        sums = np.einsum("tn,pnh->tph", Y, onehot_w, optimize=True)
        group_weight = onehot_w.sum(1)                                               # P x H
        change = sums[design.current] - sums[design.base]                            # K x P x H
        weight_t, weight_c = group_weight @ treated, group_weight @ control          # P x K
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_t = np.einsum("kph,hk->pk", change, treated, optimize=True) / weight_t
            mean_c = np.einsum("kph,hk->pk", change, control, optimize=True) / weight_c
            att = mean_t - mean_c
            scale = treated.T[None] / weight_t[:, :, None] - control.T[None] / weight_c[:, :, None]  # P x K x H
        centre = treated.T[None] * mean_t[:, :, None] + control.T[None] * mean_c[:, :, None]
        empty = (weight_t == 0) | (weight_c == 0)
        scale[empty] = 0.0
        centre[empty] = 0.0
        failed = np.isnan(att[:, used]).any(axis=1)   # aggregate_arrays raises: (NaN, NaN), as the loop returns
        att_used = np.where(used, att, 0.0)
        # aggregation rows: cell weights W (P x R x K), row values
        pg = group_weight[:, cell_codes] / n                                          # P x K
        with np.errstate(invalid="ignore", divide="ignore"):
            if kind == "group":
                mean_weights = incidence / np.maximum(row_size, 1.0)[:, None]
                row_weights = np.broadcast_to(mean_weights, (n_p, n_rows, n_cells))
                row_values = att_used @ mean_weights.T
            else:
                row_total = pg @ incidence.T                                          # P x R
                row_weights = pg[:, None, :] * incidence[None] / np.where(row_total > 0, row_total, 1.0)[:, :, None]
                row_values = (pg * att_used) @ incidence.T / row_total
        row_values = np.where(row_size > 0, row_values, np.nan)
        # the overall rule (or the chosen row) as coefficients c on the rows (P x R)
        unit_codes = codes
        extra = np.zeros((n_p, n))
        if key is not None:
            coef = np.zeros((n_p, n_rows))
            coef[:, match[0]] = 1.0
        elif rule == "single":
            coef = np.ones((n_p, 1))
        elif rule == "mean_post":
            post_rows = (keys >= 0).astype(float)
            coef = np.broadcast_to(post_rows / post_rows.sum(), (n_p, n_rows))
        elif rule == "mean":
            coef = np.full((n_p, n_rows), 1.0 / n_rows)
        else:  # "pg": rows weighted by the groups' shares, plus the weights' term on the row values
            key_codes = np.searchsorted(values, keys)
            pgg = group_weight[:, key_codes] / n                                      # P x R
            pgg_total = pgg.sum(1, keepdims=True)
            coef = pgg / pgg_total
            weighted = (pgg * row_values).sum(1, keepdims=True)
            key_onehot = np.zeros((n_rows, n_values))
            key_onehot[np.arange(n_rows), key_codes] = 1.0
            value_by_group = (row_values @ key_onehot)                                # P x H
            count_keys = key_onehot.sum(0)                                            # H
            extra = ((w * np.take_along_axis(value_by_group, unit_codes, 1) - weighted) / pgg_total
                     - (w * count_keys[unit_codes] - pgg_total) * weighted / pgg_total**2)
        statistic = (coef * row_values).sum(1)
        cell_coef = np.einsum("pr,prk->pk", coef, row_weights)                       # b, P x K
        weighted_scale = cell_coef[:, :, None] * scale                               # P x K x H
        term = np.einsum("pkh,kn->phn", weighted_scale, delta_y, optimize=True)      # P x H x n
        term_centre = np.einsum("pkh,pkh->ph", weighted_scale, centre)               # P x H
        picked = (np.take_along_axis(term, unit_codes[:, None, :], 1)[:, 0, :]
                  - np.take_along_axis(term_centre, unit_codes, 1))
        influence = n * w * picked + extra
        if with_wif:
            # R's weights' term of each row (aggte._weights_term) combined with the same coefficients
            row_total = pg @ incidence.T
            row_weighted = (pg * att_used) @ incidence.T                              # P x R
            att_by_group = np.einsum("pk,rk,kh->prh", att_used, incidence, cell_onehot, optimize=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                per_row_group = coef[:, :, None] * (att_by_group / row_total[:, :, None]
                                                    - count_by_group[None] * (row_weighted / row_total**2)[:, :, None])
            per_row_group = np.where(row_size[None, :, None] > 0, per_row_group, 0.0).sum(1)  # P x H
            influence = influence + w * np.take_along_axis(per_row_group, unit_codes, 1)
        scores = influence if cluster_onehot is None else influence @ cluster_onehot
        se = np.sqrt(np.einsum("pg,pg->p", scores, scores)) / n
        se = np.where(se <= EPS_SE, np.nan, se)
        estimates.append(np.where(failed, np.nan, statistic))
        ses.append(np.where(failed, np.nan, se))
    return np.concatenate(estimates), np.concatenate(ses)


def _studentized_function(kind: str, key, source: ATTgtResult, *, min_e, max_e, balance_e) -> Callable:
    """f(raw_groups) -> (estimate, clustered analytic SE) of an aggregation, re-estimated with influence functions."""
    options = source.options
    panel = source.panel

    def evaluate(raw_groups: np.ndarray) -> tuple[float, float]:
        cells = estimate_cells(panel, raw_groups, control_group=options["control_group"], method=options["method"],
                               base_period=options["base_period"], anticipation=options["anticipation"],
                               with_influence=True, warn=False)
        try:
            agg = aggregate_arrays(cells.group, cells.time, cells.att, cells.influence_t, cells.sample.unit_groups,
                                   cells.weights, kind, min_e=min_e, max_e=max_e, balance_e=balance_e)
        except ValueError:  # a permutation leaving a needed cell without treated or comparison units
            return np.nan, np.nan
        if key is None:
            value, influence = agg.overall, agg.overall_influence
        else:
            match = np.flatnonzero(agg.keys == key)
            if not match.size:
                return np.nan, np.nan
            value, influence = float(agg.values[match[0]]), agg.row_influence[match[0]]
        codes, n_clusters = None, None
        if panel.clusters is not None:
            codes, uniques = pd.factorize(panel.clusters[cells.sample.units], sort=True)
            n_clusters = len(uniques)
        return float(value), float(analytic_se(influence, codes, n_clusters)[0])

    return evaluate


def randomization_test(source: ATTgtResult | pd.DataFrame, *, statistic="simple", studentize: bool = False,
                       n_perm: int = 999, seed: int | None = None, max_exact: int = 5000, min_e: float = -np.inf,
                       max_e: float = np.inf, balance_e: int | None = None, alpha: float = 0.05,
                       **att_gt_options) -> RandomizationTest:
    """Randomisation-inference p-value for the sharp null of no effect, permuting adoption dates.

    Parameters
    ----------
    source
        An :class:`~bijstand.did.attgt.ATTgtResult`, or a DataFrame together with the keyword arguments of
        :func:`~bijstand.did.attgt.att_gt` (``y=..., unit=..., time=..., group=..., control_group=...``).
    statistic
        ``"simple"``, ``"dynamic"``, ``"group"`` or ``"calendar"`` (overall parameter of that aggregation), a pair
        such as ``("group", 57)`` or ``("dynamic", 0)`` (one row of it), or a callable
        ``f(group, time, att, unit_groups, weights) -> float`` on the cells' point estimates.
    studentize
        Use :math:`\\hat\\theta / \\widehat{se}` with the clustered analytic standard error recomputed under each
        permutation, instead of :math:`\\hat\\theta` (not available for a callable ``statistic``).
    n_perm
        Random permutations when the assignments are too many to enumerate.
    seed
        Seed of the permutations.
    max_exact
        Enumerate all distinct assignments when there are at most this many.
    min_e, max_e, balance_e
        Passed to the aggregation.
    alpha
        Level recorded in ``overall``.
    """
    if isinstance(source, pd.DataFrame):
        source = att_gt(source, **{**att_gt_options, "n_boot": 0})
    elif att_gt_options:
        raise ValueError(f"att_gt options {sorted(att_gt_options)} are only used when source is a DataFrame")
    if studentize and callable(statistic):
        raise ValueError("studentize=True needs a named statistic (kind or (kind, key)), not a callable")
    options = source.options
    panel = source.panel
    compute, label = _statistic_function(statistic, min_e, max_e, balance_e)

    def evaluate(raw_groups: np.ndarray) -> float:
        cells = estimate_cells(panel, raw_groups, control_group=options["control_group"], method=options["method"],
                               base_period=options["base_period"], anticipation=options["anticipation"],
                               with_influence=False, warn=False)
        return float(compute(cells.group, cells.time, cells.att, cells.sample.unit_groups, cells.weights))

    # the permuted objects: clusters (areas) when given, else units
    if panel.clusters is None:
        member = np.arange(panel.raw_groups.size)
        dates = panel.raw_groups.copy()
    else:
        member = panel.clusters
        n_clusters = int(member.max()) + 1
        dates = np.zeros(n_clusters)
        dates[member] = panel.raw_groups
        if np.any(dates[member] != panel.raw_groups):
            raise ValueError("randomization_test: the first-treated period must be constant within each cluster "
                             "to permute it across clusters")
    n_assignments = n_distinct_assignments(dates)
    exact = n_assignments <= max_exact
    if exact:
        assignments = np.array(list(distinct_assignments(dates)))
    else:
        rng = np.random.default_rng(seed)
        assignments = np.array([rng.permutation(dates) for _ in range(n_perm)])
    unit_dates = assignments[:, member]                                  # P x units of the panel

    se = float("nan")
    if studentize:
        kind, key = (statistic, None) if isinstance(statistic, str) else statistic
        studentized = _studentized_function(kind, key, source, min_e=min_e, max_e=max_e, balance_e=balance_e)
        estimate, se = studentized(panel.raw_groups)
        observed = estimate / se
        if panel.covariates is None and source.unit_groups.size == panel.raw_groups.size:
            recode = dict(zip(panel.raw_groups.tolist(), source.unit_groups.tolist(), strict=True))
            permuted_groups = np.vectorize(recode.__getitem__, otypes=[float])(unit_dates)
            pairs = np.column_stack(_batched_studentized(source, permuted_groups, kind, key, min_e=min_e,
                                                         max_e=max_e, balance_e=balance_e))
        else:
            pairs = np.array([studentized(row) for row in unit_dates])
        with np.errstate(invalid="ignore", divide="ignore"):
            permuted = pairs[:, 0] / pairs[:, 1]
        label = f"{label}, studentized (estimate / clustered analytic SE)"
    else:
        table = source.table
        estimate = float(compute(table["group"].to_numpy(float), table["time"].to_numpy(float),
                                 table["estimate"].to_numpy(float), source.unit_groups, source.unit_weights))
        observed = estimate
        batched = (panel.covariates is None and not callable(statistic)
                   and source.unit_groups.size == panel.raw_groups.size)
        if batched:
            # recode the permuted dates value by value as att_gt did (after the window / last cohort -> 0)
            recode = dict(zip(panel.raw_groups.tolist(), source.unit_groups.tolist(), strict=True))
            permuted_groups = np.vectorize(recode.__getitem__, otypes=[float])(unit_dates)
            kind, key = (statistic, None) if isinstance(statistic, str) else statistic
            permuted = _batched_statistics(source, permuted_groups, kind, key, min_e=min_e, max_e=max_e,
                                           balance_e=balance_e)
        else:
            permuted = np.array([evaluate(row) for row in unit_dates])
        label = f"{label}, unstudentized (the estimate)"
    exceed = np.sum(np.abs(permuted) >= abs(observed) * (1 - 1e-12) - 1e-14)
    # exact: the observed assignment is one of the enumerated ones; Monte Carlo: count it once more
    p_value = exceed / len(permuted) if exact else (1 + exceed) / (n_perm + 1)
    inference = (f"randomization inference (exact, {n_assignments} assignments)" if exact
                 else f"randomization inference ({n_perm} random permutations)")
    return RandomizationTest(estimate=float(estimate), se=float(se), statistic=float(observed),
                             p_value=float(p_value), permuted=permuted, exact=exact, n_assignments=n_assignments,
                             studentize=bool(studentize), statistic_name=label, n_clusters=int(dates.size),
                             inference=inference, alpha=alpha)
