"""Durability of outflow: re-inflow after exit, by exit reason and by intervention (notebook 05).

The critics' question -- *is outflow that comes back a success?* -- is answered with the re-inflow durations of
:func:`bijstand.models.duration.exits_to_durations`: months from the last month on benefit to the next spell,
right-censored at the end of the window. This module holds what notebook ``05_reinflow`` needs beyond the generic
estimators, so that the notebook only calls functions:

* **samples** -- :func:`leavers_in_window` (exits inside the study window) and :func:`entrants_in_window`
  (spells that start inside it, for time-to-exit curves without left truncation);
* **readable tables** -- :func:`reinflow_km_table`, :func:`hazard_ratio_table`, and the curve tables for the
  figures :func:`reinflow_curves`, :func:`exit_incidence_curves`;
* **truth of the synthetic register** -- :func:`true_reinflow_probability` (each leaver's true probability of
  being back within :math:`m` months under the simulator's re-entry hazards and business cycle),
  :func:`true_reentry_hazard_ratios` (the simulator's hazard ratio between exit reasons, by months since exit)
  and :func:`true_att_in_periods` (the truth table's ATT over chosen calendar periods);
* **by intervention** -- :func:`intervention_contrasts`: descriptive comparisons of leavers (and of the panel's
  ``reinflow_12m_share``) before / after an area's start and against not-yet-treated areas in the same months,
  with area-cluster bootstrap intervals (:func:`km_contrast`, :func:`panel_contrasts`).

Exits before the study window (2015-01) are in a register only as the history of people on benefit when it
starts (the synthetic register writes them so that re-inflow in 2015 can be counted); they are *survivors* --
leavers who had not come back by 2015 -- so including them would understate re-inflow. Every function here that
builds a sample therefore starts at ``window_start``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from bijstand.data.periods import STUDY_START, month_to_period
from bijstand.models.duration import (
    EXIT_REASON_CODES,
    cumulative_incidence,
    exits_to_durations,
    kaplan_meier,
)

#: Readable names of the exit reasons, used in tables and figure legends.
REASON_LABELS: Mapping[str, str] = {"work": "Work", "enforcement": "Enforcement", "other": "Other"}

#: Covariates of the adjusted re-inflow model (paper: exit reason, age, education, refugee status, exemption).
COX_COVARIATES: tuple[str, ...] = ("exit_reason", "age", "education", "refugee", "exempt")

_EDUCATION_ORDER = ("low", "middle", "high")
_TERM_LABELS = {"age": "Age at exit (years)", "refugee": "Refugee (statushouder)", "exempt": "Exempt (ontheffing)"}


# ----------------------------------------------------------------------------------------------------------------
# Samples
# ----------------------------------------------------------------------------------------------------------------

def _window_bounds(spells: pd.DataFrame, window_start, window_end) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = pd.Timestamp(window_start)
    if window_end is None:
        if "spell_start" not in spells.columns or "spell_end" not in spells.columns:
            raise ValueError("spells is missing column 'spell_start' or 'spell_end'")
        window_end = max(pd.to_datetime(spells["spell_start"]).max(), pd.to_datetime(spells["spell_end"]).max())
    end = pd.Timestamp(window_end)
    if end < start:
        raise ValueError(f"window_end {end:%Y-%m} lies before window_start {start:%Y-%m}")
    return start, end


def leavers_in_window(spells: pd.DataFrame, *, window_start: str | pd.Timestamp = STUDY_START,
                      window_end: str | pd.Timestamp | None = None) -> pd.DataFrame:
    """Re-inflow durations of the exits inside the study window.

    Parameters
    ----------
    spells
        Person spells (data contract).
    window_start
        First month whose exits are analysed (default 2015-01). Earlier exits are left out: they are in the
        register only if the person had not come back by the window start, so they would understate re-inflow.
    window_end
        Last observed month; re-inflow is censored there. Default: the latest ``spell_start`` / ``spell_end``.

    Returns
    -------
    pandas.DataFrame
        :attr:`bijstand.models.duration.SpellDurations.reinflow` restricted to ``spell_end >= window_start``,
        with ``exit_reason`` as an ordered categorical (other, work, enforcement: "other" first so that it is the
        reference level of :func:`~bijstand.models.duration.hazard_model`) and ``education`` ordered
        low < middle < high.
    """
    start, end = _window_bounds(spells, window_start, window_end)
    reinflow = exits_to_durations(spells, window_end=end).reinflow
    leavers = reinflow.loc[reinflow["spell_end"] >= start].reset_index(drop=True)
    leavers["exit_reason"] = pd.Categorical(leavers["exit_reason"], categories=["other", "work", "enforcement"])
    if leavers["education"].isin(_EDUCATION_ORDER).all():
        leavers["education"] = pd.Categorical(leavers["education"], categories=list(_EDUCATION_ORDER))
    return leavers


def entrants_in_window(spells: pd.DataFrame, *, window_start: str | pd.Timestamp = STUDY_START,
                       window_end: str | pd.Timestamp | None = None) -> pd.DataFrame:
    """Time-to-exit durations of the spells that start inside the study window.

    Spells already running at ``window_start`` are left out because their earlier months would need delayed
    entry (left truncation), which :func:`~bijstand.models.duration.cumulative_incidence` does not model; the
    curves then describe new (and returning) entrants from ``window_start`` on.

    Returns
    -------
    pandas.DataFrame
        :attr:`bijstand.models.duration.SpellDurations.exits` restricted to ``spell_start >= window_start``.
    """
    start, end = _window_bounds(spells, window_start, window_end)
    exits = exits_to_durations(spells, window_end=end).exits
    return exits.loc[exits["spell_start"] >= start].reset_index(drop=True)


# ----------------------------------------------------------------------------------------------------------------
# Readable tables and curve tables
# ----------------------------------------------------------------------------------------------------------------

def reinflow_km_table(leavers: pd.DataFrame, *, times: Sequence[int] = (6, 12, 24), alpha: float = 0.05,
                      truth: pd.DataFrame | None = None) -> pd.DataFrame:
    """Kaplan--Meier re-inflow by exit reason at given months, as a table for readers.

    The re-inflow probability within :math:`t` months is :math:`1 - \\hat S(t)` with :math:`\\hat S` the
    Kaplan--Meier survival of the re-inflow duration (:func:`~bijstand.models.duration.kaplan_meier`); its 95%
    interval is the flipped log-log interval of :math:`\\hat S`.

    Parameters
    ----------
    leavers
        Output of :func:`leavers_in_window`.
    times
        Months since exit.
    alpha
        One minus the confidence level.
    truth
        Optional output of :func:`true_reinflow_table`; adds the column ``"True value (%)"``.

    Returns
    -------
    pandas.DataFrame
        One row per exit reason (order work, enforcement, other) and month: ``"Exit reason"``, ``"Months"``,
        ``"Exits"`` (exits of that reason in the window; a person may exit more than once), ``"Back on benefit
        (%)"``, ``"95% CI low"``, ``"95% CI high"``, ``"At risk"`` (exits still followed and not back),
        ``"Returned"`` (exits followed by a return within the months) and, with ``truth``, ``"True value (%)"``.
    """
    km = kaplan_meier(leavers.assign(exit_reason=leavers["exit_reason"].astype(str)), by="exit_reason",
                      times=times, alpha=alpha)
    table = pd.DataFrame({
        "exit_reason": km["exit_reason"],
        "Exit reason": km["exit_reason"].map(REASON_LABELS).fillna(km["exit_reason"]),
        "Months": km["time"].astype(int),
        "Exits": km["n"].astype(int),
        "Back on benefit (%)": 100 * (1 - km["survival"]),
        "95% CI low": 100 * (1 - km["ci_upper"]),
        "95% CI high": 100 * (1 - km["ci_lower"]),
        "At risk": km["at_risk"].astype(int),
        "Returned": km["events"].astype(int),
    })
    if truth is not None:
        lookup = truth.set_index(["exit_reason", "months"])["true_pct"]
        table["True value (%)"] = [lookup.get((r, m), np.nan) for r, m in zip(table["exit_reason"],
                                                                               table["Months"], strict=True)]
    order = {reason: i for i, reason in enumerate(REASON_LABELS)}
    table = table.sort_values(["exit_reason", "Months"], key=lambda s: s.map(order) if s.name == "exit_reason"
                              else s, kind="mergesort")
    return table.drop(columns="exit_reason").reset_index(drop=True)


def reinflow_pct(km_table: pd.DataFrame, reason: str, months: int) -> float:
    """Look up ``"Back on benefit (%)"`` of one exit reason (``"work"`` or its label) at ``months``.

    Raises
    ------
    ValueError
        If the table has no such row (naming the reason and month).
    """
    label = REASON_LABELS.get(reason, reason)
    row = km_table.loc[(km_table["Exit reason"] == label) & (km_table["Months"] == months), "Back on benefit (%)"]
    if row.empty:
        raise ValueError(f"column 'Exit reason' has no row {label!r} at Months == {months}")
    return float(row.iloc[0])


def reinflow_curves(leavers: pd.DataFrame, *, max_months: int = 48, alpha: float = 0.05) -> pd.DataFrame:
    """Kaplan--Meier curves of re-inflow by exit reason, month 0 .. ``max_months``, for :func:`survival_plot`.

    Returns the columns of :func:`~bijstand.models.duration.kaplan_meier` (``times=None``) with ``group``
    replaced by a readable label ("Exit to work", ...) and rows beyond ``max_months`` dropped.
    """
    km = kaplan_meier(leavers.assign(exit_reason=leavers["exit_reason"].astype(str)), by="exit_reason",
                      times=None, alpha=alpha)
    km = km.loc[km["time"] <= max_months].copy()
    km["group"] = "Exit: " + km["exit_reason"].map(REASON_LABELS).fillna(km["exit_reason"]).str.lower()
    return km.reset_index(drop=True)


def exit_incidence_curves(entrants: pd.DataFrame, *, max_months: int = 60, alpha: float = 0.05) -> pd.DataFrame:
    """Aalen--Johansen cumulative incidence of exit by each reason (competing risks), for the incidence plot.

    Stacks :func:`~bijstand.models.duration.cumulative_incidence` for every exit reason present, with ``event``
    relabelled for readers ("to work", "enforcement", "other") and rows beyond ``max_months`` dropped. At every
    month the three curves add up to one minus the all-cause Kaplan--Meier survival of the spell.
    """
    reasons = [r for r in EXIT_REASON_CODES if r in set(entrants["exit_reason"].dropna())]
    if not reasons:
        raise ValueError("column 'exit_reason' has no ended spells; no cumulative incidence can be estimated")
    labels = {"work": "to work", "enforcement": "enforcement", "other": "other"}
    frames = [cumulative_incidence(entrants, event_col="exit_reason", event_of_interest=r, times=None, alpha=alpha)
              for r in reasons]
    table = pd.concat(frames, ignore_index=True)
    table = table.loc[table["time"] <= max_months].copy()
    table["event"] = table["event"].map(labels)
    return table.reset_index(drop=True)


def hazard_ratio_table(cox: pd.DataFrame, leavers: pd.DataFrame, *,
                       truth: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Readable table of a Cox model of re-inflow (:func:`~bijstand.models.duration.hazard_model` output).

    Parameters
    ----------
    cox
        Coefficient table with ``term``, ``ratio``, ``ratio_ci_lower``, ``ratio_ci_upper``, ``p_value``.
    leavers
        The data the model was fitted on; gives the number of persons (and of persons who returned) in each
        level of a categorical covariate, which the disclosure check needs.
    truth
        Optional ``{term: text}`` with the simulator's true hazard ratio of each term (text because the true
        ratio between exit reasons changes with the months since exit); adds ``"True hazard ratio"``.

    Returns
    -------
    pandas.DataFrame
        ``"Covariate"`` (e.g. "Exit reason: work (vs other)"), ``"Hazard ratio"``, ``"95% CI low"``,
        ``"95% CI high"``, ``"p-value"``, ``"Persons"`` and ``"Persons returning"`` (in that level; all persons for
        a continuous covariate) and, with ``truth``, ``"True hazard ratio"``.
    """
    rows = []
    for _, coef in cox.iterrows():
        term = coef["term"]
        if "[" in term:
            column, level = term[:-1].split("[", 1)
            reference = _reference_level(leavers[column])
            label = f"{column.replace('_', ' ').capitalize()}: {level} (vs {reference})"
            members = leavers[column].astype(str) == level
        else:
            column = term
            label = _TERM_LABELS.get(term, term)
            values = leavers[term]
            members = values.astype(bool) if pd.api.types.is_bool_dtype(values) else pd.Series(True,
                                                                                               index=leavers.index)
        rows.append({
            "Covariate": label,
            "Hazard ratio": float(coef["ratio"]),
            "95% CI low": float(coef["ratio_ci_lower"]),
            "95% CI high": float(coef["ratio_ci_upper"]),
            "p-value": float(coef["p_value"]),
            "Persons": int(leavers.loc[members, "person_id"].nunique()),
            "Persons returning": int(leavers.loc[members & leavers["event"].astype(bool), "person_id"].nunique()),
            **({"True hazard ratio": truth.get(term, "")} if truth is not None else {}),
        })
    return pd.DataFrame(rows)


def _reference_level(values: pd.Series) -> str:
    """The level :func:`~bijstand.models.duration.hazard_model` uses as reference (first category / sorted)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return str(values.cat.categories[0])
    return str(sorted(values.dropna().unique(), key=str)[0])


def hazard_ratio(cox: pd.DataFrame, term: str) -> float:
    """Hazard ratio of one term of a :func:`~bijstand.models.duration.hazard_model` table.

    Raises
    ------
    ValueError
        If ``term`` is not in column ``term`` (listing the terms present).
    """
    row = cox.loc[cox["term"] == term, "ratio"]
    if row.empty:
        raise ValueError(f"column 'term' has no {term!r}; terms are {list(cox['term'])}")
    return float(row.iloc[0])


# ----------------------------------------------------------------------------------------------------------------
# Truth of the synthetic register
# ----------------------------------------------------------------------------------------------------------------

def _baseline_from_params(params: Mapping | None):
    """The simulator's :class:`~bijstand.data.synthetic.Baseline` from a register's ``params`` (or defaults)."""
    from bijstand.data.synthetic import Baseline

    if not params or "baseline" not in params:
        return Baseline()
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in params["baseline"].items()}
    return Baseline(**values)


def _reentry_hazards(baseline) -> np.ndarray:
    """Monthly re-entry hazard by reason (rows in ``REASONS`` order) and months since exit.

    Taken from the simulator itself (a private helper) rather than re-derived here, so that the truth cannot
    drift from what the simulator draws.
    """
    from bijstand.data.synthetic import _reentry_table

    return _reentry_table(baseline).astype(np.float64)


def true_reinflow_probability(leavers: pd.DataFrame, *, months: int = 12, params: Mapping | None = None,
                              window_start: str | pd.Timestamp = STUDY_START) -> np.ndarray:
    """Each leaver's true probability of being back on benefit within ``months`` months (synthetic register).

    In the simulator a person who left in month :math:`e` for reason :math:`r` re-enters in month :math:`e + g`
    with probability :math:`\\min(1, h_r(g)\\, c_{e+g}\\, \\mu_m)`, where :math:`h_r(g)` is the re-entry hazard
    at :math:`g` months since exit (zero for :math:`g \\le 1`: CBS merges spells less than a month apart),
    :math:`c_t` the business-cycle (and COVID) inflow multiplier and :math:`\\mu_m` the municipality's re-entry
    multiplier. Hence

    .. math::

        P(\\text{back within } m \\mid e, r, m) = 1 - \\prod_{g=2}^{m} \\big(1 - \\min(1, h_r(g)\\, c_{e+g}\\,
        \\mu_m)\\big).

    Months after the simulated window take the cycle of the last bundled year (as
    :func:`~bijstand.data.synthetic.business_cycle` does), so leavers whose follow-up is cut off by the window
    still get a probability; this is the expectation the Kaplan--Meier estimate targets under censoring.

    Parameters
    ----------
    leavers
        Output of :func:`leavers_in_window` (``spell_end``, ``exit_reason``, ``municipality``).
    months
        Months since exit.
    params
        The register's ``params`` (simulator parameters); ``None`` for the default :class:`Baseline`.
    window_start
        First simulated month (the cycle's month 1).

    Returns
    -------
    numpy.ndarray
        Probabilities (0-1), one per row of ``leavers``.
    """
    from bijstand.data.synthetic import MUNICIPALITY_PROFILES, REASONS, business_cycle

    if months < 0:
        raise ValueError(f"months must be non-negative, got {months}")
    baseline = _baseline_from_params(params)
    hazards = _reentry_hazards(baseline)
    gaps = np.arange(2, months + 1)
    if gaps.size == 0:
        return np.zeros(len(leavers))
    if gaps.max() >= hazards.shape[1]:
        raise ValueError(f"months must be at most the re-entry window of {hazards.shape[1] - 1} months")
    start = pd.Timestamp(window_start)
    exit_index = (month_to_period(leavers["spell_end"]) - month_to_period(start)).to_numpy(dtype=np.int64)
    if (exit_index < 0).any():
        raise ValueError(f"column 'spell_end' has exits before window_start {start:%Y-%m}; use leavers_in_window")
    last = start + pd.DateOffset(months=int(exit_index.max()) + months)
    cycle = business_cycle(start, last, elasticity=baseline.cycle_elasticity,
                           covid_inflow_multiplier=baseline.covid_inflow_multiplier,
                           covid_exit_multiplier=baseline.covid_exit_multiplier,
                           covid_decay_months=baseline.covid_decay_months)["inflow_multiplier"].to_numpy()
    reason_row = {reason: i for i, reason in enumerate(REASONS)}
    rows = leavers["exit_reason"].astype(str).map(reason_row)
    if rows.isna().any():
        raise ValueError(f"column 'exit_reason' has values outside {list(REASONS)}")
    mult = leavers["municipality"].map(lambda c: MUNICIPALITY_PROFILES.get(c, {}).get("reentry", 1.0)).to_numpy()
    h = hazards[rows.to_numpy(dtype=np.int64)][:, gaps]                      # (leavers, gaps)
    c = cycle[exit_index[:, None] + gaps[None, :]]                          # cycle in the month of re-entry
    monthly = np.minimum(h * c * mult[:, None], 1.0)
    return 1.0 - np.prod(1.0 - monthly, axis=1)


def true_reinflow_table(leavers: pd.DataFrame, *, times: Sequence[int] = (6, 12, 24),
                        params: Mapping | None = None) -> pd.DataFrame:
    """Mean true re-inflow probability by exit reason (:func:`true_reinflow_probability`), in percent.

    Returns
    -------
    pandas.DataFrame
        ``exit_reason``, ``months``, ``true_pct`` (0-100), ``n`` (leavers).
    """
    rows = []
    reasons = leavers["exit_reason"].astype(str)
    for months in times:
        p = true_reinflow_probability(leavers, months=months, params=params)
        for reason, values in pd.Series(p, index=leavers.index).groupby(reasons, sort=True):
            rows.append({"exit_reason": reason, "months": int(months), "true_pct": 100 * float(values.mean()),
                         "n": int(len(values))})
    return pd.DataFrame(rows)


def true_reentry_hazard_ratios(*, reason: str = "work", reference: str = "other",
                               params: Mapping | None = None) -> pd.DataFrame:
    """The simulator's hazard ratio of re-entry, ``reason`` vs ``reference``, by band of months since exit.

    Re-entry hazards are piecewise constant (months 2-6, 7-12, 13 up to the re-entry window) and the business
    cycle and municipality multiply both reasons alike, so within a band the ratio is a constant; across bands it
    changes, i.e. proportional hazards do **not** hold in the simulator, and a Cox estimate is a weighted average
    of these ratios.

    Returns
    -------
    pandas.DataFrame
        ``months_since_exit`` (e.g. ``"2-6"``), ``hazard_ratio``.
    """
    from bijstand.data.synthetic import REASONS

    for name, value in (("reason", reason), ("reference", reference)):
        if value not in REASONS:
            raise ValueError(f"{name} must be one of {list(REASONS)}, got {value!r}")
    hazards = _reentry_hazards(_baseline_from_params(params))
    ratio = hazards[REASONS.index(reason)] / np.where(hazards[REASONS.index(reference)] > 0,
                                                      hazards[REASONS.index(reference)], np.nan)
    gaps = np.arange(hazards.shape[1])
    valid = np.isfinite(ratio)
    rows = []
    # consecutive months with the same ratio form one band
    band_start = None
    for g in gaps[valid]:
        if band_start is None:
            band_start, value, previous = g, ratio[g], g
        elif np.isclose(ratio[g], value, rtol=1e-5) and g == previous + 1:
            previous = g
        else:
            rows.append({"months_since_exit": f"{band_start}-{previous}", "hazard_ratio": float(value)})
            band_start, value, previous = g, ratio[g], g
    if band_start is not None:
        rows.append({"months_since_exit": f"{band_start}-{previous}", "hazard_ratio": float(value)})
    return pd.DataFrame(rows)


def true_att_in_periods(truth: pd.DataFrame, intervention: str, outcome: str,
                        periods: Sequence[int] | None = None) -> float:
    """True ATT averaged over treated area-months, optionally only those in ``periods``.

    .. math::

        \\theta = \\frac{\\sum_{(g,t):\\, t \\ge g,\\ t \\in P} n_g\\, \\text{ATT}(g,t)}
                        {\\sum_{(g,t):\\, t \\ge g,\\ t \\in P} n_g},

    i.e. every treated area-month weighs the same -- R ``did::aggte``'s "simple" aggregation when :math:`P` is all
    periods (:func:`bijstand.data.synthetic.true_aggregate`). Cells whose ATT is undefined (NaN: a share with no
    inflow in one of the two simulated worlds, frequent in small registers) are left out here, whereas
    ``true_aggregate`` would return NaN.

    Raises
    ------
    ValueError
        If the truth table has no treated, defined cell for this intervention, outcome and periods.
    """
    sel = truth.loc[(truth["intervention"] == intervention) & (truth["outcome"] == outcome)]
    sel = sel.loc[(sel["period"] >= sel["group"]) & sel["att"].notna()]
    if periods is not None:
        sel = sel.loc[sel["period"].isin(list(periods))]
    if sel.empty:
        raise ValueError(f"truth has no defined treated cell for intervention={intervention!r}, "
                         f"outcome={outcome!r} in the chosen periods")
    size = truth.loc[(truth["intervention"] == intervention) & (truth["outcome"] == outcome)].groupby(
        "group")["n_areas"].max()
    weight = sel["group"].map(size).to_numpy(dtype=float)
    return float(np.average(sel["att"].to_numpy(dtype=float), weights=weight))


# ----------------------------------------------------------------------------------------------------------------
# By intervention: descriptive contrasts with area-cluster bootstrap
# ----------------------------------------------------------------------------------------------------------------

def _life_table(duration: np.ndarray, event: np.ndarray, cluster: np.ndarray, n_clusters: int,
                months: int) -> tuple[np.ndarray, np.ndarray]:
    """Numbers at risk and events at months 0..``months`` per cluster, shape (clusters, months + 1)."""
    d = np.minimum(duration, months + 1)  # everything past the horizon is simply "still at risk at months"
    exits = np.zeros((n_clusters, months + 2))
    np.add.at(exits, (cluster, d), 1.0)
    at_risk = exits[:, ::-1].cumsum(axis=1)[:, ::-1][:, : months + 1]   # duration >= t
    events = np.zeros((n_clusters, months + 2))
    np.add.at(events, (cluster[event], d[event]), 1.0)
    return at_risk, events[:, : months + 1]


def _km_failure(at_risk: np.ndarray, events: np.ndarray) -> np.ndarray:
    """:math:`1 - \\prod_{t} (1 - d_t / n_t)` along the last axis (terms with nobody at risk count as 1)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(at_risk > 0, 1.0 - events / np.where(at_risk > 0, at_risk, 1.0), 1.0)
    return 1.0 - np.prod(factor, axis=-1)


def _bootstrap_weights(n_clusters: int, n_boot: int, seed: int) -> np.ndarray:
    """Cluster bootstrap as multinomial weights: row b counts how often each cluster is drawn in replicate b."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=n_boot).astype(float)


def km_contrast(leavers: pd.DataFrame, group: pd.Series, *, treated: str, control: str, months: int = 12,
                cluster_col: str = "area", n_boot: int = 999, seed: int = 0, alpha: float = 0.05) -> dict:
    """Difference in Kaplan--Meier re-inflow within ``months`` between two groups of leavers, with a cluster
    bootstrap interval.

    For whole-month durations the Kaplan--Meier estimate at month :math:`m` is the life-table product
    :math:`1 - \\hat S(m) = 1 - \\prod_{t \\le m} (1 - d_t / n_t)`, so each group is reduced to numbers at risk
    :math:`n_t` and events :math:`d_t` per cluster, and a bootstrap replicate (clusters drawn with replacement,
    the same draw for both groups) only re-weights those counts. This is why the estimate is computed here and
    not with lifelines: refitting lifelines on 999 resampled frames takes minutes, re-weighting counts
    milliseconds; the point estimate equals :func:`~bijstand.models.duration.kaplan_meier` (tested).

    Parameters
    ----------
    leavers
        Re-inflow durations (``duration``, ``event``, ``cluster_col``).
    group
        Label of each row (aligned with ``leavers``); rows in neither ``treated`` nor ``control`` are ignored.
    treated, control
        The two labels compared (difference = treated - control).
    months
        Horizon.
    cluster_col
        Resampling unit (areas: leavers of an area share its caseworkers and labour market).
    n_boot, seed, alpha
        Bootstrap replicates, seed of :func:`numpy.random.default_rng`, one minus the confidence level.

    Returns
    -------
    dict
        ``treated_pct``, ``control_pct``, ``difference`` (percentage points), ``ci_lower``, ``ci_upper``
        (percentile interval), ``n_treated``, ``n_control`` (exits), ``at_risk_treated``, ``at_risk_control``
        (still followed at ``months``), ``n_clusters``.
    """
    for col in ("duration", "event", cluster_col):
        if col not in leavers.columns:
            raise ValueError(f"leavers is missing column {col!r}")
    group = pd.Series(group, index=leavers.index)
    for label in (treated, control):
        if not (group == label).any():
            raise ValueError(f"group has no rows labelled {label!r}")
    keep = group.isin([treated, control]).to_numpy()
    sub = leavers.loc[keep]
    labels = group.loc[keep].to_numpy()
    cluster_ids, clusters = pd.factorize(sub[cluster_col])
    n_clusters = len(clusters)
    duration = sub["duration"].to_numpy(dtype=np.int64)
    event = sub["event"].to_numpy(dtype=bool)
    tables = {}
    for label in (treated, control):
        rows = labels == label
        tables[label] = _life_table(duration[rows], event[rows], cluster_ids[rows], n_clusters, months)
    estimate = {label: 100 * _km_failure(n.sum(axis=0), d.sum(axis=0)) for label, (n, d) in tables.items()}
    weights = _bootstrap_weights(n_clusters, n_boot, seed)
    boot = {label: 100 * _km_failure(weights @ n, weights @ d) for label, (n, d) in tables.items()}
    diff = boot[treated] - boot[control]
    low, high = np.nanquantile(diff, [alpha / 2, 1 - alpha / 2])
    return {"treated_pct": float(estimate[treated]), "control_pct": float(estimate[control]),
            "difference": float(estimate[treated] - estimate[control]), "ci_lower": float(low),
            "ci_upper": float(high), "n_treated": int((labels == treated).sum()),
            "n_control": int((labels == control).sum()),
            "at_risk_treated": int(tables[treated][0][:, months].sum()),
            "at_risk_control": int(tables[control][0][:, months].sum()), "n_clusters": n_clusters}


def cohort_status(leavers: pd.DataFrame, areas: pd.DataFrame, *, start_col: str = "cohort_start") -> pd.Series:
    """Whether each exit happened in an area before or after the intervention started there.

    Returns
    -------
    pandas.Series
        ``"after start"`` (``spell_end >= start``), ``"before start"``, or ``"never treated"`` (area without a
        start, or not in ``areas``), aligned with ``leavers``.
    """
    for col in ("municipality", "area", start_col):
        if col not in areas.columns:
            raise ValueError(f"areas is missing column {col!r}")
    starts = areas.set_index(["municipality", "area"])[start_col]
    start = pd.to_datetime(pd.Series(pd.MultiIndex.from_frame(leavers[["municipality", "area"]]).map(starts),
                                     index=leavers.index))
    status = np.where(start.isna(), "never treated",
                      np.where(leavers["spell_end"] >= start, "after start", "before start"))
    return pd.Series(status, index=leavers.index, name="status")


def panel_contrasts(panel: pd.DataFrame, *, outcome: str, first_treat_col: str, n_boot: int = 999,
                    seed: int = 0, alpha: float = 0.05) -> pd.DataFrame:
    """Two descriptive contrasts of an area-month outcome, with an area bootstrap interval.

    With :math:`y_{at}` the outcome of treated area :math:`a` (first treated period :math:`g_a > 0`) in period
    :math:`t`, every defined area-month weighing the same:

    * **after vs before start**: :math:`\\bar y_{\\{t \\ge g_a\\}} - \\bar y_{\\{t < g_a\\}}` over the treated areas
      (a before/after comparison: it also picks up everything else that changed over time);
    * **already vs not yet treated, same months**: for each period :math:`t` with both kinds of area, the mean
      of areas with :math:`g_a \\le t` minus that of areas with :math:`g_a > t`, averaged over :math:`t` with the
      number of treated areas as weights (the not-yet-treated comparison of staggered DiD without its pre-period
      adjustment: level differences between early and late areas remain).

    Only areas with :math:`g_a > 0` enter. Areas are resampled with replacement for the interval.

    Returns
    -------
    pandas.DataFrame
        ``comparison``, ``estimate``, ``ci_lower``, ``ci_upper``, ``n_areas``, ``periods`` (the periods of the
        second contrast as ``"first-last"``), ``min_areas`` (fewest areas on either side in any period used).
    """
    for col in ("area", "period", outcome, first_treat_col):
        if col not in panel.columns:
            raise ValueError(f"panel is missing column {col!r}")
    treated = panel.loc[panel[first_treat_col] > 0]
    if treated.empty:
        raise ValueError(f"column {first_treat_col!r} has no treated area (all 0)")
    keys = ["municipality", "area"] if "municipality" in panel.columns else ["area"]
    wide = treated.pivot_table(index=keys, columns="period", values=outcome, aggfunc="first", dropna=False)
    group = treated.groupby(keys)[first_treat_col].first().reindex(wide.index).to_numpy()
    periods = wide.columns.to_numpy(dtype=np.int64)
    y = wide.to_numpy(dtype=float)
    valid = np.isfinite(y)
    y0 = np.where(valid, y, 0.0)
    post = periods[None, :] >= group[:, None]
    n_areas = len(group)
    weights = np.vstack([np.ones(n_areas), _bootstrap_weights(n_areas, n_boot, seed)])   # row 0 = estimate

    def mean_over(mask):
        with np.errstate(invalid="ignore", divide="ignore"):
            return (weights @ (y0 * mask).sum(axis=1)) / (weights @ (valid & mask).sum(axis=1))

    before_after = mean_over(post) - mean_over(~post)

    both = post.any(axis=0) & (~post).any(axis=0)
    cols = np.flatnonzero(both)
    on, off = post[:, cols] & valid[:, cols], ~post[:, cols] & valid[:, cols]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_on = (weights @ (y0[:, cols] * on)) / (weights @ on)
        mean_off = (weights @ (y0[:, cols] * off)) / (weights @ off)
        gap = mean_on - mean_off
        size = weights @ post[:, cols]
        usable = np.isfinite(gap)
        same_months = (np.where(usable, gap, 0.0) * size).sum(axis=1) / np.where(usable, size, 0.0).sum(axis=1)

    def summary(values, name, extra):
        replicates = values[1:][np.isfinite(values[1:])]
        low, high = (np.quantile(replicates, [alpha / 2, 1 - alpha / 2]) if replicates.size
                     else (np.nan, np.nan))
        return {"comparison": name, "estimate": float(values[0]), "ci_lower": float(low), "ci_upper": float(high),
                "n_areas": n_areas, **extra}

    window = f"{periods[cols].min()}-{periods[cols].max()}" if cols.size else ""
    min_areas = int(min(post[:, cols].sum(axis=0).min(), (~post[:, cols]).sum(axis=0).min())) if cols.size else 0
    return pd.DataFrame([
        summary(before_after, "after vs before start (treated areas)", {"periods": "all", "min_areas": n_areas}),
        summary(same_months, "already vs not yet treated, same months", {"periods": window,
                                                                         "min_areas": min_areas}),
    ])


def intervention_contrasts(leavers: pd.DataFrame, panel: pd.DataFrame, areas: pd.DataFrame, *,
                           start_col: str = "cohort_start", first_treat_col: str = "first_treat_cohort",
                           months: int = 12, n_boot: int = 999, seed: int = 0,
                           truth: pd.DataFrame | None = None, intervention: str = "cohort",
                           true_probability: np.ndarray | None = None) -> pd.DataFrame:
    """Descriptive re-inflow contrasts for one staggered intervention (leavers and panel), one row each.

    Leavers (Kaplan--Meier re-inflow within ``months``, percentage points, :func:`km_contrast`):

    * *after vs before start*: exits from treated areas after their area's start vs before it;
    * *already vs not yet treated, same months*: exits during the roll-out (from the first start to the month
      before the last start) from areas that had started vs areas that had not yet started.

    Panel (``reinflow_12m_share``, re-inflow within 12 months as % of inflow, :func:`panel_contrasts`): the same
    two comparisons on area-months.

    None of these is a causal estimate (see the notebook's caveats); the panel rows have a counterpart in the
    simulator's truth table, the leaver rows do not.

    Parameters
    ----------
    leavers, panel, areas
        Output of :func:`leavers_in_window`, the area-month panel and the area file.
    start_col, first_treat_col
        The intervention's start column in ``areas`` and first-treated-period column in ``panel``.
    months, n_boot, seed
        Horizon of the leaver contrasts; bootstrap replicates and seed (:func:`km_contrast`).
    truth, intervention
        Synthetic data only: the truth table and the intervention's name in it; adds ``true_att`` to the panel
        rows -- the true ATT over the same treated area-months (:func:`true_att_in_periods`; all post-start
        months for the first contrast, the roll-out months for the second).
    true_probability
        Synthetic data only: :func:`true_reinflow_probability` of every leaver; adds ``expected_difference`` to
        the leaver rows -- the difference the simulator's re-entry hazards imply for these two groups of leavers
        given *when* and *why* they left. The simulator's re-entry hazard does not depend on any intervention,
        so this is the part of the descriptive contrast that is composition and calendar time, not an effect.

    Returns
    -------
    pandas.DataFrame
        ``measure`` ("leavers: back within 12 months (%)" or "panel: reinflow_12m_share"), ``comparison``,
        ``treated_pct``, ``control_pct`` (leaver rows), ``estimate``, ``ci_lower``, ``ci_upper``, ``n_treated``,
        ``n_control``, ``at_risk_treated``, ``at_risk_control`` (exits; leaver rows), ``n_areas``, ``periods``
        (integer periods ``"first-last"`` or ``"all"``), and ``true_att`` / ``expected_difference`` when asked
        for. Empty if no area has a start in ``start_col``.
    """
    if start_col not in areas.columns or pd.to_datetime(areas[start_col]).notna().sum() == 0:
        return pd.DataFrame()
    if true_probability is not None and len(true_probability) != len(leavers):
        raise ValueError(f"true_probability has {len(true_probability)} values for {len(leavers)} leavers")
    status = cohort_status(leavers, areas, start_col=start_col)
    starts = pd.to_datetime(areas[start_col]).dropna()
    first, last = starts.min(), starts.max()
    measure = f"leavers: back within {months} months (%)"

    def leaver_row(labels: pd.Series, comparison: str, periods: str) -> dict:
        contrast = km_contrast(leavers, labels, treated="after start", control="before start", months=months,
                               n_boot=n_boot, seed=seed)
        row = {"measure": measure, "comparison": comparison, **_rename(contrast), "periods": periods}
        if true_probability is not None:
            p = np.asarray(true_probability, dtype=float)
            row["expected_difference"] = 100 * float(p[(labels == "after start").to_numpy()].mean()
                                                     - p[(labels == "before start").to_numpy()].mean())
        return row

    rows = [leaver_row(status, "after vs before start (treated areas)", "all")]
    in_rollout = (leavers["spell_end"] >= first) & (leavers["spell_end"] < last)
    rollout_status = status.where(in_rollout)
    rollout_periods = list(range(month_to_period(first), month_to_period(last)))
    if (rollout_status == "after start").any() and (rollout_status == "before start").any():
        rows.append(leaver_row(rollout_status, "already vs not yet treated, same months",
                               f"{rollout_periods[0]}-{rollout_periods[-1]}"))
    panel_rows = panel_contrasts(panel, outcome="reinflow_12m_share", first_treat_col=first_treat_col,
                                 n_boot=n_boot, seed=seed)
    for _, row in panel_rows.iterrows():
        out = {"measure": "panel: reinflow_12m_share", "comparison": row["comparison"],
               "estimate": row["estimate"], "ci_lower": row["ci_lower"], "ci_upper": row["ci_upper"],
               "n_areas": row["n_areas"], "periods": row["periods"]}
        if truth is not None:
            if row["periods"] == "all":
                periods = None
            else:
                lo, hi = (int(x) for x in row["periods"].split("-"))
                periods = range(lo, hi + 1)
            out["true_att"] = true_att_in_periods(truth, intervention, "reinflow_12m_share", periods)
        rows.append(out)
    order = ["measure", "comparison", "treated_pct", "control_pct", "estimate", "ci_lower", "ci_upper",
             "expected_difference", "true_att", "n_treated", "n_control", "at_risk_treated", "at_risk_control",
             "n_areas", "periods"]
    table = pd.DataFrame(rows)
    table = table[[c for c in order if c in table.columns]]
    counts = ["n_treated", "n_control", "at_risk_treated", "at_risk_control", "n_areas"]
    table[counts] = table[counts].astype("Int64")   # counts stay integers next to the panel rows' blanks
    return table


def _rename(contrast: dict) -> dict:
    out = dict(contrast)
    out["estimate"] = out.pop("difference")
    out["n_areas"] = out.pop("n_clusters")
    return out
