"""Sun & Abraham event study against fixest::sunab on mpdta, and known truth on simulated data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bijstand.did.sunab import sun_abraham

FIXTURES = Path(__file__).parent / "fixtures" / "r_did_mpdta"
MPDTA = dict(y="lemp", unit="countyreal", time="year", group="first.treat")



@pytest.mark.reference
def test_event_study_matches_fixest_sunab(mpdta):
    reference = pd.read_csv(FIXTURES / "fixest_mpdta_sunab_eventstudy.csv")
    reference_times = reference["term"].str.replace("year::", "").astype(int).to_numpy()
    result = sun_abraham(mpdta, **MPDTA)
    np.testing.assert_array_equal(result.table["event_time"].to_numpy(), reference_times)
    # 15 significant digits in the CSV: compare at 1e-10 relative.
    np.testing.assert_allclose(result.table["estimate"], reference["estimate"], rtol=1e-10)
    np.testing.assert_allclose(result.table["se"], reference["se"], rtol=1e-10)
    assert result.control == "never treated"


@pytest.mark.reference
def test_overall_att_matches_fixest_agg_att(mpdta):
    reference = pd.read_csv(FIXTURES / "fixest_mpdta_static.csv").set_index("model").loc["sunab_ATT"]
    result = sun_abraham(mpdta, **MPDTA)
    np.testing.assert_allclose([result.overall.estimate, result.overall.se], [reference["estimate"], reference["se"]],
                               rtol=1e-10)
    assert result.overall.dof == 499   # fixest's t(G - 1)
    assert result.overall.p_value == pytest.approx(2 * stats.t.sf(abs(result.overall.statistic), 499), rel=1e-12)
    assert "Overall ATT (post-treatment cells, weighted by observations):" in result.summary()


def test_interaction_weights_sum_to_one_per_event_time(mpdta):
    cells = sun_abraham(mpdta, **MPDTA).cohort_table
    np.testing.assert_allclose(cells.groupby("event_time")["weight"].sum(), 1.0, rtol=1e-14)
    # e = 0 is estimated for all three cohorts, e = 3 only for 2004
    assert sorted(cells.loc[cells["event_time"] == 0, "cohort"]) == [2004, 2006, 2007]
    assert list(cells.loc[cells["event_time"] == 3, "cohort"]) == [2004]


def _heterogeneous_panel(*, with_never: bool) -> pd.DataFrame:
    """Noise-free staggered panel with cohort-specific dynamic effects (TWFE event study is biased here)."""
    rng = np.random.default_rng(42)
    cohorts = [5] * 6 + [8] * 6 + [11] * 6 + ([0] * 6 if with_never else [])
    rows = []
    for unit, cohort in enumerate(cohorts):
        level = rng.normal()
        for period in range(1, 15):
            effect = (period - cohort + 1) * (cohort / 5.0) if cohort and period >= cohort else 0.0
            rows.append((unit, period, cohort, level + np.sin(period) + effect))
    return pd.DataFrame(rows, columns=["unit", "period", "g", "y"])


def test_recovers_cohort_weighted_truth_without_noise():
    panel = _heterogeneous_panel(with_never=True)
    result = sun_abraham(panel, y="y", unit="unit", time="period", group="g")
    table = result.table.set_index("event_time")
    for event_time in (-3, -2, 0, 1, 3):
        cohorts = [c for c in (5, 8, 11) if 1 <= c + event_time <= 14]
        truth = np.mean([(event_time + 1) * c / 5.0 if event_time >= 0 else 0.0 for c in cohorts])
        assert table.loc[event_time, "estimate"] == pytest.approx(truth, abs=1e-9)


def test_last_treated_cohort_is_control_without_never_treated():
    panel = _heterogeneous_panel(with_never=False)
    result = sun_abraham(panel, y="y", unit="unit", time="period", group="g")
    assert result.control == "last treated cohort 11"
    table = result.table.set_index("event_time")
    assert table.index.max() == 11 - 1 - 5  # periods from 11 on are dropped
    assert table.loc[0, "estimate"] == pytest.approx(np.mean([1.0, 8 / 5]), abs=1e-9)


def test_missing_column_is_named(mpdta):
    with pytest.raises(ValueError, match="column 'cohort' \\(argument group=\\)"):
        sun_abraham(mpdta, y="lemp", unit="countyreal", time="year", group="cohort")
