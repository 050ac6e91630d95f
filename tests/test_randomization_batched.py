"""The batched studentised randomisation test equals the one-permutation-at-a-time path (to 1e-12).

``randomization_test(..., studentize=True)`` recomputes each permutation's estimate and clustered analytic SE for
all permutations at once when there are no covariates and no unit is dropped (:func:`_batched_studentized`); the
loop over :func:`_studentized_function` (``estimate_cells`` + ``aggregate_arrays`` + ``analytic_se``, the path that
reproduces R) stays the reference and the fallback.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bijstand.did.randomization as ri
from bijstand.did.attgt import att_gt

STATISTICS = ["simple", "dynamic", "group", "calendar", ("dynamic", 0), ("dynamic", -3), ("group", 14),
              ("calendar", 16), ("dynamic", 999)]


def _panel(seed: int, *, never: bool, units_per_cluster: int = 1, n_clusters: int = 10, n_times: int = 20,
           weights: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = np.array([8, 8, 10, 12, 12, 12, 14, 16, 0, 0] if never else [8, 8, 10, 12, 12, 12, 14, 16, 18, 18])
    dates = rng.permutation(np.resize(dates, n_clusters)).astype(float)
    n_units = n_clusters * units_per_cluster
    cluster = np.repeat(np.arange(n_clusters), units_per_cluster)
    unit = np.repeat(np.arange(n_units), n_times)
    time = np.tile(np.arange(1, n_times + 1), n_units)
    group = np.repeat(dates[cluster], n_times)
    effect = np.where((group > 0) & (time >= group), 0.3 + 0.05 * (time - group), 0.0)
    y = (np.repeat(rng.normal(size=n_units), n_times) + 0.05 * time + effect
         + np.repeat(rng.normal(size=n_clusters), units_per_cluster * n_times) * 0.5 + rng.normal(size=unit.size))
    frame = pd.DataFrame({"unit": unit, "time": time, "group": group, "y": y,
                          "area": "a" + pd.Series(np.repeat(cluster, n_times)).astype(str)})
    if weights:
        frame["w"] = np.repeat(rng.uniform(0.5, 2.0, n_units), n_times)
    return frame


def _loop_and_batch(source, statistic, **window):
    kind, key = (statistic, None) if isinstance(statistic, str) else statistic
    panel = source.panel
    member = panel.clusters if panel.clusters is not None else np.arange(panel.raw_groups.size)
    dates = np.zeros(int(member.max()) + 1)
    dates[member] = panel.raw_groups
    rng = np.random.default_rng(5)
    unit_dates = np.array([rng.permutation(dates) for _ in range(40)])[:, member]
    options = dict(min_e=window.get("min_e", -np.inf), max_e=window.get("max_e", np.inf),
                   balance_e=window.get("balance_e"))
    evaluate = ri._studentized_function(kind, key, source, **options)
    loop = np.array([evaluate(row) for row in unit_dates])
    recode = dict(zip(panel.raw_groups.tolist(), source.unit_groups.tolist(), strict=True))
    groups = np.vectorize(recode.__getitem__, otypes=[float])(unit_dates)
    batch = np.column_stack(ri._batched_studentized(source, groups, kind, key, chunk=16, **options))
    return loop, batch


def _assert_close(batch, loop):
    np.testing.assert_array_equal(np.isnan(batch), np.isnan(loop))
    finite = np.isfinite(loop)
    scale = np.abs(loop[finite]).max(initial=0.0)
    np.testing.assert_allclose(batch[finite], loop[finite], rtol=1e-12, atol=1e-12 * scale)


@pytest.mark.parametrize("statistic", STATISTICS)
@pytest.mark.parametrize("case", ["never", "notyet_last_cohort", "clusters_of_three", "weights", "no_cluster"])
def test_batched_studentized_equals_loop(case, statistic):
    never = case in ("never", "weights")
    data = _panel(11, never=never, units_per_cluster=3 if case == "clusters_of_three" else 1,
                  weights=case == "weights")
    source = att_gt(data, y="y", unit="unit", time="time", group="group",
                    control_group="never" if case == "never" else "notyet",
                    cluster=None if case == "no_cluster" else "area", weights="w" if case == "weights" else None)
    loop, batch = _loop_and_batch(source, statistic)
    _assert_close(batch, loop)


@pytest.mark.parametrize("window", [dict(max_e=3), dict(min_e=-2, max_e=5, balance_e=2)])
@pytest.mark.parametrize("statistic", ["simple", "dynamic", "group"])
def test_batched_studentized_windows(window, statistic):
    source = att_gt(_panel(12, never=False), y="y", unit="unit", time="time", group="group", control_group="notyet",
                    cluster="area")
    loop, batch = _loop_and_batch(source, statistic, **window)
    _assert_close(batch, loop)


@pytest.mark.parametrize("n_clusters, exact", [(6, True), (10, False)])
def test_randomization_test_same_with_batch_and_loop(monkeypatch, n_clusters, exact):
    data = _panel(13, never=False, n_clusters=n_clusters, units_per_cluster=2)
    source = att_gt(data, y="y", unit="unit", time="time", group="group", control_group="notyet", cluster="area")
    fast = ri.randomization_test(source, statistic="simple", studentize=True, n_perm=99, seed=3)

    def loop(source, groups, kind, key, **options):
        del groups
        evaluate = ri._studentized_function(kind, key, source, **options)
        return tuple(np.array([evaluate(row) for row in loop.unit_dates]).T)

    # the loop path evaluates the raw dates; capture them by running the loop version of randomization_test
    panel = source.panel
    member = panel.clusters
    dates = np.zeros(int(member.max()) + 1)
    dates[member] = panel.raw_groups
    if exact:
        assignments = np.array(list(ri.distinct_assignments(dates)))
    else:
        rng = np.random.default_rng(3)
        assignments = np.array([rng.permutation(dates) for _ in range(99)])
    loop.unit_dates = assignments[:, member]
    monkeypatch.setattr(ri, "_batched_studentized", loop)
    slow = ri.randomization_test(source, statistic="simple", studentize=True, n_perm=99, seed=3)
    assert fast.exact == slow.exact == exact
    _assert_close(fast.permuted, slow.permuted)
    assert fast.p_value == slow.p_value
    assert (fast.estimate, fast.se, fast.statistic) == (slow.estimate, slow.se, slow.statistic)


def test_dropped_units_fall_back_to_the_loop(monkeypatch):
    data = _panel(14, never=True)
    data.loc[data["unit"] == 0, "group"] = 1.0  # treated in the first period: dropped by att_gt
    source = att_gt(data, y="y", unit="unit", time="time", group="group", control_group="never", cluster="area")
    monkeypatch.setattr(ri, "_batched_studentized", lambda *a, **k: pytest.fail("batched path used"))
    result = ri.randomization_test(source, statistic="simple", studentize=True, n_perm=19, seed=1)
    assert np.isfinite(result.p_value)
