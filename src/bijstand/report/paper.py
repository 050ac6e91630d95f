"""Build the working paper (PDF and HTML) from ``paper/paper.md`` and the notebooks' results files.

The paper never contains a number typed by hand that a notebook computes. It holds placeholders that this
module resolves from ``results/<notebook>/`` (the contract of :mod:`bijstand.report.results`):

``{{num:NOTEBOOK/KEY}}``
    inline; the value of ``numbers.json[KEY]`` formatted with its ``digits`` (thousands separators,
    a true minus sign). In HTML it is wrapped in ``<span class="num" data-key="NOTEBOOK/KEY">`` so tests
    can read every quoted number back.
``{{table:NOTEBOOK/KEY}}``
    alone on a line; ``tables/KEY.csv`` as a pipe table with the manifest's caption and its provenance
    ("Source: notebook NOTEBOOK, parameters PARAMS_FILE, seed SEED.").
``{{figure:NOTEBOOK/KEY}}``
    alone on a line; ``figures/KEY.png`` (PDF) or ``.svg`` (HTML, PNG when there is no SVG) with caption and
    provenance.
``{{figref:NOTEBOOK/KEY}}`` / ``{{tabref:NOTEBOOK/KEY}}``
    inline; "Figure 3" / "Table 2", numbered in order of appearance like Typst numbers them.

The build refuses to run on incomplete or stale results. *Missing*: a results folder or a key the paper
quotes does not exist (:class:`MissingResultError`, which names the notebook that makes it and the key).
*Stale*: a notebook's recorded parameters (``manifest.json["parameters"]``) differ from those the parameter
file (``params/paper.yaml``) gives that notebook (:class:`StaleResultError`, naming the notebook and the
parameter). Every problem is collected first and reported in one message.

Pipeline: resolve placeholders (a Python preprocessor, chosen over a Lua filter so errors are ordinary
Python exceptions and the tests can call it directly) -> pandoc (``pypandoc``, with ``--citeproc``) to Typst
and to standalone HTML -> ``typst.compile`` to PDF. Everything runs offline. Reproducibility: the PDF's
creation date is pinned (``SOURCE_DATE_EPOCH`` or :data:`DEFAULT_SOURCE_DATE_EPOCH`) and Typst uses only its
embedded fonts, so two builds from the same results give byte-identical PDFs; outputs are written to a
staging folder and moved into place with :func:`os.replace` only when both formats built, so a failed build
leaves the previous paper intact.

Command line::

    python -m bijstand.report.paper [--results results] [--params params/paper.yaml] [--out build/paper]
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from bijstand.paths import project_root
from bijstand.report.results import load_manifest, load_numbers

#: Creation date written into the PDF when ``SOURCE_DATE_EPOCH`` is not set (2024-01-01T00:00:00Z). A fixed
#: date instead of "now" is what makes two builds byte-identical.
DEFAULT_SOURCE_DATE_EPOCH = 1704067200

#: ``{{kind:notebook/key}}``; notebook and key use the characters :class:`~bijstand.report.results.Results`
#: allows in keys.
PLACEHOLDER = re.compile(r"\{\{\s*(num|table|figure|figref|tabref)\s*:\s*([0-9A-Za-z_\-]+)/([0-9A-Za-z_\-]+)\s*\}\}")
BLOCK_KINDS = {"table", "figure"}
MINUS = "\u2212"

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]{}<>#|$@~^])")


class PaperBuildError(Exception):
    """Base class of the errors that stop a paper build; the message says what to run to fix it."""


class MissingResultError(PaperBuildError, FileNotFoundError):
    """A results folder, file or key that the paper quotes does not exist."""


class StaleResultError(PaperBuildError, ValueError):
    """Results were made with parameters other than those of the parameter file the paper is built for."""


class PaperSourceError(PaperBuildError, ValueError):
    """``paper.md`` itself is malformed (a block placeholder inside a paragraph, a reference to nothing)."""


@dataclass(frozen=True)
class Placeholder:
    """One ``{{kind:notebook/key}}`` occurrence in the paper source."""

    kind: str
    notebook: str
    key: str
    line: int

    @property
    def ref(self) -> str:
        """``notebook/key``, the name used in messages and ``data-key`` attributes."""
        return f"{self.notebook}/{self.key}"


@dataclass
class NotebookResults:
    """What the paper reads from one notebook's results folder."""

    notebook: str
    folder: Path
    numbers: dict[str, dict[str, Any]]
    manifest: dict[str, Any]

    def provenance(self) -> str:
        """``"Source: notebook N, parameters P, seed S."`` from the manifest (seed left out when not recorded)."""
        text = f"Source: notebook {self.manifest.get('notebook', self.notebook)}, " \
               f"parameters {self.manifest.get('params_file', 'unknown')}"
        seed = self.manifest.get("seed")
        if seed is not None:
            text += f", seed {seed}"
        return text + "."


@dataclass
class ResolvedPaper:
    """The paper source with placeholders resolved for one output format, plus the files it needs."""

    markdown: str
    images: dict[str, Path] = field(default_factory=dict)  # path inside the build folder -> source file


# --------------------------------------------------------------------------------------------- formatting

def format_number(value: Any, digits: int | None) -> str:
    """Format a result number the way the paper prints it.

    Integers (and floats printed with ``digits == 0``) get thousands separators (``12,345``); other floats get
    exactly ``digits`` decimals (``0.123``); negative numbers use the minus sign U+2212, and a value that
    rounds to zero is printed without a sign. Strings are returned unchanged.

    Raises
    ------
    ValueError
        For a missing value (``None``/NaN): the paper must not print "nan".
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise ValueError("value is missing (null/NaN)")
    if isinstance(value, bool) or isinstance(value, str):
        return str(value)
    if isinstance(value, int) and (digits is None or digits <= 0):
        text = f"{value:,d}"
    elif digits is None:
        # No precision recorded: an integral float prints as an integer, anything else with 4 significant digits.
        text = f"{int(value):,d}" if float(value).is_integer() else f"{value:,.4g}"
    else:
        text = f"{float(value):,.{max(int(digits), 0)}f}"
    if text.startswith("-"):
        text = text[1:] if set(text[1:]) <= set("0.,") else MINUS + text[1:]
    return text


def escape_markdown(text: str) -> str:
    """Backslash-escape characters that pandoc's Markdown would read as markup (``|``, ``*``, ``@``, ...)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


def _column_decimals(values: pd.Series) -> int:
    """Decimals for a float column: fewer for large magnitudes, three for rates and effects below 10."""
    finite = values.dropna().abs()
    if finite.empty:
        return 0
    largest = finite.max()
    if largest >= 1000:
        return 0
    if largest >= 100:
        return 1
    if largest >= 10:
        return 2
    return 3


def _format_column(values: pd.Series) -> tuple[list[str], bool]:
    """Format one CSV column for the paper; return the cells and whether the column is numeric."""
    if pd.api.types.is_bool_dtype(values):
        return [str(v) for v in values], False
    if pd.api.types.is_integer_dtype(values):
        return [format_number(int(v), 0) for v in values], True
    if pd.api.types.is_float_dtype(values):
        finite = values.dropna()
        if not finite.empty and (finite == finite.round()).all() and finite.abs().max() >= 10:
            digits = 0  # counts stored as float because of missing values
        else:
            digits = _column_decimals(values)
        return ["" if pd.isna(v) else format_number(float(v), digits) for v in values], True
    return ["" if pd.isna(v) else escape_markdown(v) for v in values], False


def frame_to_pipe_table(frame: pd.DataFrame, caption: str) -> str:
    """Render a table as a pandoc pipe table with a ``Table:`` caption.

    Numbers are right-aligned, text left-aligned. The dashes under each header are proportional to the
    column's widest cell, because pandoc uses them as relative column widths when a table is wider than a
    line; this keeps long label columns wide and number columns narrow in the PDF.
    """
    columns = []
    for name in frame.columns:
        cells, numeric = _format_column(frame[name])
        columns.append((escape_markdown(name), cells, numeric))
    # a header wraps at spaces, so its longest word (not its length) is what it needs; number columns get two
    # characters of padding so neighbouring right-aligned numbers do not touch in the 9 pt PDF tables
    widths = [max([max(len(word) for word in header.split() or [""])] + [len(c) for c in cells])
              + (2 if numeric else 0) for header, cells, numeric in columns]
    header = "| " + " | ".join(h for h, _, _ in columns) + " |"
    rule = "|" + "|".join(("-" * max(w, 3) + ":") if numeric else (":" + "-" * max(w, 3))
                          for w, (_, _, numeric) in zip(widths, columns)) + "|"
    rows = ["| " + " | ".join(cells[i] for _, cells, _ in columns) + " |" for i in range(len(frame))]
    return "\n".join([header, rule, *rows, "", f"Table: {caption}"])


# --------------------------------------------------------------------------------------------- inputs

def load_paper_params(params_file: str | Path) -> dict[str, dict[str, Any]]:
    """Read the parameter file the paper is built for: ``{notebook: {parameter: value}}`` under ``notebooks``.

    Raises
    ------
    MissingResultError
        When the file does not exist.
    StaleResultError
        When its layout is not ``notebooks: {name: {param: value}}``.
    """
    path = Path(params_file)
    if not path.is_file():
        raise MissingResultError(f"parameter file {path} does not exist; the paper is built from the results "
                                 f"of the parameters it lists")
    content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(content, dict) or not isinstance(content.get("notebooks", {}), dict):
        raise StaleResultError(f"{path}: expected a top-level mapping 'notebooks: {{notebook: {{param: value}}}}'")
    notebooks = content.get("notebooks") or {}
    for name, params in notebooks.items():
        if params is not None and not isinstance(params, dict):
            raise StaleResultError(f"{path}: parameters of notebook {name!r} must be a mapping, got {params!r}")
    return {str(name): dict(params or {}) for name, params in notebooks.items()}


def find_placeholders(source: str) -> list[Placeholder]:
    """All placeholders in document order; block ones must stand alone on their line.

    Raises
    ------
    PaperSourceError
        For a ``{{table:...}}``/``{{figure:...}}`` inside running text, or a ``{{...}}`` that is not a valid
        placeholder (a typo would otherwise reach the PDF unresolved).
    """
    found = []
    problems = []
    for number, line in enumerate(source.splitlines(), start=1):
        for match in PLACEHOLDER.finditer(line):
            holder = Placeholder(match.group(1), match.group(2), match.group(3), number)
            if holder.kind in BLOCK_KINDS and line.strip() != match.group(0):
                problems.append(f"line {number}: {{{{{holder.kind}:{holder.ref}}}}} must stand alone on its line")
            found.append(holder)
        leftover = PLACEHOLDER.sub("", line)
        if "{{" in leftover or "}}" in leftover:
            problems.append(f"line {number}: malformed placeholder in {line.strip()!r} "
                            f"(expected {{{{num|table|figure|figref|tabref:NOTEBOOK/KEY}}}})")
    if problems:
        raise PaperSourceError("paper source: " + "; ".join(problems))
    return found


def _display_params_path(params_file: Path) -> str:
    """The parameter file as a reader should see it: relative to the repository, else ``parent/name``."""
    resolved = params_file.resolve()
    try:
        return resolved.relative_to(project_root()).as_posix()
    except ValueError:
        return f"{resolved.parent.name}/{resolved.name}"


def _parameters_differ(expected: Any, recorded: Any) -> bool:
    """True when a recorded parameter is not the value the parameter file asks for (1 == 1.0 counts as equal)."""
    if isinstance(expected, (int, float)) and isinstance(recorded, (int, float)) \
            and not isinstance(expected, bool) and not isinstance(recorded, bool):
        return not math.isclose(float(expected), float(recorded), rel_tol=1e-12, abs_tol=0.0)
    if isinstance(expected, (list, tuple)) and isinstance(recorded, (list, tuple)):
        return len(expected) != len(recorded) or any(_parameters_differ(a, b) for a, b in zip(expected, recorded))
    return expected != recorded


def collect_results(placeholders: list[Placeholder], results_dir: Path, params_file: Path,
                    paper_params: dict[str, dict[str, Any]]) -> dict[str, NotebookResults]:
    """Load every notebook the paper quotes and check that all quoted keys exist and are current.

    Raises
    ------
    MissingResultError
        If any results folder, number, table or figure is missing (all problems listed, each naming the
        notebook that makes it and the key).
    StaleResultError
        If nothing is missing but some notebook's recorded parameters differ from ``params_file``.
    """
    shown_params = _display_params_path(params_file)
    missing: list[str] = []
    stale: list[str] = []
    loaded: dict[str, NotebookResults] = {}
    for notebook in dict.fromkeys(p.notebook for p in placeholders):
        rerun = f"rerun: bijstand run {notebook} --params {shown_params}"
        try:
            numbers = load_numbers(notebook, results_dir)
            manifest = load_manifest(notebook, results_dir)
        except FileNotFoundError as err:
            missing.append(f"results of notebook {notebook} not found ({err})")
            continue
        loaded[notebook] = NotebookResults(notebook, results_dir / notebook, numbers, manifest)
        if notebook not in paper_params:
            stale.append(f"notebook {notebook} is quoted by the paper but has no entry in {shown_params}; "
                         f"add '{notebook}: {{}}' there to build the paper from its default parameters")
            continue
        recorded = manifest.get("parameters") or {}
        for name, expected in sorted(paper_params[notebook].items()):
            if name not in recorded:
                stale.append(f"results of notebook {notebook} are stale: parameter {name!r} is "
                             f"{expected!r} in {shown_params} but not recorded in "
                             f"{results_dir / notebook / 'manifest.json'}; {rerun}")
            elif _parameters_differ(expected, recorded[name]):
                stale.append(f"results of notebook {notebook} are stale: parameter {name!r} is "
                             f"{recorded[name]!r} in {results_dir / notebook / 'manifest.json'} but "
                             f"{expected!r} in {shown_params}; {rerun}")
    for holder in placeholders:
        res = loaded.get(holder.notebook)
        if res is None:
            continue
        if holder.kind == "num" and holder.key not in res.numbers:
            missing.append(f"number {holder.key!r} not found in results of notebook {holder.notebook} "
                           f"({res.folder / 'numbers.json'}); notebook {holder.notebook} must record it")
        elif holder.kind in ("table", "tabref"):
            if holder.key not in res.manifest.get("tables", {}) or not (
                    res.folder / res.manifest["tables"][holder.key]["file"]).is_file():
                missing.append(f"table {holder.key!r} not found in results of notebook {holder.notebook} "
                               f"({res.folder / 'tables'}); notebook {holder.notebook} must write it")
        elif holder.kind in ("figure", "figref"):
            files = res.manifest.get("figures", {}).get(holder.key, {}).get("files", [])
            if not any(f.endswith(".png") and (res.folder / f).is_file() for f in files):
                missing.append(f"figure {holder.key!r} (PNG) not found in results of notebook "
                               f"{holder.notebook} ({res.folder / 'figures'}); notebook {holder.notebook} "
                               f"must write it")
    if missing:
        raise MissingResultError("cannot build the paper:\n  " + "\n  ".join(dict.fromkeys(missing + stale)))
    if stale:
        raise StaleResultError("cannot build the paper:\n  " + "\n  ".join(dict.fromkeys(stale)))
    return loaded


# --------------------------------------------------------------------------------------------- resolving

def resolve_placeholders(source: str, results: dict[str, NotebookResults], *, target: str) -> ResolvedPaper:
    """Replace every placeholder for output ``target`` (``"typst"`` or ``"html"``).

    Typst numbers figures and tables itself ("Figure 2: ..."); pandoc's HTML does not, so for HTML the
    caption gets the same "Figure 2: " prefix. Figures are referred to by a path inside the build folder
    (``figures/<notebook>/<key>.<ext>``) so that Typst, whose file access is confined to its root, finds them.
    """
    if target not in ("typst", "html"):
        raise ValueError(f"target must be 'typst' or 'html', got {target!r}")
    placeholders = find_placeholders(source)
    figure_numbers: dict[str, int] = {}
    table_numbers: dict[str, int] = {}
    for holder in placeholders:
        if holder.kind == "figure":
            figure_numbers.setdefault(holder.ref, len(figure_numbers) + 1)
        elif holder.kind == "table":
            table_numbers.setdefault(holder.ref, len(table_numbers) + 1)
    dangling = [f"line {h.line}: {{{{{h.kind}:{h.ref}}}}} refers to a {'figure' if h.kind == 'figref' else 'table'}"
                f" the paper does not show" for h in placeholders
                if (h.kind == "figref" and h.ref not in figure_numbers)
                or (h.kind == "tabref" and h.ref not in table_numbers)]
    if dangling:
        raise PaperSourceError("paper source: " + "; ".join(dangling))

    images: dict[str, Path] = {}

    def replace(match: re.Match[str]) -> str:
        kind, notebook, key = match.group(1), match.group(2), match.group(3)
        res = results[notebook]
        ref = f"{notebook}/{key}"
        if kind == "num":
            entry = res.numbers[key]
            try:
                text = format_number(entry.get("value"), entry.get("digits"))
            except ValueError as err:
                raise MissingResultError(f"number {key!r} of notebook {notebook}: {err}; "
                                         f"notebook {notebook} must record a value") from err
            return f'[{escape_markdown(text)}]{{.num data-key="{ref}"}}'
        if kind == "figref":
            return f"Figure {figure_numbers[ref]}"
        if kind == "tabref":
            return f"Table {table_numbers[ref]}"
        if kind == "table":
            spec = res.manifest["tables"][key]
            frame = pd.read_csv(res.folder / spec["file"], keep_default_na=True)
            caption = f"{escape_markdown(spec.get('caption', '')).rstrip()} {escape_markdown(res.provenance())}"
            if target == "html":
                caption = f"Table {table_numbers[ref]}: {caption}"
            return "\n" + frame_to_pipe_table(frame, caption.strip()) + "\n"
        # figure
        spec = res.manifest["figures"][key]
        files = [res.folder / f for f in spec.get("files", [])]
        png = next(f for f in files if f.suffix == ".png" and f.is_file())
        svg = next((f for f in files if f.suffix == ".svg" and f.is_file()), None)
        chosen = svg if (target == "html" and svg is not None) else png
        inside = f"figures/{notebook}/{chosen.name}"
        images[inside] = chosen
        caption = f"{escape_markdown(spec.get('caption', '')).rstrip()} {escape_markdown(res.provenance())}"
        if target == "html":
            caption = f"Figure {figure_numbers[ref]}: {caption}"
        return f"\n![{caption.strip()}]({inside}){{#fig-{notebook}-{key} width=100%}}\n"

    return ResolvedPaper(PLACEHOLDER.sub(replace, source), images)


# --------------------------------------------------------------------------------------------- building

def _source_date_epoch() -> int:
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None:
        return DEFAULT_SOURCE_DATE_EPOCH
    try:
        return int(value)
    except ValueError as err:
        raise ValueError(f"SOURCE_DATE_EPOCH must be an integer number of seconds, got {value!r}") from err


def _stage_images(resolved: ResolvedPaper, build: Path) -> None:
    for inside, source in resolved.images.items():
        target = build / inside
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def _pandoc(markdown: str, to: str, extra_args: list[str], outputfile: Path | None = None) -> str:
    from bijstand.extras import extra_required

    with extra_required("paper", "the paper build"):
        import pypandoc

    return pypandoc.convert_text(markdown, to, format="markdown", extra_args=extra_args,
                                 outputfile=str(outputfile) if outputfile else None)


def build_paper(results_dir: str | Path = "results", params_file: str | Path = "params/paper.yaml",
                out_dir: str | Path = "build/paper", *, paper_dir: str | Path | None = None) -> list[Path]:
    """Build ``paper.pdf`` and ``paper.html`` in ``out_dir`` from ``paper_dir/paper.md`` and ``results_dir``.

    Parameters
    ----------
    results_dir
        Folder holding ``<notebook>/numbers.json``, ``manifest.json``, ``tables/``, ``figures/``.
    params_file
        The parameter file the paper is built for; every quoted notebook's recorded parameters must equal
        the values listed there.
    out_dir
        Where ``paper.pdf`` and ``paper.html`` go (created if needed).
    paper_dir
        Folder with ``paper.md``, ``references.bib`` and ``template.typ`` (default: ``<repo>/paper``).

    Returns
    -------
    list of Path
        ``[out_dir/paper.pdf, out_dir/paper.html]``.

    Raises
    ------
    MissingResultError, StaleResultError, PaperSourceError
        Before anything is written, naming the notebook (and key or parameter) to fix.
    """
    from bijstand.extras import extra_required

    with extra_required("paper", "the paper build"):
        import typst

    results_dir, params_file, out_dir = Path(results_dir), Path(params_file), Path(out_dir)
    paper_dir = Path(paper_dir) if paper_dir else project_root() / "paper"
    source = (paper_dir / "paper.md").read_text(encoding="utf-8")
    bibliography = (paper_dir / "references.bib").resolve()
    template = (paper_dir / "template.typ").resolve()

    placeholders = find_placeholders(source)
    results = collect_results(placeholders, results_dir, params_file, load_paper_params(params_file))
    for_typst = resolve_placeholders(source, results, target="typst")
    for_html = resolve_placeholders(source, results, target="html")

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".paper-build-", dir=out_dir) as tmp:
        build = Path(tmp)
        _stage_images(for_typst, build)
        _stage_images(for_html, build)
        common = ["--citeproc", f"--bibliography={bibliography}", "--standalone", "--metadata=lang:en-GB",
                  "--metadata=link-citations:true"]
        # --wrap=none: a line break inside a Typst string (e.g. the PDF keywords) would end up in the metadata.
        typst_source = _pandoc(for_typst.markdown, "typst", [*common, "--wrap=none", f"--template={template}"])
        (build / "paper.typ").write_text(typst_source, encoding="utf-8")
        # Typst's own fonts only: a system font that differs between machines would change the PDF bytes.
        pdf, typst_warnings = typst.Compiler(root=str(build), ignore_system_fonts=True).compile_with_warnings(
            input=str(build / "paper.typ"), format="pdf", timestamp=_source_date_epoch())
        for warning in typst_warnings:
            warnings.warn(f"typst: {warning.message}", stacklevel=2)
        (build / "paper.pdf").write_bytes(pdf)
        _pandoc(for_html.markdown, "html5",
                [*common, "--embed-resources", "--mathml", "--number-sections", f"--resource-path={build}"],
                outputfile=build / "paper.html")
        outputs = []
        for name in ("paper.pdf", "paper.html"):
            os.replace(build / name, out_dir / name)
            outputs.append(out_dir / name)
    return outputs


def main(argv: list[str] | None = None) -> int:
    """``python -m bijstand.report.paper``: build the paper; exit status 2 with the reason on failure."""
    parser = argparse.ArgumentParser(prog="python -m bijstand.report.paper", description=__doc__.split("\n")[0])
    parser.add_argument("--results", default="results", help="results folder (default: results)")
    parser.add_argument("--params", default="params/paper.yaml", help="parameter file the paper is built for")
    parser.add_argument("--out", default="build/paper", help="output folder (default: build/paper)")
    args = parser.parse_args(argv)
    try:
        outputs = build_paper(args.results, args.params, args.out)
    except PaperBuildError as err:
        print(f"paper: {err}", file=sys.stderr)
        return 2
    for path in outputs:
        print(f"built {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
