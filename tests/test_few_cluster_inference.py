"""Bootstrap and few-cluster inference: agreement with R in distribution, and size with 22 areas.

The size study simulates the Amsterdam roll-out (22 areas, cohorts of one to three areas, every area eventually
treated) with no effect (``Effects.none()``) from the register's area-level data-generating process.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from bijstand.data.synthetic import Effects, simulate_area_panel
from bijstand.did import att_gt, randomization_test, wild_bootstrap_test
from bijstand.did.callaway_santanna import multiplier_weights
from bijstand.did.compare import intervention_panel

FIXTURES = Path(__file__).parent / "fixtures" / "r_did_mpdta"


@pytest.fixture(scope="module")
def mpdta():
    moderndid = pytest.importorskip("moderndid")
    data = moderndid.load_mpdta()
    return data.to_pandas() if hasattr(data, "to_pandas") else pd.DataFrame(data)


@pytest.mark.parametrize("kind", ["mammen", "rademacher", "webb"])
def test_multiplier_weights_have_mean_zero_and_unit_variance(kind):
    v = multiplier_weights(kind, (200_000, 1), np.random.default_rng(3))
    assert abs(v.mean()) < 0.01
    assert v.var() == pytest.approx(1.0, abs=0.01)
    if kind == "webb":
        assert np.unique(v).size == 6
    with pytest.raises(ValueError, match="boot_weights must be"):
        multiplier_weights("gaussian", (2, 2), np.random.default_rng(0))


@pytest.mark.reference
def test_bootstrap_agrees_with_r_in_distribution(mpdta):
    """R's bootstrap used set.seed(9152024); draws differ, so SEs agree only up to Monte Carlo error."""
    result = att_gt(mpdta, y="lemp", unit="countyreal", time="year", group="first.treat", n_boot=1000, seed=11)
    ref = pd.read_csv(FIXTURES / "mpdta_never_unc_dr_boot_attgt.csv")
    np.testing.assert_allclose(result.table["att"], ref["att"], atol=1e-10)
    ratio = result.table["se"].to_numpy() / ref["se"].to_numpy()
    assert np.all(np.abs(ratio - 1) < 0.15), ratio
    # sup-t critical value for 12 estimates: R got 2.73; between the pointwise 1.96 and Bonferroni 2.87
    assert 2.4 < result.crit_val < 3.1
    assert {"ucb_lower", "ucb_upper"} <= set(result.table.columns)
    dynamic = result.aggregate("dynamic")
    ref_dyn = pd.read_csv(FIXTURES / "mpdta_never_unc_dr_boot_dynamic.csv")
    overall = ref_dyn[ref_dyn["row"] == "overall"].iloc[0]
    assert dynamic.overall["se"] == pytest.approx(overall["se"], rel=0.15)
    assert 2.2 < dynamic.table.attrs["crit_val"] < 3.0  # R: 2.60


def test_bootstrap_is_deterministic_given_the_seed(mpdta):
    a = att_gt(mpdta, y="lemp", unit="countyreal", time="year", group="first.treat", n_boot=200, seed=5)
    b = att_gt(mpdta, y="lemp", unit="countyreal", time="year", group="first.treat", n_boot=200, seed=5)
    pd.testing.assert_frame_equal(a.table, b.table)


def test_clustered_analytic_se_sums_influence_within_clusters(mpdta):
    """With one cluster per unit the clustered SE equals the unclustered one; coarser clusters change it."""
    data = mpdta.assign(state=mpdta["countyreal"] // 1000)
    plain = att_gt(data, y="lemp", unit="countyreal", time="year", group="first.treat")
    own = att_gt(data, y="lemp", unit="countyreal", time="year", group="first.treat", cluster="countyreal")
    np.testing.assert_allclose(plain.table["se"], own.table["se"], rtol=1e-12)
    by_state = att_gt(data, y="lemp", unit="countyreal", time="year", group="first.treat", cluster="state")
    scores = np.zeros((data["state"].nunique(), plain.influence.shape[1]))
    codes = pd.factorize(data.drop_duplicates("countyreal")["state"])[0]
    np.add.at(scores, codes, plain.influence)
    np.testing.assert_allclose(by_state.table["se"], np.sqrt((scores ** 2).sum(0)) / plain.n, rtol=1e-12)


def _cohort_panel(seed: int, effects: Effects | None = None) -> pd.DataFrame:
    panel, _ = simulate_area_panel(seed=seed, effects=effects)
    return intervention_panel(panel, "cohort", start="2018-09", end="2021-08")


def _first_cohort_effect(result) -> float:
    return float(result.aggregate("group").table["att"].iloc[0])


@pytest.mark.slow
def test_size_with_22_areas_naive_over_rejects_randomisation_does_not():
    """Effect of the earliest cohort (Bijlmer Oost: one area) under no effect, 60 simulated roll-outs.

    Measured (this test's seeds): analytic clustered SE rejects in most replications, because one treated area
    cannot estimate its own variance; randomisation inference over adoption dates holds its level.
    """
    naive, randomised = [], []
    for rep in range(60):
        data = _cohort_panel(5000 + rep, Effects.none())
        result = att_gt(data, y="outflow_work_rate", unit="area", time="period", group="group",
                        control_group="notyet")
        first = result.aggregate("group").table.iloc[0]
        naive.append(2 * norm.sf(abs(first["att"] / first["se"])) < 0.05)
        ri = randomization_test(data, y="outflow_work_rate", unit="area", time="period", group="group",
                                control_group="notyet", n_perm=39, seed=rep, statistic=_first_cohort_effect)
        randomised.append(ri["p_value"] <= 0.05)
    naive_rate, ri_rate = np.mean(naive), np.mean(randomised)
    print(f"rejection rate at 5%, no effect, 60 replications: analytic {naive_rate:.2f}, "
          f"randomisation inference {ri_rate:.2f}")
    assert naive_rate > 0.30
    assert ri_rate <= 0.15  # 5% +- 3.6 binomial SDs of 60 draws
    assert naive_rate > ri_rate + 0.2


@pytest.mark.slow
def test_simple_att_size_and_known_truth():
    """The simple ATT averages many cells: analytic and wild-bootstrap tests hold their level near 5% with
    22 areas (measured, 100 replications), and with the default effects CS recovers the expected truth."""
    analytic, wild = [], []
    for rep in range(100):
        data = _cohort_panel(7000 + rep, Effects.none())
        result = att_gt(data, y="outflow_work_rate", unit="area", time="period", group="group",
                        control_group="notyet")
        simple = result.aggregate("simple")
        analytic.append(2 * norm.sf(abs(simple.overall["att"] / simple.overall["se"])) < 0.05)
        wild.append(wild_bootstrap_test(result, simple, weights="webb", n_boot=399, seed=rep)["p_value"] < 0.05)
    print(f"simple ATT, rejection at 5%: analytic {np.mean(analytic):.2f}, wild Webb {np.mean(wild):.2f}")
    assert np.mean(analytic) < 0.13
    assert np.mean(wild) < 0.13

    from bijstand.did.compare import true_simple

    estimates, truths, ses = [], [], []
    for rep in range(40):
        panel, truth = simulate_area_panel(seed=9000 + rep)
        data = intervention_panel(panel, "cohort", start="2018-09", end="2021-08")
        result = att_gt(data, y="outflow_work_rate", unit="area", time="period", group="group",
                        control_group="notyet")
        simple = result.aggregate("simple")
        estimates.append(simple.overall["att"])
        ses.append(simple.overall["se"])
        truths.append(true_simple(truth, "cohort", "outflow_work_rate", result.table))
    bias = np.mean(np.array(estimates) - np.array(truths))
    assert abs(bias) < 3 * np.std(estimates) / np.sqrt(40)


def test_randomization_test_finds_a_large_effect():
    data = _cohort_panel(42)
    treated = (data["group"] > 0) & (data["period"] >= data["group"])
    data = data.assign(outflow_work_rate=data["outflow_work_rate"] + 2.0 * treated)
    out = randomization_test(data, y="outflow_work_rate", unit="area", time="period", group="group",
                             control_group="notyet", n_perm=49, seed=1)
    assert out["p_value"] == pytest.approx(1 / 50)
    assert out["n_distinct"] > 10**9
    result = att_gt(data, y="outflow_work_rate", unit="area", time="period", group="group", control_group="notyet")
    simple = result.aggregate("simple")
    assert wild_bootstrap_test(result, simple, n_boot=199, seed=1)["p_value"] < 0.01
