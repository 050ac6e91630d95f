"""Layout of the built paper: the checks of :mod:`bijstand.report.layout` find real defects, and the paper built
from the results fixture (every key of the contract, :func:`test_paper.write_fixture`) has none.

The defects are made on purpose in small Typst documents with the paper's page geometry, and in figures drawn
with :mod:`bijstand.report.plots`, so each check is shown to fire before the paper is shown to pass it.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import typst  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bijstand.report import plots  # noqa: E402
from bijstand.report.layout import (  # noqa: E402
    LayoutProblem,
    PlacedFigure,
    caption_promises,
    check_figure,
    check_paper,
    check_pdf,
)
from bijstand.report.paper import build_paper  # noqa: E402


def _load_test_paper():
    """``tests/test_paper.py`` as a module, for its results-fixture writer (one fixture for both files)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_test_paper_fixture", Path(__file__).with_name("test_paper.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


write_fixture = _load_test_paper().write_fixture

PAGE = """#set page(paper: "a4", margin: (x: 2.5cm, top: 2.5cm, bottom: 2.7cm))
#set text(font: ("Libertinus Serif",), size: 11pt)
#set par(justify: true)
#show heading.where(level: 1): set text(size: 13pt)
"""


def _pdf(tmp_path: Path, body: str, name: str = "doc") -> Path:
    source = tmp_path / f"{name}.typ"
    source.write_text(PAGE + body, encoding="utf-8")
    pdf, warnings = typst.Compiler(root=str(tmp_path), ignore_system_fonts=True).compile_with_warnings(
        input=str(source), format="pdf")
    assert not warnings, [w.message for w in warnings]
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    return path


def _kinds(problems: list[LayoutProblem]) -> list[str]:
    return [p.kind for p in problems]


# ------------------------------------------------------------------------------------------- the paper

@pytest.fixture(scope="module")
def fixture_paper(tmp_path_factory):
    root = tmp_path_factory.mktemp("layout_fixture")
    results, params = write_fixture(root)
    # the build's own check is switched off here so that this test reads the report itself
    pdf, html = build_paper(results, params, root / "build", check_layout=False)
    return {"pdf": pdf, "html": html, "results": results}


def test_paper_built_from_the_fixture_has_no_layout_defects(fixture_paper):
    from bijstand.report.paper import (collect_results, find_placeholders, load_paper_params,
                                       resolve_placeholders)

    source = (Path(__file__).resolve().parents[1] / "paper" / "paper.md").read_text(encoding="utf-8")
    params = fixture_paper["results"].parent / "params" / "paper.yaml"
    results = collect_results(find_placeholders(source), fixture_paper["results"], params, load_paper_params(params))
    figures = resolve_placeholders(source, results, target="typst").figures
    report = check_paper(fixture_paper["pdf"], figures)
    assert report.ok, report.text()
    assert report.pages >= 10
    assert len(report.figures) == len(figures) == 14
    assert all(entry["min_font_pt"] >= plots.MIN_FONT_PT for entry in report.figures), report.text()
    # every figure was saved through plots.save_figure, so every one was checked for overlaps and promises
    assert not [note for note in report.notes if "no inventory" in note], report.notes


# ------------------------------------------------------------------------------------------- PDF checks fire

def test_colliding_table_headers_are_found(tmp_path):
    # two header cells whose text runs into each other, as pandoc's fixed-width tables did ("TargetTolerance")
    pdf = _pdf(tmp_path, '#set text(hyphenate: false)\n'
                         '#table(columns: (1.2cm, 1.2cm), stroke: none, inset: 0pt, [Targetvalue], [Tolerance])')
    problems, _ = check_pdf(pdf)
    assert "overlap" in _kinds(problems), problems


def test_kerned_text_is_not_an_overlap(tmp_path):
    pdf = _pdf(tmp_path, "We, Wo, To, Va: MacKinnon and Webb, Webb, Webb. " * 8)
    problems, _ = check_pdf(pdf)
    assert "overlap" not in _kinds(problems), problems


def test_text_outside_the_text_block_and_small_type_are_found(tmp_path):
    pdf = _pdf(tmp_path, "#box(width: 20cm)[#lorem(40)]\n\n#text(size: 6pt)[tiny lettering]")
    problems, _ = check_pdf(pdf)
    assert "outside" in _kinds(problems), problems
    assert "font" in _kinds(problems), problems


def test_numbers_out_of_order_and_unmentioned_are_found(tmp_path):
    body = ("As Figure 2 shows, and later Figure 1.\n\n"
            "#figure(rect(height: 2cm), caption: [second], numbering: (..) => \"2\", supplement: [Figure])\n"
            "#figure(rect(height: 2cm), caption: [first], numbering: (..) => \"1\", supplement: [Figure])\n"
            "#figure(rect(height: 2cm), caption: [table], numbering: (..) => \"1\", supplement: [Table], "
            "kind: table)\n")
    problems, _ = check_pdf(_pdf(tmp_path, body))
    messages = [str(p) for p in problems if p.kind == "numbering"]
    assert any("main-text captions in the order they appear are ['2', '1']" in m for m in messages), messages
    assert any("Figure 1: first mentioned after Figure 2" in m for m in messages), messages
    assert any("Table 1: never mentioned" in m for m in messages), messages


def test_half_empty_page_and_widowed_heading_are_found(tmp_path):
    body = ("#lorem(60)\n\n#pagebreak()\n#lorem(60)\n\n#v(1fr)\n= Methods\n#pagebreak()\n#lorem(60)\n")
    problems, pages = check_pdf(_pdf(tmp_path, body))
    assert pages == 3
    half = [p for p in problems if p.kind == "half-empty"]
    assert [p.where for p in half] == ["page 1", "page 2"], problems  # the gap above the heading is empty too
    widows = [p for p in problems if p.kind == "widow"]
    assert [p.where for p in widows] == ["page 2"] and "Methods" in widows[0].message, problems


def test_a_page_before_a_new_section_may_end_early(tmp_path):
    problems, _ = check_pdf(_pdf(tmp_path, "#lorem(60)\n\n#pagebreak()\n= Appendix\n#lorem(60)\n"))
    assert "half-empty" not in _kinds(problems), problems


# ------------------------------------------------------------------------------------------- figures

def _sample_figures() -> dict[str, Figure]:
    rng = np.random.default_rng(3)
    e = np.arange(-12, 25)
    att = np.where(e >= 0, 0.1, 0.0) + rng.normal(0, 0.03, e.size)
    event = pd.DataFrame({"event_time": e, "estimate": att, "ci_lower": att - 0.1, "ci_upper": att + 0.1,
                          "ucb_lower": att - 0.15, "ucb_upper": att + 0.15})
    truth = pd.DataFrame({"event_time": e, "att": np.where(e >= 0, 0.1, 0.0)})
    many = pd.DataFrame({"area": [f"RTM{i:02d}" for i in range(1, 43)], "start": 40 + np.arange(42) % 20})
    margins = [f"margin number {i} with a long descriptive name for the calibration" for i in range(20)]
    calibration = pd.DataFrame({"margin": margins, "synthetic": rng.uniform(0, 50_000, 20),
                                "target": rng.uniform(0, 50_000, 20), "tolerance": rng.uniform(1, 5_000, 20),
                                "ok": rng.uniform(size=20) > 0.3})
    months = np.arange(0, 49)
    km = pd.concat([pd.DataFrame({"group": g, "time": months, "survival": np.exp(-r * months),
                                  "ci_lower": np.exp(-r * months) - 0.02, "ci_upper": np.exp(-r * months) + 0.02,
                                  "at_risk": 1000}) for g, r in (("work", 0.01), ("other", 0.02))])
    figures = {
        "event_study": plots.event_study_plot(event, truth=truth, title="Outflow to work"),
        "rollout_42": plots.rollout_plot(many, unit_col="area", start_col="start", title="Roll-out"),
        "calibration": plots.calibration_plot(calibration),
        "bacon": plots.bacon_plot(pd.DataFrame({"type": ["early vs late", "late vs early"] * 20,
                                                "estimate": rng.normal(0, 0.2, 40),
                                                "weight": rng.uniform(0, 1, 40)})),
        "forest": plots.estimate_vs_truth_plot(pd.DataFrame({
            "label": ["counter-performance · non-response", "soft · work", "cohort · work"],
            "estimate": [0.1, -0.02, 0.05], "ci_lower": [0.0, -0.1, -0.05], "ci_upper": [0.2, 0.06, 0.15],
            "truth": [0.08, 0.0, 0.06]})),
        "survival": plots.survival_plot(km, failure=True, title="Re-inflow"),
        "honest": plots.honest_plot(pd.DataFrame({"method": ["Original", "C-LF", "C-LF"], "mbar": [np.nan, 0.5, 1],
                                                  "ci_lower": [-0.1, -0.2, -0.3], "ci_upper": [0.2, 0.3, 0.4]})),
        "benchmark": plots.benchmark_plot(pd.DataFrame({
            "region_code": ["GM0363", "GM0599", "GM0362", "GM0001", "GM0002"],
            "bijstandsontvangers": [49320, 46210, 1350, 100, 5000], "uitstroom_werk_pct": [9.0, 10.0, 13.0, 8, 11]}),
            highlight={"GM0363": "Amsterdam", "GM0599": "Rotterdam", "GM0362": "Amstelveen"}, national=10.5),
    }
    return figures


def test_plot_functions_print_at_7_pt_or_more_without_overlaps(tmp_path):
    for name, fig in _sample_figures().items():
        (png, svg) = plots.save_figure(fig, tmp_path / name)
        problems, summary, notes = check_figure(PlacedFigure(name, "1", png, "", svg))
        assert not problems, (name, problems)
        assert not notes, (name, notes)
        assert summary["min_font_pt"] >= plots.MIN_FONT_PT, (name, summary)
        inventory = plots.figure_inventory(png)
        assert inventory == plots.figure_inventory(svg)  # the same inventory in both files
        assert not [t for t in inventory["texts"] if "-" in t["text"] and t["text"].lstrip("-").replace(".", "")
                    .isdigit()], (name, "hyphen-minus in a number")


def test_taking_the_inventory_does_not_change_the_drawing(tmp_path):
    # the inventory is taken while the figure is drawn; the pixels must be those of a plain savefig, also for
    # multi-line lettering (wrapped tick labels), whose lines Agg draws one by one
    import matplotlib.image

    figure = _sample_figures()["calibration"]
    # constrained layout settles during the first draw; compare later draws only
    figure.savefig(tmp_path / "warm-up.png", format="png", dpi=150, bbox_inches="tight")
    (png,) = plots.save_figure(figure, tmp_path / "with_inventory.png")
    plain = tmp_path / "plain.png"
    figure.savefig(plain, format="png", dpi=150, bbox_inches="tight")
    assert np.array_equal(matplotlib.image.imread(png), matplotlib.image.imread(plain))


def test_small_lettering_and_overlapping_labels_in_a_figure_are_found(tmp_path):
    fig = Figure(figsize=(12, 4))  # drawn twice the text width: 10 pt prints at about 5 pt
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1])
    ax.text(0.5, 0.5, "first label")
    ax.text(0.5, 0.5, "second label")
    (png,) = plots.save_figure(fig, tmp_path / "bad.png")
    problems, summary, _ = check_figure(PlacedFigure("nb/bad", "3", png, "A figure."))
    kinds = _kinds(problems)
    assert "font" in kinds and summary["min_font_pt"] < plots.MIN_FONT_PT
    assert any("overlaps: 'first label' and 'second label'" in p.message for p in problems), problems


def test_caption_promises_are_held_against_what_is_drawn(tmp_path):
    months = np.arange(0, 49)
    thin = pd.DataFrame({"group": "work", "time": months, "survival": np.exp(-0.01 * months),
                         "ci_lower": np.exp(-0.01 * months) - 1e-4, "ci_upper": np.exp(-0.01 * months) + 1e-4,
                         "at_risk": 1000})
    (png,) = plots.save_figure(plots.survival_plot(thin, failure=True), tmp_path / "thin.png")
    problems, _, _ = check_figure(PlacedFigure("nb/km", "7", png, "Kaplan-Meier curves with 95% bands; "
                                               "diamonds: true values."))
    messages = [p.message for p in problems]
    assert any("promises bands" in m and "too thin to see" in m for m in messages), messages
    assert any("promises diamonds" in m for m in messages), messages
    wide = thin.assign(ci_lower=lambda t: t["survival"] - 0.05, ci_upper=lambda t: t["survival"] + 0.05)
    fig = plots.survival_plot(wide, failure=True)
    fig.axes[0].scatter([6, 12], [0.06, 0.11], marker="D")
    (png,) = plots.save_figure(fig, tmp_path / "wide.png")
    problems, _, _ = check_figure(PlacedFigure("nb/km", "7", png, "Kaplan-Meier curves with 95% bands; "
                                               "diamonds: true values."))
    assert not problems, problems


def test_caption_promises_vocabulary():
    drawn = {"bands": [], "intervals": 3, "diamonds": 0, "dashed_lines": 1, "dotted_lines": 0}
    assert caption_promises("Estimates with 95% intervals; the dashed line is the truth.", drawn) == []
    assert caption_promises("Bars are tolerances.", drawn) == []
    assert caption_promises("The dotted line marks the start.", drawn) == [
        "the caption promises a dotted line; the figure draws none"]
    assert caption_promises("Shaded: 95% bands.", {**drawn, "bands": [3.0]}) == []
    assert caption_promises("Shaded: 95% bands.", {**drawn, "bands": [3.0]}, scale=0.1) != []


def test_typst_warnings_are_problems(fixture_paper):
    report = check_paper(fixture_paper["pdf"], typst_warnings=["unknown font family: nosuchfont"])
    assert [p.kind for p in report.problems] == ["typst"]
    assert "unknown font family" in report.text()
