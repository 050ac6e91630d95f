"""Re-inflow helpers of notebook 05: hand-computed cases, lifelines as the reference for Kaplan--Meier, and the
simulator's documented re-entry targets as known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from bijstand.data.synthetic import REENTRY_TARGETS, simulate_register, true_aggregate
from bijstand.models.duration import kaplan_meier
from bijstand.models.reinflow import (
    cohort_status,
    entrants_in_window,
    exit_incidence_curves,
    hazard_ratio,
    hazard_ratio_table,
    intervention_contrasts,
    km_contrast,
    leavers_in_window,
    panel_contrasts,
    reinflow_curves,
    reinflow_km_table,
    reinflow_pct,
    true_att_in_periods,
    true_reentry_hazard_ratios,
    true_reinflow_probability,
    true_reinflow_table,
)

# ------------------------------------------------------------------------------------------------------------
# Fixtures
# ------------------------------------------------------------------------------------------------------------


def _spell(person, start, end, reason, area="AMS01", municipality="GM0363", **traits):
    row = {"person_id": person, "municipality": municipality, "area": area,
           "spell_start": pd.Timestamp(start), "spell_end": pd.Timestamp(end) if end else pd.NaT,
           "exit_reason": reason, "birth_year": 1980, "education": "low", "refugee": False, "exempt": False}
    row.update(traits)
    return row


@pytest.fixture
def hand_spells() -> pd.DataFrame:
    return pd.DataFrame([
        _spell(1, "2013-01-01", "2014-06-01", "work"),          # exit before the window: history only
        _spell(1, "2015-03-01", "2015-08-01", "work"),          # back 2015-11: re-inflow duration 3
        _spell(1, "2015-11-01", None, None),
        _spell(2, "2015-01-01", "2015-02-01", "enforcement"),   # never back: censored at 2015-12 (10 months)
        _spell(3, "2014-01-01", "2015-05-01", "other"),         # started before the window, ended inside it
        _spell(3, "2015-09-01", "2015-10-01", "other"),         # back after 4 months, then leaves again
    ])


@pytest.fixture(scope="module")
def small_register():
    # 0.05 of real size simulates in under a second and still has ~1,000 enforcement exits.
    return simulate_register(seed=11, scale=0.05)


@pytest.fixture(scope="module")
def small_leavers(small_register):
    return leavers_in_window(small_register.spells, window_end="2024-12")


def _geometric_leavers(n, hazard, *, seed, horizon=30, n_areas=20):
    """Leavers who come back each month with probability ``hazard``; censored after ``horizon`` months."""
    rng = np.random.default_rng(seed)
    back = rng.geometric(hazard, n)
    return pd.DataFrame({"duration": np.minimum(back, horizon), "event": back <= horizon,
                         "area": rng.integers(0, n_areas, n).astype(str)})


# ------------------------------------------------------------------------------------------------------------
# Samples
# ------------------------------------------------------------------------------------------------------------


def test_leavers_in_window_drops_history_and_orders_levels(hand_spells):
    leavers = leavers_in_window(hand_spells, window_end="2015-12")
    assert list(leavers["spell_end"].dt.strftime("%Y-%m")) == ["2015-08", "2015-02", "2015-05", "2015-10"]
    assert list(leavers["duration"]) == [3, 10, 4, 2]
    assert list(leavers["event"]) == [True, False, True, False]
    assert list(leavers["exit_reason"].cat.categories) == ["other", "work", "enforcement"]
    assert list(leavers["education"].cat.categories) == ["low", "middle", "high"]


def test_leavers_window_end_defaults_to_latest_month(hand_spells):
    # latest month in the file is 2015-11 (a spell start): person 3's last exit is censored after 1 month
    leavers = leavers_in_window(hand_spells)
    assert leavers.loc[leavers["spell_end"] == "2015-10-01", "duration"].item() == 1


def test_entrants_in_window_keeps_spells_starting_inside(hand_spells):
    entrants = entrants_in_window(hand_spells, window_end="2015-12")
    assert sorted(entrants["spell_start"].dt.strftime("%Y-%m")) == ["2015-01", "2015-03", "2015-09", "2015-11"]


def test_window_end_before_start_is_an_error(hand_spells):
    with pytest.raises(ValueError, match="window_end 2014-01 lies before window_start 2015-01"):
        leavers_in_window(hand_spells, window_end="2014-01")


# ------------------------------------------------------------------------------------------------------------
# Tables
# ------------------------------------------------------------------------------------------------------------


def test_reinflow_km_table_by_hand():
    # work: 4 exits, back after 2 and 5 months, censored at 3 and 12. KM: S(2) = 3/4, S(5) = 3/4 * 1/2.
    leavers = pd.DataFrame({"exit_reason": ["work"] * 4 + ["other"] * 2, "duration": [2, 3, 5, 12, 1, 12],
                            "event": [True, False, True, False, True, False]})
    table = reinflow_km_table(leavers, times=(2, 6))
    assert list(table.columns) == ["Exit reason", "Months", "Exits", "Back on benefit (%)", "95% CI low",
                                   "95% CI high", "At risk", "Returned"]
    assert list(table["Exit reason"]) == ["Work", "Work", "Other", "Other"]
    work = table[table["Exit reason"] == "Work"].set_index("Months")
    assert_allclose(work["Back on benefit (%)"], [25.0, 62.5])
    assert list(work["At risk"]) == [4, 1]
    assert list(work["Returned"]) == [1, 2]
    assert (work["95% CI low"] <= work["Back on benefit (%)"]).all()
    assert (work["Back on benefit (%)"] <= work["95% CI high"]).all()
    assert reinflow_pct(table, "work", 6) == pytest.approx(62.5)
    assert reinflow_pct(table, "Other", 2) == pytest.approx(50.0)
    with pytest.raises(ValueError, match="column 'Exit reason' has no row 'Enforcement' at Months == 6"):
        reinflow_pct(table, "enforcement", 6)


def test_reinflow_km_table_adds_truth_column():
    leavers = pd.DataFrame({"exit_reason": ["work", "work"], "duration": [2, 12], "event": [True, False]})
    truth = pd.DataFrame({"exit_reason": ["work"], "months": [12], "true_pct": [13.0], "n": [2]})
    table = reinflow_km_table(leavers, times=(6, 12), truth=truth)
    assert table["True value (%)"].isna().tolist() == [True, False]
    assert table["True value (%)"].iloc[1] == 13.0


def test_reinflow_curves_relabel_and_cut(small_leavers):
    curves = reinflow_curves(small_leavers, max_months=24)
    assert sorted(curves["group"].unique()) == ["Exit: enforcement", "Exit: other", "Exit: work"]
    assert curves["time"].max() == 24
    reference = kaplan_meier(small_leavers.assign(exit_reason=small_leavers["exit_reason"].astype(str)),
                             by="exit_reason", times=(12,))
    work = curves[(curves["exit_reason"] == "work") & (curves["time"] == 12)]
    assert work["survival"].item() == pytest.approx(reference.loc[reference["group"] == "work", "survival"].item())


def test_exit_incidence_curves_add_up_to_all_cause_failure(small_register):
    entrants = entrants_in_window(small_register.spells, window_end="2024-12")
    curves = exit_incidence_curves(entrants, max_months=36)
    assert sorted(curves["event"].unique()) == ["enforcement", "other", "to work"]
    total = curves.groupby("time")["cumulative_incidence"].sum()
    km = kaplan_meier(entrants, times=(6, 12, 36))
    assert_allclose(total.loc[[6, 12, 36]].to_numpy(), 1 - km["survival"].to_numpy(), atol=1e-9)


def test_hazard_ratio_table_labels_and_counts():
    leavers = pd.DataFrame({
        "person_id": [1, 1, 2, 3, 4, 5],
        "exit_reason": pd.Categorical(["work", "work", "other", "enforcement", "other", "work"],
                                      categories=["other", "work", "enforcement"]),
        "age": [30, 31, 40, 50, 60, 20], "exempt": [True, True, False, False, True, False],
        "event": [True, False, False, True, True, False],
    })
    cox = pd.DataFrame({"term": ["exit_reason[work]", "age", "exempt"], "ratio": [0.5, 1.0, 0.9],
                        "ratio_ci_lower": [0.4, 0.99, 0.8], "ratio_ci_upper": [0.6, 1.01, 1.0],
                        "p_value": [0.001, 0.5, 0.04]})
    table = hazard_ratio_table(cox, leavers, truth={"exit_reason[work]": "0.43-0.68"})
    assert list(table["Covariate"]) == ["Exit reason: work (vs other)", "Age at exit (years)",
                                        "Exempt (ontheffing)"]
    assert list(table["Persons"]) == [2, 5, 2]            # work: persons 1 and 5; all; exempt: persons 1 and 4
    assert list(table["Persons returning"]) == [1, 3, 2]  # work: person 1; all: 1, 3, 4; exempt: 1, 4
    assert list(table["True hazard ratio"]) == ["0.43-0.68", "", ""]
    assert hazard_ratio(cox, "exit_reason[work]") == 0.5
    with pytest.raises(ValueError, match="column 'term' has no 'exit_reason\\[other\\]'"):
        hazard_ratio(cox, "exit_reason[other]")


# ------------------------------------------------------------------------------------------------------------
# Truth of the synthetic register
# ------------------------------------------------------------------------------------------------------------

_FLAT_CYCLE = {"baseline": {"cycle_elasticity": 0.0, "covid_inflow_multiplier": 1.0}}


@pytest.mark.parametrize("reason", ["work", "enforcement", "other"])
def test_true_probability_without_cycle_hits_documented_targets(reason):
    # Without business cycle and COVID the simulator's re-entry reproduces REENTRY_TARGETS at 6 and 12 months.
    leavers = pd.DataFrame({"spell_end": pd.to_datetime(["2016-03-01", "2019-12-01"]),
                            "exit_reason": [reason, reason], "municipality": ["GM0363", "GM0599"]})
    p6, p12, _ = REENTRY_TARGETS[reason]
    assert_allclose(true_reinflow_probability(leavers, months=6, params=_FLAT_CYCLE), [p6, p6], rtol=1e-5)
    assert_allclose(true_reinflow_probability(leavers, months=12, params=_FLAT_CYCLE), [p12, p12], rtol=1e-5)
    assert_allclose(true_reinflow_probability(leavers, months=1, params=_FLAT_CYCLE), [0.0, 0.0])


def test_true_probability_amstelveen_multiplier():
    # Amstelveen's re-entry hazard is 0.8 times the national one (seed 000).
    leavers = pd.DataFrame({"spell_end": pd.to_datetime(["2016-03-01"]), "exit_reason": ["work"],
                            "municipality": ["GM0362"]})
    monthly = 1 - (1 - REENTRY_TARGETS["work"][0]) ** (1 / 5)
    expected = 1 - (1 - 0.8 * monthly) ** 5
    assert_allclose(true_reinflow_probability(leavers, months=6, params=_FLAT_CYCLE), [expected], rtol=1e-5)


def test_true_probability_rejects_history_exits():
    leavers = pd.DataFrame({"spell_end": pd.to_datetime(["2014-03-01"]), "exit_reason": ["work"],
                            "municipality": ["GM0363"]})
    with pytest.raises(ValueError, match="column 'spell_end' has exits before window_start 2015-01"):
        true_reinflow_probability(leavers)


def test_kaplan_meier_recovers_true_reinflow_in_simulated_register(small_register, small_leavers):
    truth = true_reinflow_table(small_leavers, times=(6, 12, 24), params=small_register.params)
    table = reinflow_km_table(small_leavers, times=(6, 12, 24), truth=truth)
    # normal-approximation standard error from the 95% interval
    se = (table["95% CI high"] - table["95% CI low"]) / (2 * 1.96)
    z = (table["Back on benefit (%)"] - table["True value (%)"]) / se
    assert (z.abs() < 3.5).all(), table.assign(z=z)
    # and the ordering the critics' argument rests on: work < other < enforcement
    at12 = table[table["Months"] == 12].set_index("Exit reason")["True value (%)"]
    assert at12["Work"] < at12["Other"] < at12["Enforcement"]


def test_true_reentry_hazard_ratios_by_band():
    def monthly(reason):
        p6, p12, p60 = REENTRY_TARGETS[reason]
        return (1 - (1 - p6) ** (1 / 5), 1 - ((1 - p12) / (1 - p6)) ** (1 / 6),
                1 - ((1 - p60) / (1 - p12)) ** (1 / 48))

    table = true_reentry_hazard_ratios(reason="work", reference="other")
    assert list(table["months_since_exit"]) == ["2-6", "7-12", "13-60"]
    assert_allclose(table["hazard_ratio"], np.divide(monthly("work"), monthly("other")), rtol=1e-5)
    with pytest.raises(ValueError, match="reason must be one of"):
        true_reentry_hazard_ratios(reason="job")


def _truth_table():
    # two groups (periods 3 with 2 areas, 5 with 1 area), outcome over periods 1..6
    rows = []
    for group, n_areas in ((3, 2), (5, 1)):
        for period in range(1, 7):
            att = 0.0 if period < group else float(group + period)
            rows.append({"intervention": "cohort", "outcome": "reinflow_12m_share", "group": group,
                         "period": period, "att": att, "n_areas": n_areas})
    return pd.DataFrame(rows)


def test_true_att_in_periods_matches_true_aggregate_and_hand():
    truth = _truth_table()
    assert true_att_in_periods(truth, "cohort", "reinflow_12m_share") == pytest.approx(
        true_aggregate(truth, "cohort", "reinflow_12m_share", "simple"))
    # periods 4-5: (g=3, t=4) 7 x2, (3, 5) 8 x2, (5, 5) 10 x1 -> (14 + 16 + 10) / 5
    assert true_att_in_periods(truth, "cohort", "reinflow_12m_share", range(4, 6)) == pytest.approx(8.0)
    # an undefined cell (no inflow in the treated areas) carries no weight in either function
    truth.loc[(truth["group"] == 5) & (truth["period"] == 5), "att"] = np.nan
    assert true_aggregate(truth, "cohort", "reinflow_12m_share", "simple") == pytest.approx(
        true_att_in_periods(truth, "cohort", "reinflow_12m_share"))
    assert true_att_in_periods(truth, "cohort", "reinflow_12m_share", range(4, 6)) == pytest.approx(7.5)
    with pytest.raises(ValueError, match="truth has no defined treated cell for intervention='counter'"):
        true_att_in_periods(truth, "counter", "reinflow_12m_share")


# ------------------------------------------------------------------------------------------------------------
# By intervention
# ------------------------------------------------------------------------------------------------------------


def test_km_contrast_point_estimates_equal_lifelines():
    a = _geometric_leavers(3000, 0.02, seed=1)
    b = _geometric_leavers(3000, 0.04, seed=2)
    leavers = pd.concat([a, b], ignore_index=True)
    group = pd.Series(["a"] * len(a) + ["b"] * len(b))
    result = km_contrast(leavers, group, treated="a", control="b", months=12, n_boot=199, seed=5)
    reference = kaplan_meier(leavers.assign(g=group), by="g", times=(12,)).set_index("group")
    assert result["treated_pct"] == pytest.approx(100 * (1 - reference.loc["a", "survival"]), abs=1e-10)
    assert result["control_pct"] == pytest.approx(100 * (1 - reference.loc["b", "survival"]), abs=1e-10)
    assert result["at_risk_treated"] == reference.loc["a", "at_risk"]
    assert result["n_treated"] == 3000 and result["n_clusters"] == 20


def test_km_contrast_known_truth_and_deterministic_bootstrap():
    a = _geometric_leavers(20000, 0.02, seed=3)
    b = _geometric_leavers(20000, 0.04, seed=4)
    leavers = pd.concat([a, b], ignore_index=True)
    group = pd.Series(["a"] * len(a) + ["b"] * len(b))
    true_difference = 100 * ((1 - 0.98 ** 12) - (1 - 0.96 ** 12))   # about -17.6 points
    result = km_contrast(leavers, group, treated="a", control="b", months=12, n_boot=499, seed=7)
    assert result["difference"] == pytest.approx(true_difference, abs=1.5)
    assert result["ci_lower"] < result["difference"] < result["ci_upper"]
    assert result["ci_upper"] - result["ci_lower"] < 3.0
    again = km_contrast(leavers, group, treated="a", control="b", months=12, n_boot=499, seed=7)
    assert again == result
    other_seed = km_contrast(leavers, group, treated="a", control="b", months=12, n_boot=499, seed=8)
    assert other_seed["ci_lower"] != result["ci_lower"]


def test_km_contrast_errors():
    leavers = _geometric_leavers(50, 0.1, seed=1)
    with pytest.raises(ValueError, match="group has no rows labelled 'c'"):
        km_contrast(leavers, pd.Series(["a"] * 50), treated="a", control="c")
    with pytest.raises(ValueError, match="leavers is missing column 'municipality'"):
        km_contrast(leavers, pd.Series(["a"] * 50), treated="a", control="a", cluster_col="municipality")


def test_cohort_status():
    areas = pd.DataFrame({"municipality": ["GM0363", "GM0363", "GM0307"], "area": ["AMS01", "AMS02", "GM0307"],
                          "cohort_start": pd.to_datetime(["2019-09-01", "2020-01-01", None])})
    leavers = pd.DataFrame({"municipality": ["GM0363", "GM0363", "GM0363", "GM0307"],
                            "area": ["AMS01", "AMS01", "AMS02", "GM0307"],
                            "spell_end": pd.to_datetime(["2019-08-01", "2019-09-01", "2019-12-01", "2021-01-01"])})
    assert list(cohort_status(leavers, areas)) == ["before start", "after start", "before start", "never treated"]
    with pytest.raises(ValueError, match="areas is missing column 'outreach_start'"):
        cohort_status(leavers, areas, start_col="outreach_start")


def test_panel_contrasts_by_hand():
    # areas A (start 2), B (start 3), C (never: ignored); outcome over periods 1..3
    panel = pd.DataFrame({
        "municipality": "X", "area": ["A"] * 3 + ["B"] * 3 + ["C"] * 3, "period": [1, 2, 3] * 3,
        "reinflow_12m_share": [10.0, 20.0, 30.0, 12.0, np.nan, 40.0, 99.0, 99.0, 99.0],
        "first_treat_cohort": [2] * 3 + [3] * 3 + [0] * 3,
    })
    table = panel_contrasts(panel, outcome="reinflow_12m_share", first_treat_col="first_treat_cohort",
                            n_boot=50, seed=1).set_index("comparison")
    # after: A2 20, A3 30, B3 40 -> 30; before: A1 10, B1 12 (B2 undefined) -> 11
    assert table.loc["after vs before start (treated areas)", "estimate"] == pytest.approx(19.0)
    # periods with both kinds: 2 (A treated, B not yet but undefined -> skipped); nothing else -> NaN
    assert np.isnan(table.loc["already vs not yet treated, same months", "estimate"])
    panel.loc[(panel["area"] == "B") & (panel["period"] == 2), "reinflow_12m_share"] = 16.0
    table = panel_contrasts(panel, outcome="reinflow_12m_share", first_treat_col="first_treat_cohort",
                            n_boot=50, seed=1).set_index("comparison")
    assert table.loc["already vs not yet treated, same months", "estimate"] == pytest.approx(4.0)   # 20 - 16
    assert table.loc["already vs not yet treated, same months", "periods"] == "2-2"
    assert table.loc["after vs before start (treated areas)", "n_areas"] == 2
    with pytest.raises(ValueError, match="column 'first_treat_counter' has no treated area"):
        panel_contrasts(panel.assign(first_treat_counter=0), outcome="reinflow_12m_share",
                        first_treat_col="first_treat_counter")


def test_intervention_contrasts_on_simulated_register(small_register, small_leavers):
    true_p = true_reinflow_probability(small_leavers, months=12, params=small_register.params)
    table = intervention_contrasts(small_leavers, small_register.panel, small_register.areas, n_boot=99, seed=3,
                                   truth=small_register.truth, true_probability=true_p)
    assert list(table["measure"]) == ["leavers: back within 12 months (%)"] * 2 + ["panel: reinflow_12m_share"] * 2
    # roll-out of the cohort approach: 2019-09 (period 57) up to the month before 2020-11 (period 70)
    assert list(table["periods"]) == ["all", "57-70", "all", "57-70"]
    assert table.loc[2, "true_att"] == pytest.approx(
        true_att_in_periods(small_register.truth, "cohort", "reinflow_12m_share"))
    assert table.loc[3, "true_att"] == pytest.approx(
        true_att_in_periods(small_register.truth, "cohort", "reinflow_12m_share", range(57, 71)))
    assert table.loc[:1, "expected_difference"].notna().all()
    assert (table["ci_lower"] <= table["estimate"]).all() and (table["estimate"] <= table["ci_upper"]).all()
    assert (table.loc[:1, "n_areas"] == 22).all()
    # a register without the intervention gives an empty table rather than an error
    no_starts = small_register.areas.assign(cohort_start=pd.NaT)
    assert intervention_contrasts(small_leavers, small_register.panel, no_starts).empty
