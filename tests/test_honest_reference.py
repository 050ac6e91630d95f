"""HonestDiD sensitivity against R HonestDiD 0.2.6 on the mpdta Callaway–Sant'Anna event study.

Two targets: the effect on impact, e = 0 (``tests/fixtures/r_did_mpdta/honestdid_mpdta_*``), and the average over
the post-treatment event times e = 0..3, ``l_vec = rep(1/4, 4)`` (``tests/fixtures/r_didimputation_mpdta/
honestdid_avg_*``, README section 3). Tolerances, derived from how R computes its numbers, not from our output:

- Original interval: closed form (normal), so 1e-10.
- Relative magnitudes (C-LF): R inverts a test on a grid over [-20 sd, 20 sd] (sd of the target); its bounds are
  grid points. Both implementations take the least-favourable critical value as the 99.5% quantile of 1000
  simulated draws (R's and numpy's random numbers differ), so a bound near the acceptance threshold can move by
  whole grid points. Measured by re-running the average (never) with simulation seeds 0..5
  (``create_sensitivity_results_rm(..., seed=s)``): the bounds move by up to 1 step on the 100-point grid and
  2 steps on the 1000-point grid, and with the pinned seed 0 they are at most 1 (100 points) and 2 (1000 points)
  steps from R's. So: within one grid step on R's README grid (100 points, what ``honest_did`` passes, our
  default), within two steps on R's function default (1000 points; 2 x 0.0008 for the average).
- Smoothness (FLCI): not gridded in the bounds. R takes the folded-normal critical value from 10^6 simulated
  draws (seed 0) and bisects numerical derivatives of that simulated function over h; moderndid uses the
  exact quantile. For e = 0, re-running R's algorithm with 8 other simulation seeds moved the `notyet` bounds at
  M = 0.0071 by up to 4.3% of the CI half-length (0.2% at the next M), so we allow 5% of R's half-length. For
  the average the measured differences are at most 0.12% (never) and 0.13% (notyet) of R's half-length (9e-5 in
  absolute terms). Replacing moderndid's exact quantile by R's simulated one (10^6 draws, numpy seeds 1..8) gives
  bounds up to 0.28% (never) and 0.29% (notyet) of the half-length away from R's, and 0.21% apart from each other:
  that is R's own simulation error. We allow 0.5% (``HONEST_AVG_FLCI_RTOL``). The M grid itself is deterministic
  and must match to 1e-10.
- Breakdown value (continuous search): it must lie between the last Mbar (M) of R's grid whose robust set excludes
  0 and the first whose set includes it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bijstand.did.honest import (
    BREAKDOWN_MAX_MBAR, breakdown_value, honest_from_event_study, honest_sensitivity, target_vector,
)

FIXTURES = Path(__file__).parent / "fixtures" / "r_did_mpdta"
AVERAGE = Path(__file__).parent / "fixtures" / "r_didimputation_mpdta"
CONTROLS = ["never", "notyet"]
#: FLCI bounds for the average: 0.5% of R's half-length; R's simulated folded-normal quantile (10^6 draws) alone
#: puts bounds up to 0.29% of the half-length away from R's across simulation seeds (measured, module docstring).
HONEST_AVG_FLCI_RTOL = 0.005
#: Relative-magnitude bounds for the average, in grid steps, per number of grid points (module docstring).
RM_STEPS = {100: 1, 1000: 2}


def _inputs(control: str) -> tuple[pd.DataFrame, np.ndarray]:
    event_study = pd.read_csv(FIXTURES / f"honestdid_mpdta_{control}_eventstudy_universal.csv")
    vcov = pd.read_csv(FIXTURES / f"honestdid_mpdta_{control}_V.csv").to_numpy()
    return event_study, vcov


def _reference(control: str, part: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / f"honestdid_mpdta_{control}_{part}_e0.csv")


def _average_inputs(control: str) -> tuple[np.ndarray, np.ndarray]:
    betahat = pd.read_csv(AVERAGE / f"honestdid_avg_{control}_betahat.csv")
    sigma = pd.read_csv(AVERAGE / f"honestdid_avg_{control}_sigma.csv")
    assert betahat["event_time"].tolist() == sigma["event_time"].tolist() == [-4, -3, -2, 0, 1, 2, 3]
    return betahat["betahat"].to_numpy(), sigma.drop(columns="event_time").to_numpy()


def _average_reference(control: str, part: str) -> pd.DataFrame:
    return pd.read_csv(AVERAGE / f"honestdid_avg_{control}_{part}.csv")


# ---------------------------------------------------------------------------------------------------------------
# e = 0 (R's default target)
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.reference
@pytest.mark.slow
@pytest.mark.parametrize("control", CONTROLS)
def test_relative_magnitudes_hit_rs_grid_points(control):
    event_study, vcov = _inputs(control)
    reference = _reference(control, "relmag")
    result = honest_from_event_study(event_study, vcov=vcov, estimate="att", method="relative_magnitude",
                                     mbar=reference["Mbar"].to_numpy())
    step = 40 * np.sqrt(vcov[3, 3]) / 99  # R's grid: 100 points on [-20 sd, 20 sd], sd of the e = 0 effect
    assert result.grid_step == pytest.approx(step, rel=1e-12)
    np.testing.assert_allclose(result.robust["mbar"], reference["Mbar"])
    np.testing.assert_allclose(result.robust["ci_lower"], reference["lb"], rtol=0, atol=step / 2)
    np.testing.assert_allclose(result.robust["ci_upper"], reference["ub"], rtol=0, atol=step / 2)
    assert (result.robust["method"] == "C-LF").all()


@pytest.mark.reference
@pytest.mark.slow
@pytest.mark.parametrize("control", CONTROLS)
def test_smoothness_flci_within_rs_monte_carlo_error(control):
    event_study, vcov = _inputs(control)
    reference = _reference(control, "smoothness")
    betahat = event_study.loc[event_study["event_time"] != -1, "att"].to_numpy()
    result = honest_sensitivity(betahat, vcov, num_pre=3, num_post=4, method="smoothness")
    np.testing.assert_allclose(result.robust["m"], reference["M"], rtol=1e-10, atol=1e-14)
    half_length = (reference["ub"] - reference["lb"]).to_numpy() / 2
    np.testing.assert_array_less(np.abs(result.robust["ci_lower"] - reference["lb"]).to_numpy(), 0.05 * half_length)
    np.testing.assert_array_less(np.abs(result.robust["ci_upper"] - reference["ub"]).to_numpy(), 0.05 * half_length)
    assert np.isnan(result.grid_step)


@pytest.mark.reference
@pytest.mark.parametrize("control", CONTROLS)
def test_original_ci_matches_r(control):
    # A closed-form normal interval: no grid, no simulation.
    event_study, vcov = _inputs(control)
    reference = _reference(control, "original")
    betahat = event_study.loc[event_study["event_time"] != -1, "att"].to_numpy()
    result = honest_sensitivity(betahat, vcov, num_pre=3, num_post=4, mbar=[1.0])
    np.testing.assert_allclose([result.overall.ci_lower, result.overall.ci_upper],
                               reference[["lb", "ub"]].to_numpy()[0], rtol=1e-10)
    assert list(result.table["method"]) == ["Original", "C-LF"]
    assert list(result.table.columns) == ["method", "delta", "mbar", "ci_lower", "ci_upper", "at_grid_edge"]
    assert not result.table["at_grid_edge"].any()


@pytest.mark.slow
def test_sets_reaching_the_end_of_rs_grid_are_flagged():
    """With a large Mbar the C-LF set fills R's grid (+-20 sd): its bounds are the grid's ends, not the set's."""
    event_study, vcov = _inputs("never")
    betahat = event_study.loc[event_study["event_time"] != -1, "att"].to_numpy()
    result = honest_sensitivity(betahat, vcov, num_pre=3, num_post=4, mbar=[0.5, 20.0])
    edge = 20 * np.sqrt(vcov[3, 3])
    assert result.robust["at_grid_edge"].tolist() == [False, True]
    np.testing.assert_allclose(result.robust.loc[1, ["ci_lower", "ci_upper"]].to_numpy(float), [-edge, edge],
                               rtol=1e-12)


# ---------------------------------------------------------------------------------------------------------------
# the average over e = 0..3 (what a paper interprets)
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.reference
@pytest.mark.parametrize("control", CONTROLS)
def test_average_original_ci_matches_r_exactly(control):
    betahat, sigma = _average_inputs(control)
    reference = _average_reference(control, "original")
    weights = target_vector("average", 4)
    np.testing.assert_array_equal(weights, np.full(4, 0.25))
    # the cheapest robust set to compute alongside (one FLCI): the original interval does not depend on it
    result = honest_sensitivity(betahat, sigma, num_pre=3, num_post=4, l_vec="average", method="smoothness",
                                m_grid=[0.0])
    np.testing.assert_allclose([result.overall.ci_lower, result.overall.ci_upper],
                               reference[["lb", "ub"]].to_numpy()[0], rtol=0, atol=1e-10)
    assert result.overall.estimate == pytest.approx(betahat[3:].mean(), abs=1e-15)


@pytest.mark.reference
@pytest.mark.slow
# 1000 grid points cost ~40 s per control group; `notyet` at 1000 points was measured (bounds within 1 step of
# R's) but is left out of the suite to keep it short
@pytest.mark.parametrize(("control", "grid_points"), [("never", 100), ("notyet", 100), ("never", 1000)])
def test_average_relative_magnitudes_within_rs_grid_steps(control, grid_points):
    betahat, sigma = _average_inputs(control)
    reference = _average_reference(control, "relmag" if grid_points == 1000 else "relmag_grid100")
    result = honest_sensitivity(betahat, sigma, num_pre=3, num_post=4, l_vec="average",
                                mbar=reference["Mbar"].to_numpy(), grid_points=grid_points)
    sd_theta = np.sqrt(np.full(4, 0.25) @ sigma[3:, 3:] @ np.full(4, 0.25))
    step = 40 * sd_theta / (grid_points - 1)
    assert result.grid_step == pytest.approx(step, rel=1e-12)
    tolerance = RM_STEPS[grid_points] * step * (1 + 1e-9)
    np.testing.assert_allclose(result.robust["mbar"], reference["Mbar"])
    np.testing.assert_allclose(result.robust["ci_lower"], reference["lb"], rtol=0, atol=tolerance)
    np.testing.assert_allclose(result.robust["ci_upper"], reference["ub"], rtol=0, atol=tolerance)


@pytest.mark.reference
@pytest.mark.slow
@pytest.mark.parametrize("control", CONTROLS)
def test_average_smoothness_flci_within_rs_monte_carlo_error(control):
    betahat, sigma = _average_inputs(control)
    reference = _average_reference(control, "smoothness")
    result = honest_sensitivity(betahat, sigma, num_pre=3, num_post=4, l_vec="average", method="smoothness")
    np.testing.assert_allclose(result.robust["m"], reference["M"], rtol=1e-10, atol=1e-14)
    half_length = (reference["ub"] - reference["lb"]).to_numpy() / 2
    tolerance = HONEST_AVG_FLCI_RTOL * half_length
    np.testing.assert_array_less(np.abs(result.robust["ci_lower"] - reference["lb"]).to_numpy(), tolerance)
    np.testing.assert_array_less(np.abs(result.robust["ci_upper"] - reference["ub"]).to_numpy(), tolerance)


# ---------------------------------------------------------------------------------------------------------------
# breakdown values
# ---------------------------------------------------------------------------------------------------------------

def _r_bracket(reference: pd.DataFrame, parameter: str) -> tuple[float, float]:
    """Last value of R's grid whose robust set excludes 0 and the first whose set includes it."""
    includes = ((reference["lb"] <= 0) & (reference["ub"] >= 0)).to_numpy()
    first = int(np.argmax(includes))
    assert includes[first] and not includes[:first].any() and first > 0
    return float(reference[parameter].iloc[first - 1]), float(reference[parameter].iloc[first])


@pytest.mark.reference
@pytest.mark.slow
def test_relative_magnitude_breakdown_lies_in_rs_bracket():
    # `notyet` gives the same bracket (0, 0.5] and a breakdown of 0.4768 (never: 0.4884) at the default tolerance;
    # one control group keeps the suite short (each step is a C-LF test, ~3 s)
    betahat, sigma = _average_inputs("never")
    low, high = _r_bracket(_average_reference("never", "relmag"), "Mbar")   # the finer (1000-point) grid
    assert (low, high) == (0.0, 0.5)
    breakdown = breakdown_value(betahat, sigma, num_pre=3, num_post=4, l_vec="average", search_max=2.0, tol=0.02)
    assert breakdown.status == "found" and breakdown.found and breakdown.parameter == "mbar"
    assert low < breakdown.value <= high
    assert breakdown.upper - breakdown.lower <= 0.02 and breakdown.value == breakdown.upper
    assert "breakdown M-bar = " in str(breakdown)


@pytest.mark.reference
@pytest.mark.slow
def test_smoothness_breakdown_lies_in_rs_bracket():
    betahat, sigma = _average_inputs("never")
    reference = _average_reference("never", "smoothness")
    low, high = _r_bracket(reference, "M")
    breakdown = breakdown_value(betahat, sigma, num_pre=3, num_post=4, l_vec="average", method="smoothness",
                                search_max=float(reference["M"].max()), tol=5e-4)
    assert breakdown.status == "found" and breakdown.parameter == "m"
    assert low < breakdown.value <= high
    # the definition: the FLCI at the breakdown value includes 0, just below it does not
    at = honest_sensitivity(betahat, sigma, num_pre=3, num_post=4, l_vec="average", method="smoothness",
                            m_grid=[breakdown.lower, breakdown.upper]).robust
    assert at.loc[0, "ci_upper"] < 0 <= at.loc[1, "ci_upper"]


@pytest.mark.reference
def test_breakdown_is_zero_with_a_flag_when_the_original_interval_includes_zero():
    # e = 0, never treated: R's original interval [-0.0431, 0.0032] includes 0
    event_study, vcov = _inputs("never")
    original = _reference("never", "original")
    assert original.loc[0, "lb"] < 0 < original.loc[0, "ub"]
    betahat = event_study.loc[event_study["event_time"] != -1, "att"].to_numpy()
    breakdown = breakdown_value(betahat, vcov, num_pre=3, num_post=4, l_vec="first")
    assert (breakdown.value, breakdown.status, breakdown.n_evaluations) == (0.0, "original_includes_zero", 0)
    assert not breakdown.found and "already includes 0" in str(breakdown)


@pytest.mark.slow
def test_breakdown_is_infinite_with_a_flag_when_the_search_does_not_reach_it():
    betahat, sigma = _average_inputs("never")
    breakdown = breakdown_value(betahat, sigma, num_pre=3, num_post=4, l_vec="average", search_max=0.1)
    assert breakdown.value == np.inf and breakdown.status == "not_reached" and not breakdown.found
    assert breakdown.search_max == 0.1 and breakdown.lower == 0.1
    assert BREAKDOWN_MAX_MBAR == 10.0


# ---------------------------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------------------------

def test_target_vector_options():
    np.testing.assert_array_equal(target_vector("first", 3), [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(target_vector(None, 3, e=2), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(target_vector([0.5, 0.5, 0.0], 3), [0.5, 0.5, 0.0])
    with pytest.raises(ValueError, match="l_vec must be one of"):
        target_vector("mean", 3)
    with pytest.raises(ValueError, match="l_vec has 2 entries but there are 3"):
        target_vector([0.5, 0.5], 3)
    with pytest.raises(ValueError, match="give either e= or l_vec="):
        target_vector("average", 3, e=1)


def test_event_study_results_feed_honest_directly(mpdta):
    """honest_from_event_study takes a dynamic aggregation (influence functions) as well as a table + vcov."""
    from bijstand.did import att_gt

    cs = att_gt(mpdta, y="lemp", unit="countyreal", time="year", group="first.treat", base_period="universal")
    dynamic = cs.aggregate("dynamic")
    event_study, vcov = _inputs("never")
    # the same event study and variance as R's (the fixture), so the same original interval
    np.testing.assert_allclose(dynamic.table["estimate"], event_study["att"], atol=1e-10)
    direct = honest_from_event_study(dynamic, l_vec="average", method="smoothness", m_grid=[0.0])
    from_fixture = honest_from_event_study(event_study, vcov=vcov, estimate="att", l_vec="average",
                                           method="smoothness", m_grid=[0.0])
    reference = _average_reference("never", "original")
    np.testing.assert_allclose([direct.overall.ci_lower, direct.overall.ci_upper],
                               reference[["lb", "ub"]].to_numpy()[0], atol=1e-10)
    np.testing.assert_allclose([from_fixture.overall.ci_lower, from_fixture.overall.ci_upper],
                               reference[["lb", "ub"]].to_numpy()[0], atol=1e-10)
    np.testing.assert_array_equal(direct.l_vec, np.full(4, 0.25))
    assert "Original (exact parallel trends):" in direct.summary() and direct.glance().loc[0, "num_post"] == 4
    with pytest.raises(ValueError, match="needs a dynamic aggregation"):
        honest_from_event_study(cs.aggregate("group"))


def test_influence_function_input_gives_the_same_vcov():
    event_study, vcov = _inputs("never")
    rng = np.random.default_rng(0)
    influence = rng.normal(size=(200, len(event_study)))
    influence[:, 3] = 0.0  # the reference period
    sigma = influence.T @ influence / 200**2
    via_influence = honest_from_event_study(event_study, influence=influence, estimate="att", mbar=[0.5])
    via_vcov = honest_from_event_study(event_study, vcov=sigma, estimate="att", mbar=[0.5])
    pd.testing.assert_frame_equal(via_influence.table, via_vcov.table)


def test_bad_inputs_raise():
    event_study, vcov = _inputs("never")
    betahat = event_study.loc[event_study["event_time"] != -1, "att"].to_numpy()
    with pytest.raises(ValueError, match="betahat has 7 entries but num_pre \\+ num_post = 6"):
        honest_sensitivity(betahat, vcov, num_pre=3, num_post=3)
    with pytest.raises(ValueError, match="e=4 must be between 0 and num_post - 1 = 3"):
        honest_sensitivity(betahat, vcov, num_pre=3, num_post=4, e=4)
    with pytest.raises(ValueError, match="sigma is not symmetric"):
        honest_sensitivity(betahat, vcov + np.triu(np.ones_like(vcov), 1) * 1e-3, num_pre=3, num_post=4)
    with pytest.raises(ValueError, match="method must be one of"):
        honest_sensitivity(betahat, vcov, num_pre=3, num_post=4, method="smooth")
    with pytest.raises(ValueError, match="the estimate at the reference event time -1 is not 0"):
        honest_from_event_study(event_study.assign(att=event_study["att"] + 0.1), vcov=vcov, estimate="att")
    with pytest.raises(ValueError, match="column 'estimate' is not in the event-study table"):
        honest_from_event_study(event_study, vcov=vcov)
    with pytest.raises(ValueError, match="give exactly one of vcov= and influence="):
        honest_from_event_study(event_study, estimate="att")
