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
