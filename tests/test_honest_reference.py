"""HonestDiD sensitivity against R HonestDiD 0.2.6 on the mpdta Callaway–Sant'Anna event study.

Tolerances (both derived from how R computes its numbers, not from our output):

- Relative magnitudes (C-LF): R inverts a test on a grid of 100 points over [-20 sd, 20 sd], sd the standard
  error of the target; its bounds are grid points, so the resolution is one grid step (0.0048 for `never`,
  0.0049 for `notyet`). We pin R's grid, so the bounds must be the *same* grid points: we require
  |difference| < half a step (any disagreement would be a whole number of steps).
- Smoothness (FLCI): not gridded in the bounds. R takes the folded-normal critical value from 10^6 simulated
  draws (seed 0) and bisects numerical derivatives of that simulated function over h; moderndid uses the
  exact quantile. Re-running R's algorithm with 8 other simulation seeds moved the `notyet` bounds at
  M = 0.0071 by up to 4.3% of the CI half-length (0.2% at the next M), so we allow 5% of R's half-length.
  The M grid itself is deterministic and must match to 1e-10.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("cvxpy", reason="honest.py needs moderndid[didhonest] (cvxpy, highspy)")
pytest.importorskip("highspy", reason="honest.py needs moderndid[didhonest] (cvxpy, highspy)")

from bijstand.did.honest import honest_from_event_study, honest_sensitivity  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "r_did_mpdta"
CONTROLS = ["never", "notyet"]


def _inputs(control: str) -> tuple[pd.DataFrame, np.ndarray]:
    event_study = pd.read_csv(FIXTURES / f"honestdid_mpdta_{control}_eventstudy_universal.csv")
    vcov = pd.read_csv(FIXTURES / f"honestdid_mpdta_{control}_V.csv").to_numpy()
    return event_study, vcov


def _reference(control: str, part: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / f"honestdid_mpdta_{control}_{part}_e0.csv")


@pytest.mark.reference
@pytest.mark.slow
@pytest.mark.parametrize("control", CONTROLS)
def test_relative_magnitudes_hit_rs_grid_points(control):
    event_study, vcov = _inputs(control)
    reference = _reference(control, "relmag")
    result = honest_from_event_study(event_study, vcov=vcov, method="relative_magnitude",
                                     mbar=reference["Mbar"].to_numpy())
    step = 40 * np.sqrt(vcov[3, 3]) / 99  # R's grid: 100 points on [-20 sd, 20 sd], sd of the e = 0 effect
    assert result.grid_step == pytest.approx(step, rel=1e-12)
    np.testing.assert_allclose(result.robust["Mbar"], reference["Mbar"])
    np.testing.assert_allclose(result.robust["lb"], reference["lb"], rtol=0, atol=step / 2)
    np.testing.assert_allclose(result.robust["ub"], reference["ub"], rtol=0, atol=step / 2)
    assert (result.robust["method"] == "C-LF").all()


@pytest.mark.reference
@pytest.mark.slow
@pytest.mark.parametrize("control", CONTROLS)
def test_smoothness_flci_within_rs_monte_carlo_error(control):
    event_study, vcov = _inputs(control)
    reference = _reference(control, "smoothness")
    betahat = event_study.loc[event_study["event_time"] != -1, "att"].to_numpy()
    result = honest_sensitivity(betahat, vcov, num_pre=3, num_post=4, method="smoothness")
    np.testing.assert_allclose(result.robust["M"], reference["M"], rtol=1e-10, atol=1e-14)
    half_length = (reference["ub"] - reference["lb"]).to_numpy() / 2
    np.testing.assert_array_less(np.abs(result.robust["lb"] - reference["lb"]).to_numpy(), 0.05 * half_length)
    np.testing.assert_array_less(np.abs(result.robust["ub"] - reference["ub"]).to_numpy(), 0.05 * half_length)
    assert np.isnan(result.grid_step)


@pytest.mark.reference
@pytest.mark.parametrize("control", CONTROLS)
def test_original_ci_matches_r(control):
    # A closed-form normal interval: no grid, no simulation.
    event_study, vcov = _inputs(control)
    reference = _reference(control, "original")
    betahat = event_study.loc[event_study["event_time"] != -1, "att"].to_numpy()
    result = honest_sensitivity(betahat, vcov, num_pre=3, num_post=4, mbar=[1.0])
    np.testing.assert_allclose(result.original[["lb", "ub"]].to_numpy()[0], reference[["lb", "ub"]].to_numpy()[0],
                               rtol=1e-10)
    assert list(result.table["method"]) == ["Original", "C-LF"]


def test_influence_function_input_gives_the_same_vcov():
    event_study, vcov = _inputs("never")
    rng = np.random.default_rng(0)
    influence = rng.normal(size=(200, len(event_study)))
    influence[:, 3] = 0.0  # the reference period
    sigma = influence.T @ influence / 200**2
    via_influence = honest_from_event_study(event_study, influence=influence, mbar=[0.5])
    via_vcov = honest_from_event_study(event_study, vcov=sigma, mbar=[0.5])
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
    with pytest.raises(ValueError, match="the estimate at the reference event time -1 is not 0"):
        honest_from_event_study(event_study.assign(att=event_study["att"] + 0.1), vcov=vcov)
    with pytest.raises(ValueError, match="column 'estimate' is not in the event-study table"):
        honest_from_event_study(event_study, vcov=vcov, estimate="estimate")
    with pytest.raises(ValueError, match="give exactly one of vcov= and influence="):
        honest_from_event_study(event_study)
