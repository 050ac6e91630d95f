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
    Convention, _critical_line, _fit_clustered, _inference_text, _require_columns, _validate_panel,
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

    relative = (frame[time] - frame[group]).where(~is_control)
    cells = (
        pd.DataFrame({"cohort": frame[group].where(~is_control), "event_time": relative})
        .dropna()
        .astype("int64")
        .drop_duplicates()
    )
    cells = cells.loc[cells["event_time"] != reference].sort_values(["event_time", "cohort"])
    # one dense block of cell dummies built from codes: a column insert (or comparison) per cell costs seconds
    # with the hundreds of monthly cells of a staggered roll-out
    columns = [f"cohort{cohort}_e{event_time}" for cohort, event_time in cells.itertuples(index=False)]
    position = pd.Series(np.arange(len(cells)), index=pd.MultiIndex.from_frame(cells))
    row_cell = position.reindex(pd.MultiIndex.from_arrays(
        [frame[group].where(~is_control).fillna(-1).astype("int64"), relative.fillna(-10**9).astype("int64")]
    )).to_numpy()
    has_cell = ~np.isnan(row_cell)
    dummy_block = np.zeros((len(frame), len(cells)))
    dummy_block[np.flatnonzero(has_cell), row_cell[has_cell].astype(np.int64)] = 1.0
    frame = pd.concat([frame, pd.DataFrame(dummy_block, index=frame.index, columns=columns)], axis=1)
    cells = cells.assign(column=columns).reset_index(drop=True)

    fit = _fit_clustered(frame, y=y, regressors=columns, unit=unit, time=time, cluster=cluster,
                         weights=weights, convention=convention)
    delta = fit.params[columns].to_numpy()
    vcov_cells = fit.vcov.loc[columns, columns].to_numpy()

    # IW weights: each cell's share of the (weighted) observations at its relative period.
    obs_weight = np.ones(len(frame)) if weights is None else frame[weights].to_numpy(dtype=float)
    cells["n"] = np.bincount(row_cell[has_cell].astype(np.int64), weights=obs_weight[has_cell],
                             minlength=len(cells))
    cells["weight"] = cells["n"] / cells.groupby("event_time")["n"].transform("sum")
    event_times = sorted(cells["event_time"].unique())
    aggregation = np.zeros((len(event_times), len(cells)))
    for row, event_time in enumerate(event_times):
        in_event = (cells["event_time"] == event_time).to_numpy()
        aggregation[row, in_event] = cells.loc[in_event, "weight"].to_numpy()
    coef = aggregation @ delta
    vcov = aggregation @ vcov_cells @ aggregation.T
    se = np.sqrt(np.clip(np.diag(vcov), 0, None))  # rounding can leave -1e-18 for single-area cells
    dof = degrees_of_freedom(critical, fit.n_clusters)
    table = wald_columns(pd.DataFrame({"event_time": event_times, "estimate": coef, "se": se}), alpha=alpha,
                         dof=dof)

    post = (cells["event_time"] >= 0).to_numpy()
    att_weights = np.where(post, cells["n"].to_numpy(), 0.0)
    att_weights = att_weights / att_weights.sum()
    att = float(att_weights @ delta)
    att_se = float(np.sqrt(att_weights @ vcov_cells @ att_weights))

    cohort_table = cells[["cohort", "event_time"]].assign(
        estimate=delta, se=np.sqrt(np.clip(np.diag(vcov_cells), 0, None)), weight=cells["weight"].to_numpy()
    )
    vcov_frame = pd.DataFrame(vcov, index=event_times, columns=event_times)
    vcov_frame.index.name = vcov_frame.columns.name = "event_time"
    overall = Effect.from_se(att, att_se, alpha=alpha, dof=dof, n_clusters=fit.n_clusters,
                             inference=_inference_text(convention, fit.cluster, fit.n_clusters))
    return SunAbrahamResult(table=tidy_order(table, ["event_time"]), vcov=vcov_frame, overall=overall,
                            cohort_table=cohort_table, n_obs=fit.n_obs, n_units=fit.n_units,
                            n_clusters=fit.n_clusters, control=control, reference=reference, convention=convention,
                            critical=critical)
