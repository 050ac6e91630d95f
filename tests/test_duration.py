"""Duration models: hand-checked spell conversion and known-truth simulations (exponential / geometric)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from bijstand.models.duration import (
    cumulative_incidence,
    exits_to_durations,
    hazard_model,
    kaplan_meier,
)

# ------------------------------------------------------------------------------------------------------------
# Hand-made spells
# ------------------------------------------------------------------------------------------------------------


def _spell(person, start, end, reason, birth_year=1980, education="low", refugee=False, exempt=False):
    return {"person_id": person, "municipality": "GM0363", "area": f"AMS0{person}",
            "spell_start": pd.Timestamp(start), "spell_end": pd.Timestamp(end) if end else pd.NaT,
            "exit_reason": reason, "birth_year": birth_year, "education": education,
            "refugee": refugee, "exempt": exempt}


@pytest.fixture
def hand_spells() -> pd.DataFrame:
    rows = [
        _spell(1, "2019-01-01", "2019-03-01", "work"),
        _spell(1, "2019-06-01", None, None),
        _spell(2, "2018-05-01", "2019-01-01", "enforcement", birth_year=1990, education="high"),
        _spell(3, "2019-12-01", "2019-12-01", "other", refugee=True),
        # person 4 deliberately out of order: the function must sort by start
        _spell(4, "2019-01-01", "2019-02-01", "work", exempt=True),
        _spell(4, "2017-01-01", "2017-01-01", "other", exempt=True),
        _spell(4, "2017-02-01", "2018-06-01", "work", exempt=True),
    ]
    return pd.DataFrame(rows)


def test_exit_durations_by_hand(hand_spells):
    exits = exits_to_durations(hand_spells, window_end="2019-12").exits
    exits = exits.set_index(["person_id", "spell_number"])
    # months on benefit, counted by hand (start and end month both count)
    expected = {(1, 1): (3, True, "work"), (1, 2): (7, False, None), (2, 1): (9, True, "enforcement"),
                (3, 1): (1, True, "other"), (4, 1): (1, True, "other"), (4, 2): (17, True, "work"),
                (4, 3): (2, True, "work")}
    for key, (duration, event, reason) in expected.items():
        assert exits.loc[key, "duration"] == duration, key
        assert exits.loc[key, "event"] == event, key
        assert exits.loc[key, "exit_reason"] == reason, key
    assert exits.loc[(1, 2), "exit_code"] == 0
    assert exits.loc[(2, 1), "exit_code"] == 2
    assert exits.loc[(2, 1), "age"] == 2018 - 1990


def test_reinflow_durations_by_hand(hand_spells):
    reinflow = exits_to_durations(hand_spells, window_end="2019-12").reinflow
    reinflow = reinflow.set_index(["person_id", "spell_number"])
    # months from spell_end to next spell_start, or to window_end 2019-12 if no return
    expected = {(1, 1): (3, True), (2, 1): (11, False), (3, 1): (0, False), (4, 1): (1, True),
                (4, 2): (7, True), (4, 3): (10, False)}
    assert set(reinflow.index) == set(expected)
    for key, (duration, event) in expected.items():
        assert reinflow.loc[key, "duration"] == duration, key
        assert reinflow.loc[key, "event"] == event, key
    assert reinflow.loc[(1, 1), "next_spell_start"] == pd.Timestamp("2019-06-01")
    assert pd.isna(reinflow.loc[(2, 1), "next_spell_start"])
    assert reinflow.loc[(1, 1), "age"] == 2019 - 1980
    assert reinflow.loc[(2, 1), "education"] == "high"
    assert bool(reinflow.loc[(3, 1), "refugee"]) is True
    assert bool(reinflow.loc[(4, 2), "exempt"]) is True
    assert reinflow.loc[(4, 2), "exit_reason"] == "work"


def test_kaplan_meier_by_hand_on_reinflow(hand_spells):
    reinflow = exits_to_durations(hand_spells, window_end="2019-12").reinflow
    # durations 3,11,0,1,7,10 with events 1,0,0,1,1,0:
    # t=1: 5 at risk, 1 event -> 4/5; t=3: 4 at risk -> x3/4 = 0.6; t=7: 3 at risk -> x2/3 = 0.4
    km = kaplan_meier(reinflow, times=(1, 6, 7, 11, 12))
    assert_allclose(km["survival"].to_numpy(), [0.8, 0.6, 0.4, 0.4, np.nan])
    assert_array_equal(km["at_risk"].to_numpy(), [5, 3, 3, 1, 0])
    assert_array_equal(km["events"].to_numpy(), [1, 2, 3, 3, 3])
    assert (km["n"] == 6).all()
    assert (km["group"] == "all").all()


def test_kaplan_meier_by_group_labels(hand_spells):
    reinflow = exits_to_durations(hand_spells, window_end="2019-12").reinflow
    km = kaplan_meier(reinflow, by="exit_reason", times=(1,))
    assert list(km["group"]) == ["enforcement", "other", "work"]
    assert list(km["exit_reason"]) == ["enforcement", "other", "work"]
    # "other": durations 0 (censored) and 1 (event): 1 at risk at t=1 -> S(1) = 0
    assert km.set_index("group").loc["other", "survival"] == 0.0


# ------------------------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------------------------


def test_missing_spell_column_is_named(hand_spells):
    with pytest.raises(ValueError, match=r"missing column\(s\) \['exit_reason'\]"):
        exits_to_durations(hand_spells.drop(columns="exit_reason"), window_end="2019-12")


def test_spell_end_before_start_is_named(hand_spells):
    bad = hand_spells.copy()
    bad.loc[0, "spell_end"] = pd.Timestamp("2018-12-01")
    with pytest.raises(ValueError, match=r"column 'spell_end' is before 'spell_start' \(rows \[0\]\)"):
        exits_to_durations(bad, window_end="2019-12")


def test_exit_reason_problems_are_named(hand_spells):
    bad = hand_spells.copy()
    bad.loc[0, "exit_reason"] = "holiday"
    with pytest.raises(ValueError, match=r"column 'exit_reason' has unknown values \['holiday'\]"):
        exits_to_durations(bad, window_end="2019-12")
    bad = hand_spells.copy()
    bad.loc[1, "exit_reason"] = "work"  # running spell with a reason
    with pytest.raises(ValueError, match=r"column 'exit_reason' is set for running spells"):
        exits_to_durations(bad, window_end="2019-12")


def test_overlapping_spells_are_named(hand_spells):
    bad = hand_spells.copy()
    bad.loc[1, "spell_start"] = pd.Timestamp("2019-02-01")  # before person 1's first spell ends
    with pytest.raises(ValueError, match=r"column 'spell_start': spells of the same person overlap \(person_id \[1\]\)"):
        exits_to_durations(bad, window_end="2019-12")


def test_spell_after_window_is_named(hand_spells):
    with pytest.raises(ValueError, match=r"column 'spell_end' is after window_end 2019-06"):
        exits_to_durations(hand_spells, window_end="2019-06")


def test_negative_or_missing_durations_are_named():
    frame = pd.DataFrame({"months": [3.0, -1.0, 2.0], "event": [True, False, True]})
    with pytest.raises(ValueError, match=r"column 'months' has negative durations \(rows \[1\]\)"):
        kaplan_meier(frame, duration_col="months")
    with pytest.raises(ValueError, match=r"column 'months' has negative durations"):
        hazard_model(frame.assign(x=[0, 1, 0]), covariates=["x"], duration_col="months")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['event'\]"):
        kaplan_meier(frame.drop(columns="event").assign(months=1.0), duration_col="months")
    frame = pd.DataFrame({"duration": [3.0, np.nan], "event": [True, False]})
    with pytest.raises(ValueError, match=r"column 'duration' has missing or non-numeric durations"):
        kaplan_meier(frame)


def test_bad_event_and_covariate_columns_are_named():
    frame = pd.DataFrame({"duration": [3, 2, 4], "event": [1, 2, 0], "x": [1.0, np.nan, 0.0]})
    with pytest.raises(ValueError, match=r"column 'event' must be boolean"):
        kaplan_meier(frame)
    with pytest.raises(ValueError, match=r"covariate column 'x' has missing values"):
        hazard_model(frame.assign(event=[1, 0, 1]), covariates=["x"])
    with pytest.raises(ValueError, match=r"missing column\(s\) \['age'\]"):
        hazard_model(frame.assign(event=[1, 0, 1]), covariates=["age"])
    with pytest.raises(ValueError, match=r"event_of_interest 'work' does not occur in column 'reason'"):
        cumulative_incidence(frame.assign(reason=["other", None, "other"]), event_col="reason",
                             event_of_interest="work")


# ------------------------------------------------------------------------------------------------------------
# Known truth by simulation
# ------------------------------------------------------------------------------------------------------------


def _geometric_competing(n, cause_hazards, censor_hazard, seed):
    """Monthly durations with constant cause-specific discrete hazards h_k and geometric censoring.

    Event month T ~ Geometric(H), H = sum h_k; cause k with probability h_k / H; censoring month C ~
    Geometric(c), censored spells survive month C. True S(t) = (1-H)^t, CIF_k(t) = h_k/H * (1 - (1-H)^t).
    """
    rng = np.random.default_rng(seed)
    hazards = np.asarray(list(cause_hazards.values()))
    total = hazards.sum()
    event_month = rng.geometric(total, size=n)
    cause = rng.choice(list(cause_hazards), size=n, p=hazards / total)
    censor_month = rng.geometric(censor_hazard, size=n)
    observed = event_month <= censor_month
    return pd.DataFrame({
        "duration": np.minimum(event_month, censor_month),
        "event": observed,
        "exit_reason": np.where(observed, cause, None),
    })


def test_kaplan_meier_matches_exponential_truth():
    rng = np.random.default_rng(20240601)
    rate, n = 0.05, 4000
    event_time = rng.exponential(1 / rate, size=n)
    censor_time = rng.exponential(1 / 0.02, size=n)
    frame = pd.DataFrame({"duration": np.minimum(event_time, censor_time), "event": event_time <= censor_time})
    km = kaplan_meier(frame, times=(6, 12, 24))
    truth = np.exp(-rate * km["time"].to_numpy())
    se = (km["ci_upper"] - km["ci_lower"]).to_numpy() / (2 * 1.96)
    assert np.all(np.abs(km["survival"].to_numpy() - truth) < 3 * se)
    assert np.all(se < 0.015)  # informative: SEs are not so wide that the check above is empty


def test_kaplan_meier_matches_geometric_truth_with_monthly_ties():
    frame = _geometric_competing(5000, {"work": 0.03, "other": 0.02}, censor_hazard=0.02, seed=7)
    km = kaplan_meier(frame, times=(6, 12, 24))
    truth = (1 - 0.05) ** km["time"].to_numpy()
    se = (km["ci_upper"] - km["ci_lower"]).to_numpy() / (2 * 1.96)
    assert np.all(np.abs(km["survival"].to_numpy() - truth) < 3 * se)
    assert np.all(se < 0.01)


def test_cumulative_incidence_matches_analytic_value():
    hazards = {"work": 0.03, "enforcement": 0.01, "other": 0.02}
    frame = _geometric_competing(6000, hazards, censor_hazard=0.015, seed=11)
    times = (3, 6, 12, 24)
    total = sum(hazards.values())
    for cause, h in hazards.items():
        cif = cumulative_incidence(frame, event_col="exit_reason", event_of_interest=cause, times=times)
        truth = h / total * (1 - (1 - total) ** cif["time"].to_numpy())
        se = (cif["ci_upper"] - cif["ci_lower"]).to_numpy() / (2 * 1.96)
        assert np.all(np.abs(cif["cumulative_incidence"].to_numpy() - truth) < 3 * se), cause
        assert np.all(se < 0.02)


def test_cumulative_incidences_add_up_to_one_minus_km_exactly():
    # The Aalen-Johansen identity sum_k F_k(t) = 1 - S(t) holds exactly for the tied-time estimator; lifelines'
    # random jitter would break it, so this checks the deterministic tie handling.
    hazards = {"work": 0.04, "enforcement": 0.01, "other": 0.02}
    frame = _geometric_competing(800, hazards, censor_hazard=0.03, seed=3)
    times = tuple(range(0, 40))
    km = kaplan_meier(frame, times=times)
    total = sum(
        cumulative_incidence(frame, event_col="exit_reason", event_of_interest=c, times=times)[
            "cumulative_incidence"].to_numpy()
        for c in hazards
    )
    assert_allclose(total, 1 - km["survival"].to_numpy(), atol=1e-10)


def test_cumulative_incidence_is_deterministic_and_leaves_global_rng_alone():
    frame = _geometric_competing(300, {"work": 0.05, "other": 0.05}, censor_hazard=0.05, seed=5)
    np.random.seed(123)
    state_before = np.random.get_state()[1].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # lifelines' tie/jitter warning must not fire
        first = cumulative_incidence(frame, event_col="exit_reason", event_of_interest="work", by=None)
    assert_array_equal(np.random.get_state()[1], state_before)
    second = cumulative_incidence(frame, event_col="exit_reason", event_of_interest="work")
    pd.testing.assert_frame_equal(first, second)


def test_cumulative_incidence_by_group():
    a = _geometric_competing(3000, {"work": 0.04, "other": 0.02}, censor_hazard=0.01, seed=1).assign(city="A")
    b = _geometric_competing(3000, {"work": 0.01, "other": 0.02}, censor_hazard=0.01, seed=2).assign(city="B")
    cif = cumulative_incidence(pd.concat([a, b], ignore_index=True), event_col="exit_reason",
                               event_of_interest="work", by="city", times=(12,)).set_index("group")
    for city, (hw, ho) in {"A": (0.04, 0.02), "B": (0.01, 0.02)}.items():
        truth = hw / (hw + ho) * (1 - (1 - hw - ho) ** 12)
        assert abs(cif.loc[city, "cumulative_incidence"] - truth) < 0.02, city
    assert list(cif["n"]) == [3000, 3000]


def _exponential_ph(n, beta_binary, beta_cont, seed, base_rate=0.05):
    rng = np.random.default_rng(seed)
    x_bin = rng.integers(0, 2, size=n).astype(bool)
    x_cont = rng.normal(size=n)
    rate = base_rate * np.exp(beta_binary * x_bin + beta_cont * x_cont)
    event_time = rng.exponential(1 / rate)
    censor_time = rng.exponential(1 / 0.02, size=n)
    return pd.DataFrame({"duration": np.minimum(event_time, censor_time), "event": event_time <= censor_time,
                         "treated": x_bin, "score": x_cont, "cluster": rng.integers(0, 40, size=n)})


def test_cox_log_hazard_ratio_matches_truth():
    frame = _exponential_ph(3000, beta_binary=0.5, beta_cont=-0.3, seed=42)
    table = hazard_model(frame, covariates=["treated", "score"], kind="cox").set_index("term")
    truth = pd.Series({"treated": 0.5, "score": -0.3})
    assert np.all(np.abs(table["coef"] - truth) < 3 * table["se"])
    assert np.all(table["se"] < 0.06)
    assert_allclose(table["ratio"], np.exp(table["coef"]))
    assert (table["model"] == "cox").all()
    assert table["n_events"].iloc[0] == int(frame["event"].sum())


def test_cox_cluster_robust_runs_and_stays_near_model_based_without_clustering():
    # Independent data: the sandwich and the model-based SE estimate the same thing.
    frame = _exponential_ph(3000, beta_binary=0.5, beta_cont=-0.3, seed=43)
    naive = hazard_model(frame, covariates=["treated", "score"], kind="cox").set_index("term")
    robust = hazard_model(frame, covariates=["treated", "score"], kind="cox",
                          cluster_col="cluster").set_index("term")
    assert_allclose(robust["coef"], naive["coef"], rtol=1e-8)
    assert not np.allclose(robust["se"], naive["se"], rtol=1e-6)
    assert_allclose(robust["se"], naive["se"], rtol=0.35)


def test_cox_cluster_sandwich_equals_lifelines_on_small_data():
    # Oracle: lifelines' own (O(n^2)) cluster-robust variance; ours must agree where lifelines is feasible.
    from lifelines import CoxPHFitter

    frame = _exponential_ph(400, beta_binary=0.5, beta_cont=-0.3, seed=44)
    ours = hazard_model(frame, covariates=["treated", "score"], kind="cox", cluster_col="cluster").set_index("term")
    oracle = CoxPHFitter().fit(frame.assign(treated=frame["treated"].astype(float)),
                               duration_col="duration", event_col="event", cluster_col="cluster")
    assert_allclose(ours["coef"], oracle.params_.loc[["treated", "score"]], rtol=1e-8)
    assert_allclose(ours["se"], oracle.standard_errors_.loc[["treated", "score"]], rtol=1e-6)


def _geometric_logit(n, alpha, gamma_binary, gamma_cont, seed):
    """Monthly exit with logit P(exit | at risk) = alpha + g1*treated + g2*score (constant in time)."""
    rng = np.random.default_rng(seed)
    treated = rng.integers(0, 2, size=n).astype(bool)
    score = rng.normal(size=n)
    hazard = 1 / (1 + np.exp(-(alpha + gamma_binary * treated + gamma_cont * score)))
    event_month = rng.geometric(hazard)
    censor_month = rng.geometric(0.02, size=n)
    return pd.DataFrame({"duration": np.minimum(event_month, censor_month), "event": event_month <= censor_month,
                         "treated": treated, "score": score, "spell": np.arange(n)})


def test_discrete_hazard_odds_ratio_matches_truth():
    frame = _geometric_logit(4000, alpha=-3.0, gamma_binary=0.4, gamma_cont=-0.2, seed=8)
    table = hazard_model(frame, covariates=["treated", "score"], kind="discrete").set_index("term")
    truth = pd.Series({"treated": 0.4, "score": -0.2})
    assert np.all(np.abs(table.loc[truth.index, "coef"] - truth) < 3 * table.loc[truth.index, "se"])
    assert np.all(table.loc[truth.index, "se"] < 0.06)
    # the true baseline is constant at -3 in every interval
    baseline = table.loc[table.index.str.startswith("baseline")]
    assert list(baseline.index) == ["baseline[1-3]", "baseline[4-6]", "baseline[7-12]", "baseline[13-24]",
                                    "baseline[25-48]", "baseline[49+]"]
    assert np.all(np.abs(baseline["coef"] + 3.0) < 3 * baseline["se"])
    assert (table["ratio_name"] == "odds_ratio").all()


def test_discrete_hazard_equals_person_month_logit_from_sklearn():
    # Oracle: the collapsed binomial likelihood must equal an unpenalised logit on expanded person-months.
    from sklearn.linear_model import LogisticRegression

    frame = _geometric_logit(300, alpha=-2.0, gamma_binary=0.5, gamma_cont=0.3, seed=9)
    table = hazard_model(frame, covariates=["treated", "score"], kind="discrete",
                         baseline_breaks=(6,)).set_index("term")
    months = np.concatenate([np.arange(1, d + 1) for d in frame["duration"]])
    rows = np.repeat(np.arange(len(frame)), frame["duration"])
    y = (months == frame["duration"].to_numpy()[rows]) & frame["event"].to_numpy()[rows]
    X = np.column_stack([(months <= 6).astype(float), (months > 6).astype(float),
                         frame["treated"].to_numpy(float)[rows], frame["score"].to_numpy()[rows]])
    oracle = LogisticRegression(C=np.inf, fit_intercept=False, tol=1e-12, max_iter=10_000).fit(X, y)
    assert_allclose(table["coef"].to_numpy(), oracle.coef_[0], atol=1e-4)


def test_discrete_hazard_cluster_robust_close_to_model_based_under_correct_model():
    frame = _geometric_logit(3000, alpha=-3.0, gamma_binary=0.4, gamma_cont=-0.2, seed=10)
    naive = hazard_model(frame, covariates=["treated", "score"], kind="discrete").set_index("term")
    robust = hazard_model(frame, covariates=["treated", "score"], kind="discrete",
                          cluster_col="spell").set_index("term")
    assert_allclose(robust["coef"], naive["coef"])
    assert_allclose(robust.loc[["treated", "score"], "se"], naive.loc[["treated", "score"], "se"], rtol=0.1)


def test_cause_specific_hazard_with_categorical_covariate():
    rng = np.random.default_rng(12)
    n = 4000
    education = rng.choice(["low", "middle", "high"], size=n)
    log_hr_work = {"high": 0.0, "low": -0.6, "middle": -0.2}  # "high" sorts first: reference level
    rate_work = 0.03 * np.exp([log_hr_work[e] for e in education])
    t_work = rng.exponential(1 / rate_work)
    t_other = rng.exponential(1 / 0.02, size=n)
    censor = rng.exponential(1 / 0.01, size=n)
    duration = np.minimum.reduce([t_work, t_other, censor])
    reason = np.where(duration == t_work, "work", np.where(duration == t_other, "other", None))
    frame = pd.DataFrame({"duration": duration, "exit_reason": reason, "education": education})
    table = hazard_model(frame, covariates=["education"], kind="cox", event_col="exit_reason",
                         event_of_interest="work").set_index("term")
    assert list(table.index) == ["education[low]", "education[middle]"]
    truth = pd.Series({"education[low]": -0.6, "education[middle]": -0.2})
    assert np.all(np.abs(table["coef"] - truth) < 3 * table["se"])
    assert table["n_events"].iloc[0] == int((reason == "work").sum())


def test_exit_durations_feed_the_estimators(hand_spells):
    # End-to-end on the hand frame: the cause labels of exits_to_durations work as competing risks.
    exits = exits_to_durations(hand_spells, window_end="2019-12").exits
    cif = cumulative_incidence(exits, event_col="exit_reason", event_of_interest="work", times=(1, 3, 17))
    # durations/causes: 3 work, 7 cens, 9 enf, 1 other, 1 other, 17 work, 2 work (7 spells)
    # t=1: S drops to 5/7 (no work); t=2: 1 work of 5 at risk -> F = 5/7 * 1/5 = 1/7;
    # t=3: 1 work of 4 at risk, S(3-) = 4/7 -> F = 2/7, S = 3/7; t=9: enforcement, 1 of 2 -> S = 3/14;
    # t=17: 1 work of 1 at risk -> F = 2/7 + 3/14 = 1/2
    assert_allclose(cif["cumulative_incidence"].to_numpy(), [0.0, 2 / 7, 1 / 2])
