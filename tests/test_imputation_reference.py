"""Imputation estimator (:mod:`bijstand.did.imputation`): R ``didimputation`` 0.5.0 on mpdta, exact OLS, known truth.

Reference files: ``tests/fixtures/r_didimputation_mpdta/`` (README there). The BJS estimator as defined keeps every
county, so :func:`imputation` with its defaults is compared with the ``_fixefrm_none`` files (fixest told not to
drop anything), point estimates and SEs to 1e-7 (fixest's iterative first stage is ~5e-9 from exact OLS); the exact
OLS imputation computed in base R is matched to 1e-10.

The default files (fixest 0.13's ``fixef.rm = "perfect_fit"``) are also reproduced: fixest drops the untreated
observation of each 2004-cohort county (its only untreated year, a singleton county effect), so those counties'
treated observations cannot be imputed and ``did_imputation`` drops them. ``singletons="drop"`` (one pass over the
untreated observations, as fixest) with ``unidentified="drop"`` does the same, including the pre-trend regression on
the 2,189 remaining untreated observations, whose fixest SEs therefore differ slightly from the ``_fixefrm_none``
ones. Horizons 2 and 3, reached only by the dropped cohort, come back NaN in both.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bijstand.did.imputation import TwoWayLeastSquares, imputation

FIXTURES = Path(__file__).parent / "fixtures" / "r_didimputation_mpdta"
MPDTA = dict(y="lemp", unit="countyreal", time="year", group="first.treat")
LPOP_X_YEAR = [f"lpop_{year}" for year in (2004, 2005, 2006, 2007)]

#: file case -> keyword arguments of :func:`imputation` (README table, "Cases")
CASES = {
    "static": {},
    "horizon": dict(horizon=True),
    "horizon_0to3": dict(horizon=[0, 1, 2, 3]),
    "horizon_pretrends": dict(horizon=True, pretrends=True),
    "horizon_pretrends_m4m1": dict(horizon=True, pretrends=[-4, -3, -2, -1]),
    "horizon_pretrends_m3m1": dict(horizon=True, pretrends=[-3, -2, -1]),
    "static_fs_default": {},
    "horizon_fs_default": dict(horizon=True),
    "static_fs_lpop_x_year": dict(covariates=LPOP_X_YEAR),
    "horizon_fs_lpop_x_year": dict(horizon=True, covariates=LPOP_X_YEAR),
    "static_cluster_countyreal": dict(cluster="countyreal"),
    "horizon_cluster_countyreal": dict(horizon=True, cluster="countyreal"),
    "static_w_lpop": dict(weights="lpop"),
    "horizon_w_lpop": dict(horizon=True, weights="lpop"),
}


@pytest.fixture(scope="module")
def panel(mpdta) -> pd.DataFrame:
    """mpdta with R's ``i(year, lpop, ref = 2003)`` columns."""
    frame = mpdta.copy()
    for year in (2004, 2005, 2006, 2007):
        frame[f"lpop_{year}"] = frame["lpop"] * (frame["year"] == year)
    return frame


def _ours(result) -> pd.DataFrame:
    """Our estimates in the R file's layout: term -> estimate, std.error (pre-trends first)."""
    if "event_time" in result.table:
        rows = result.table.assign(term=result.table["event_time"].astype(str))
    else:
        rows = result.table.assign(term="treat")
    rows = rows[["term", "estimate", "se"]]
    if result.pretrends is not None:
        pre = result.pretrends.table.assign(term=result.pretrends.table["event_time"].astype(str))
        rows = pd.concat([pre[["term", "estimate", "se"]], rows])
    return rows.set_index("term")


def _reference(case: str) -> pd.DataFrame:
    table = pd.read_csv(FIXTURES / f"didimp_mpdta_{case}.csv", dtype={"term": str})
    return table.set_index("term")


@pytest.mark.reference
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_didimputation_without_fixest_drops(panel, case):
    reference = _reference(f"{case}_fixefrm_none")
    ours = _ours(imputation(panel, **MPDTA, **CASES[case]))
    assert list(ours.index) == list(reference.index)
    np.testing.assert_allclose(ours["estimate"], reference["estimate"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(ours["se"], reference["std.error"], rtol=0, atol=1e-7)


@pytest.mark.reference
@pytest.mark.parametrize("case", sorted(CASES))
def test_reproduces_didimputation_defaults_with_fixests_drops(panel, case):
    reference = _reference(case)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = imputation(panel, **MPDTA, **CASES[case], singletons="drop", unidentified="drop")
    messages = [str(w.message) for w in caught]
    assert any("dropped 20 untreated observations" in m for m in messages)
    assert any("dropped 80 of 291 treated observations" in m for m in messages)
    assert result.n_dropped_treated == 80
    ours = _ours(result)
    assert list(ours.index) == list(reference.index)
    # horizons 2 and 3 exist only in the dropped 2004 cohort: NaN in R and here
    np.testing.assert_array_equal(ours["estimate"].isna(), reference["estimate"].isna())
    np.testing.assert_allclose(ours["estimate"], reference["estimate"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(ours["se"], reference["std.error"], rtol=0, atol=1e-7)
    if result.pretrends is not None:
        assert result.pretrends.n_obs == 2209 - 20


@pytest.mark.reference
def test_exact_ols_imputation_check(panel):
    check = pd.read_csv(FIXTURES / "didimp_mpdta_exact_ols_imputation_check.csv", dtype={"term": str})
    full = check[check["sample"] == "all_treated_units"].set_index("term")
    static, dynamic = imputation(panel, **MPDTA), imputation(panel, **MPDTA, horizon=True)
    np.testing.assert_allclose(static.overall.estimate, full.loc["treat", "estimate"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(dynamic.table["estimate"], full.loc[["0", "1", "2", "3"], "estimate"], rtol=0,
                               atol=1e-10)
    assert static.table["n_obs"].item() == full.loc["treat", "n_obs"] == 291
    assert dynamic.table["n_obs"].tolist() == full.loc[["0", "1", "2", "3"], "n_obs"].tolist()

    reduced = check[check["sample"] == "excluding_2004_cohort"].set_index("term")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        static = imputation(panel, **MPDTA, singletons="drop", unidentified="drop")
        dynamic = imputation(panel, **MPDTA, horizon=[0, 1], singletons="drop", unidentified="drop")
    np.testing.assert_allclose(static.overall.estimate, reduced.loc["treat", "estimate"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(dynamic.table["estimate"], reduced.loc[["0", "1"], "estimate"], rtol=0, atol=1e-10)
    assert dynamic.table["n_obs"].tolist() == reduced.loc[["0", "1"], "n_obs"].tolist() == [171, 40]


@pytest.mark.reference
def test_pretrends_drop_the_collinear_last_period_and_test_jointly(panel):
    result = imputation(panel, **MPDTA, horizon=True, pretrends=True)
    test = result.pretrends
    assert test.table["event_time"].tolist() == [-4, -3, -2]
    assert test.dropped == (-1,)
    beta = test.table["estimate"].to_numpy()
    expected = beta @ np.linalg.solve(test.vcov.to_numpy(), beta) / 3
    np.testing.assert_allclose(test.statistic, expected, rtol=1e-12)
    assert (test.df_num, test.df_denom, test.n_obs, test.n_clusters) == (3, 499, 2209, 500)
    assert 0 < test.p_value < 1
    single = imputation(panel, **MPDTA, pretrends=[-2]).pretrends
    np.testing.assert_allclose(single.statistic, single.table["statistic"].item() ** 2, rtol=1e-12)


def test_weights_representation_reproduces_every_estimate(panel):
    for options in ({}, dict(horizon=True, weights="lpop", covariates=LPOP_X_YEAR)):
        result = imputation(panel, **MPDTA, **options)
        frame = result.observation_weights
        assert frame.index.equals(panel.index)
        y = panel.loc[frame.index, "lemp"].to_numpy()
        by_hand = frame[result.estimate_names].to_numpy().T @ y
        np.testing.assert_allclose(by_hand[: len(result.table)], result.table["estimate"], rtol=0, atol=1e-13)
        np.testing.assert_allclose(by_hand[-1], result.overall.estimate, rtol=0, atol=1e-13)
        np.testing.assert_allclose(result.recompute(panel["lemp"]), by_hand, rtol=0, atol=1e-13)
        noise = np.random.default_rng(0).normal(size=(len(frame), 3))
        np.testing.assert_allclose(result.recompute(noise), frame[result.estimate_names].to_numpy().T @ noise,
                                   rtol=0, atol=1e-12)


def test_exact_variance_option_changes_only_weighted_ses(panel):
    plain = imputation(panel, **MPDTA, horizon=True)
    plain_exact = imputation(panel, **MPDTA, horizon=True, variance="exact")
    np.testing.assert_allclose(plain.table["se"], plain_exact.table["se"], rtol=1e-12)
    weighted = imputation(panel, **MPDTA, horizon=True, weights="lpop")
    weighted_exact = imputation(panel, **MPDTA, horizon=True, weights="lpop", variance="exact")
    np.testing.assert_allclose(weighted.table["estimate"], weighted_exact.table["estimate"], rtol=1e-12)
    assert not np.allclose(weighted.table["se"], weighted_exact.table["se"], rtol=1e-3)


def test_overall_with_horizons_is_the_mean_of_the_horizons(panel):
    result = imputation(panel, **MPDTA, horizon=True)
    np.testing.assert_allclose(result.overall.estimate, result.table["estimate"].mean(), rtol=1e-12)
    assert result.overall_label == "mean of the horizon effects e = 0..3"
    static = imputation(panel, **MPDTA)
    assert static.overall_label == "static ATT over all treated observations"
    assert static.table.columns.tolist() == ["term", "estimate", "se", "statistic", "p_value", "ci_lower", "ci_upper",
                                             "n_obs"]
    assert result.tidy().equals(result.table)
    assert result.glance()["n_obs"].item() == 2500
    text = result.summary()
    assert "mean of the horizon effects" in text and str(result) == text


def test_critical_t_uses_clusters_minus_one(panel):
    result = imputation(panel, **MPDTA, critical="t")
    assert result.overall.dof == 499
    normal = imputation(panel, **MPDTA)
    assert result.overall.ci_upper - result.overall.ci_lower > normal.overall.ci_upper - normal.overall.ci_lower


# ----------------------------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------------------------

def _all_treated_eventually(n_units: int = 6, n_periods: int = 8) -> pd.DataFrame:
    """Every unit treated by period 7: periods 7 and 8 have no untreated observation."""
    rng = np.random.default_rng(4)
    unit = np.repeat(np.arange(n_units), n_periods)
    period = np.tile(np.arange(1, n_periods + 1), n_units)
    first = np.repeat(np.array([3, 3, 5, 5, 7, 7])[:n_units], n_periods)
    return pd.DataFrame({"unit": unit, "period": period, "first": first, "y": rng.normal(size=unit.size)})


def test_periods_without_untreated_observations_raise_or_drop_with_a_count():
    data = _all_treated_eventually()
    keys = dict(y="y", unit="unit", time="period", group="first")
    with pytest.raises(ValueError, match=r"2 periods have no untreated observation.*period 7.0, 8.0"):
        imputation(data, **keys)
    with pytest.warns(UserWarning, match=r"dropped 12 of 24 treated observations"):
        result = imputation(data, **keys, unidentified="drop")
    assert result.n_treated == 12 and result.n_dropped_treated == 12
    assert result.effects["time"].max() == 6


def test_units_without_untreated_observations_are_named():
    data = _all_treated_eventually()
    data.loc[data["unit"] == 0, "first"] = 1  # treated from the first period: no untreated observation
    with pytest.raises(ValueError, match=r"1 units have no untreated observation.*unit 0"):
        imputation(data, y="y", unit="unit", time="period", group="first")


def test_time_invariant_covariate_is_collinear_with_unit_effects(panel):
    with pytest.raises(ValueError, match=r"\['lpop'\].*time-invariant.*collinear with the unit effects"):
        imputation(panel, **MPDTA, covariates=["lpop"])


@pytest.mark.parametrize("option, value, allowed", [
    ("critical", "student", "normal"), ("unidentified", "ignore", "drop"), ("singletons", "remove", "keep"),
    ("variance", "robust", "exact"),
])
def test_unknown_option_values_are_rejected(panel, option, value, allowed):
    with pytest.raises(ValueError, match=f"{option} must be one of .*{allowed}"):
        imputation(panel, **MPDTA, **{option: value})


def test_bad_event_times_and_columns_are_rejected(panel):
    with pytest.raises(ValueError, match="horizon must be >= 0"):
        imputation(panel, **MPDTA, horizon=[-1, 0])
    with pytest.raises(ValueError, match=r"horizon: event times \[7\] do not occur"):
        imputation(panel, **MPDTA, horizon=[0, 7])
    with pytest.raises(ValueError, match="pretrends must be < 0"):
        imputation(panel, **MPDTA, pretrends=[0])
    with pytest.raises(ValueError, match=r"column 'nope' \(weights=\) is not in the data"):
        imputation(panel, **MPDTA, weights="nope")
    with pytest.raises(ValueError, match="do not identify the rows uniquely"):
        imputation(pd.concat([panel, panel.head(1)]), **MPDTA)


# ----------------------------------------------------------------------------------------------------------------
# Known truth
# ----------------------------------------------------------------------------------------------------------------

def _noiseless_staggered_panel(seed: int = 7) -> tuple[pd.DataFrame, pd.Series]:
    """Y(0) = unit effect + period effect + 0.3 x (time-varying), heterogeneous dynamic effects, no noise.

    Unbalanced (a tenth of the rows removed), five cohorts plus never treated; returns the panel and the true
    effect of every row (0 where untreated).
    """
    rng = np.random.default_rng(seed)
    n_units, n_periods = 60, 15
    unit = np.repeat(np.arange(n_units), n_periods)
    period = np.tile(np.arange(1, n_periods + 1), n_units)
    first = np.repeat(rng.choice([0, 4, 6, 8, 11, 13], size=n_units), n_periods)
    x = rng.normal(size=unit.size)
    e = period - first
    treated = (first > 0) & (e >= 0)
    effect = np.where(treated, 0.5 + 0.1 * first + 0.2 * e + 0.05 * e**2 + rng.normal(size=unit.size), 0.0)
    y0 = rng.normal(size=n_units)[unit] + rng.normal(size=n_periods)[period - 1] + 0.3 * x
    frame = pd.DataFrame({"unit": unit, "period": period, "first": first, "x": x, "y": y0 + effect,
                          "w": rng.uniform(0.5, 2.0, size=unit.size), "effect": effect})
    frame = frame.sample(frac=0.9, random_state=seed).sort_index()
    return frame, frame["effect"]


@pytest.mark.parametrize("weights", [None, "w"])
def test_noiseless_panel_recovers_the_true_averages_exactly(weights):
    data, effect = _noiseless_staggered_panel()
    keys = dict(y="y", unit="unit", time="period", group="first", covariates=["x"], weights=weights)
    treated = (data["first"] > 0) & (data["period"] >= data["first"])
    w = data["w"] if weights else pd.Series(1.0, index=data.index)
    truth_static = np.average(effect[treated], weights=w[treated])
    event = (data["period"] - data["first"])[treated]
    truth_dynamic = [np.average(effect[treated][event == e], weights=w[treated][event == e])
                     for e in sorted(event.unique())]

    static = imputation(data, **keys)
    np.testing.assert_allclose(static.overall.estimate, truth_static, rtol=0, atol=1e-10)
    dynamic = imputation(data, **keys, horizon=True)
    assert dynamic.table["event_time"].tolist() == sorted(event.unique())
    np.testing.assert_allclose(dynamic.table["estimate"], truth_dynamic, rtol=0, atol=1e-10)
    np.testing.assert_allclose(dynamic.overall.estimate, np.mean(truth_dynamic), rtol=0, atol=1e-10)
    # every imputed effect is the true one, so a study layer can average the truth over the same cells
    rows = data.set_index(["unit", "period"])["effect"]
    truth_rows = rows.loc[list(zip(dynamic.effects["unit"], dynamic.effects["time"]))].to_numpy()
    np.testing.assert_allclose(dynamic.effects["tau"], truth_rows, rtol=0, atol=1e-10)


def test_two_way_least_squares_matches_dense_lstsq():
    rng = np.random.default_rng(11)
    n_units, n_times, n = 15, 9, 110
    unit = np.concatenate([np.arange(n_units), rng.integers(0, n_units, n - n_units)])
    time = np.concatenate([np.arange(n_times), rng.integers(0, n_times, n - n_times)])[: n]
    X = rng.normal(size=(n, 2))
    w = rng.uniform(0.5, 2, size=n)
    y = rng.normal(size=n)
    fit = TwoWayLeastSquares(unit, time, n_units=n_units, n_times=n_times, covariates=X, weights=w)
    alpha, lam, beta = fit.fit(y)
    Z = np.column_stack([np.eye(n_units)[unit], np.eye(n_times)[time][:, 1:], X])
    coef = np.linalg.lstsq(Z * np.sqrt(w)[:, None], y * np.sqrt(w), rcond=None)[0]
    np.testing.assert_allclose(np.concatenate([alpha, lam[1:], beta]), coef, rtol=0, atol=1e-11)


def test_covariate_collinear_with_period_effects_is_named(panel):
    with pytest.raises(ValueError, match=r"covariates \['calendar'\] are collinear with the unit and period effects"):
        imputation(panel.assign(calendar=panel["year"] * 2.0), **MPDTA, covariates=["calendar"])


def test_disconnected_untreated_observations_are_refused():
    # unit 1 is untreated in periods 1-2 only, unit 2 in periods 3-4 only: the two sets share no period, so the
    # period effects of 3-4 cannot be compared with those of 1-2
    data = pd.DataFrame({"unit": [1, 1, 2, 2, 3, 3, 3, 3], "period": [1, 2, 3, 4, 1, 2, 3, 4],
                         "first": [0, 0, 0, 0, 2, 2, 2, 2], "y": np.arange(8.0)})
    with pytest.raises(ValueError, match="2 disconnected sets of units and periods"):
        imputation(data, y="y", unit="unit", time="period", group="first")
