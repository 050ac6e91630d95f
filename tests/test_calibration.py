"""The default synthetic register meets the CBS calibration targets within the stated tolerances."""

from __future__ import annotations

import pytest

from bijstand.data.calibration import CALIBRATION_COLUMNS, caseload_index, calibration_table
from bijstand.data.synthetic import Baseline, simulate_area_panel, simulate_register

# Scale 0.2 (about 35,000 recipients) keeps sampling noise in the rates well inside the tolerances and the test
# near 2 s.
SCALE = 0.2


@pytest.fixture(scope="module")
def register():
    return simulate_register(seed=20240101, scale=SCALE)


@pytest.fixture(scope="module")
def table(register):
    return calibration_table(register)


def test_default_register_meets_every_target(table):
    assert list(table.columns) == list(CALIBRATION_COLUMNS)
    failing = table.loc[~table["ok"], ["margin", "synthetic", "target", "tolerance"]]
    assert failing.empty, f"calibration margins out of tolerance:\n{failing}"
    assert len(table) == 20
    assert (table["tolerance"] > 0).all()


def test_targets_are_the_cbs_and_benchmark_numbers(table):
    target = table.set_index("margin")["target"]
    # CBS 83450/83747/84066NED (NL, age 15+): outflow 22.0, 20.5, 20.0 % of stock + inflow
    assert target["annual outflow rate 2015-17"] == pytest.approx((22.0 + 20.5 + 20.0) / 3)
    assert target["annual outflow rate 2015-17 Amsterdam"] == pytest.approx((19.0 + 17.0 + 16.0) / 3)
    # CBS 82662NED: inflow 2020Q2 27,340 against 19,690 in 2019Q2; outflow 16,520 against 24,270
    assert target["inflow 2020Q2 vs 2019Q2 (COVID-19)"] == pytest.approx(100 * (27340 / 19690 - 1))
    assert target["outflow 2020Q2 vs 2019Q2 (COVID-19)"] == pytest.approx(100 * (16520 / 24270 - 1))
    assert target["re-inflow within 6 months of leaving"] == 14.0
    assert target["re-inflow within 12 months of leaving"] == 20.0
    assert target["long-term share (5+ years) Dec 2017 Amsterdam"] == 48.0


def test_a_miscalibrated_register_fails(register):
    """Too little exit to work must show up as failing margins (the check can fail)."""
    bad = simulate_register(seed=20240101, scale=0.05, baseline=Baseline(base_work=0.006))
    table = calibration_table(bad).set_index("margin")
    assert not table.loc["share of outflow to work 2015-17", "ok"]
    assert not table.loc["monthly exit hazard to work 2015-19", "ok"]


def test_panel_only_input_skips_spell_margins(register):
    table = calibration_table(register.panel, scale=SCALE)
    assert "re-inflow within 6 months of leaving" not in set(table["margin"])
    assert table.set_index("margin").loc["annual outflow rate 2015-17", "ok"]


def test_area_panel_can_be_compared_too():
    panel, _ = simulate_area_panel(seed=5)
    table = calibration_table(panel).set_index("margin")
    assert table.loc["monthly exit hazard 2015-19", "ok"]
    assert table.loc["outflow 2020Q2 vs 2019Q2 (COVID-19)", "ok"]


def test_missing_column_is_named(register):
    with pytest.raises(ValueError, match="panel lacks column outflow_work"):
        calibration_table(register.panel.drop(columns="outflow_work"))


def test_caseload_index_is_tidy(register):
    index = caseload_index(register.panel)
    assert set(index["source"]) == {"synthetic", "CBS 37789ksz", "CBS 85585NED"}
    base = index[(index["month"] == "2015-12-01") & (index["source"] != "CBS 85585NED")]
    assert base["index"].tolist() == pytest.approx([100.0, 100.0])
