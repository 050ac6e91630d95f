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
