"""The balanced-panel fast path of the two-way FE regressions equals linearmodels' PanelOLS path."""

import numpy as np
import pandas as pd
import pytest

from bijstand.did import sun_abraham, twfe_static


def _panel(seed: int = 3, n_units: int = 12, n_times: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_units), n_times)
    time = np.tile(np.arange(1, n_times + 1), n_units)
    group = np.repeat(rng.choice([0, 4, 6, 8], n_units), n_times)
    treated = (group > 0) & (time >= group)
    y = rng.normal(size=unit.size) + 0.3 * unit + 0.1 * time + treated * (0.5 + 0.1 * (time - group))
    return pd.DataFrame({"unit": unit, "time": time, "group": group, "y": y, "cluster": unit // 3,
                         "one": 1.0})


@pytest.mark.parametrize("cluster", ["unit", "cluster"])
def test_balanced_fast_path_equals_panelols(cluster):
    data = _panel()
    # weights of one force the PanelOLS path; the estimate and clustered SE must not change
    fast = twfe_static(data, y="y", unit="unit", time="time", group="group", cluster=cluster)
    slow = twfe_static(data, y="y", unit="unit", time="time", group="group", cluster=cluster, weights="one")
    assert fast.overall.estimate == pytest.approx(slow.overall.estimate, abs=1e-12)
    assert fast.overall.se == pytest.approx(slow.overall.se, rel=1e-10)
    fast_sa = sun_abraham(data, y="y", unit="unit", time="time", group="group", cluster=cluster)
    slow_sa = sun_abraham(data, y="y", unit="unit", time="time", group="group", cluster=cluster, weights="one")
    np.testing.assert_allclose(fast_sa.table["estimate"], slow_sa.table["estimate"], atol=1e-12)
    np.testing.assert_allclose(fast_sa.table["se"], slow_sa.table["se"], rtol=1e-10)
    assert fast_sa.overall.se == pytest.approx(slow_sa.overall.se, rel=1e-10)


def test_fast_path_refuses_collinear_dummies():
    data = _panel()
    data["group"] = np.where(data["group"] == 0, 4, data["group"])  # no never-treated: all event times collinear
    with pytest.raises(ValueError, match="collinear"):
        from bijstand.did.twfe import event_study_twfe

        event_study_twfe(data, y="y", unit="unit", time="time", group="group", cluster="unit")


def _nested_by_groupby(inner, outer) -> bool:
    """The former pandas implementation of ``_is_nested`` (the reference of the code-based one)."""
    frame = pd.DataFrame({"i": np.asarray(inner), "o": np.asarray(outer)})
    return bool((frame.groupby("i")["o"].nunique() == 1).all())


@pytest.mark.parametrize("inner, outer", [
    ([1, 1, 2, 2, 3], ["a", "a", "b", "b", "a"]),
    ([1, 1, 2, 2, 3], ["a", "b", "b", "b", "a"]),
    (["u1", "u1", None, "u2"], [1.0, 1.0, 2.0, np.nan]),
    (["u1", "u1", "u2", "u2"], [1.0, np.nan, 2.0, 2.0]),
    (["u1", "u1", "u2", "u2"], [np.nan, np.nan, 2.0, 2.0]),
    ([5, 6, 7], [1, 1, 1]),
])
def test_is_nested_equals_groupby(inner, outer):
    from bijstand.did.twfe import _is_nested

    assert _is_nested(pd.Series(inner), pd.Series(outer)) == _nested_by_groupby(inner, outer)


def test_validate_panel_verdicts():
    from bijstand.did.twfe import _validate_panel

    data = _panel()
    _validate_panel(data, y="y", unit="unit", time="time", group="group")
    with pytest.raises(ValueError, match="do not identify rows uniquely"):
        _validate_panel(pd.concat([data, data.iloc[[5]]]), y="y", unit="unit", time="time", group="group")
    varying = data.assign(group=np.where(data.index == 3, 99, data["group"]))
    with pytest.raises(ValueError, match="varies within"):
        _validate_panel(varying, y="y", unit="unit", time="time", group="group")


def _staggered(seed: int, *, never: bool, n_units: int = 15, n_times: int = 12, scale: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cohorts = [0, 1, 4, 6, 9] if never else [1, 4, 6, 9]  # cohort 1 is always treated (dropped)
    unit = np.repeat(np.arange(n_units), n_times)
    time = np.tile(np.arange(1, n_times + 1), n_units)
    group = np.repeat(rng.choice(cohorts, n_units), n_times)
    group[:n_times] = 4
    group[-n_times:] = 0 if never else 9
    effect = np.where((group > 0) & (time >= group), rng.normal(1, 1, unit.size), 0.0)
    y = scale * (rng.normal(size=unit.size) + np.repeat(rng.normal(size=n_units), n_times) + effect)
    return pd.DataFrame({"unit": unit, "time": time, "group": group, "y": y, "area": unit % 5,
                         "mixed_cluster": (unit % 3) * 10 + (time > n_times // 2), "one": 1.0})


def _sun_abraham_paths(data, monkeypatch, **options):
    """Sun-Abraham by the closed form, by the balanced regression (_fit_balanced) and by PanelOLS (weights 1)."""
    import bijstand.did.sunab as sunab

    keys = dict(y="y", unit="unit", time="time", group="group")
    closed = sunab.sun_abraham(data, **keys, **options)
    with monkeypatch.context() as patch:
        patch.setattr(sunab, "_fit_saturated", lambda *args, **kwargs: None)
        regression = sunab.sun_abraham(data, **keys, **options)
    panelols = sunab.sun_abraham(data, **keys, weights="one", **options)
    return closed, regression, panelols


def _assert_same_sunab(fast, slow, rtol=1e-12):
    """Equal to ``rtol`` relative to the largest number of each kind (cells with zero variance: SEs ~ sqrt(eps))."""
    for name in ("table", "cohort_table"):
        a, b = getattr(fast, name), getattr(slow, name)
        pd.testing.assert_frame_equal(a.drop(columns=["estimate", "se", "statistic", "p_value", "ci_lower",
                                                      "ci_upper"], errors="ignore"),
                                      b.drop(columns=["estimate", "se", "statistic", "p_value", "ci_lower",
                                                      "ci_upper"], errors="ignore"), check_exact=False, rtol=rtol)
        scale = np.abs(b["estimate"]).max()
        np.testing.assert_allclose(a["estimate"], b["estimate"], rtol=rtol, atol=rtol * scale)
    scale = np.abs(slow.vcov.to_numpy()).max()
    np.testing.assert_allclose(fast.vcov.to_numpy(), slow.vcov.to_numpy(), rtol=rtol, atol=rtol * scale)
    assert fast.overall.estimate == pytest.approx(slow.overall.estimate, rel=rtol, abs=rtol * scale)
    assert fast.overall.se == pytest.approx(slow.overall.se, rel=rtol)
    assert (fast.n_obs, fast.n_units, fast.n_clusters, fast.control) == (slow.n_obs, slow.n_units, slow.n_clusters,
                                                                         slow.control)


@pytest.mark.parametrize("never", [True, False])
@pytest.mark.parametrize("cluster", [None, "area", "mixed_cluster"])
@pytest.mark.parametrize("reference", [-1, -2])
def test_sunab_closed_form_equals_regression(monkeypatch, never, cluster, reference):
    data = _staggered(7, never=never, scale=40.0)
    closed, regression, panelols = _sun_abraham_paths(data, monkeypatch, cluster=cluster, reference=reference)
    _assert_same_sunab(closed, regression)
    _assert_same_sunab(closed, panelols, rtol=1e-10)


def test_sunab_closed_form_is_used_and_declines_when_it_must():
    import bijstand.did.sunab as sunab

    calls = []
    original = sunab._fit_saturated

    def spy(*args, **kwargs):
        calls.append(original(*args, **kwargs))
        return calls[-1]

    data = _staggered(8, never=True)
    keys = dict(y="y", unit="unit", time="time", group="group")
    import unittest.mock

    with unittest.mock.patch.object(sunab, "_fit_saturated", spy):
        sunab.sun_abraham(data, **keys)
        sunab.sun_abraham(data.iloc[1:], **keys)                          # unbalanced
        with pytest.raises(ValueError, match="collinear"):  # cohort 6 lacks its reference period: the regression
            sunab.sun_abraham(data[data["time"] != 5], **keys)                    # finds its dummies collinear
        sunab.sun_abraham(data[data["time"] != 11], **keys)               # a gap in the periods is fine
    assert calls[0] is not None and calls[1] is None and calls[2] is None and calls[3] is not None


def test_sunab_irregular_panels_agree(monkeypatch):
    data = _staggered(9, never=True)
    # unbalanced (the regression, which must still agree with PanelOLS), a gap in the periods (the closed form);
    # a shuffled row order and string unit ids must not change the closed form
    for case in (data.iloc[:-3], data[data["time"] != 11], data[~data["time"].isin([2, 7, 10])]):
        closed, regression, panelols = _sun_abraham_paths(case, monkeypatch, cluster="area")
        _assert_same_sunab(closed, regression)
        _assert_same_sunab(closed, panelols, rtol=1e-10)
    shuffled = data.sample(frac=1.0, random_state=1).assign(unit=lambda d: "u" + d["unit"].astype(str))
    closed, regression, panelols = _sun_abraham_paths(shuffled, monkeypatch, cluster="area")
    _assert_same_sunab(closed, regression)
    _assert_same_sunab(closed, _sun_abraham_paths(data, monkeypatch, cluster="area")[0])
