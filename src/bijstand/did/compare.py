"""Put estimators side by side, and beside the truth when the data are synthetic.

The notebooks answer the same question for three interventions: what is the average effect on the treated areas of
outflow (by reason) and re-inflow, and how do Callaway–Sant'Anna, two-way fixed effects and Sun–Abraham compare?
This module holds that comparison so the notebooks only call it.

The truth an estimate is compared with must be the *same estimand*: the simulator's true :math:`ATT(g,t)` averaged over
exactly the (group, period) cells that the estimator aggregates, with R ``did::aggte``'s weights (group sizes). For
the simple aggregation that is

.. math::

    \\theta^{\\text{true}} = \\frac{\\sum_{(g,t) \\in C,\\, t \\ge g} n_g \\, ATT(g,t)}{\\sum_{(g,t) \\in C,\\, t \\ge g} n_g},

where :math:`C` is the set of cells in the estimator's ATT(g,t) table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bijstand.data.periods import month_to_period

#: Panel column holding the first treated period of each intervention (0 = never treated).
GROUP_COLUMN = {"cohort": "first_treat_cohort", "counter": "first_treat_counter",
                "outreach": "first_treat_outreach"}


def intervention_panel(panel: pd.DataFrame, intervention: str, *, municipality: str | None = None,
                       start: str | None = None, end: str | None = None) -> pd.DataFrame:
    """Select the areas and months in which an intervention is evaluated.

    Parameters
    ----------
    panel
        Area x month panel (``bijstand.data.panel`` contract).
    intervention
        ``"cohort"``, ``"counter"`` or ``"outreach"``; its first-treated column becomes ``group``.
    municipality
        Keep only this municipality's areas (e.g. ``"GM0363"``); all areas when ``None``.
    start, end
        First and last month (``"YYYY-MM"``) of the estimation window. Areas first treated after ``end`` are
        "not yet treated" throughout the window and serve as controls: their ``group`` is set to 0.

    Returns
    -------
    DataFrame
        The selected rows with an added integer column ``group``.
    """
    if intervention not in GROUP_COLUMN:
        raise ValueError(f"intervention must be one of {sorted(GROUP_COLUMN)}, got {intervention!r}")
    column = GROUP_COLUMN[intervention]
    if column not in panel.columns:
        raise ValueError(f"panel has no column {column!r} (first treated period of {intervention})")
    out = panel
    if municipality is not None:
        out = out[out["municipality"] == municipality]
        if out.empty:
            raise ValueError(f"panel has no areas of municipality {municipality!r}")
    if start is not None:
        out = out[out["period"] >= month_to_period(pd.Timestamp(start))]
    if end is not None:
        last = month_to_period(pd.Timestamp(end))
        out = out[out["period"] <= last]
    out = out.copy()
    group = out[column].fillna(0).astype(int)
    if end is not None:
        group = group.where(group <= last, 0)
    out["group"] = group
    return out.reset_index(drop=True)


def _truth_cells(truth: pd.DataFrame, intervention: str, outcome: str) -> pd.DataFrame:
    sel = truth[(truth["intervention"] == intervention) & (truth["outcome"] == outcome)]
    if sel.empty:
        raise ValueError(f"no truth for intervention={intervention!r}, outcome={outcome!r}")
    return sel[["group", "period", "att", "n_areas"]].rename(columns={"period": "time", "att": "true_att"})


def true_att_for_cells(truth: pd.DataFrame, intervention: str, outcome: str, cells: pd.DataFrame, *,
                       group_sizes: pd.Series | None = None) -> pd.DataFrame:
    """Attach the true ATT(g,t) to an estimator's (group, time) cells.

    ``group_sizes`` (areas per group, indexed by group) are the aggregation weights; by default the truth table's
    ``n_areas``. Returns ``cells`` with columns ``true_att`` and ``weight`` added.
    """
    merged = cells.merge(_truth_cells(truth, intervention, outcome), on=["group", "time"], how="left",
                         indicator=True)
    if (merged["_merge"] == "left_only").any():
        missing = merged.loc[merged["_merge"] == "left_only", ["group", "time"]].head(3).to_dict("records")
        raise ValueError(f"truth lacks cells the estimator used, e.g. {missing}")
    # A share is undefined (NaN) in a cell whose treated areas had no inflow in either world; it carries no weight.
    merged = merged.drop(columns="_merge").dropna(subset=["true_att"])
    sizes = merged["n_areas"] if group_sizes is None else merged["group"].map(group_sizes)
    return merged.drop(columns="n_areas").assign(weight=sizes.astype(float))


def true_simple(truth: pd.DataFrame, intervention: str, outcome: str, cells: pd.DataFrame, **kwargs) -> float:
    """True simple ATT over the post-treatment cells of ``cells`` (R ``aggte(type="simple")`` weights)."""
    cells = cells[cells["time"] >= cells["group"]]
    merged = true_att_for_cells(truth, intervention, outcome, cells[["group", "time"]], **kwargs)
    return float(np.average(merged["true_att"], weights=merged["weight"]))


def true_dynamic(truth: pd.DataFrame, intervention: str, outcome: str, cells: pd.DataFrame,
                 **kwargs) -> pd.DataFrame:
    """True event-study effects over ``cells`` (R ``aggte(type="dynamic")`` weights): ``event_time, att``."""
    merged = true_att_for_cells(truth, intervention, outcome, cells[["group", "time"]], **kwargs)
    merged["event_time"] = merged["time"] - merged["group"]
    return (merged.groupby("event_time")
            .apply(lambda f: np.average(f["true_att"], weights=f["weight"]), include_groups=False)
            .rename("att").reset_index())


@dataclass(frozen=True)
class Estimate:
    """One estimate of one estimator on one outcome, with its interval and (on synthetic data) the truth."""

    estimator: str
    outcome: str
    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    truth: float = float("nan")

    def as_row(self) -> dict:
        """Readable row for a results table."""
        return {"Outcome": self.outcome, "Estimator": self.estimator, "Estimate": self.estimate, "SE": self.se,
                "95% CI low": self.ci_lower, "95% CI high": self.ci_upper, "Truth": self.truth,
                "Truth in CI": (bool(self.ci_lower <= self.truth <= self.ci_upper)
                                if np.isfinite(self.truth) else None)}


#: Readable names of the outcomes the notebooks evaluate (panel columns; rates per 100 recipients per month).
OUTCOME_LABELS = {
    "outflow_work_rate": "outflow to work",
    "outflow_enforcement_rate": "outflow through enforcement / non-response",
    "outflow_other_rate": "other outflow",
    "outflow_rate": "all outflow",
    "reinflow_12m_share": "re-inflow within 12 months (% of inflow)",
}


@dataclass
class OutcomeEvaluation:
    """Everything the notebooks show for one outcome of one intervention."""

    outcome: str
    estimates: list[Estimate]
    attgt: object
    dynamic: object
    true_dynamic: pd.DataFrame | None
    twfe: object
    sunab: object


def evaluate_outcome(panel: pd.DataFrame, outcome: str, *, intervention: str, truth: pd.DataFrame | None = None,
                     control_group: str = "notyet", n_boot: int = 0, seed: int | None = None,
                     alpha: float = 0.05, unit: str = "area", time: str = "period",
                     group: str = "group", event_window: tuple[int, int] = (-12, 24)) -> OutcomeEvaluation:
    """Estimate the effect of ``intervention`` on ``outcome`` with CS, TWFE and Sun–Abraham, beside the truth.

    The headline estimand is Callaway & Sant'Anna's simple ATT (doubly robust, not-yet-treated or never-treated
    controls, standard errors clustered by area). TWFE and Sun–Abraham estimates are compared with the same true
    value, because it is the average effect on the treated a policy reader asks for; the gap is TWFE's bias
    under staggered, heterogeneous effects.

    Parameters
    ----------
    panel
        Output of :func:`intervention_panel` (one row per area and month, integer ``group``).
    truth
        The simulator's truth table, or ``None`` for partner data (truth unknown).
    n_boot
        Multiplier-bootstrap draws for uniform bands of the event study (0 = analytic only).
    event_window
        First and last event time of the event study (months before / after the start). Long tails are estimated
        from one or two cohorts only; left in, they make the uniform band uninformative.
    """
    from bijstand.did.attgt import att_gt
    from bijstand.did.sunab import sun_abraham
    from bijstand.did.twfe import twfe_static

    data = panel.dropna(subset=[outcome])
    complete = data.groupby(unit)[time].transform("size") == data[time].nunique()
    data = data[complete]  # the estimators need a balanced panel: drop areas with a missing month of this outcome
    if data.empty:
        raise ValueError(f"no area observes {outcome!r} in every month of the window (too few persons per area)")
    z = _normal_quantile(alpha)
    cs = att_gt(data, y=outcome, unit=unit, time=time, group=group, control_group=control_group, method="dr",
                cluster=unit, n_boot=n_boot, seed=seed, alpha=alpha)
    simple = cs.aggregate("simple")
    dynamic = cs.aggregate("dynamic", n_boot=n_boot, seed=seed, min_e=event_window[0], max_e=event_window[1])
    cells = cs.table[["group", "time"]]
    truth_simple = true_simple(truth, intervention, outcome, cells) if truth is not None else float("nan")
    truth_dyn = None
    if truth is not None:
        truth_dyn = true_dynamic(truth, intervention, outcome, cells)
        truth_dyn = truth_dyn[truth_dyn["event_time"].between(*event_window)].reset_index(drop=True)
    att, se = simple.overall.estimate, simple.overall.se
    estimates = [Estimate("Callaway-Sant'Anna (DR)", outcome, att, se, att - z * se, att + z * se, truth_simple)]
    twfe = twfe_static(data, y=outcome, unit=unit, time=time, group=group, cluster=unit, alpha=alpha)
    fit = twfe.overall
    estimates.append(Estimate("TWFE", outcome, fit.estimate, fit.se, fit.ci_lower, fit.ci_upper, truth_simple))
    try:
        sunab = sun_abraham(data, y=outcome, unit=unit, time=time, group=group, cluster=unit, alpha=alpha)
        # normal interval, as this comparison has always reported for Sun-Abraham (sunab.overall holds t(G-1))
        att_sa, se_sa = sunab.overall.estimate, sunab.overall.se
        estimates.append(Estimate("Sun-Abraham", outcome, att_sa, se_sa, att_sa - z * se_sa, att_sa + z * se_sa,
                                  truth_simple))
    except ValueError as err:  # e.g. a single cohort leaves Sun–Abraham without a control cohort
        sunab = err
    return OutcomeEvaluation(outcome, estimates, cs, dynamic, truth_dyn, twfe, sunab)


def evaluate_outcomes(panel: pd.DataFrame, outcomes: list[str], **kwargs) -> tuple[dict, dict]:
    """:func:`evaluate_outcome` for several outcomes; outcomes that cannot be estimated are reported, not fatal.

    An outcome cannot be estimated when too few areas observe it in every month (a re-inflow *share* is
    undefined in a month without inflow, which small areas have). Returns ``(evaluations, skipped)`` where
    ``skipped`` maps outcome to the reason.
    """
    evaluations, skipped = {}, {}
    for outcome in outcomes:
        try:
            evaluations[outcome] = evaluate_outcome(panel, outcome, **kwargs)
        except ValueError as err:
            skipped[outcome] = str(err)
    return evaluations, skipped


def estimates_table(evaluations: list[OutcomeEvaluation]) -> pd.DataFrame:
    """One readable row per outcome and estimator, with the truth and whether the interval covers it."""
    rows = []
    for evaluation in evaluations:
        for estimate in evaluation.estimates:
            row = estimate.as_row()
            row["Outcome"] = OUTCOME_LABELS.get(row["Outcome"], row["Outcome"])
            rows.append(row)
    return pd.DataFrame(rows)


def _normal_quantile(alpha: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(1 - alpha / 2))


#: Default evaluation design per intervention: municipality and estimation window (see notebooks 02-04).
DEFAULT_WINDOWS = {
    "cohort": {"municipality": "GM0363", "start": "2018-09", "end": "2021-08"},
    "counter": {"municipality": "GM0599", "start": "2015-01", "end": "2019-12"},
    "outreach": {"municipality": "GM0363", "start": "2016-01", "end": "2018-12"},
}
