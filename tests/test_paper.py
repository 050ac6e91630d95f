"""The paper build: placeholders resolved from results files, failures on missing or stale results, reproducibility.

The tests never need the notebooks to have run: :func:`write_fixture` writes fake but complete results for every
key of the contract in ``paper/README.md`` (through the real :class:`~bijstand.report.results.Results` writer)
and a fixture ``params/paper.yaml``. Run this file as a script to write a fixture and build the paper from it::

    .venv/bin/python tests/test_paper.py /tmp/paper-fixture
"""

from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from bijstand.report.methods import MethodRecord  # noqa: E402
from bijstand.report.paper import (  # noqa: E402
    MISSING_CELL,
    MethodRecordWarning,
    MethodStatementError,
    MissingResultError,
    PaperSourceError,
    StaleResultError,
    TypesettingError,
    UnpublishedSourceError,
    bind_equals,
    build_paper,
    caption_markdown,
    caption_text,
    check_bibliography,
    check_methods,
    collect_results,
    find_placeholders,
    format_number,
    format_table,
    front_matter,
    load_paper_params,
    main,
    number_floats,
    resolve_placeholders,
    unpublished_sources,
)
from bijstand.report.results import PARAMS_FILE_ENV, Results  # noqa: E402

PAPER_DIR = Path(__file__).resolve().parents[1] / "paper"
PARAMS_LABEL = "params/paper.yaml"

INTEGER_KEYS = {"n_municipalities", "national_stock_2017", "ams_stock_2017", "rtm_stock_2017", "synthetic_persons",
                "n_areas", "n_neighbourhoods", "n_reps", "seconds"}


# ------------------------------------------------------------------------------------------- fixture generator

def load_contract(readme: Path = PAPER_DIR / "README.md") -> dict[str, dict[str, dict[str, str]]]:
    """The results contract: the ``yaml`` block under "The results contract" in ``paper/README.md``."""
    text = readme.read_text(encoding="utf-8")
    section = text.split("## The results contract", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, flags=re.S).group(1)
    return yaml.safe_load(block)


def fixture_parameters(contract: dict) -> dict[str, dict]:
    """Parameters of every notebook in the fixture ``paper.yaml`` (distinct per notebook so a mix-up shows)."""
    return {nb: {"seed": 20240101 + i, "scale": 1.0, "data_source": "synthetic"} for i, nb in enumerate(contract)}


def _fake_number(key: str, rng: np.random.Generator) -> tuple[float | int, int]:
    if key in INTEGER_KEYS:
        magnitude = {"national_stock_2017": 450_000, "ams_stock_2017": 42_000, "rtm_stock_2017": 38_000,
                     "synthetic_persons": 180_000, "n_municipalities": 388, "n_areas": 22, "n_neighbourhoods": 42,
                     "n_reps": 200, "seconds": 1_800}[key]
        return int(magnitude + rng.integers(-magnitude // 20, magnitude // 20 + 1)), 0
    if key.startswith("p_"):
        return float(rng.uniform(0.001, 0.3)), 3
    if key.endswith("_pct") or key.startswith("reinflow") or key == "cs_coverage":
        return float(rng.uniform(5, 95)), 1
    if key.endswith("_se") or key.startswith("hr_") or key.endswith("_mbar"):
        return float(rng.uniform(0.1, 2.0)), 3
    # effects: signed so the minus sign is exercised
    return float(rng.normal(0, 1.5)), 3


def _fake_table(key: str, rng: np.random.Generator) -> pd.DataFrame:
    n = 4
    if key == "calibration":
        return pd.DataFrame({
            "Quantity": ["Annual outflow (%)", "Outflow to work (%)", "Re-inflow within 6 months (%)",
                         "Re-inflow within 12 months (%)", "Share on assistance 5+ years (%)"],
            "Target": rng.uniform(10, 50, 5), "Synthetic": rng.uniform(10, 50, 5),
            "Source": ["CBS 84066NED", "CBS 84066NED", "Divosa 2019", "Divosa 2019", "CBS 85585NED"]})
    if key == "bacon":
        return pd.DataFrame({"Comparison": ["Earlier vs later treated", "Later vs earlier treated (forbidden)",
                                            "Treated vs never treated", "Within-group"],
                             "Weight": rng.dirichlet(np.ones(n)), "Estimate": rng.normal(0, 1, n)})
    if key == "km_by_reason":
        return pd.DataFrame({"Exit reason": ["work", "enforcement", "other"],
                             "Persons": rng.integers(1_000, 60_000, 3),
                             "Re-inflow 6 months (%)": rng.uniform(5, 30, 3),
                             "Re-inflow 12 months (%)": rng.uniform(10, 40, 3),
                             "Re-inflow 24 months (%)": [rng.uniform(15, 50), np.nan, rng.uniform(15, 50)]})
    if key == "hazard_model":
        return pd.DataFrame({"Covariate": ["Exit to work", "Exit through enforcement", "Age (10 years)",
                                           "Education: middle", "Education: high", "Refugee", "Exempt"],
                             "Hazard ratio": rng.uniform(0.4, 1.8, 7), "CI low": rng.uniform(0.3, 0.9, 7),
                             "CI high": rng.uniform(1.0, 2.2, 7), "p": rng.uniform(0, 0.5, 7)})
    if key == "simulation_summary":
        return pd.DataFrame({"Estimator": ["Callaway-Sant'Anna (DR)", "Sun-Abraham", "Imputation (BJS)", "TWFE"],
                             "Mean estimate": rng.normal(0.8, 0.2, n), "Truth": [0.8] * n,
                             "Bias (%)": rng.normal(0, 10, n), "RMSE": rng.uniform(0.05, 0.4, n),
                             "Coverage (%)": rng.uniform(85, 97, n), "Replications": [200] * n})
    outcomes = ["Outflow to work", "Outflow through enforcement", "Other outflow", "Re-inflow share (12 m)"]
    first = "Intervention" if key == "soft_vs_hard" else "Outcome"
    labels = (["Soft outreach", "Counter-performance", "Cohort approach", "Soft outreach"]
              if key == "soft_vs_hard" else outcomes)
    estimate = rng.normal(0, 1, n)
    se = rng.uniform(0.05, 0.5, n)
    return pd.DataFrame({first: labels, "Estimator": ["CS (DR)", "CS (DR)", "TWFE", "CS (DR)"],
                         "Estimate": estimate, "SE": se, "CI low": estimate - 1.96 * se,
                         "CI high": estimate + 1.96 * se, "Truth": rng.normal(0, 1, n)})


def _fake_figure(key: str, rng: np.random.Generator):
    fig, ax = plt.subplots(figsize=(6.3, 3.0))
    if "event_study" in key or key == "honest":
        e = np.arange(-12, 13)
        est = np.where(e >= 0, 0.6, 0) + rng.normal(0, 0.15, e.size)
        # vlines + plot instead of errorbar, and fixed legend locations: both keep the fixture fast to draw
        ax.vlines(e, est - 0.3, est + 0.3, lw=1)
        ax.plot(e, est, "o", ms=3, label="Callaway-Sant'Anna, 95% CI")
        ax.plot(e, np.where(e >= 0, 0.6, 0), color="black", lw=1, label="true effect")
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(-0.5, color="grey", ls=":", lw=0.8)
        ax.set_xlabel("months since start")
        ax.set_ylabel("effect per 100 recipients")
        ax.legend(frameon=False, fontsize=8, loc="upper left")
    elif key in ("km_by_reason", "cumulative_incidence"):
        months = np.arange(0, 37)
        for reason, rate in [("work", 0.01), ("enforcement", 0.04), ("other", 0.02)]:
            ax.step(months, 100 * (1 - np.exp(-rate * months)), where="post", label=reason)
        ax.set_xlabel("months since exit")
        ax.set_ylabel("re-inflow (%)")
        ax.legend(frameon=False, fontsize=8, loc="upper left")
    elif key == "soft_vs_hard":
        # the contract's caption promises CIs: draw interval bars (the layout check holds captions to it)
        estimate = rng.normal(0, 1, 4)
        ax.errorbar(estimate, np.arange(4), xerr=0.3, fmt="o", capsize=3, label="estimate, 95% CI")
        ax.scatter(rng.normal(0, 1, 4), np.arange(4) + 0.2, marker="D", label="truth")
        ax.set_xlabel("effect")
        ax.legend(frameon=False, fontsize=8, loc="upper right")
    elif key in ("bacon", "benchmark_municipalities", "calibration"):
        x, y = rng.uniform(0, 1, 60), rng.uniform(0, 1, 60)
        ax.scatter(x, y, s=12)
        ax.set_xlabel("weight" if key == "bacon" else "target / stock")
        ax.set_ylabel("estimate" if key == "bacon" else "synthetic / outflow (%)")
    else:
        t = 2015 + np.arange(120) / 12
        ax.plot(t, 450 + np.cumsum(rng.normal(0, 2, t.size)), lw=1.2)
        ax.set_ylabel("value")
    ax.set_title(key.replace("_", " "), fontsize=10)
    return fig


@contextmanager
def _params_file_env(value: str):
    old = os.environ.get(PARAMS_FILE_ENV)
    os.environ[PARAMS_FILE_ENV] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(PARAMS_FILE_ENV, None)
        else:
            os.environ[PARAMS_FILE_ENV] = old


def write_fixture(root: Path, seed: int = 7) -> tuple[Path, Path]:
    """Write ``root/results/`` (every contract key, via :class:`Results`) and ``root/params/paper.yaml``.

    Returns
    -------
    (results_dir, params_file)
    """
    contract = load_contract()
    params = fixture_parameters(contract)
    params_file = root / "params" / "paper.yaml"
    params_file.parent.mkdir(parents=True, exist_ok=True)
    params_file.write_text(yaml.safe_dump({"notebooks": params}, sort_keys=True), encoding="utf-8")
    results_dir = root / "results"
    rng = np.random.default_rng(seed)
    with _params_file_env(PARAMS_LABEL):
        for notebook, spec in contract.items():
            # An extra recorded parameter that paper.yaml does not set must not count as stale.
            res = Results.open(notebook, params={**params[notebook], "n_jobs": 2}, seed=params[notebook]["seed"],
                               results_dir=results_dir)
            for key, label in spec.get("numbers", {}).items():
                value, digits = _fake_number(key, rng)
                res.number(key, value, digits=digits, label=label)
            for key, caption in spec.get("tables", {}).items():
                res.table(key, _fake_table(key, rng), caption=f"{caption[0].upper()}{caption[1:]}.")
            for position, (key, caption) in enumerate(spec.get("figures", {}).items()):
                fig = _fake_figure(key, rng)
                # SVG only for each notebook's first figure: exercises both the SVG and the PNG-fallback path of
                # the HTML and halves the fixture's drawing time.
                formats = ("png", "svg") if position == 0 else ("png",)
                res.figure(key, fig, caption=f"{caption[0].upper()}{caption[1:]}.", formats=formats)
                plt.close(fig)
            res.close()
    return results_dir, params_file


# ------------------------------------------------------------------------------------------- helpers

class _HTMLText(html.parser.HTMLParser):
    """Visible text of the HTML, the ``span.num`` values, and the figure/table captions."""

    def __init__(self):
        super().__init__()
        self.text: list[str] = []
        self.numbers: list[tuple[str, str]] = []
        self.captions: list[tuple[str, str]] = []
        self._skip = 0
        self._num_key: str | None = None
        self._num_text: list[str] = []
        self._caption: str | None = None
        self._caption_text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("style", "script"):
            self._skip += 1
        if tag == "span" and "num" in (attrs.get("class") or "").split():
            self._num_key, self._num_text = attrs["data-key"], []
        if tag in ("figcaption", "caption"):
            self._caption, self._caption_text = tag, []

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self._skip -= 1
        if tag == "span" and self._num_key is not None:
            self.numbers.append((self._num_key, "".join(self._num_text)))
            self._num_key = None
        if tag == self._caption:
            self.captions.append((tag, " ".join("".join(self._caption_text).split())))
            self._caption = None

    def handle_data(self, data):
        if self._skip:
            return
        self.text.append(data)
        if self._num_key is not None:
            self._num_text.append(data)
        if self._caption is not None:
            self._caption_text.append(data)


def parse_html(path: Path) -> _HTMLText:
    parser = _HTMLText()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def parse_printed_number(text: str) -> float:
    """Read a number as the paper prints it (``12,345``, ``−0.123``) back into a float."""
    return float(text.replace(",", "").replace("\u2212", "-"))


def paper_source() -> str:
    return (PAPER_DIR / "paper.md").read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def fixture_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper_fixture")
    write_fixture(root)
    return root


@pytest.fixture(scope="session")
def built(fixture_root):
    started = time.perf_counter()
    outputs = build_paper(fixture_root / "results", fixture_root / "params" / "paper.yaml", fixture_root / "build")
    return {"pdf": outputs[0], "html": outputs[1], "seconds": time.perf_counter() - started}


def _copy_fixture(fixture_root: Path, target: Path) -> tuple[Path, Path]:
    shutil.copytree(fixture_root / "results", target / "results")
    shutil.copytree(fixture_root / "params", target / "params")
    return target / "results", target / "params" / "paper.yaml"


# ------------------------------------------------------------------------------------------- tests

def test_paper_quotes_exactly_the_contract():
    contract = load_contract()
    quoted = {(h.kind, h.notebook, h.key) for h in find_placeholders(paper_source())}
    promised = {({"numbers": "num", "tables": "table", "figures": "figure"}[kind], nb, key)
                for nb, spec in contract.items() for kind, keys in spec.items() for key in keys}
    assert quoted - {q for q in quoted if q[0] in ("figref", "tabref")} == promised


def test_format_number():
    assert format_number(12345, 0) == "12,345"
    assert format_number(451234.0, 0) == "451,234"
    assert format_number(1234.5678, 2) == "1,234.57"
    assert format_number(-1.25, 1) == "\u22121.2"  # round-half-even of the float 1.25
    assert format_number(-0.0004, 3) == "0.000"
    assert format_number(0.1234, 3) == "0.123"
    assert format_number("n/a", None) == "n/a"
    with pytest.raises(ValueError, match="missing"):
        format_number(None, 3)


def test_every_number_in_the_html_equals_the_results(built, fixture_root):
    parsed = parse_html(built["html"])
    quoted = {h.ref for h in find_placeholders(paper_source()) if h.kind == "num"}
    assert {key for key, _ in parsed.numbers} == quoted
    for ref, printed in parsed.numbers:
        notebook, key = ref.split("/")
        entry = json.loads((fixture_root / "results" / notebook / "numbers.json").read_text())[key]
        tolerance = 0.5 * 10 ** -(entry["digits"] or 0) + 1e-12
        assert abs(parse_printed_number(printed) - entry["value"]) <= tolerance, (ref, printed, entry)
        if abs(entry["value"]) >= 1000:
            assert "," in printed, (ref, printed)
        if entry["value"] < 0 and printed.strip("0.,\u2212"):
            assert printed.startswith("\u2212"), (ref, printed)


def test_no_unresolved_placeholders(built, fixture_root):
    text = "".join(parse_html(built["html"]).text)
    assert "{{" not in text and "}}" not in text
    assert "{{" not in built["html"].read_text(encoding="utf-8")
    source = paper_source()
    placeholders = find_placeholders(source)
    results = collect_results(placeholders, fixture_root / "results", fixture_root / "params" / "paper.yaml",
                              load_paper_params(fixture_root / "params" / "paper.yaml"))
    typst_markdown = resolve_placeholders(source, results, target="typst").markdown
    assert "{{" not in typst_markdown
    assert built["pdf"].read_bytes().startswith(b"%PDF-")


def test_captions_name_notebook_and_parameter_file(built):
    parsed = parse_html(built["html"])
    numbers = number_floats(paper_source())
    holders = [h for h in find_placeholders(paper_source()) if h.kind in ("figure", "table")]
    figures = [h for h in holders if h.kind == "figure"]
    tables = [h for h in holders if h.kind == "table"]
    figcaptions = [c for tag, c in parsed.captions if tag == "figcaption"]
    tablecaptions = [c for tag, c in parsed.captions if tag == "caption"]
    assert len(figcaptions) == len(figures) and len(tablecaptions) == len(tables)
    for holder, caption in zip(figures, figcaptions):
        assert caption.startswith(f"Figure {numbers.figures[holder.ref]}:"), caption
        assert f"Source: notebook {holder.notebook}, parameters {PARAMS_LABEL}, seed" in caption, caption
    for holder, caption in zip(tables, tablecaptions):
        assert caption.startswith(f"Table {numbers.tables[holder.ref]}:"), caption
        assert f"Source: notebook {holder.notebook}, parameters {PARAMS_LABEL}, seed" in caption, caption
    # shown in the order of their numbers: 1, 2, ... in the text, then A1, A2, ... in the appendix
    for labels in ([numbers.figures[h.ref] for h in figures], [numbers.tables[h.ref] for h in tables]):
        main_part = [label for label in labels if not label.startswith("A")]
        appendix = [label for label in labels if label.startswith("A")]
        assert main_part == [str(n) for n in range(1, len(main_part) + 1)]
        assert appendix == [f"A{n}" for n in range(1, len(appendix) + 1)]
        assert labels == main_part + appendix


def test_every_citation_key_is_in_the_bibliography(built):
    source = paper_source()
    body = source.split("\n---\n", 1)[1]
    cited = set(re.findall(r"(?:^|[\s\[;(-])@([A-Za-z0-9_:.-]*[A-Za-z0-9_])", body))
    bib = set(re.findall(r"^@\w+\{([^,\s]+),", (PAPER_DIR / "references.bib").read_text(encoding="utf-8"), re.M))
    assert cited, "no citations found"
    assert cited <= bib, sorted(cited - bib)
    # citeproc marks a citation it cannot resolve as "(key?)"; none may reach the output
    text = "".join(parse_html(built["html"]).text)
    assert not [k for k in cited if f"{k}?" in text]


def test_missing_results_folder_names_the_notebook_and_keeps_previous_pdf(built, fixture_root, tmp_path):
    results, params = _copy_fixture(fixture_root, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    shutil.copyfile(built["pdf"], out / "paper.pdf")
    shutil.rmtree(results / "05_reinflow")
    with pytest.raises(MissingResultError, match=r"results of notebook 05_reinflow not found") as err:
        build_paper(results, params, out)
    assert "bijstand run 05_reinflow" in str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert (out / "paper.pdf").read_bytes() == built["pdf"].read_bytes()
    assert sorted(p.name for p in out.iterdir()) == ["paper.pdf"]


def test_missing_key_names_notebook_and_key(fixture_root, tmp_path):
    results, params = _copy_fixture(fixture_root, tmp_path)
    numbers_file = results / "06_simulation_study" / "numbers.json"
    numbers = json.loads(numbers_file.read_text())
    del numbers["cs_coverage"]
    numbers_file.write_text(json.dumps(numbers))
    (results / "04_soft_outreach" / "figures" / "soft_vs_hard.png").unlink()
    with pytest.raises(MissingResultError) as err:
        build_paper(results, params, tmp_path / "out")
    message = str(err.value)
    assert "number 'cs_coverage' not found in results of notebook 06_simulation_study" in message
    assert "figure 'soft_vs_hard' (PNG) not found in results of notebook 04_soft_outreach" in message
    assert not (tmp_path / "out" / "paper.pdf").exists()


def test_stale_parameters_name_the_notebook(fixture_root, tmp_path):
    results, params = _copy_fixture(fixture_root, tmp_path)
    content = yaml.safe_load(params.read_text())
    content["notebooks"]["03_counter_performance"]["scale"] = 0.1
    params.write_text(yaml.safe_dump(content))
    with pytest.raises(StaleResultError) as err:
        build_paper(results, params, tmp_path / "out")
    message = str(err.value)
    assert "results of notebook 03_counter_performance are stale: parameter 'scale' is 1.0" in message
    assert "but 0.1 in params/paper.yaml" in message
    assert "02_cohort_approach" not in message


def test_parameter_missing_from_manifest_or_params_file_is_stale(fixture_root, tmp_path):
    results, params = _copy_fixture(fixture_root, tmp_path)
    content = yaml.safe_load(params.read_text())
    content["notebooks"]["02_cohort_approach"]["n_boot"] = 999
    del content["notebooks"]["06_simulation_study"]
    params.write_text(yaml.safe_dump(content))
    with pytest.raises(StaleResultError) as err:
        build_paper(results, params, tmp_path / "out")
    message = str(err.value)
    assert "results of notebook 02_cohort_approach are stale: parameter 'n_boot' is 999" in message
    assert "notebook 06_simulation_study is quoted by the paper but has no entry in params/paper.yaml" in message


def test_integer_and_float_parameters_compare_by_value(fixture_root, tmp_path):
    results, params = _copy_fixture(fixture_root, tmp_path)
    content = yaml.safe_load(params.read_text())
    content["notebooks"]["02_cohort_approach"]["scale"] = 1  # recorded as 1.0
    params.write_text(yaml.safe_dump(content))
    placeholders = find_placeholders(paper_source())
    loaded = collect_results(placeholders, results, params, load_paper_params(params))
    assert set(loaded) == set(load_contract())


def test_malformed_sources_are_refused(fixture_root):
    with pytest.raises(PaperSourceError, match=r"line 1: \{\{figure:02_cohort_approach/rollout\}\} must stand alone"):
        find_placeholders("See {{figure:02_cohort_approach/rollout}} here.\n")
    with pytest.raises(PaperSourceError, match="line 2: malformed placeholder"):
        find_placeholders("fine\n{{num:02_cohort_approach}}\n")
    source = "{{figref:02_cohort_approach/rollout}}\n"
    results = collect_results(find_placeholders(source), fixture_root / "results",
                              fixture_root / "params" / "paper.yaml",
                              load_paper_params(fixture_root / "params" / "paper.yaml"))
    with pytest.raises(PaperSourceError, match="refers to a figure the paper does not show"):
        resolve_placeholders(source, results, target="html")


def test_null_number_fails_the_build(fixture_root, tmp_path):
    results, params = _copy_fixture(fixture_root, tmp_path)
    numbers_file = results / "02_cohort_approach" / "numbers.json"
    numbers = json.loads(numbers_file.read_text())
    numbers["p_wild_webb"]["value"] = None
    numbers_file.write_text(json.dumps(numbers))
    with pytest.raises(MissingResultError, match="number 'p_wild_webb' of notebook 02_cohort_approach"):
        build_paper(results, params, tmp_path / "out")


def test_command_line_reports_missing_notebook(fixture_root, tmp_path, capsys):
    results, params = _copy_fixture(fixture_root, tmp_path)
    shutil.rmtree(results / "01_data_overview")
    code = main(["--results", str(results), "--params", str(params), "--out", str(tmp_path / "out")])
    assert code == 2
    assert "results of notebook 01_data_overview not found" in capsys.readouterr().err


def test_pdf_and_html_are_byte_identical_across_builds(built, fixture_root, tmp_path):
    again = build_paper(fixture_root / "results", fixture_root / "params" / "paper.yaml", tmp_path / "again")
    assert again[0].read_bytes() == built["pdf"].read_bytes()
    assert again[1].read_bytes() == built["html"].read_bytes()



# ------------------------------------------------------------------------------------------- tables

def test_columns_are_formatted_by_quantity_not_by_their_largest_value():
    frame = pd.DataFrame({
        "Label": ["a", "b", "c"],
        "Hazard": [0.021, 0.35, 1.2],            # estimate: 3 significant digits of the smallest value
        "95% CI low": [0.0105, 0.3, 1.1],        # follows the estimate: its decimals, not a percentage
        "Persons": [174710, 24674, 3],           # count: separators, no decimals
        "Share (%)": [12.345, 0.5, 99.0],        # percentage: 1 decimal
        "p-value": [0.0, 0.0004, 0.4503],        # p-value: 3 decimals, "< 0.001"
        "Within": [True, False, True],           # boolean: yes/no
        "Effect": [-0.0694, 0.5, -1.25],         # true minus sign
        "year": [2015, 2016, 2017],              # no thousands separator
        "Mixed": [139432.0, 1.95, 0.85],         # persons and hazards in one column: per cell
        "Gap": [1.0, np.nan, 2.0],               # missing number
    })
    table = format_table(frame)
    columns = {name: [row[i] for row in table.rows] for i, name in enumerate(table.header)}
    assert columns["Hazard"] == ["0.0210", "0.3500", "1.2000"]
    assert columns["95% CI low"] == ["0.0105", "0.3000", "1.1000"]
    assert columns["Persons"] == ["174,710", "24,674", "3"]
    assert columns["Share (%)"] == ["12.3", "0.5", "99.0"]
    assert columns["p-value"] == ["< 0.001", "< 0.001", "0.450"]
    assert columns["Within"] == ["yes", "no", "yes"]
    assert columns["Effect"] == ["\u22120.0694", "0.5000", "\u22121.2500"]
    assert columns["year"] == ["2015", "2016", "2017"]
    assert columns["Mixed"] == ["139,432", "1.95", "0.850"]
    assert columns["Gap"][1] == MISSING_CELL
    assert table.numeric == [False, True, True, True, True, True, False, True, True, True, True]
    # numbers in a column have equal decimals, so right alignment lines up their decimal points
    for name in ("Hazard", "Share (%)", "Effect"):
        assert len({len(cell.split(".")[1]) for cell in columns[name]}) == 1, name


def test_recorded_decimals_override_the_inferred_ones():
    frame = pd.DataFrame({"Hazard ratio": [0.5517, 1.3856], "Persons": [10.0, 20.0]})
    table = format_table(frame, {"Hazard ratio": 2, "Persons": "count"})
    assert [row[0] for row in table.rows] == ["0.55", "1.39"]
    assert [row[1] for row in table.rows] == ["10", "20"]
    with pytest.raises(ValueError, match="decimals spec names columns the table does not have"):
        format_table(frame, {"Odds ratio": 2})
    with pytest.raises(ValueError, match="must be an int or one of"):
        format_table(frame, {"Persons": "many"})


def test_pdf_tables_are_fitted_in_typst_and_html_tables_have_no_fixed_widths(built):
    html = built["html"].read_text(encoding="utf-8")
    tables = re.findall(r"<table.*?</table>", html, flags=re.S)
    assert len(tables) == len([h for h in find_placeholders(paper_source()) if h.kind == "table"])
    assert not [t for t in tables if "<col" in t or "width" in t]  # the browser sizes columns by content
    assert "max-width: calc(100vw" in html  # paper.css is embedded
    import pdfplumber

    with pdfplumber.open(built["pdf"]) as pdf:
        text = "\n".join(page.extract_text() or "" for page in pdf.pages)
    assert "True" not in text.split("References")[0]  # booleans print as yes/no


# ------------------------------------------------------------------------------------------- numbering

def test_floats_are_numbered_by_first_mention_with_appendix_letters():
    source = ("See {{figref:nb/b}} and {{figref:nb/a}}; {{tabref:nb/t}}.\n\n{{figure:nb/b}}\n\n{{figure:nb/a}}\n\n"
              "{{table:nb/t}}\n\n# Appendix {#appendix .unnumbered}\n\n{{figure:nb/c}}\n")
    with pytest.raises(PaperSourceError, match=r"figure nb/c is never referred to in the text; add "
                                               r"\{\{figref:nb/c\}\}"):
        number_floats(source)
    source = source.replace("{{tabref:nb/t}}.", "{{tabref:nb/t}}, {{figref:nb/c}}.")
    numbers = number_floats(source)
    assert numbers.figures == {"nb/b": "1", "nb/a": "2", "nb/c": "A1"}
    assert numbers.tables == {"nb/t": "1"}
    misplaced = source.replace("{{figure:nb/b}}\n\n{{figure:nb/a}}", "{{figure:nb/a}}\n\n{{figure:nb/b}}")
    with pytest.raises(PaperSourceError, match=r"figure nb/a is placed before figure nb/b, which the text mentions "
                                               r"first \(line 1\); move \{\{figure:nb/b\}\} before line 3"):
        number_floats(misplaced)
    with pytest.raises(PaperSourceError, match="figure nb/a is shown twice"):
        number_floats(source + "\n{{figure:nb/a}}\n")


# ------------------------------------------------------------------------------------------- sources

def test_project_files_are_not_sources():
    assert unpublished_sources("DOMAIN.md: 1.7-2.2%") == ["'DOMAIN.md' (a project document)"]
    assert unpublished_sources("seed 002: 22 areas of about 1,500") == ["'seed 002' (a seed document of the project)"]
    assert unpublished_sources("see /work/shared/seeds/002_7589db3281fb0d15.txt") != []
    assert unpublished_sources("notes in notebooks/05_reinflow.ipynb") == ["'notebooks/05_reinflow.ipynb' (a project "
                                                                           "file)"]
    for public in ("CBS 83450/83747/84066NED, NL", "Divosa benchmark 2019", "Divosa monitor 2014",
                   "Gemeente Amsterdam (2019): 22 areas of about 1,500", "CBS 37789ksz (below AOW age)",
                   "Bastiaans, Dur and Gielen (2023)", "seed 20240101 of the simulation"):
        assert unpublished_sources(public) == [], public


def test_tables_and_captions_citing_project_files_are_refused(fixture_root, tmp_path):
    results, params = _copy_fixture(fixture_root, tmp_path)
    table = results / "01_data_overview" / "tables" / "calibration.csv"
    frame = pd.read_csv(table)
    frame.loc[1, "Source"] = "DOMAIN.md: 1.7-2.2%"
    frame.to_csv(table, index=False)
    manifest_file = results / "05_reinflow" / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["figures"]["km_by_reason"]["caption"] = "Re-inflow by exit reason (targets from seed 002)."
    manifest_file.write_text(json.dumps(manifest))
    with pytest.raises(UnpublishedSourceError) as err:
        build_paper(results, params, tmp_path / "out")
    message = str(err.value)
    assert "table 01_data_overview/calibration, column 'Source', row 2 ('Outflow to work (%)'): 'DOMAIN.md' " \
           "(a project document)" in message
    assert "figure 05_reinflow/km_by_reason, caption: 'seed 002' (a seed document of the project)" in message
    assert "notebook(s) 01_data_overview, 05_reinflow" in message
    assert not (tmp_path / "out" / "paper.pdf").exists()


# ------------------------------------------------------------------------------------------- front matter

def test_front_matter_comes_from_citation_cff(built):
    front = front_matter(PAPER_DIR.parent / "CITATION.cff")
    assert front.version and front.date and front.keywords and front.jel
    import pdfplumber

    with pdfplumber.open(built["pdf"]) as pdf:
        first = " ".join(pdf.pages[0].extract_text().split())
        metadata = pdf.metadata
    assert f"Version {front.version} · {front.date}" in first
    assert "Keywords: " + "; ".join(front.keywords) in first
    assert "JEL codes: " + ", ".join(front.jel) in first
    assert front.authors[0]["name"] in first
    assert metadata.get("Author") == ", ".join(a["name"] for a in front.authors)
    html = built["html"].read_text(encoding="utf-8")
    for needle in (f'<p class="version">Version {front.version}', '<p class="keywords">', '<p class="jel">',
                   ", ".join(front.jel), front.keywords[0]):
        assert needle in html, needle


def test_persons_with_affiliations_and_jel_keywords(tmp_path):
    cff = tmp_path / "CITATION.cff"
    cff.write_text(yaml.safe_dump({
        "cff-version": "1.2.0", "title": "x", "version": "1.2.3", "date-released": "2025-03-01",
        "authors": [{"given-names": "Ada", "family-names": "Jansen", "affiliation": "University A"},
                    {"given-names": "Piet", "name-particle": "van der", "family-names": "Berg",
                     "affiliation": "Institute B"},
                    {"given-names": "Kees", "family-names": "Smit", "affiliation": "University A"}],
        "keywords": ["welfare", "JEL: I38, J68", "JEL C21"]}), encoding="utf-8")
    front = front_matter(cff)
    assert front.author_line() == "Ada Jansen\u00b9 \u00b7 Piet van der Berg\u00b2 \u00b7 Kees Smit\u00b9"
    assert front.affiliation_lines() == ["\u00b9\u2009University A", "\u00b2\u2009Institute B"]
    assert front.keywords == ("welfare",) and front.jel == ("I38", "J68", "C21")
    assert front.date == "1 March 2025" and front.version == "1.2.3"


def test_paper_md_may_not_repeat_what_citation_cff_gives(fixture_root, tmp_path):
    paper_dir = tmp_path / "paper"
    shutil.copytree(PAPER_DIR, paper_dir)
    source = (paper_dir / "paper.md").read_text(encoding="utf-8")
    (paper_dir / "paper.md").write_text(source.replace('subtitle: "Working paper"\n',
                                                       'subtitle: "Working paper"\nauthor: "Someone"\n', 1))
    with pytest.raises(PaperSourceError, match=r"the front matter sets \['author'\]; these come from CITATION.cff"):
        build_paper(fixture_root / "results", fixture_root / "params" / "paper.yaml", tmp_path / "out",
                    paper_dir=paper_dir, citation_file=PAPER_DIR.parent / "CITATION.cff")


# ------------------------------------------------------------------------------------------- typesetting

def test_typst_warnings_fail_the_build(fixture_root, tmp_path):
    paper_dir = tmp_path / "paper"
    shutil.copytree(PAPER_DIR, paper_dir)
    template = (paper_dir / "template.typ").read_text(encoding="utf-8")
    (paper_dir / "template.typ").write_text(template.replace('#set text(font: ("Libertinus Serif",)',
                                                             '#set text(font: ("No Such Font",)', 1))
    with pytest.raises(TypesettingError, match="typst warned, the paper is not written"):
        build_paper(fixture_root / "results", fixture_root / "params" / "paper.yaml", tmp_path / "out",
                    paper_dir=paper_dir, citation_file=PAPER_DIR.parent / "CITATION.cff")
    assert not (tmp_path / "out" / "paper.pdf").exists()


def test_references_print_names_whole_and_no_braces(built):
    import pdfplumber

    with pdfplumber.open(built["pdf"]) as pdf:
        text = "\n".join(page.extract_text() or "" for page in pdf.pages)
    references = text.split("\nReferences\n", 1)[1].split("Appendix", 1)[0]
    assert "{" not in references and "}" not in references
    assert "Struijvenberg" in references  # never "Strui-jvenberg": no hyphenation in the reference list
    assert "de Chaisemartin" in references and "MPhil thesis" in references
    problems = check_bibliography(PAPER_DIR / "references.bib")
    assert not [p for p in problems if "braces" in p], problems
    # every journal article is complete (volume and pages or online-first, DOI or URL)
    articles = {key for key in re.findall(r"^@article\{([^,]+),", (PAPER_DIR / "references.bib").read_text(), re.M)}
    assert not [p for p in problems if p.split(":")[0] in articles], problems
    assert [p for p in problems if p.startswith("cbs")] == []  # CBS tables: URL and access date


# ------------------------------------------------------------------------------------------- production (issue 13)

def _pdf_lines(pdf_path: Path) -> list[str]:
    import pdfplumber

    with pdfplumber.open(pdf_path) as pdf:
        return [line for page in pdf.pages for line in (page.extract_text() or "").splitlines()]


def test_an_equals_sign_never_breaks_from_its_number(built):
    assert bind_equals("gives $p$ = {{num:r/p}}, and $x = 1$\n") == "gives $p$\u00a0=\u00a0{{num:r/p}}, and $x = 1$\n"
    assert bind_equals("$p$\n= {{num:r/p}}") == "$p$\n= {{num:r/p}}"  # across lines: left as written
    # in the fixture paper "$p$ = 0.264" and "$\bar M$ = 1.675" once broke at a line end
    lines = _pdf_lines(built["pdf"])
    # pdfplumber puts an accented symbol ("M" with a bar) on a line of its own; such a line is no line break
    broken = [(before, line) for before, line in zip(lines, lines[1:])
              if (line.startswith("= ") and len(before.strip()) > 3) or line.endswith(" =")]
    assert broken == []


def test_captions_print_a_multiplication_sign_not_the_letter_x(built):
    assert caption_text("Estimator x outcome with estimate") == "Estimator \u00d7 outcome with estimate."
    assert caption_text("Exit reason x (persons, re-inflow)") == "Exit reason \u00d7 (persons, re-inflow)."
    assert caption_text("Box plots, x axis in months") == "Box plots, x axis in months."
    captions = [line for line in _pdf_lines(built["pdf"]) if line.startswith(("Table ", "Figure "))]
    assert captions and not [line for line in captions if re.search(r"\w x [\w(]", line)]


def _caption_word_gaps(pdf_path: Path) -> list[tuple[float, int, str]]:
    """``(widest gap between words in em, page, line)`` for every line of every caption in the PDF."""
    import pdfplumber

    out = []
    with pdfplumber.open(pdf_path) as pdf:
        for page in pdf.pages:
            lines: dict[int, list[dict]] = {}
            for word in page.extract_words(use_text_flow=True, extra_attrs=["size"]):
                lines.setdefault(round(word["bottom"]), []).append(word)  # a raised accent moves "top"
            size = None
            for top in sorted(lines):
                words = sorted(lines[top], key=lambda w: w["x0"])
                text = " ".join(w["text"] for w in words)
                if re.match(r"(Figure|Table) A?\d+:", text):
                    size = words[0]["size"]
                elif size is not None and abs(words[0]["size"] - size) > 0.1:
                    size = None  # the caption has ended
                if size is not None and len(words) > 1:
                    gap = max(b["x0"] - a["x1"] for a, b in zip(words, words[1:]))
                    out.append((gap / size, page.page_number, text))
    return out


def test_captions_are_set_ragged_right_without_stretched_spaces(built):
    # justified captions stretched their word spaces to 0.7 em around unbreakable notebook names
    gaps = _caption_word_gaps(built["pdf"])
    assert len({line for _, _, line in gaps}) > 20
    assert [g for g in gaps if g[0] > 0.35] == []


def test_a_p_column_header_is_set_in_italics_like_the_p_in_the_text(built):
    import pdfplumber

    with pdfplumber.open(built["pdf"]) as pdf:
        headers = [w for page in pdf.pages for w in page.extract_words(extra_attrs=["fontname", "size"])
                   if w["text"] == "p" and w["size"] < 9.5]  # table text; the body is 11 pt
    assert headers and all("Italic" in w["fontname"] for w in headers)  # the hazard-model table's "p"
    assert '<th style="text-align: right;"><em>p</em></th>' in built["html"].read_text(encoding="utf-8")


def test_m_bar_in_a_caption_is_the_symbol_of_the_text(built):
    assert caption_markdown("Robust sets by M-bar, work") == "Robust sets by *M\u0304*, work."
    assert caption_markdown("M-bars and SE*2") == "M-bars and SE\\*2."
    html = built["html"].read_text(encoding="utf-8")
    figcaptions = " ".join(c for tag, c in parse_html(built["html"]).captions)
    assert "M-bar" not in figcaptions and "<em>M\u0304</em>" in html  # the fixture's HonestDiD figure
    assert not [line for line in _pdf_lines(built["pdf"]) if "M-bar" in line]


# ------------------------------------------------------------------------------------------- methods (issue 9)

CS = MethodRecord("callaway_santanna", control_group="notyet", aggregation="simple", cluster="area", n_clusters=22,
                  inference="analytic_t", data_source="synthetic")
TWFE = MethodRecord("twfe", cluster="area", n_clusters=22, inference="analytic_t", data_source="synthetic")
CS_STATEMENT = ("Callaway\u2013Sant'Anna (not-yet-treated controls, simple aggregation, 22 area clusters, "
                "t(21) critical value 2.080); two-way fixed effects (22 area clusters, t(21) critical value 2.080).")


def write_small_results(root: Path, *, records: bool = True,
                        figure_caption: str = "Event-study estimates by month since the start.") -> tuple[Path, Path]:
    """One run ``r`` with method records (or none): a CS and a TWFE estimate, a count, a table of both and a
    CS figure, written through :class:`Results`; and its ``params/paper.yaml``."""
    params = {"seed": 11, "data_source": "synthetic"}
    params_file = root / "params" / "paper.yaml"
    params_file.parent.mkdir(parents=True, exist_ok=True)
    params_file.write_text(yaml.safe_dump({"notebooks": {"r": params}}), encoding="utf-8")
    given = (lambda value: value) if records else (lambda value: None)
    rng = np.random.default_rng(3)
    with _params_file_env(PARAMS_LABEL):
        res = Results.open("r", params=params, seed=11, results_dir=root / "results")
        res.number("att_cs", 0.512, label="CS estimate", method=given(CS), disclosure=given("synthetic"))
        res.number("att_twfe", 0.304, label="TWFE estimate", method=given(TWFE), disclosure=given("synthetic"))
        res.number("n_areas", 22, digits=0, label="areas", method=given(MethodRecord("descriptive")),
                   disclosure=given("synthetic"))
        frame = pd.DataFrame({"Estimator": ["Callaway-Sant'Anna", "TWFE"], "Estimate": [0.512, 0.304],
                              "SE": [0.1, 0.12]})
        res.table("estimates", frame, caption="Callaway\u2013Sant'Anna and two-way fixed-effects estimates.",
                  methods=given([CS, TWFE]), disclosure=given("synthetic"))
        fig = _fake_figure("event_study", rng)
        res.figure("event_study", fig, caption=figure_caption, formats=("png",), methods=given([CS]),
                   disclosure=given("estimates"))
        plt.close(fig)
        res.close()
    return root / "results", params_file


SMALL_SOURCE = """We use the Callaway\u2013Sant'Anna estimator; the effect is {{num:r/att_cs}} over {{num:r/n_areas}} areas,
and two-way fixed effects give {{num:r/att_twfe}} ({{tabref:r/estimates}}, {{figref:r/event_study}}).

Estimation: {{methods:r}}

{{table:r/estimates}}

{{figure:r/event_study}}
"""


def _check(source: str, results_dir: Path, params: Path, **kwargs) -> list[str]:
    placeholders = find_placeholders(source)
    results = collect_results(placeholders, results_dir, params, load_paper_params(params))
    return check_methods(source, placeholders, results, **kwargs)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return write_small_results(tmp_path_factory.mktemp("methods_fixture"))


def test_recorded_outputs_pass_the_method_checks(small):
    assert _check(SMALL_SOURCE, *small, require_records=True) == []


def test_naming_a_bootstrap_when_only_analytic_inference_was_recorded_fails(small):
    source = SMALL_SOURCE + "\nInference uses the restricted wild cluster bootstrap.\n"
    with pytest.raises(MethodStatementError) as err:
        _check(source, *small)
    message = str(err.value)
    assert "the paper names methods that made none of the numbers, tables and figures it quotes" in message
    assert ("line 10: 'restricted wild cluster bootstrap' (wild_restricted) in "
            "'Inference uses the restricted wild cluster bootstrap.'") in message
    # beside a number: the placeholder, its recorded inference and the sentence are named too
    source = SMALL_SOURCE + "\nWith the restricted wild cluster bootstrap the effect is {{num:r/att_cs}}.\n"
    with pytest.raises(MethodStatementError) as err:
        _check(source, *small)
    assert err.value.inconsistent == [
        "line 10: {{num:r/att_cs}} was made with inference analytic_t, but its sentence names 'restricted wild "
        "cluster bootstrap': 'With the restricted wild cluster bootstrap the effect is {{num:r/att_cs}}.'"]


def test_a_cs_number_in_a_sentence_saying_twfe_fails(small):
    source = SMALL_SOURCE + "\nThe TWFE estimate is {{num:r/att_cs}}.\n"
    with pytest.raises(MethodStatementError) as err:
        _check(source, *small)
    assert err.value.unsupported == []  # TWFE made att_twfe, so the phrase itself is supported
    assert err.value.inconsistent == [
        "line 10: {{num:r/att_cs}} was made with estimator callaway_santanna, but its sentence names 'TWFE': "
        "'The TWFE estimate is {{num:r/att_cs}}.'"]
    assert "text and records disagree on how a number was made" in str(err.value)


def test_a_caption_naming_an_estimator_its_figure_was_not_made_with_fails(tmp_path):
    results, params = write_small_results(
        tmp_path, figure_caption="Two-way fixed-effects event-study estimates by month since the start.")
    with pytest.raises(MethodStatementError) as err:
        _check(SMALL_SOURCE, results, params)
    assert err.value.inconsistent == [
        "line 8: the caption of {{figure:r/event_study}} was made with estimator callaway_santanna, but its "
        "sentence names 'Two-way fixed-effects': 'Two-way fixed-effects event-study estimates by month since the "
        "start.'"]
    # a caption naming a method that made nothing the paper quotes is unsupported, with the item's line
    results, params = write_small_results(tmp_path / "imputation",
                                          figure_caption="Event-study estimates of the imputation estimator.")
    with pytest.raises(MethodStatementError) as err:
        _check(SMALL_SOURCE, results, params)
    assert err.value.unsupported == [
        "line 8 (caption of {{figure:r/event_study}}): 'imputation estimator' (imputation) in "
        "'Event-study estimates of the imputation estimator.'"]


def test_methods_placeholder_renders_the_statement_and_captions_end_with_disclosure(small):
    results_dir, params = small
    placeholders = find_placeholders(SMALL_SOURCE)
    assert [(h.kind, h.ref, h.line) for h in placeholders if h.kind == "methods"] == [("methods", "r", 4)]
    results = collect_results(placeholders, results_dir, params, load_paper_params(params))
    markdown = resolve_placeholders(SMALL_SOURCE, results, target="html").markdown
    statement = re.search(r"Estimation: \[(.*?)\]\{\.methods data-run=\"r\"\}", markdown).group(1)
    assert statement.replace("\\", "") == CS_STATEMENT
    assert markdown.count("Disclosure: synthetic data only.") == 1  # the table
    assert "Disclosure: model estimates for areas of at least 10 persons each." in markdown  # the figure
    # only the quoted outputs count: without the TWFE number and table the statement names CS alone
    cs_only = "Effect {{num:r/att_cs}}. {{methods:r}}\n"
    markdown = resolve_placeholders(cs_only, collect_results(find_placeholders(cs_only), results_dir, params,
                                                             load_paper_params(params)), target="html").markdown
    assert "two-way" not in markdown and "Callaway" in markdown


def test_methods_placeholder_without_records_to_state_fails(small):
    with pytest.raises(MethodStatementError, match=r"line 1: \{\{methods:r\}\} has nothing to state"):
        _check("There are {{num:r/n_areas}} areas. {{methods:r}}\n", *small)
    with pytest.raises(PaperSourceError, match="malformed placeholder"):
        find_placeholders("{{methods:}}\n")


def test_outputs_without_records_are_warned_about_and_required_on_request(tmp_path):
    results, params = write_small_results(tmp_path, records=False)
    source = SMALL_SOURCE.replace("Estimation: {{methods:r}}", "") + "\nWe also use the imputation estimator.\n"
    with pytest.warns(MethodRecordWarning) as caught:
        warned = _check(source, results, params)
    messages = [str(w.message) for w in caught]
    assert messages == warned and len(warned) == 3
    assert warned[0].startswith("the paper names methods that made none")  # a warning while records are missing
    assert "(not an error yet: 5 quoted output(s) have no method record and may have been made by them)" in warned[0]
    assert warned[1] == ("5 quoted output(s) have no method record (pass method=/methods= to "
                         "Results.number/table/figure): number r/att_cs, number r/n_areas, number r/att_twfe, "
                         "table r/estimates, figure r/event_study")
    assert warned[2].startswith("5 quoted output(s) have no disclosure status")
    with pytest.raises(MethodStatementError) as err:
        _check(source, results, params, require_records=True)
    assert "have no method record" in str(err.value) and "'imputation estimator' (imputation)" in str(err.value)


def _small_paper(tmp_path: Path, source: str) -> Path:
    paper_dir = tmp_path / "paper"
    paper_dir.mkdir()
    for name in ("template.typ", "template.html", "paper.css", "references.bib"):
        shutil.copyfile(PAPER_DIR / name, paper_dir / name)
    front = paper_source().split("\n---\n", 1)[0].split("abstract:", 1)[0]
    (paper_dir / "paper.md").write_text(f"{front}abstract: |\n  A small paper.\n---\n\n# Results\n\n{source}",
                                        encoding="utf-8")
    return paper_dir


def test_small_paper_builds_with_its_methods_statement_and_require_records(small, tmp_path):
    paper_dir = _small_paper(tmp_path, SMALL_SOURCE)
    pdf, html = build_paper(*small, tmp_path / "out", paper_dir=paper_dir,
                            citation_file=PAPER_DIR.parent / "CITATION.cff", require_records=True)
    text = " ".join("".join(parse_html(html).text).split())
    assert f"Estimation: {CS_STATEMENT}" in text.replace("\u2019", "'")  # pandoc prints typographic apostrophes
    captions = [c for _, c in parse_html(html).captions]
    assert captions[0].endswith("Disclosure: synthetic data only.")  # the table
    assert captions[1].endswith("Disclosure: model estimates for areas of at least 10 persons each.")
    import pdfplumber

    with pdfplumber.open(pdf) as document:
        printed = " ".join(" ".join(page.extract_text() or "" for page in document.pages).split())
    assert "t(21) critical value 2.080" in printed
    assert "methods: " not in (tmp_path / "out" / "layout.txt").read_text(encoding="utf-8")


def test_command_line_require_records(tmp_path, capsys):
    results, params = write_small_results(tmp_path, records=False)
    paper_dir = _small_paper(tmp_path, SMALL_SOURCE.replace("Estimation: {{methods:r}}", ""))
    import bijstand.report.paper as paper_module

    original = paper_module.build_paper

    def build_small(*args, **kwargs):
        return original(*args, paper_dir=paper_dir, citation_file=PAPER_DIR.parent / "CITATION.cff", **kwargs)

    paper_module.build_paper = build_small
    try:
        code = main(["--results", str(results), "--params", str(params), "--out", str(tmp_path / "out"),
                     "--require-records"])
    finally:
        paper_module.build_paper = original
    assert code == 2
    assert "5 quoted output(s) have no method record" in capsys.readouterr().err


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "build/paper-fixture")
    results_dir, params_path = write_fixture(target)
    t0 = time.perf_counter()
    for output in build_paper(results_dir, params_path, target / "build"):
        print(f"built {output}")
    print(f"build took {time.perf_counter() - t0:.1f} s")
