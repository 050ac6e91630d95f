"""Sun & Abraham (2021) interaction-weighted (IW) event study.

The saturated regression

.. math::

    y_{it} = \\alpha_i + \\lambda_t + \\sum_{c \\in \\mathcal C} \\sum_{e \\ne r}
             \\delta_{c,e}\\,1\\{G_i = c,\\ t - c = e\\} + \\varepsilon_{it}

has one coefficient per treatment cohort ``c`` and relative period ``e`` (reference ``r = -1``
omitted); the control cohort (never treated, else the last-treated cohort) gets none. Each
:math:`\\delta_{c,e}` is a DiD of cohort ``c`` against the control cohort between ``c + e`` and
``c + r``, so unlike :func:`bijstand.did.twfe.event_study_twfe` no already-treated cohort serves as
a control. The IW estimator averages over cohorts with the cohorts' sample shares at each ``e``:

.. math::

    \\hat\\nu_e = \\sum_c \\hat\\delta_{c,e}\\,\\widehat{\\Pr}(G_i = c \\mid t - G_i = e,\\ G_i \\in \\mathcal C)

and its variance is :math:`W V W'` (shares treated as fixed), as in ``fixest::sunab``. The
regression is fitted with linearmodels; the clustered covariance uses fixest's small-sample
convention (see :data:`bijstand.did.twfe.CONVENTIONS`), so results match
``feols(y ~ sunab(cohort, period) | unit + period, cluster = ~unit)``.

Written here rather than taken from pyfixest: pyfixest is only a test oracle in this project
(not a runtime dependency), and the estimator is a regression plus a weighted sum.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bijstand.did.results import (
    Critical, Effect, ResultMixin, check_option, degrees_of_freedom, glance_frame, summary_text, tidy_order,
    wald_columns,
)
from bijstand.did.twfe import (
    CONVENTIONS, Convention, _critical_line, _fit_clustered, _fixest_factor, _inference_text, _require_columns,
    _validate_panel,
)


@dataclass(frozen=True)
class SunAbrahamResult(ResultMixin):
    """Sun–Abraham event study.

    Attributes
    ----------
    table : pandas.DataFrame
        ``event_time, estimate, se, statistic, p_value, ci_lower, ci_upper`` for every estimated relative
        period (reference excluded), as in fixest's aggregated ``sunab`` output.
    vcov : pandas.DataFrame
        Covariance of the aggregated coefficients, indexed by event time.
    overall : Effect
        Overall post-treatment ATT (fixest ``summary(agg = "ATT")``): all :math:`\\delta_{c,e}` with
        ``e >= 0`` averaged with weights proportional to their number of observations.
    cohort_table : pandas.DataFrame
        The cohort-specific :math:`\\delta_{c,e}`: ``cohort, event_time, estimate, se, weight`` (the IW
        weight of the cell within its event time).
    n_obs, n_units, n_clusters : int
    control : str
        ``"never treated"`` or ``"last treated cohort <c>"``.
    reference : int
    convention, critical : str
    """

    table: pd.DataFrame
    vcov: pd.DataFrame = field(repr=False)
    overall: Effect
    cohort_table: pd.DataFrame = field(repr=False)
    n_obs: int
    n_units: int
    n_clusters: int
    control: str
    reference: int
    convention: str
    critical: str

    def summary(self) -> str:
        """Printable summary (fixest ``summary(feols(y ~ sunab(cohort, period) | unit + period))`` style)."""
        header = [("Estimator", "Sun & Abraham (2021) interaction-weighted event study"),
                  ("Control group", self.control), ("Reference period", self.reference),
                  ("Observations", self.n_obs), ("Units", self.n_units), ("Clusters", self.n_clusters),
                  ("Inference", self.overall.inference), ("Critical value", _critical_line(self.overall))]
        return summary_text(title="Sun & Abraham event study", header=header, overall=self.overall,
                            overall_label="Overall ATT (post-treatment cells, weighted by observations)",
                            table=self.table, table_label="Event-time effects", stars="p")

    def glance(self) -> pd.DataFrame:
        """One row: estimator, n_obs, n_units, n_clusters, control, the overall effect, convention, critical."""
        return glance_frame(estimator="sun_abraham", n_obs=self.n_obs, n_units=self.n_units,
                            n_clusters=self.n_clusters, control_group=self.control, estimate=self.overall.estimate,
                            se=self.overall.se, p_value=self.overall.p_value, convention=self.convention,
                            critical=self.critical, dof=self.overall.dof, inference=self.overall.inference)


@dataclass(frozen=True)
class _CellFit:
    delta: np.ndarray       # cohort x event-time coefficients
    vcov: np.ndarray        # their clustered covariance (fixest's small-sample factor included)
    n_obs: int
    n_units: int
    n_clusters: int
    cluster: str


def _fit_saturated(frame: pd.DataFrame, *, y: str, unit: str, time: str, cluster: str, control_rows: np.ndarray,
                   row_group: np.ndarray, cell_cohort: np.ndarray, cell_event: np.ndarray, reference: int
                   ) -> _CellFit | None:
    r"""The saturated regression in closed form on a balanced panel (unweighted, fixest convention).

    ``None`` (use the regression) unless the panel is balanced and every treated cohort is observed in its
    reference period. Then every treated cohort :math:`c` has a dummy for each of its periods but
    :math:`c + r`, so the model's column space is the direct sum over cohorts (the control cohort included) of
    :math:`\{a_i + m_{ct}\}`: the residuals are the two-way demeaned outcomes *within* each cohort,
    :math:`\hat u_{it} = y_{it} - \bar y_{i\cdot} - \bar y_{ct} + \bar y_{c\cdot\cdot}`, the period effects
    are the control cohort's means, and

    .. math::

        \hat\delta_{c,e} = (\bar y_{c,c+e} - \bar y_{c,c+r}) - (\bar y_{0,c+e} - \bar y_{0,c+r}),

    a linear map :math:`\hat\delta = Wy` whose rows are the DiD weights; as OLS is :math:`(\tilde X'\tilde X)^{-1}
    \tilde X'y` for every :math:`y`, :math:`W = (\tilde X'\tilde X)^{-1}\tilde X'` and the clustered sandwich is
    :math:`c\sum_g (W_g\hat u_g)(W_g\hat u_g)'` with fixest's factor :math:`c` — the regression's numbers
    without forming hundreds of dummies (tested equal to the regression to 1e-12).
    """
    unit_codes, unit_index = pd.factorize(frame[unit].to_numpy())
    times, time_codes = np.unique(frame[time].to_numpy(), return_inverse=True)
    n_units, n_times, nobs = len(unit_index), times.size, len(frame)
    if nobs != n_units * n_times or unit_codes.min() < 0:
        return None
    cell = unit_codes * n_times + time_codes
    if np.unique(cell).size != nobs:
        return None
    reference_time, current_time = cell_cohort + reference, cell_cohort + cell_event
    reference_index = np.minimum(np.searchsorted(times, reference_time), n_times - 1)
    current_index = np.minimum(np.searchsorted(times, current_time), n_times - 1)
    if not (np.array_equal(times[reference_index], reference_time)
            and np.array_equal(times[current_index], current_time)):
        return None  # a cohort without its reference period (or non-integer periods): leave it to the regression
    cluster_codes = pd.factorize(frame[cluster].to_numpy())[0]
    n_clusters = int(cluster_codes.max()) + 1
    if n_clusters < 2:
        raise ValueError(f"column {cluster!r} has fewer than two clusters")
    if cluster_codes.min() < 0:
        return None

    grid = np.empty(nobs)
    grid[cell] = frame[y].to_numpy(dtype=float)
    grid = grid.reshape(n_units, n_times)
    # cohort of each unit: code 0 = the control cohort, then the treated cohorts in increasing order
    cohorts, cohort_of_treated = np.unique(row_group[~control_rows], return_inverse=True)
    if not np.array_equal(cohorts, np.unique(cell_cohort)):
        return None  # a treated cohort without any cell would help identify the period effects
    row_cohort = np.zeros(nobs, dtype=np.int64)
    row_cohort[~control_rows] = 1 + cohort_of_treated.ravel()
    unit_cohort = np.empty(n_units, dtype=np.int64)
    unit_cohort[unit_codes] = row_cohort
    n_cohorts = cohorts.size + 1
    cohort_size = np.bincount(unit_cohort, minlength=n_cohorts).astype(float)
    membership = np.zeros((n_cohorts, n_units))
    membership[unit_cohort, np.arange(n_units)] = 1.0
    means = (membership @ grid) / cohort_size[:, None]                           # cohorts x periods
    cell_code = 1 + np.searchsorted(cohorts, cell_cohort)
    delta = ((means[cell_code, current_index] - means[cell_code, reference_index])
             - (means[0, current_index] - means[0, reference_index]))
    resid = (grid - grid.mean(axis=1, keepdims=True) - means[unit_cohort]
             + means.mean(axis=1)[unit_cohort][:, None])
    # sums of the residuals by cluster x cohort x period, then each cell's DiD weights applied to them
    sums = np.bincount((cluster_codes * n_cohorts + row_cohort) * n_times + time_codes,
                       weights=resid.ravel()[cell], minlength=n_clusters * n_cohorts * n_times
                       ).reshape(n_clusters, n_cohorts, n_times)
    scores = ((sums[:, cell_code, current_index] - sums[:, cell_code, reference_index]) / cohort_size[cell_code]
              - (sums[:, 0, current_index] - sums[:, 0, reference_index]) / cohort_size[0])
    factor = _fixest_factor(frame, n_slopes=cell_cohort.size, nobs=nobs, unit=unit, time=time,
                            cluster_column=cluster, n_clusters=n_clusters)
    return _CellFit(delta, scores.T @ scores * factor, nobs, n_units, n_clusters, cluster)


def sun_abraham(
    data: pd.DataFrame,
    *,
    y: str,
    unit: str,
    time: str,
    group: str,
    reference: int = -1,
    cluster: str | None = None,
    weights: str | None = None,
    convention: Convention = "fixest",
    critical: Critical = "t",
    alpha: float = 0.05,
) -> SunAbrahamResult:
    """Sun & Abraham (2021) interaction-weighted event study.

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel, one row per unit and time.
    y, unit, time, group : str
        Outcome, unit id, integer period and first-treated period (0 = never treated) columns.
    reference : int
        Omitted relative period of every cohort (default -1).
    cluster, weights, convention, critical, alpha
        As in :func:`bijstand.did.twfe.twfe_static` (default :math:`t_{G-1}` p-values and intervals, fixest's).

    Returns
    -------
    SunAbrahamResult

    Notes
    -----
    Control cohort: the never-treated units (``group == 0``, or first treated after the last period);
    if there are none, the last-treated cohort, with all periods from its treatment on dropped
    (Sun & Abraham 2021, sec. 4). Units treated in or before the first period (always treated) carry
    no information on any :math:`\\delta_{c,e}` relative to ``reference`` and are dropped.
    """
    _require_columns(data, {"y": y, "unit": unit, "time": time, "group": group, "cluster": cluster,
                            "weights": weights})
    _validate_panel(data, y=y, unit=unit, time=time, group=group)
    critical = check_option("critical", critical, ("normal", "t"))
    frame = data[[c for c in dict.fromkeys([y, unit, time, group, cluster, weights]) if c is not None]].copy()
    first_period, last_period = frame[time].min(), frame[time].max()
    never = (frame[group] == 0) | (frame[group] > last_period)
    frame = frame.loc[never | (frame[group] > first_period)].copy()  # drop always-treated units
    never = (frame[group] == 0) | (frame[group] > last_period)
    if never.any():
        control = "never treated"
        is_control = never
    else:
        last_cohort = frame[group].max()
        control = f"last treated cohort {last_cohort}"
        frame = frame.loc[frame[time] < last_cohort].copy()
        is_control = frame[group] == last_cohort
    if is_control.all():
        raise ValueError(f"column {group!r} leaves no treated cohort besides the control cohort")

    convention = check_option("convention", convention, CONVENTIONS)
    control_rows = is_control.to_numpy()
    group_values, time_values = frame[group].to_numpy(), frame[time].to_numpy()
    treated_rows = np.flatnonzero(~control_rows)
    # cells (cohort, event time) in order of event time, then cohort; each treated row's cell (-1: reference)
    pairs = np.column_stack([time_values[treated_rows] - group_values[treated_rows],
                             group_values[treated_rows]]).astype("int64")
    unique_pairs, pair_of_row = np.unique(pairs, axis=0, return_inverse=True)
    kept = unique_pairs[:, 0] != reference
    position = np.where(kept, np.cumsum(kept) - 1, -1)
    row_cell = np.full(len(frame), -1)
    row_cell[treated_rows] = position[pair_of_row.ravel()]
    cell_event, cell_cohort = unique_pairs[kept, 0], unique_pairs[kept, 1]
    columns = [f"cohort{cohort}_e{event_time}" for cohort, event_time in zip(cell_cohort, cell_event)]
    has_cell = row_cell >= 0
    cluster_column = unit if cluster is None else cluster

    fit = None
    if convention == "fixest" and weights is None and columns:
        fit = _fit_saturated(frame, y=y, unit=unit, time=time, cluster=cluster_column, control_rows=control_rows,
                             row_group=group_values, cell_cohort=cell_cohort, cell_event=cell_event, reference=reference)
    if fit is None:
        # one dense block of cell dummies built from codes: a column insert (or comparison) per cell costs seconds
        # with the hundreds of monthly cells of a staggered roll-out
        dummy_block = np.zeros((len(frame), len(columns)))
        dummy_block[np.flatnonzero(has_cell), row_cell[has_cell]] = 1.0
        frame = pd.concat([frame, pd.DataFrame(dummy_block, index=frame.index, columns=columns)], axis=1)
        fitted = _fit_clustered(frame, y=y, regressors=columns, unit=unit, time=time, cluster=cluster,
                                weights=weights, convention=convention)
        fit = _CellFit(fitted.params[columns].to_numpy(), fitted.vcov.loc[columns, columns].to_numpy(),
                       fitted.n_obs, fitted.n_units, fitted.n_clusters, fitted.cluster)
    delta, vcov_cells = fit.delta, fit.vcov

    # IW weights: each cell's share of the (weighted) observations at its relative period.
    obs_weight = np.ones(len(frame)) if weights is None else frame[weights].to_numpy(dtype=float)
    cell_n = np.bincount(row_cell[has_cell], weights=obs_weight[has_cell], minlength=len(columns))
    event_times, event_code = np.unique(cell_event, return_inverse=True)
    cell_weight = cell_n / np.bincount(event_code, weights=cell_n)[event_code]
    aggregation = np.zeros((len(event_times), len(columns)))
    aggregation[event_code, np.arange(len(columns))] = cell_weight
    coef = aggregation @ delta
    vcov = aggregation @ vcov_cells @ aggregation.T
    event_times = event_times.tolist()
    se = np.sqrt(np.clip(np.diag(vcov), 0, None))  # rounding can leave -1e-18 for single-area cells
    dof = degrees_of_freedom(critical, fit.n_clusters)
    table = wald_columns(pd.DataFrame({"event_time": event_times, "estimate": coef, "se": se}), alpha=alpha,
                         dof=dof)

    post = cell_event >= 0
    att_weights = np.where(post, cell_n, 0.0)
    att_weights = att_weights / att_weights.sum()
    att = float(att_weights @ delta)
    att_se = float(np.sqrt(att_weights @ vcov_cells @ att_weights))

    cohort_table = pd.DataFrame({"cohort": cell_cohort, "event_time": cell_event, "estimate": delta,
                                 "se": np.sqrt(np.clip(np.diag(vcov_cells), 0, None)), "weight": cell_weight})
    vcov_frame = pd.DataFrame(vcov, index=event_times, columns=event_times)
    vcov_frame.index.name = vcov_frame.columns.name = "event_time"
    overall = Effect.from_se(att, att_se, alpha=alpha, dof=dof, n_clusters=fit.n_clusters,
                             inference=_inference_text(convention, fit.cluster, fit.n_clusters))
    return SunAbrahamResult(table=tidy_order(table, ["event_time"]), vcov=vcov_frame, overall=overall,
                            cohort_table=cohort_table, n_obs=fit.n_obs, n_units=fit.n_units,
                            n_clusters=fit.n_clusters, control=control, reference=reference, convention=convention,
                            critical=critical)
