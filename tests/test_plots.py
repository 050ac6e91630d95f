"""Figures: element counts, legends, missing-column errors and byte-identical saving."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bijstand.report.plots import (  # noqa: E402
    bacon_plot,
    calibration_plot,
    cumulative_incidence_plot,
    estimate_vs_truth_plot,
    event_study_plot,
    rollout_plot,
    save_figure,
    survival_plot,
)


def _legend_texts(fig: Figure) -> list[str]:
    legend = fig.axes[0].get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def _errorbars(fig: Figure) -> list[ErrorbarContainer]:
    return [c for c in fig.axes[0].containers if isinstance(c, ErrorbarContainer)]


def _bands(fig: Figure) -> list[PolyCollection]:
    return [c for c in fig.axes[0].collections if type(c).__name__ in ("PolyCollection", "FillBetweenPolyCollection")]


@pytest.fixture
def event_table() -> pd.DataFrame:
    e = np.arange(-4, 7)
    att = np.where(e >= 0, 0.5 + 0.05 * e, 0.0)
    se = np.full(e.size, 0.1)
    return pd.DataFrame({"event_time": e, "estimate": att, "se": se, "ci_lower": att - 1.96 * se,
                         "ci_upper": att + 1.96 * se, "ucb_lower": att - 2.6 * se, "ucb_upper": att + 2.6 * se})


def test_event_study_plot_elements(event_table):
    truth = pd.DataFrame({"event_time": np.arange(0, 7), "att": 0.5 + 0.05 * np.arange(0, 7)})
    fig = event_study_plot(event_table, truth=truth, title="outflow to work")
    assert isinstance(fig, Figure)
    bars = _errorbars(fig)
    assert len(bars) == 1
    assert len(bars[0].lines[0].get_xdata()) == len(event_table)  # one point per event time
    assert len(_bands(fig)) == 1  # uniform band
    # event_time -1 is in the table, so no extra reference marker
    assert _legend_texts(fig) == ["estimate, pointwise 95% CI", "uniform 95% band", "true effect"]
    true_line = [ln for ln in fig.axes[0].lines if ln.get_label() == "true effect"][0]
    assert list(true_line.get_xdata()) == list(range(7))
    assert fig.axes[0].get_title() == "outflow to work"
    vertical = [ln for ln in fig.axes[0].lines if list(ln.get_xdata()) == [-0.5, -0.5]]
    assert len(vertical) == 1  # treatment line half a period after the reference period


def test_event_study_plot_without_band_adds_reference_marker(event_table):
    table = event_table.drop(columns=["ucb_lower", "ucb_upper"])
    table = table.loc[table["event_time"] != -1]
    fig = event_study_plot(table)
    assert len(_bands(fig)) == 0
    assert _legend_texts(fig) == ["estimate, pointwise 95% CI", "reference period"]


def test_event_study_plot_missing_columns(event_table):
    with pytest.raises(ValueError, match=r"event_study_plot: table is missing column\(s\) \['ci_upper'\]"):
        event_study_plot(event_table.drop(columns="ci_upper"))
    with pytest.raises(ValueError, match=r"missing column\(s\) \['estimate'\]"):
        event_study_plot(event_table.drop(columns="estimate"))
    with pytest.raises(ValueError, match=r"missing column\(s\) \['ucb_upper'\]"):
        event_study_plot(event_table.drop(columns="ucb_upper"))
    with pytest.raises(ValueError, match=r"\(truth\): table is missing column\(s\) \['att'\]"):
        event_study_plot(event_table, truth=pd.DataFrame({"event_time": [0]}))


def test_rollout_plot_sorted_with_covid_and_comparison_units():
    adoption = pd.DataFrame({
        "area": ["Osdorp", "Bijlmer Oost", "Centrum West", "Noord", "Comparison A"],
        "cohort_start": pd.to_datetime(["2019-12-01", "2019-09-01", "2019-11-01", "2020-06-01", None]),
    })
    fig = rollout_plot(adoption, unit_col="area", start_col="cohort_start", end="2021-12")
    ax = fig.axes[0]
    assert len(ax.patches) == 4  # one bar per treated area
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["Bijlmer Oost", "Centrum West", "Osdorp", "Noord", "Comparison A (comparison)"]
    assert [t.get_text().strip() for t in ax.texts] == ["COVID-19"]
    assert _legend_texts(fig) == ["intervention in force"]


def test_rollout_plot_accepts_integer_periods():
    # first_treat_* columns of the panel: int period, 0 = never; 57 = 2019-09
    adoption = pd.DataFrame({"area": ["a", "b", "c"], "first_treat_cohort": [59, 57, 0]})
    fig = rollout_plot(adoption, unit_col="area", start_col="first_treat_cohort", events=None)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "a", "c (comparison)"]
    assert len(ax.patches) == 2
    assert len(ax.texts) == 0
    first_bar = min(ax.patches, key=lambda p: p.get_y())
    assert matplotlib.dates.num2date(first_bar.get_x()).strftime("%Y-%m") == "2019-09"


def test_rollout_plot_missing_column():
    with pytest.raises(ValueError, match=r"rollout_plot: table is missing column\(s\) \['start'\]"):
        rollout_plot(pd.DataFrame({"area": ["a"]}), unit_col="area", start_col="start")


def test_bacon_plot_groups_and_twfe_line():
    decomposition = pd.DataFrame({
        "type": ["treated vs never", "treated vs never", "early vs late", "late vs early", "late vs early"],
        "estimate": [1.0, 2.0, 0.5, -1.0, -0.5],
        "weight": [0.3, 0.2, 0.2, 0.2, 0.1],
    })
    fig = bacon_plot(decomposition)
    ax = fig.axes[0]
    assert len(ax.collections) == 3  # one scatter per comparison type
    overall = 0.3 * 1.0 + 0.2 * 2.0 + 0.2 * 0.5 - 0.2 * 1.0 - 0.1 * 0.5  # = 0.55, by hand
    assert _legend_texts(fig) == ["early vs late", "late vs early", "treated vs never", "TWFE estimate = 0.550"]
    twfe = [ln for ln in ax.lines if ln.get_label().startswith("TWFE")][0]
    assert twfe.get_ydata()[0] == pytest.approx(overall)
    with pytest.raises(ValueError, match=r"bacon_plot: table is missing column\(s\) \['weight'\]"):
        bacon_plot(decomposition.drop(columns="weight"))
    with pytest.raises(ValueError, match=r"column 'weight' must be non-negative"):
        bacon_plot(decomposition.assign(weight=-1.0))


def test_estimate_vs_truth_plot():
    table = pd.DataFrame({"label": ["cohort", "counter", "outreach"], "estimate": [0.5, 0.0, 0.2],
                          "ci_lower": [0.3, -0.2, 0.0], "ci_upper": [0.7, 0.2, 0.4], "truth": [0.45, 0.0, np.nan]})
    fig = estimate_vs_truth_plot(table)
    ax = fig.axes[0]
    assert len(_errorbars(fig)) == 1
    assert len(_errorbars(fig)[0].lines[0].get_xdata()) == 3
    assert ax.collections[-1].get_offsets().shape == (2, 2)  # truth only where known
    assert _legend_texts(fig) == ["estimate, 95% CI", "true value"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cohort", "counter", "outreach"]
    with pytest.raises(ValueError, match=r"estimate_vs_truth_plot: table is missing column\(s\) \['truth'\]"):
        estimate_vs_truth_plot(table.drop(columns="truth"))


def _km_like(groups=("work", "enforcement"), times=12, at_risk_start=100):
    rows = []
    for g in groups:
        for t in range(times + 1):
            s = 0.95 ** t
            rows.append({"group": g, "time": t, "survival": s, "ci_lower": s - 0.05, "ci_upper": min(1, s + 0.05),
                         "at_risk": at_risk_start - 10 * t, "cumulative_incidence": 1 - s})
    return pd.DataFrame(rows)


def test_survival_plot_lines_and_disclosure_truncation():
    table = _km_like()
    fig = survival_plot(table, failure=True, title="re-inflow")
    ax = fig.axes[0]
    assert _legend_texts(fig) == ["enforcement", "work"]
    assert len(ax.lines) == 2 and len(_bands(fig)) == 2
    # at_risk = 100 - 10 t: points with fewer than 10 at risk (t = 10, 11, 12) are not drawn
    assert max(ax.lines[0].get_xdata()) == 9
    assert ax.lines[0].get_ydata()[1] == pytest.approx(1 - 0.95)  # failure = 1 - S
    fig_all = survival_plot(table, min_at_risk=None)
    assert max(fig_all.axes[0].lines[0].get_xdata()) == 12
    with pytest.raises(ValueError, match=r"survival_plot: table is missing column\(s\) \['at_risk'\]"):
        survival_plot(table.drop(columns="at_risk"))
    with pytest.raises(ValueError, match=r"survival_plot: table is missing column\(s\) \['survival'\]"):
        survival_plot(table.drop(columns="survival"))


def test_cumulative_incidence_plot_one_curve_per_group_and_cause():
    table = pd.concat([_km_like().assign(event="work"), _km_like().assign(event="other")], ignore_index=True)
    fig = cumulative_incidence_plot(table)
    assert _legend_texts(fig) == ["enforcement: other", "enforcement: work", "work: other", "work: work"]
    assert len(fig.axes[0].lines) == 4
    single = cumulative_incidence_plot(table.loc[table["group"] == "work"])
    assert _legend_texts(single) == ["other", "work"]
    with pytest.raises(ValueError, match=r"cumulative_incidence_plot: table is missing column\(s\) \['ci_lower'\]"):
        cumulative_incidence_plot(table.drop(columns="ci_lower"))


def test_calibration_plot():
    table = pd.DataFrame({"margin": ["stock Amsterdam", "annual outflow", "re-inflow 12m"],
                          "synthetic": [45500.0, 0.205, 0.26], "target": [45000.0, 0.21, 0.20],
                          "tolerance": [1000.0, 0.01, 0.02], "ok": [True, True, False]})
    fig = calibration_plot(table)
    ax = fig.axes[0]
    assert _legend_texts(fig) == ["CBS target \u00b1 tolerance", "within tolerance", "outside tolerance"]
    assert len(_errorbars(fig)) == 1
    outside = ax.collections[-1].get_offsets()
    assert outside.shape == (1, 2) and outside[0, 0] == pytest.approx((0.26 - 0.20) / 0.02)
    assert len(ax.texts) == 3
    with pytest.raises(ValueError, match=r"calibration_plot: table is missing column\(s\) \['ok'\]"):
        calibration_plot(table.drop(columns="ok"))
    with pytest.raises(ValueError, match=r"column 'tolerance' must be positive"):
        calibration_plot(table.assign(tolerance=0.0))


def test_save_figure_is_byte_identical(tmp_path, event_table):
    first = save_figure(event_study_plot(event_table), tmp_path / "a" / "event_study")
    second = save_figure(event_study_plot(event_table), tmp_path / "b" / "event_study")
    assert [p.suffix for p in first] == [".png", ".svg"]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    svg = first[1].read_text()
    assert "<dc:date>" not in svg
    assert b"Software" not in first[0].read_bytes()
    (only_svg,) = save_figure(event_study_plot(event_table), tmp_path / "c" / "x.svg")
    assert only_svg.suffix == ".svg"
    with pytest.raises(ValueError, match=r"unsupported format\(s\) \['jpg'\]"):
        save_figure(event_study_plot(event_table), tmp_path / "x.jpg")


def test_national_caseload_plot_draws_both_series():
    from bijstand.report.plots import national_caseload_plot

    monthly = pd.DataFrame({"month": pd.date_range("2015-01-01", periods=24, freq="MS"),
                            "benefits_total_thousands": np.linspace(400, 450, 24)})
    quarterly = pd.DataFrame({"quarter": ["2019Q1", "2019Q2"], "persons": [431550, 425460]})
    fig = national_caseload_plot(monthly, quarterly)
    ax = fig.axes[0]
    assert len(ax.get_lines()) >= 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["benefits (CBS 37789ksz)",
                                                                    "persons (CBS 85585NED)"]
    with pytest.raises(ValueError, match="persons"):
        national_caseload_plot(monthly, quarterly.drop(columns="persons"))


def test_benchmark_plot_names_highlighted_municipalities():
    from bijstand.report.plots import benchmark_plot

    figures = pd.DataFrame({"region_code": ["GM0363", "GM0599", "GM0001"],
                            "bijstandsontvangers": [40000, 38000, 500], "uitstroom_werk_pct": [9.0, 8.5, 12.0]})
    fig = benchmark_plot(figures, highlight={"GM0363": "Amsterdam", "GM0599": "Rotterdam", "GM9999": "absent"},
                         national=10.5)
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert labels == ["Amsterdam", "Rotterdam"]
    with pytest.raises(ValueError, match="uitstroom_werk_pct"):
        benchmark_plot(figures.drop(columns="uitstroom_werk_pct"))


def test_honest_plot_draws_original_and_each_mbar():
    from bijstand.report.plots import honest_plot

    bounds = pd.DataFrame({"method": ["Original", "C-LF", "C-LF"], "mbar": [np.nan, 0.5, 1.0],
                           "ci_lower": [0.1, 0.05, -0.02], "ci_upper": [0.3, 0.35, 0.42]})
    fig = honest_plot(bounds)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["original", "0.5", "1"]
    segments = ax.collections[0].get_segments()
    assert len(segments) == 3
    np.testing.assert_allclose(segments[2][:, 1], [-0.02, 0.42])
    with pytest.raises(ValueError, match="ci_lower"):
        honest_plot(bounds.drop(columns="ci_lower"))
