"""Wild cluster bootstrap (:mod:`bijstand.did.wild`) against ``wildboottest``, brute force, and its size.

``wildboottest.wildboottest.WildboottestCL`` (0.3.2, the reference implementation of the "fast and wild" WCR/WCU
bootstrap for OLS) gets the TWFE regressions with unit and period dummies written out. Its conventions, read from
its source: small-sample factor :math:`\\frac{G}{G-1}\\frac{n-1}{n-k}` with :math:`k` all columns (the dummies
included), so its :math:`t` and :math:`t^*` are ours times :math:`\\sqrt{c_\\text{fixest}/c_\\text{wbt}}`; p-value
:math:`B^{-1}\\#\\{|t^*| > |t|\\}` (strict; ours counts ties); full Rademacher enumeration when :math:`2^G < B`.
Fed the same multiplier matrix, every bootstrap statistic must agree draw by draw.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from wildboottest.wildboottest import WildboottestCL

from bijstand.did.imputation import TwoWayLeastSquares, imputation
from bijstand.did.twfe import event_study_twfe, twfe_static
from bijstand.did.wild import wild_bootstrap_imputation, wild_bootstrap_twfe

KEYS = dict(y="y", unit="unit", time="period", group="first")


def _panel(n_units: int = 22, n_periods: int = 30, *, effect: float = 0.3, seed: int = 1,
           cohorts=(8, 12, 16, 20, 0)) -> pd.DataFrame:
    """Staggered panel: unit and period effects, unit-specific trends and AR(1) errors (clustered by unit)."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_units), n_periods)
    period = np.tile(np.arange(1, n_periods + 1), n_units)
    first = np.repeat(rng.choice(np.asarray(cohorts), size=n_units), n_periods)
    treated = (first > 0) & (period >= first)
    shocks = rng.normal(size=(n_units, n_periods)) * rng.uniform(0.5, 2.0, size=(n_units, 1))
    errors = np.zeros_like(shocks)
    for t in range(n_periods):
        errors[:, t] = shocks[:, t] + (0.5 * errors[:, t - 1] if t else 0.0)
    y = (rng.normal(size=n_units)[unit] + 0.05 * period + 0.01 * rng.normal(size=n_units)[unit] * period
         + effect * treated + errors.reshape(-1))
    return pd.DataFrame({"unit": unit, "period": period, "first": first, "y": y})


def _dummies(data: pd.DataFrame) -> np.ndarray:
    units = np.sort(data["unit"].unique())
    periods = np.sort(data["period"].unique())
    return np.column_stack([(data["unit"].to_numpy()[:, None] == units).astype(float),
                            (data["period"].to_numpy()[:, None] == periods[1:]).astype(float)])


def _wildboottest(X, y, cluster, R, *, restricted: bool, weights: str = "webb", B: int = 999, seed: int = 5):
    wb = WildboottestCL(X=X, Y=y, cluster=cluster, R=R, B=B, seed=seed, parallel=False)
    wb.get_scores(bootstrap_type="11", impose_null=restricted)
    wb.get_weights(weights_type=weights)
    wb.get_numer()
    wb.get_denom()
    wb.get_tboot()
    wb.get_vcov()
    wb.get_tstat()
    wb.get_pvalue()
    return wb


def _compare(ours, wb):
    scale = np.sqrt(ours.small_sample_factor / wb.ssc)
    np.testing.assert_allclose(ours.overall.statistic * scale, np.ravel(wb.t_stat)[0], rtol=1e-9)
    np.testing.assert_allclose(ours.t_boot * scale, wb.t_boot, rtol=1e-8, atol=1e-10)
    t_wbt, t_boot_wbt = abs(np.ravel(wb.t_stat)[0]), np.abs(wb.t_boot)
    # same statistics, so the same p-value under either tie rule
    assert ours.overall.p_value == np.mean(t_boot_wbt >= t_wbt * (1 - 1e-10))
    assert wb.pvalue == np.mean(np.abs(ours.t_boot) > abs(ours.overall.statistic) * (1 + 1e-10))


@pytest.mark.reference
@pytest.mark.parametrize("bootstrap", ["restricted", "unrestricted"])
def test_static_twfe_matches_wildboottest_draw_by_draw(bootstrap):
    data = _panel()
    D = ((data["first"] > 0) & (data["period"] >= data["first"])).to_numpy(float)
    X = np.column_stack([D, _dummies(data)])
    R = np.zeros(X.shape[1])
    R[0] = 1.0
    wb = _wildboottest(X, data["y"].to_numpy(), data["unit"].to_numpy(), R, restricted=bootstrap == "restricted")
    ours = wild_bootstrap_twfe(data, **KEYS, bootstrap=bootstrap, multipliers=wb.v.T)
    _compare(ours, wb)
    assert ours.n_boot == 999 and not ours.full_enumeration


@pytest.mark.reference
@pytest.mark.parametrize("bootstrap", ["restricted", "unrestricted"])
def test_event_study_combination_matches_wildboottest(bootstrap):
    data = _panel(seed=2)
    event = (data["period"] - data["first"]).where(data["first"] > 0)
    event_times = [e for e in sorted(event.dropna().unique().astype(int)) if e != -1]
    columns = np.column_stack([(event == e).to_numpy(float) for e in event_times])
    X = np.column_stack([columns, _dummies(data)])
    combination = {0: 0.5, 2: 0.25, 4: 0.25}
    R = np.zeros(X.shape[1])
    for e, c in combination.items():
        R[event_times.index(e)] = c
    wb = _wildboottest(X, data["y"].to_numpy(), data["unit"].to_numpy(), R, restricted=bootstrap == "restricted")
    ours = wild_bootstrap_twfe(data, **KEYS, event_time=combination, bootstrap=bootstrap, multipliers=wb.v.T)
    _compare(ours, wb)
    assert ours.term == "0.5*e0 + 0.25*e2 + 0.25*e4"


@pytest.mark.reference
@pytest.mark.parametrize("bootstrap", ["restricted", "unrestricted"])
def test_full_rademacher_enumeration_matches_wildboottest(bootstrap):
    data = _panel(n_units=10, seed=3, cohorts=(8, 14, 0))
    D = ((data["first"] > 0) & (data["period"] >= data["first"])).to_numpy(float)
    X = np.column_stack([D, _dummies(data)])
    R = np.eye(X.shape[1])[0]
    # wildboottest enumerates when 2^G < B; we enumerate whenever G <= 12
    wb = _wildboottest(X, data["y"].to_numpy(), data["unit"].to_numpy(), R, restricted=bootstrap == "restricted",
                       weights="rademacher", B=9999)
    assert wb.full_enumeration and wb.B == 1024
    ours = wild_bootstrap_twfe(data, **KEYS, bootstrap=bootstrap, multiplier="rademacher", n_boot=999)
    assert ours.full_enumeration and ours.n_boot == 1024
    np.testing.assert_array_equal(ours.multipliers, wb.v.T)
    _compare(ours, wb)


def test_standard_errors_are_the_twfe_modules(mpdta):
    data = _panel(seed=4).assign(area=lambda d: d["unit"] // 2)
    for cluster in (None, "area"):
        ours = wild_bootstrap_twfe(data, **KEYS, cluster=cluster, n_boot=9, seed=1, confint=False)
        fixest = twfe_static(data, **KEYS, cluster=cluster)
        np.testing.assert_allclose([ours.overall.estimate, ours.overall.se, ours.small_sample_factor],
                                   [fixest.overall.estimate, fixest.overall.se, fixest.small_sample_factor], rtol=1e-10)
        assert ours.n_clusters == fixest.n_clusters
    study = event_study_twfe(data, **KEYS, leads=4, lags=5)
    ours = wild_bootstrap_twfe(data, **KEYS, event_time=3, leads=4, lags=5, n_boot=9, seed=1, confint=False)
    row = study.table.set_index("event_time").loc[3]
    np.testing.assert_allclose([ours.overall.estimate, ours.overall.se], [row["estimate"], row["se"]], rtol=1e-10)
    keys = dict(y="lemp", unit="countyreal", time="year", group="first.treat")
    on_mpdta = wild_bootstrap_twfe(mpdta, **keys, n_boot=99, seed=1, confint=False)
    np.testing.assert_allclose(on_mpdta.overall.se, twfe_static(mpdta, **keys).overall.se, rtol=1e-10)


@pytest.mark.parametrize("options", [{}, dict(horizon=[0, 1, 3], weights="w")])
def test_imputation_bootstrap_equals_refitting_every_draw(options):
    data = _panel(seed=5).assign(w=lambda d: 1 + (d["unit"] % 3))
    result = imputation(data, **KEYS, **options)
    null = 0.1
    boot = wild_bootstrap_imputation(result, null=null, n_boot=99, seed=2)
    # the restricted model: y - null * D on unit and period effects over all observations, weighted as the estimator
    D = ((data["first"] > 0) & (data["period"] >= data["first"])).to_numpy(float)
    unit_codes = pd.factorize(data["unit"], sort=True)[0]
    period_codes = pd.factorize(data["period"], sort=True)[0]
    w = data["w"].to_numpy(float) if "weights" in options else None
    restricted = TwoWayLeastSquares(unit_codes, period_codes, n_units=22, n_times=30, weights=w)
    residual = restricted.residuals(data["y"].to_numpy() - null * D)
    fitted = data["y"].to_numpy() - residual
    for b in range(4):
        y_star = fitted + residual * boot.multipliers[b][unit_codes]
        refit = imputation(data.assign(y=y_star), **KEYS, **options)
        np.testing.assert_allclose((refit.overall.estimate - null) / refit.overall.se, boot.t_boot[b], rtol=1e-9)
    assert (boot.overall.estimate, boot.overall.se) == (result.overall.estimate, result.overall.se)
    design = result._design
    k = len(result.estimate_names) - 1
    scores = design.scores_one(design.imputation_residuals(design.y), k)
    np.testing.assert_allclose(np.sqrt(scores[:, 0] @ scores[:, 0]), result.overall.se, rtol=1e-12)
    np.testing.assert_allclose(design.v_column(k) @ design.y, result.overall.estimate, rtol=1e-12)


@pytest.mark.parametrize("which", ["twfe", "imputation"])
def test_interval_bounds_are_where_the_test_starts_rejecting(which):
    data = _panel(seed=6)

    def run(null, confint=False):
        if which == "twfe":
            return wild_bootstrap_twfe(data, **KEYS, null=null, seed=3, n_boot=399, confint=confint)
        return wild_bootstrap_imputation(imputation(data, **KEYS), null=null, seed=3, n_boot=399, confint=confint)

    result = run(0.0, confint=True)
    lower, upper = result.overall.ci_lower, result.overall.ci_upper
    assert lower < result.overall.estimate < upper
    delta = 1e-6 * result.overall.se
    for bound, inside, outside in ((lower, lower + delta, lower - delta), (upper, upper - delta, upper + delta)):
        assert run(inside).overall.p_value > 0.05
        assert run(outside).overall.p_value <= 0.05
    assert result.overall.inference == "wild cluster bootstrap (restricted, webb)"


def test_unknown_options_are_rejected():
    data = _panel()
    with pytest.raises(ValueError, match=r"multiplier must be one of .*'webb'"):
        wild_bootstrap_twfe(data, **KEYS, multiplier="normal")
    with pytest.raises(ValueError, match=r"bootstrap must be one of .*'restricted'"):
        wild_bootstrap_twfe(data, **KEYS, bootstrap="pairs")
    with pytest.raises(ValueError, match=r"event_time \[99\] has no coefficient"):
        wild_bootstrap_twfe(data, **KEYS, event_time=99)
    with pytest.raises(ValueError, match=r"term must be 'overall' or one of \[0, 1\]"):
        wild_bootstrap_imputation(imputation(data, **KEYS, horizon=[0, 1]), term=5)
    with pytest.raises(ValueError, match="multipliers must be an n_boot x n_clusters matrix"):
        wild_bootstrap_twfe(data, **KEYS, multipliers=np.ones((10, 3)))
    everyone_treated = _panel(cohorts=(8, 12, 16, 20))
    with pytest.raises(ValueError, match="collinear with the unit and period effects"):
        wild_bootstrap_twfe(everyone_treated, **KEYS, event_time=0, bin_endpoints=False)


@pytest.mark.slow
def test_size_with_22_clusters_and_no_effect():
    """200 simulated panels without an effect: WCR (Webb, 199 draws) rejects at 5% within binomial noise."""
    replications, alpha = 200, 0.05
    seeds = np.random.SeedSequence(20240611).generate_state(replications)
    rejections = {"twfe": 0, "imputation": 0}
    for seed in seeds:
        data = _panel(n_periods=20, effect=0.0, seed=int(seed), cohorts=(6, 9, 12, 15, 0))
        twfe = wild_bootstrap_twfe(data, **KEYS, n_boot=199, seed=int(seed), confint=False)
        imp = wild_bootstrap_imputation(imputation(data, **KEYS), n_boot=199, seed=int(seed), confint=False)
        rejections["twfe"] += twfe.overall.p_value <= alpha
        rejections["imputation"] += imp.overall.p_value <= alpha
    tolerance = 3 * np.sqrt(alpha * (1 - alpha) / replications)
    rates = {k: v / replications for k, v in rejections.items()}
    print(f"rejection rates at 5% over {replications} panels: {rates}")
    for rate in rates.values():
        assert abs(rate - alpha) <= tolerance
