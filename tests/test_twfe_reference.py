"""Static and dynamic TWFE: fixest reference on mpdta, known truth on simulated panels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyfixest  # in requirements.lock but not declared in pyproject.toml: see the helper's report
import pytest
from scipy import stats

from bijstand.did.twfe import event_study_twfe, twfe_static

FIXTURES = Path(__file__).parent / "fixtures" / "r_did_mpdta"
MPDTA = dict(y="lemp", unit="countyreal", time="year", group="first.treat")



@pytest.fixture(scope="module")
def fixest_static() -> pd.Series:
    table = pd.read_csv(FIXTURES / "fixest_mpdta_static.csv").set_index("model")
    return table.loc["twfe_post_treat"]


@pytest.mark.reference
def test_static_matches_fixest_default_ssc(mpdta, fixest_static):
    # The CSV carries 15 significant digits, so 1e-10 relative is well inside its precision.
    result = twfe_static(mpdta, **MPDTA)
    np.testing.assert_allclose(result.overall.estimate, fixest_static["estimate"], rtol=1e-10)
    np.testing.assert_allclose(result.overall.se, fixest_static["se"], rtol=1e-10)
    assert (result.n_obs, result.n_clusters, result.overall.dof) == (2500, 500, 499)
    # fixest's t(G - 1) p-value and interval
    t_stat = fixest_static["estimate"] / fixest_static["se"]
    np.testing.assert_allclose(result.overall.p_value, 2 * stats.t.sf(abs(t_stat), 499), rtol=1e-8)
    np.testing.assert_allclose(result.overall.ci_upper - result.overall.estimate,
                               stats.t.ppf(0.975, 499) * fixest_static["se"], rtol=1e-10)
    # fixest: K = 1 slope + 5 year levels (county effects nested in the county clusters).
    np.testing.assert_allclose(result.small_sample_factor, 500 / 499 * 2499 / (2500 - 6), rtol=1e-14)


@pytest.mark.reference
def test_linearmodels_convention_counts_absorbed_effects(mpdta, fixest_static):
    # Counting all 500 + 5 - 1 absorbed effects (K = 505) rescales fixest's SE by sqrt((n-6)/(n-505)),
    # the 0.014832 quoted in the fixture README.
    result = twfe_static(mpdta, **MPDTA, convention="linearmodels")
    expected = fixest_static["se"] * np.sqrt((2500 - 6) / (2500 - 505))
    np.testing.assert_allclose(result.overall.se, expected, rtol=1e-10)
    assert round(result.overall.se, 6) == 0.014832
    np.testing.assert_allclose(result.overall.estimate, fixest_static["estimate"], rtol=1e-10)


@pytest.mark.reference
def test_clustering_explicitly_by_unit_equals_default(mpdta, fixest_static):
    result = twfe_static(mpdta, **MPDTA, cluster="countyreal")
    np.testing.assert_allclose(result.overall.se, fixest_static["se"], rtol=1e-10)


def test_constant_weights_do_not_change_the_fit(mpdta):
    weighted = twfe_static(mpdta.assign(w=3.0), **MPDTA, weights="w")
    plain = twfe_static(mpdta, **MPDTA)
    np.testing.assert_allclose([weighted.overall.estimate, weighted.overall.se],
                               [plain.overall.estimate, plain.overall.se], rtol=1e-10)


def test_critical_normal_and_the_result_vocabulary(mpdta):
    student = twfe_static(mpdta, **MPDTA)
    normal = twfe_static(mpdta, **MPDTA, critical="normal")
    assert normal.overall.dof is None and normal.overall.se == student.overall.se
    assert normal.overall.crit_value == pytest.approx(stats.norm.ppf(0.975), rel=1e-12)
    assert normal.overall.p_value < student.overall.p_value
    assert list(student.table.columns) == ["term", "estimate", "se", "statistic", "p_value", "ci_lower", "ci_upper"]
    text = str(student)
    assert "Critical value: 1.965 from t(499), 95% intervals" in text and "Clusters:       500" in text
    assert text.splitlines()[-3].split()[-1] == "**"   # p = 0.006: R's code
    assert student.glance().loc[0, "n_obs"] == 2500
    with pytest.raises(ValueError, match="critical must be one of"):
        twfe_static(mpdta, **MPDTA, critical="z")


@pytest.mark.reference
def test_event_study_matches_pyfixest_oracle(mpdta):
    result = event_study_twfe(mpdta, **MPDTA)
    # never-treated units sit in the reference category (-1), i.e. get no relative-time dummy
    data = mpdta.assign(rel=np.where(mpdta["first.treat"] > 0, mpdta["year"] - mpdta["first.treat"], -1))
    fit = pyfixest.feols("lemp ~ i(rel, ref=-1) | countyreal + year", data=data, vcov={"CRV1": "countyreal"})
    oracle = fit.tidy()
    estimated = result.table.dropna(subset=["se"]).reset_index(drop=True)
    np.testing.assert_allclose(estimated["estimate"], oracle["Estimate"].to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(estimated["se"], oracle["Std. Error"].to_numpy(), rtol=1e-8)


def _simulated_panel(seed: int, *, effect, staggered: bool, noise: float) -> pd.DataFrame:
    """30 units x 12 periods; 20 treated; unit and time effects; effect(e) for e >= 0, 0 before."""
    rng = np.random.default_rng(seed)
    units = np.arange(30)
    first_treat = np.where(units < 20, np.where(staggered & (units % 2 == 1), 8, 6), 0)
    unit_effect = rng.normal(0, 2, units.size)
    time_effect = rng.normal(0, 1, 12)
    rows = []
    for unit, group in zip(units, first_treat):
        for period in range(1, 13):
            tau = effect(period - group) if group > 0 and period >= group else 0.0
            y = unit_effect[unit] + time_effect[period - 1] + tau + noise * rng.normal()
            rows.append((unit, period, group, y))
    return pd.DataFrame(rows, columns=["unit", "period", "g", "y"])


@pytest.mark.parametrize("effect", [lambda e: 1.5, lambda e: 1.0 + 0.5 * e], ids=["constant", "dynamic"])
def test_event_study_recovers_noise_free_effects_exactly(effect):
    panel = _simulated_panel(1, effect=effect, staggered=False, noise=0.0)
    result = event_study_twfe(panel, y="y", unit="unit", time="period", group="g")
    table = result.table.set_index("event_time")
    truth = np.array([effect(e) if e >= 0 else 0.0 for e in table.index])
    np.testing.assert_allclose(table["estimate"].to_numpy(), truth, atol=1e-10)
    assert list(result.vcov.index) == [e for e in table.index if e != -1]


def test_event_study_with_noise_is_near_truth_and_binned():
    effect = lambda e: 1.0 + 0.5 * e  # noqa: E731
    panel = _simulated_panel(7, effect=effect, staggered=False, noise=0.5)
    result = event_study_twfe(panel, y="y", unit="unit", time="period", group="g", leads=3, lags=4)
    table = result.table.set_index("event_time")
    assert list(table.index) == [-3, -2, -1, 0, 1, 2, 3, 4]
    inner = table.loc[[-3, -2, 0, 1, 2, 3]]
    truth = np.array([0, 0, 1.0, 1.5, 2.0, 2.5])
    assert np.all(np.abs(inner["estimate"].to_numpy() - truth) < 4 * inner["se"].to_numpy())
    # The lag endpoint pools e = 4, 5, 6 (every treated unit has each once): truth is their mean effect.
    assert abs(table.loc[4, "estimate"] - np.mean([effect(4), effect(5), effect(6)])) < 4 * table.loc[4, "se"]


def test_event_study_unbinned_drops_outside_window():
    panel = _simulated_panel(3, effect=lambda e: 2.0, staggered=False, noise=0.0)
    result = event_study_twfe(panel, y="y", unit="unit", time="period", group="g", leads=2, lags=2,
                              bin_endpoints=False)
    # treated units keep e in [-2, 2] (5 of 12 periods), never-treated keep all 12 periods
    assert result.n_obs == 20 * 5 + 10 * 12
    np.testing.assert_allclose(result.table.set_index("event_time").loc[[0, 1, 2], "estimate"], 2.0, atol=1e-10)


def test_static_twfe_on_homogeneous_constant_effect_is_unbiased():
    panel = _simulated_panel(11, effect=lambda e: 1.5, staggered=True, noise=0.0)
    fit = twfe_static(panel, y="y", unit="unit", time="period", group="g")
    assert fit.overall.estimate == pytest.approx(1.5, abs=1e-10)


def test_errors_name_the_column():
    panel = _simulated_panel(0, effect=lambda e: 1.0, staggered=False, noise=0.0)
    with pytest.raises(ValueError, match="column 'outcome'"):
        twfe_static(panel, y="outcome", unit="unit", time="period", group="g")
    with pytest.raises(ValueError, match="column 'g' varies within 'unit'"):
        twfe_static(panel.assign(g=np.where(panel["period"] == 3, 5, panel["g"])), y="y", unit="unit",
                    time="period", group="g")
    with pytest.raises(ValueError, match="do not identify rows uniquely"):
        twfe_static(pd.concat([panel, panel.head(1)]), y="y", unit="unit", time="period", group="g")
    with pytest.raises(ValueError, match="reference=-5 is outside the event window"):
        event_study_twfe(panel, y="y", unit="unit", time="period", group="g", leads=2, reference=-5)
    with pytest.raises(ValueError, match="convention must be one of"):
        twfe_static(panel, y="y", unit="unit", time="period", group="g", convention="stata")


def test_collinear_event_study_without_never_treated_raises():
    panel = _simulated_panel(0, effect=lambda e: 1.0, staggered=True, noise=1.0)
    panel = panel.loc[panel["g"] > 0]
    with pytest.raises(ValueError, match="collinear with the unit and time effects"):
        event_study_twfe(panel, y="y", unit="unit", time="period", group="g")
