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

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from bijstand.did.twfe import Convention, _fit_clustered, _require_columns, _validate_panel


@dataclass(frozen=True)
class SunAbrahamResult:
    """Sun–Abraham event study.

    Attributes
    ----------
    table : pandas.DataFrame
        ``event_time, coef, se, ci_lower, ci_upper`` for every estimated relative period (reference
        excluded), as in fixest's aggregated ``sunab`` output.
    vcov : pandas.DataFrame
        Covariance of the aggregated coefficients, indexed by event time.
    att, att_se : float
        Overall post-treatment ATT (fixest ``summary(agg = "ATT")``): all :math:`\\delta_{c,e}` with
        ``e >= 0`` averaged with weights proportional to their number of observations.
    cohort_table : pandas.DataFrame
        The cohort-specific :math:`\\delta_{c,e}`: ``cohort, event_time, coef, se, weight`` (the IW
        weight of the cell within its event time).
    nobs, n_clusters : int
    control : str
        ``"never treated"`` or ``"last treated cohort <c>"``.
    """

    table: pd.DataFrame
    vcov: pd.DataFrame
    att: float
    att_se: float
    cohort_table: pd.DataFrame
    nobs: int
    n_clusters: int
    control: str


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
    cluster, weights, convention, alpha
        As in :func:`bijstand.did.twfe.twfe_static`.

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
    dummies = {
        f"cohort{cohort}_e{event_time}": ((frame[group] == cohort) & (relative == event_time)).astype(float).to_numpy()
        for cohort, event_time in cells.itertuples(index=False)
    }
    columns = list(dummies)
    # one concat instead of a column insert per cell: hundreds of monthly cells would fragment the frame
    frame = pd.concat([frame, pd.DataFrame(dummies, index=frame.index)], axis=1)
    cells = cells.assign(column=columns).reset_index(drop=True)

    fit = _fit_clustered(frame, y=y, regressors=columns, unit=unit, time=time, cluster=cluster,
                         weights=weights, convention=convention)
    delta = fit.params[columns].to_numpy()
    vcov_cells = fit.vcov.loc[columns, columns].to_numpy()

    # IW weights: each cell's share of the (weighted) observations at its relative period.
    obs_weight = np.ones(len(frame)) if weights is None else frame[weights].to_numpy(dtype=float)
    cells["n"] = [obs_weight[frame[column].to_numpy() == 1.0].sum() for column in columns]
    cells["weight"] = cells["n"] / cells.groupby("event_time")["n"].transform("sum")
    event_times = sorted(cells["event_time"].unique())
    aggregation = np.zeros((len(event_times), len(cells)))
    for row, event_time in enumerate(event_times):
        in_event = (cells["event_time"] == event_time).to_numpy()
        aggregation[row, in_event] = cells.loc[in_event, "weight"].to_numpy()
    coef = aggregation @ delta
    vcov = aggregation @ vcov_cells @ aggregation.T
    se = np.sqrt(np.clip(np.diag(vcov), 0, None))  # rounding can leave -1e-18 for single-area cells
    critical = stats.t.ppf(1 - alpha / 2, fit.df_inference)
    table = pd.DataFrame({"event_time": event_times, "coef": coef, "se": se,
                          "ci_lower": coef - critical * se, "ci_upper": coef + critical * se})

    post = (cells["event_time"] >= 0).to_numpy()
    att_weights = np.where(post, cells["n"].to_numpy(), 0.0)
    att_weights = att_weights / att_weights.sum()
    att = float(att_weights @ delta)
    att_se = float(np.sqrt(att_weights @ vcov_cells @ att_weights))

    cohort_table = cells[["cohort", "event_time"]].assign(
        coef=delta, se=np.sqrt(np.clip(np.diag(vcov_cells), 0, None)), weight=cells["weight"].to_numpy()
    )
    vcov_frame = pd.DataFrame(vcov, index=event_times, columns=event_times)
    vcov_frame.index.name = vcov_frame.columns.name = "event_time"
    return SunAbrahamResult(table=table, vcov=vcov_frame, att=att, att_se=att_se, cohort_table=cohort_table,
                            nobs=fit.nobs, n_clusters=fit.n_clusters, control=control)
