"""Goodman-Bacon decomposition: R ``bacondecomp`` on mpdta, and the identity with the TWFE coefficient.

The reference is ``bacondecomp::bacon(lemp ~ D, mpdta, id_var = "countyreal", time_var = "year")`` 0.1.3
(``tests/fixtures/r_didimputation_mpdta/README.md``, section 2; 17 significant digits): every 2x2 estimate and
weight and the summary by type must agree to 1e-10. On simulated panels (with never- and always-treated units)
the identity is checked: weights sum to one and the weighted 2x2 estimates reproduce the independently fitted
TWFE coefficient; and 2x2 estimates against hand-computed differences in means.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bijstand.did.bacon import bacon_decomposition
from bijstand.did.twfe import twfe_static

R_FIXTURES = Path(__file__).parent / "fixtures" / "r_didimputation_mpdta"
MPDTA = dict(y="lemp", unit="countyreal", time="year", group="first.treat")


def _area_panel(seed: int, first_treat: list[int], periods: int = 36) -> pd.DataFrame:
    """Area x month panel with heterogeneous, growing effects (where TWFE is biased)."""
    rng = np.random.default_rng(seed)
    rows = []
    for area, group in enumerate(first_treat):
        level = rng.normal(10, 2)
        for period in range(1, periods + 1):
            effect = (0.5 + 0.05 * (period - group) + 0.02 * area) if group > 0 and period >= group else 0.0
            rows.append((f"AMS{area + 1:02d}", period, group, level + 0.1 * period + effect + rng.normal(0, 0.3)))
    return pd.DataFrame(rows, columns=["area", "period", "first_treat", "y"])


def _check_identity(data: pd.DataFrame, **columns) -> pd.DataFrame:
    decomposition = bacon_decomposition(data, **columns)
    twfe = twfe_static(data, **columns).overall.estimate
    table = decomposition.table
    assert table["weight"].sum() == pytest.approx(1.0, abs=1e-10)
    assert (table["weight"] > 0).all()
    assert float((table["weight"] * table["estimate"]).sum()) == pytest.approx(twfe, abs=1e-10)
    assert decomposition.overall.estimate == pytest.approx(twfe, abs=1e-10)
    by_type = decomposition.by_type.set_index("type")
    assert by_type["weight"].sum() == pytest.approx(1.0, abs=1e-10)
    return table


@pytest.mark.reference
def test_every_two_by_two_matches_r_bacondecomp_on_mpdta(mpdta):
    reference = pd.read_csv(R_FIXTURES / "bacon_mpdta_D.csv")
    ours = bacon_decomposition(mpdta, **MPDTA).table
    # R marks the never-treated group as untreated = Inf; here it is control = 0
    reference = reference.assign(control=reference["untreated"].replace(np.inf, 0).astype(int))
    merged = ours.merge(reference, on=["treated", "control"], how="outer", suffixes=("", "_r"), indicator=True)
    assert (merged["_merge"] == "both").all() and len(merged) == len(reference) == 9
    assert (merged["type"] == merged["type_r"]).all()
    np.testing.assert_allclose(merged["estimate"], merged["estimate_r"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(merged["weight"], merged["weight_r"], rtol=0, atol=1e-10)


@pytest.mark.reference
def test_summary_by_type_and_total_match_r_bacondecomp_on_mpdta(mpdta):
    reference = pd.read_csv(R_FIXTURES / "bacon_mpdta_D_summary.csv").set_index("type")
    decomposition = bacon_decomposition(mpdta, **MPDTA)
    by_type = decomposition.by_type.set_index("type")
    types = ["Earlier vs Later Treated", "Later vs Earlier Treated", "Treated vs Untreated"]
    assert list(by_type.index) == types
    np.testing.assert_allclose(by_type["weight"], reference.loc[types, "weight"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(by_type["estimate"], reference.loc[types, "avg_est"], rtol=0, atol=1e-10)
    np.testing.assert_array_equal(by_type["n_comparisons"], reference.loc[types, "n_2x2"].astype(int))
    total = reference.loc["TOTAL (sum weight*estimate)", "avg_est"]
    twfe = reference.loc["TWFE coefficient (feols y ~ D | id + time)", "avg_est"]
    assert decomposition.overall.estimate == pytest.approx(twfe, abs=1e-10)
    table = decomposition.table
    assert float((table["weight"] * table["estimate"]).sum()) == pytest.approx(total, abs=1e-10)


def test_identity_on_mpdta(mpdta):
    table = _check_identity(mpdta, **MPDTA)
    # 3 cohorts (2004, 2006, 2007) + never treated: 3 treated-vs-never and 3 pairs x 2 timing comparisons.
    assert table["type"].value_counts().to_dict() == {
        "Earlier vs Later Treated": 3, "Later vs Earlier Treated": 3, "Treated vs Untreated": 3,
    }
    decomposition = bacon_decomposition(mpdta, **MPDTA)
    assert list(decomposition.table.columns) == ["type", "treated", "control", "estimate", "weight"]
    assert "Treated vs Untreated" in str(decomposition)
    assert decomposition.glance().loc[0, "n_comparisons"] == 9


def test_identity_on_22_area_staggered_panel_with_never_and_always_treated():
    # Cohort-approach-like roll-out: 4 areas from month 9, others later, 3 never treated, 1 always treated.
    first_treat = [9] * 4 + [11] * 3 + [12] * 2 + [14] * 6 + [18] * 3 + [0] * 3 + [1]
    assert len(first_treat) == 22
    panel = _area_panel(2024, first_treat)
    table = _check_identity(panel, y="y", unit="area", time="period", group="first_treat")
    assert set(table["type"]) == {"Earlier vs Later Treated", "Later vs Earlier Treated", "Treated vs Untreated",
                                  "Later vs Always Treated"}
    always = table.loc[table["type"] == "Later vs Always Treated"]
    assert sorted(always["treated"]) == [9, 11, 12, 14, 18] and set(always["control"]) == {1}


def test_two_by_two_estimates_are_plain_differences_in_means():
    panel = _area_panel(5, [4, 4, 7, 7, 7, 0, 0], periods=10)
    table = bacon_decomposition(panel, y="y", unit="area", time="period", group="first_treat").table
    means = panel.groupby(["first_treat", "period"])["y"].mean().unstack()

    def mean(group, lo, hi):
        return means.loc[group, lo:hi].mean()

    early_vs_never = (mean(4, 4, 10) - mean(4, 1, 3)) - (mean(0, 4, 10) - mean(0, 1, 3))
    early_vs_later = (mean(4, 4, 6) - mean(4, 1, 3)) - (mean(7, 4, 6) - mean(7, 1, 3))
    later_vs_earlier = (mean(7, 7, 10) - mean(7, 4, 6)) - (mean(4, 7, 10) - mean(4, 4, 6))
    rows = table.set_index(["type", "treated", "control"])["estimate"]
    assert rows[("Treated vs Untreated", 4, 0)] == pytest.approx(early_vs_never, abs=1e-12)
    assert rows[("Earlier vs Later Treated", 4, 7)] == pytest.approx(early_vs_later, abs=1e-12)
    assert rows[("Later vs Earlier Treated", 7, 4)] == pytest.approx(later_vs_earlier, abs=1e-12)


def test_unbalanced_panel_is_rejected():
    panel = _area_panel(1, [4, 0, 6], periods=8).iloc[1:]
    with pytest.raises(ValueError, match="the panel is unbalanced"):
        bacon_decomposition(panel, y="y", unit="area", time="period", group="first_treat")


def test_no_treatment_variation_is_rejected():
    panel = _area_panel(1, [0, 0, 0], periods=8)
    with pytest.raises(ValueError, match="column 'first_treat' gives no treatment variation"):
        bacon_decomposition(panel, y="y", unit="area", time="period", group="first_treat")
