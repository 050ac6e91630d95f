"""Monte Carlo study: one replication, the truth it is judged against, determinism across backends, summaries."""

from __future__ import annotations

import dask.distributed as distributed
import numpy as np
import pandas as pd
import pytest

from bijstand.data.synthetic import simulate_area_panel
from bijstand.did.attgt import att_gt
from bijstand.did.bootstrap import wild_bootstrap_test
from bijstand.did.compare import intervention_panel, true_simple
from bijstand.did.montecarlo import (
    ESTIMATORS, REPLICATION_COLUMNS, Design, _invert_test, register_estimator, replication_seeds, run_replication,
    simulate_design, simulation_study, summarise, summary_table, target_cells,
)
from bijstand.did.randomization import randomization_test

Y = "outflow_work_rate"
#: A quick design for the backend tests (Sun-Abraham costs 0.25 s a replication; it is covered by the first test).
QUICK = Design(estimators=("cs", "twfe"), n_boot=49, n_perm=19)


def _cs(data, **kwargs):
    return att_gt(data, y=Y, unit="area", time="period", group="group", control_group="notyet", **kwargs)


@pytest.fixture(scope="module")
def panel():
    data, truth = simulate_design(11, Design())
    return data, truth


def test_one_replication_runs_every_registered_estimator_against_the_truth():
    design = Design(n_boot=99, n_perm=19)
    rows = run_replication(2024, design=design, replication=3)
    assert list(rows.columns) == list(REPLICATION_COLUMNS)
    assert list(zip(rows["estimator"], rows["inference"], strict=True)) == [
        ("cs", "analytic"), ("cs", "wild_webb"), ("cs", "randomization"), ("twfe", "clustered"),
        ("sunab", "clustered")]
    assert (rows["replication"] == 3).all() and (rows["seed"] == 2024).all()

    # the same panel and truth, rebuilt by hand from the replication seed's first word
    sim_seed = int(np.random.SeedSequence(2024).generate_state(2, np.uint64)[0])
    panel, truth = simulate_area_panel(seed=sim_seed)
    data = intervention_panel(panel, "cohort", start="2018-09", end="2021-08")
    cs = _cs(data, cluster="area")
    true_att = true_simple(truth, "cohort", Y, cs.table[["group", "time"]])
    assert true_att > 0.02  # the cohort approach raises outflow to work: the truth is a real effect
    np.testing.assert_allclose(rows["truth"], true_att, rtol=1e-12)
    overall = cs.aggregate("simple").overall
    analytic = rows.iloc[0]
    np.testing.assert_allclose([analytic["estimate"], analytic["se"], analytic["ci_lower"], analytic["ci_upper"]],
                               [overall.estimate, overall.se, overall.ci_lower, overall.ci_upper], rtol=1e-12)
    # bootstrap and permutations use the two words of SeedSequence(the replication's second word)
    estimator_seed = int(np.random.SeedSequence(2024).generate_state(2, np.uint64)[1])
    boot_seed, perm_seed = (int(s) for s in np.random.SeedSequence(estimator_seed).generate_state(2, np.uint64))
    wild = wild_bootstrap_test(cs.aggregate("simple"), n_boot=99, seed=boot_seed, multiplier="webb", studentize=True)
    assert rows.iloc[1]["p_value"] == pytest.approx(wild.p_value)
    ri = randomization_test(cs, n_perm=19, seed=perm_seed)
    assert rows.iloc[2]["p_value"] == pytest.approx(ri.p_value)
    for _, row in rows.iterrows():
        if row["inference"] == "randomization":
            assert pd.isna(row["covered"]) and np.isnan(row["ci_lower"])
            assert row["rejects_zero"] == (row["p_value"] <= 0.05)
        else:
            assert row["ci_lower"] < row["estimate"] < row["ci_upper"]
            assert row["covered"] == (row["ci_lower"] <= true_att <= row["ci_upper"])
            assert row["rejects_zero"] == (row["p_value"] <= 0.05)


def test_target_cells_are_the_post_cells_cs_aggregates(panel):
    data, _ = panel
    post = _cs(data).table.query("post")[["group", "time"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(target_cells(data), post.astype("int64"))


def test_target_cells_by_hand():
    # groups 3 (2 units), 5 (1 unit) and the last cohort 7, periods 1..9, no never-treated units:
    # cohort 7 is the control group and periods 7.. are dropped
    frame = pd.DataFrame({"area": np.repeat(list("abcd"), 9), "period": np.tile(np.arange(1, 10), 4),
                          "group": np.repeat([3, 3, 5, 7], 9)})
    cells = target_cells(frame)
    assert list(map(tuple, cells.to_numpy())) == [(3, 3), (3, 4), (3, 5), (3, 6), (5, 5), (5, 6)]
    # with a never-treated unit (first treated after the window) cohort 7 stays and all periods count
    cells = target_cells(frame.assign(group=np.repeat([3, 3, 7, 99], 9)))
    assert list(map(tuple, cells.to_numpy())) == [(3, t) for t in range(3, 10)] + [(7, 7), (7, 8), (7, 9)]


def test_wild_bootstrap_interval_inverts_the_test(panel):
    data, _ = panel
    fit = _cs(data, cluster="area")
    simple = fit.aggregate("simple")

    def p_at(null):
        return wild_bootstrap_test(simple, null=null, n_boot=99, seed=5, multiplier="webb", studentize=True).p_value

    att, se = simple.overall.estimate, simple.overall.se
    lower, upper = _invert_test(p_at, att, se, 0.05)
    assert lower < att < upper
    step = 1e-5 * se
    assert p_at(lower + step) > 0.05 >= p_at(lower - step)
    assert p_at(upper - step) > 0.05 >= p_at(upper + step)


def test_replication_seeds_extend_and_refuse_nonsense():
    assert replication_seeds(7, 5)[:3] == replication_seeds(7, 3)
    assert len(set(replication_seeds(7, 200))) == 200
    with pytest.raises(ValueError, match="n_reps must be at least 1"):
        replication_seeds(7, 0)


def test_unknown_estimator_is_refused_by_name():
    with pytest.raises(ValueError, match=r"unknown estimator\(s\) \['did_imputation'\]"):
        run_replication(1, design=Design(estimators=("cs", "did_imputation")))


def test_registered_estimator_plugs_in(monkeypatch):
    def naive_post_minus_pre(data, *, design, seed):
        treated = data["period"] >= data["group"]
        gap = data.loc[treated, design.outcome].mean() - data.loc[~treated, design.outcome].mean()
        return {"none": {"estimate": gap, "se": np.nan, "ci_lower": np.nan, "ci_upper": np.nan}}

    monkeypatch.setitem(ESTIMATORS, "naive", ESTIMATORS.get("naive"))  # restored after the test
    register_estimator("naive")(naive_post_minus_pre)
    rows = run_replication(5, design=Design(estimators=("naive",)))
    data, _ = simulate_design(int(np.random.SeedSequence(5).generate_state(2, np.uint64)[0]), Design())
    treated = data["period"] >= data["group"]
    assert rows["estimate"].iloc[0] == pytest.approx(data.loc[treated, Y].mean() - data.loc[~treated, Y].mean())
    assert pd.isna(rows["covered"].iloc[0])
    assert pd.isna(rows["rejects_zero"].iloc[0])  # no interval and no p-value: no test


@pytest.mark.slow
def test_study_is_deterministic_and_the_same_on_one_or_two_joblib_workers():
    one = simulation_study(4, seed=99, design=QUICK, n_jobs=1, progress=False)
    two = simulation_study(4, seed=99, design=QUICK, n_jobs=2, progress=False)
    again = simulation_study(4, seed=99, design=QUICK, n_jobs=1, progress=False)
    assert len(one) == 4 * 4 and one["replication"].tolist() == sorted(one["replication"])
    pd.testing.assert_frame_equal(one.drop(columns="seconds"), two.drop(columns="seconds"))
    pd.testing.assert_frame_equal(one.drop(columns="seconds"), again.drop(columns="seconds"))
    assert one["estimate"].nunique() > 4  # different replications draw different panels


@pytest.mark.slow
def test_local_dask_cluster_gives_the_joblib_results():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_dask = simulation_study(3, seed=5, design=QUICK, scheduler_address=cluster.scheduler_address,
                                   progress=False)
    on_joblib = simulation_study(3, seed=5, design=QUICK, n_jobs=1, progress=False)
    pd.testing.assert_frame_equal(on_dask.drop(columns="seconds"), on_joblib.drop(columns="seconds"))


@pytest.fixture()
def hand_made():
    # two replications of one estimator under an effect of 2 and two under a placebo; RI-like rows without CI
    return pd.DataFrame({
        "design": ["effect"] * 4 + ["placebo"] * 2,
        "estimator": ["a", "a", "a", "b", "a", "a"],
        "inference": ["x", "x", "x", "ri", "x", "x"],
        "estimate": [1.0, 2.5, 3.0, 2.0, 0.5, -0.1],
        "truth": [2.0, 2.0, 2.0, 2.0, 0.0, 0.0],
        "se": [1.0, 1.0, 0.5, np.nan, 0.2, 0.2],
        "covered": pd.array([True, True, False, pd.NA, False, True], dtype="boolean"),
        "rejects_zero": [False, True, True, True, True, False],
    })


def test_summarise_by_hand(hand_made):
    summary = summarise(hand_made)
    assert summary[["design", "estimator", "inference"]].values.tolist() == [
        ["effect", "a", "x"], ["effect", "b", "ri"], ["placebo", "a", "x"]]
    a = summary.iloc[0]
    # errors -1, 0.5, 1: bias 1/6, rmse sqrt((1 + 0.25 + 1) / 3), coverage 2/3, rejection 2/3
    assert a["bias"] == pytest.approx(1 / 6)
    assert a["bias_pct"] == pytest.approx(100 * (1 / 6) / 2)
    assert a["bias_mcse"] == pytest.approx(np.std([-1, 0.5, 1], ddof=1) / np.sqrt(3))
    assert a["rmse"] == pytest.approx(np.sqrt(2.25 / 3))
    assert a["mean_estimate"] == pytest.approx(6.5 / 3)
    assert a["sd_estimate"] == pytest.approx(np.std([1, 2.5, 3], ddof=1))
    assert a["mean_se"] == pytest.approx(2.5 / 3)
    assert a["coverage"] == pytest.approx(2 / 3)
    assert a["coverage_mcse"] == pytest.approx(np.sqrt(2 / 9 / 3))
    assert a["rejection_rate"] == pytest.approx(2 / 3)
    assert a["n_reps"] == 3
    b = summary.iloc[1]
    assert np.isnan(b["coverage"]) and b["rejection_rate"] == 1.0 and b["n_reps"] == 1
    placebo = summary.iloc[2]
    assert np.isnan(placebo["bias_pct"])  # no percentage of a zero effect
    assert placebo["bias"] == pytest.approx(0.2) and placebo["rejection_rate"] == 0.5


def test_summary_table_puts_placebo_size_beside_coverage(hand_made):
    table = summary_table(summarise(hand_made))
    assert list(table.columns) == ["Estimator", "Inference", "True ATT", "Mean estimate", "Bias %", "RMSE", "Mean SE",
                                   "SD of estimates", "Coverage %", "Power %", "Size % (placebo)", "Replications"]
    assert table["Coverage %"].iloc[0] == pytest.approx(200 / 3)
    assert table["Size % (placebo)"].iloc[0] == pytest.approx(50.0)
    assert np.isnan(table["Size % (placebo)"].iloc[1])  # estimator b has no placebo run
    with pytest.raises(ValueError, match="no rows with design == 'main'"):
        summary_table(summarise(hand_made), effect="main")


def test_summarise_names_missing_columns(hand_made):
    with pytest.raises(ValueError, match=r"missing column\(s\) \['covered'\]"):
        summarise(hand_made.drop(columns="covered"))
