"""build_area_panel on tiny hand-built registers where every count is known; periods helpers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bijstand.data.panel import PANEL_COLUMNS, build_area_panel
from bijstand.data.periods import STUDY_END, STUDY_START, month_to_period, period_to_month

M = pd.Timestamp


def _spells(rows):
    frame = pd.DataFrame(rows, columns=["person_id", "municipality", "area", "spell_start", "spell_end",
                                        "exit_reason"])
    frame["spell_start"] = pd.to_datetime(frame["spell_start"])
    frame["spell_end"] = pd.to_datetime(frame["spell_end"])
    frame["person_id"] = frame["person_id"].astype(np.int64)
    return frame


@pytest.fixture
def areas():
    return pd.DataFrame({"municipality": ["GM9999", "GM9999"], "area": ["A1", "A2"],
                         "cohort_start": pd.to_datetime(["2015-03-01", None]),
                         "counter_performance_start": pd.to_datetime([None, "2015-06-01"]),
                         "outreach_start": pd.to_datetime([None, None])})


@pytest.fixture
def spells():
    return _spells([
        # person 1: a spell before the window (ends 2014-12, work), back 2015-03 (gap 3), out 2015-05
        # (enforcement), back 2015-08 (gap 3), still running
        (1, "GM9999", "A1", "2014-06-01", "2014-12-01", "work"),
        (1, "GM9999", "A1", "2015-03-01", "2015-05-01", "enforcement"),
        (1, "GM9999", "A1", "2015-08-01", None, None),
        # person 2: on benefit since 2013 throughout
        (2, "GM9999", "A1", "2013-01-01", None, None),
        # person 3: a one-month spell in 2015-01 (other), back 2015-10 (gap 9: within 12, not 6), out 2015-11
        (3, "GM9999", "A1", "2015-01-01", "2015-01-01", "other"),
        (3, "GM9999", "A1", "2015-10-01", "2015-11-01", "work"),
        # person 4 in A2: 2015-02 .. 2015-04 (work), back 2016-06 (after the window)
        (4, "GM9999", "A2", "2015-02-01", "2015-04-01", "work"),
        (4, "GM9999", "A2", "2016-06-01", None, None),
    ])


def test_counts_known_by_hand(spells, areas):
    panel = build_area_panel(spells, areas, start="2015-01", end="2015-12")
    assert list(panel.columns) == list(PANEL_COLUMNS)
    assert len(panel) == 24
    a1 = panel[panel["area"] == "A1"].set_index("period")
    a2 = panel[panel["area"] == "A2"].set_index("period")
    #                         J  F  M  A  M  J  J  A  S  O  N  D
    assert a1["stock"].tolist() == [2, 1, 2, 2, 2, 1, 1, 2, 2, 3, 3, 2]
    assert a1["inflow"].tolist() == [1, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0]
    assert a1["reinflow_6m"].tolist() == [0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    assert a1["reinflow_12m"].tolist() == [0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0]
    assert a1["outflow_other"].tolist() == [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert a1["outflow_enforcement"].tolist() == [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    assert a1["outflow_work"].tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]
    assert a1["outflow"].tolist() == [1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0]
    assert a2["stock"].tolist() == [0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    assert a2["inflow"].sum() == 1 and a2.loc[2, "inflow"] == 1
    assert a2.loc[4, "outflow_work"] == 1 and a2["outflow"].sum() == 1
    # rates per 100 in stock; shares per 100 inflows; NaN where the denominator is zero
    assert a1.loc[1, "outflow_rate"] == pytest.approx(50.0)
    assert a1.loc[5, "outflow_enforcement_rate"] == pytest.approx(50.0)
    assert a1.loc[11, "outflow_work_rate"] == pytest.approx(100 / 3)
    assert a1.loc[3, "reinflow_12m_share"] == pytest.approx(100.0)
    assert a1.loc[1, "reinflow_12m_share"] == 0.0
    assert np.isnan(a1.loc[2, "reinflow_12m_share"])
    assert np.isnan(a2.loc[6, "outflow_rate"])
    # treatment timing
    assert set(a1["first_treat_cohort"]) == {3} and set(a2["first_treat_cohort"]) == {0}
    assert set(a2["first_treat_counter"]) == {6} and set(a1["first_treat_outreach"]) == {0}
    assert panel["month"].dtype == "datetime64[ns]"
    assert a1["month"].iloc[0] == M("2015-01-01")


def test_window_start_later_counts_running_spells(spells, areas):
    panel = build_area_panel(spells, areas, start="2015-06", end="2015-09")
    a1 = panel[panel["area"] == "A1"]
    assert a1["period"].tolist() == [6, 7, 8, 9]
    assert a1["stock"].tolist() == [1, 1, 2, 2]
    assert a1["reinflow_6m"].tolist() == [0, 0, 1, 0]


def test_areas_without_start_columns_are_never_treated(spells, areas):
    partner_areas = areas[["municipality", "area"]]
    panel = build_area_panel(spells, partner_areas, start="2015-01", end="2015-03")
    assert (panel[["first_treat_cohort", "first_treat_counter", "first_treat_outreach"]] == 0).all().all()


def test_bad_exit_reason_is_named(spells, areas):
    spells.loc[1, "exit_reason"] = "moved"
    with pytest.raises(ValueError, match="column exit_reason .* row 1 has 'moved'"):
        build_area_panel(spells, areas)


def test_open_spell_with_reason_is_refused(spells, areas):
    spells.loc[2, "exit_reason"] = "work"
    with pytest.raises(ValueError, match="exit_reason must be missing while spell_end is NaT \\(row 2\\)"):
        build_area_panel(spells, areas)


def test_overlapping_spells_are_refused(spells, areas):
    extra = _spells([(2, "GM9999", "A1", "2015-04-01", "2015-06-01", "work")])
    with pytest.raises(ValueError, match="overlap an earlier spell .* person_id 2"):
        build_area_panel(pd.concat([spells, extra], ignore_index=True), areas)


def test_unknown_area_is_refused(spells, areas):
    spells.loc[0, "area"] = "A9"
    with pytest.raises(ValueError, match="column area has values not in the area file"):
        build_area_panel(spells, areas)


def test_missing_column_is_named(spells, areas):
    with pytest.raises(ValueError, match="missing column\\(s\\) exit_reason"):
        build_area_panel(spells.drop(columns="exit_reason"), areas)


def test_periods_round_trip():
    assert month_to_period("2015-01") == 1
    assert month_to_period(STUDY_END) == 120
    assert month_to_period(STUDY_START) == 1
    assert month_to_period(M("2014-12-15")) == 0
    months = period_to_month(np.arange(-30, 130))
    assert np.array_equal(month_to_period(months), np.arange(-30, 130))
    assert period_to_month(120) == M("2024-12-01")
    series = month_to_period(pd.Series(pd.to_datetime(["2016-02-01", None])))
    assert series.tolist()[0] == 14 and pd.isna(series.tolist()[1])
    with pytest.raises(ValueError, match="period must be an integer"):
        period_to_month(1.5)
