"""Truth over the estimator's own cells, and the selection of an intervention's panel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bijstand.did.compare import Estimate, intervention_panel, true_dynamic, true_simple


@pytest.fixture()
def truth():
    rows = []
    # group 5 has 2 areas, group 7 has 1 area; ATT(g,t) = (t - g + 1) for t >= g, 0 before
    for group, n in ((5, 2), (7, 1)):
        for period in range(1, 11):
            att = float(period - group + 1) if period >= group else 0.0
            rows.append({"intervention": "cohort", "outcome": "y", "group": group, "period": period,
                         "att": att, "n_areas": n})
    return pd.DataFrame(rows)


def test_true_simple_uses_only_the_estimators_post_cells_weighted_by_group_size(truth):
    cells = pd.DataFrame({"group": [5, 5, 5, 7, 7], "time": [4, 5, 6, 6, 7]})
    # post cells: (5,5)=1 w2, (5,6)=2 w2, (7,7)=1 w1 -> (2 + 4 + 1) / 5
    assert true_simple(truth, "cohort", "y", cells) == pytest.approx(7 / 5, abs=1e-12)


def test_true_dynamic_by_event_time(truth):
    cells = pd.DataFrame({"group": [5, 5, 7, 7], "time": [4, 6, 6, 8]})
    dyn = true_dynamic(truth, "cohort", "y", cells)
    assert dyn["event_time"].tolist() == [-1, 1]
    np.testing.assert_allclose(dyn["att"], [0.0, 2.0], atol=1e-12)


def test_truth_missing_for_a_cell_is_an_error(truth):
    with pytest.raises(ValueError, match="truth lacks cells"):
        true_simple(truth, "cohort", "y", pd.DataFrame({"group": [5], "time": [99]}))
    with pytest.raises(ValueError, match="no truth for intervention='counter'"):
        true_simple(truth, "counter", "y", pd.DataFrame({"group": [5], "time": [5]}))


def test_intervention_panel_window_and_late_groups_become_controls():
    panel = pd.DataFrame({
        "municipality": ["GM0363"] * 4 + ["GM0599"] * 2,
        "area": ["A", "A", "B", "B", "R", "R"],
        "month": pd.to_datetime(["2019-08-01", "2019-09-01"] * 3),
        "period": [56, 57] * 3,
        "first_treat_cohort": [57, 57, 70, 70, 0, 0],
    })
    out = intervention_panel(panel, "cohort", municipality="GM0363", start="2019-09", end="2019-12")
    assert out["area"].tolist() == ["A", "B"]
    assert out["group"].tolist() == [57, 0]  # B starts after the window: a not-yet-treated control throughout
    with pytest.raises(ValueError, match="intervention must be one of"):
        intervention_panel(panel, "letters")
    with pytest.raises(ValueError, match="no column 'first_treat_counter'"):
        intervention_panel(panel, "counter")


def test_estimate_row_reports_whether_truth_is_covered():
    row = Estimate("CS", "y", 1.0, 0.5, 0.02, 1.98, truth=1.5).as_row()
    assert row["Truth in CI"] is True
    assert Estimate("CS", "y", 1.0, 0.5, 0.02, 1.98).as_row()["Truth in CI"] is None


def test_outcome_missing_in_every_area_is_reported_not_fatal():
    from bijstand.did.compare import evaluate_outcomes

    panel = pd.DataFrame({"area": np.repeat(["A", "B", "C"], 4), "period": np.tile([1, 2, 3, 4], 3),
                          "group": np.repeat([3, 4, 0], 4), "y": np.nan, "municipality": "GM0363"})
    evaluations, skipped = evaluate_outcomes(panel, ["y"], intervention="cohort")
    assert evaluations == {}
    assert "no area observes 'y' in every month" in skipped["y"]
