"""Build the working paper (PDF and HTML) from ``paper/paper.md`` and the notebooks' results files.

The paper never contains a number typed by hand that a notebook computes. It holds placeholders that this
module resolves from ``results/<notebook>/`` (the contract of :mod:`bijstand.report.results`):

``{{num:NOTEBOOK/KEY}}``
    inline; the value of ``numbers.json[KEY]`` formatted with its ``digits`` (thousands separators,
    a true minus sign). In HTML it is wrapped in ``<span class="num" data-key="NOTEBOOK/KEY">`` so tests
    can read every quoted number back.
``{{table:NOTEBOOK/KEY}}``
    alone on a line; ``tables/KEY.csv`` as a table with the manifest's caption and its provenance
    ("Source: notebook NOTEBOOK, parameters PARAMS_FILE, seed SEED."). Cells are formatted per column by the
    quantity (:func:`column_format`); in the PDF the table is a Typst float whose column widths come from its
    content, set in smaller type or on a landscape page when it is too wide (``bj-table`` in the template).
``{{figure:NOTEBOOK/KEY}}``
    alone on a line; ``figures/KEY.png`` (PDF) or ``.svg`` (HTML, PNG when there is no SVG) with caption and
    provenance, placed at the text width as a float.
``{{figref:NOTEBOOK/KEY}}`` / ``{{tabref:NOTEBOOK/KEY}}``
    inline; "Figure 3" / "Table 2".
``{{methods:RUN}}``
    inline; the sentence :func:`~bijstand.report.methods.methods_statement` makes from the method records of the
    outputs of run RUN that the paper quotes ("Callaway–Sant'Anna (not-yet-treated controls, ..., t(21) critical
    value 2.080); two-way fixed effects (...).").

Numbering (:func:`number_floats`): figures and tables are numbered in the order of their first mention (a
reference or the item itself, whichever comes first); items placed after the heading with id ``appendix`` are
numbered A1, A2, ... Every item must be referred to in the text, and items must be placed in the order of
their numbers (else :class:`PaperSourceError` says which placeholder to move).

The build refuses to run on incomplete, stale or unpublishable results. *Missing*: a results folder or a key
the paper quotes does not exist (:class:`MissingResultError`, which names the notebook that makes it and the
key). *Stale*: a notebook's recorded parameters (``manifest.json["parameters"]``) differ from those the
parameter file (``params/paper.yaml``) gives that notebook (:class:`StaleResultError`). *Unpublished
sources*: a table cell, caption or figure lettering cites a project file (``DOMAIN.md``, a seed document's
number, a path) instead of a public document (:class:`UnpublishedSourceError`). *Methods*
(:func:`check_methods`, issue 9): the text or a caption names a method that made none of the quoted outputs, a
sentence names an estimator or inference method other than the one recorded for a number it quotes, or a caption
names methods its table or figure was not made with (:class:`MethodStatementError`; the rules are those of
:mod:`bijstand.report.methods`). Quoted outputs without a method record or disclosure status (notebooks not yet
converted) are listed in a :class:`MethodRecordWarning` and in ``layout.txt``; while any exist, an unsupported
method phrase is only warned about, since an unrecorded output may have been made by it. ``require_records=True``
(``--require-records``) makes all of these errors; it becomes the default once every notebook records its methods.
Every problem is collected first and reported in one message. A caption of an output with a disclosure status
ends with it ("Disclosure: model estimates for areas of at least 10 persons each.").

Front matter comes from ``CITATION.cff`` (:func:`front_matter`): authors with affiliations, version, date of the
release, keywords and JEL codes (keywords of the form ``JEL: C21``) of the ``preferred-citation`` (else the
top-level entries); ``paper.md`` keeps title, short title, subtitle and abstract only.

Pipeline: resolve placeholders (a Python preprocessor, chosen over a Lua filter so errors are ordinary
Python exceptions and the tests can call it directly) -> pandoc (``pypandoc``, with ``--citeproc``) to Typst
and to standalone HTML (``paper/template.html``, ``paper/paper.css``) -> ``typst.compile`` to PDF; a Typst
warning fails the build (:class:`TypesettingError`). Then :func:`bijstand.report.layout.check_paper` checks
the PDF and the placed figures and writes ``layout.txt`` next to the paper; problems raise
:class:`LayoutError` *after* the new PDF and HTML are in place, so they can be looked at. Everything runs
offline. Reproducibility: the PDF's creation date is pinned (``SOURCE_DATE_EPOCH`` or
:data:`DEFAULT_SOURCE_DATE_EPOCH`) and Typst uses only its embedded fonts, so two builds from the same results
give byte-identical PDFs; outputs are written to a staging folder and moved into place with :func:`os.replace`
only when both formats built, so a build that fails before the layout check leaves the previous paper intact.

Command line::

    python -m bijstand.report.paper [--results results] [--params params/paper.yaml] [--out build/paper]
                                    [--require-records]
"""

from __future__ import annotations

import argparse
import datetime as dt
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
from bijstand.report.layout import LayoutReport, PlacedFigure, check_paper
from bijstand.report.methods import (
    OutputRecord,
    disclosure_note,
    inconsistent_caption,
    inconsistent_numbers,
    methods_statement,
    output_records,
    sentence_spans,
    unsupported_methods,
)
from bijstand.report.plots import figure_inventory
from bijstand.report.results import load_manifest, load_numbers

#: Creation date written into the PDF when ``SOURCE_DATE_EPOCH`` is not set (2024-01-01T00:00:00Z). A fixed
#: date instead of "now" is what makes two builds byte-identical.
DEFAULT_SOURCE_DATE_EPOCH = 1704067200

#: ``{{kind:notebook/key}}``; notebook and key use the characters :class:`~bijstand.report.results.Results`
#: allows in keys.
PLACEHOLDER = re.compile(r"\{\{\s*(num|table|figure|figref|tabref)\s*:\s*([0-9A-Za-z_\-]+)/([0-9A-Za-z_\-]+)\s*\}\}")
#: ``{{methods:RUN}}``: the generated methods statement of a run (:func:`~bijstand.report.methods.methods_statement`).
METHODS_PLACEHOLDER = re.compile(r"\{\{\s*methods\s*:\s*([0-9A-Za-z_\-]+)\s*\}\}")
BLOCK_KINDS = {"table", "figure"}
#: The output kind (of :class:`~bijstand.report.methods.OutputRecord`) each placeholder kind quotes.
OUTPUT_KIND = {"num": "number", "table": "table", "tabref": "table", "figure": "figure", "figref": "figure"}
MINUS = "\u2212"
#: Column headers that are a statistic's symbol; printed in italics like the symbol in the text (``$p$``).
SYMBOL_HEADERS = ("p", "t", "z", "n", "N")
#: Printed for a missing value in a number column.
MISSING_CELL = "\u2013"
#: A heading that opens the appendix: ``# Appendix ... {#appendix ...}``.
APPENDIX_HEADING = re.compile(r"^#{1,6}\s.*\{[^}]*#appendix\b[^}]*\}\s*$")

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]{}<>#|$@~^])")

#: Citations of project files instead of public documents (checked in quoted tables, captions and figures).
UNPUBLISHED_SOURCES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(?:DOMAIN|STYLE|ARCHITECTURE)(?:\.md)?\b"), "a project document"),
    (re.compile(r"(?<![\w/.])[\w./-]*\w\.(?:md|py|ipynb|ya?ml|json|csv|parquet|txt)\b", re.I), "a project file"),
    (re.compile(r"\bseeds?(?:\s+doc(?:ument)?s?)?\s*#?\s*0\d{2}\b", re.I), "a seed document of the project"),
    (re.compile(r"(?:^|[\s(])/(?:work|home|tmp|srv)/"), "a path on a project machine"),
)


class PaperBuildError(Exception):
    """Base class of the errors that stop a paper build; the message says what to run to fix it."""


class MissingResultError(PaperBuildError, FileNotFoundError):
    """A results folder, file or key that the paper quotes does not exist."""


class StaleResultError(PaperBuildError, ValueError):
    """Results were made with parameters other than those of the parameter file the paper is built for."""


class PaperSourceError(PaperBuildError, ValueError):
    """``paper.md`` (or ``CITATION.cff``) is malformed: a block placeholder inside a paragraph, a reference to
    nothing, a figure never referred to, items out of order."""


class UnpublishedSourceError(PaperBuildError, ValueError):
    """A table, caption or figure the paper shows cites a project file instead of a public document."""


class MethodStatementError(PaperBuildError, ValueError):
    """The paper names a method that made none of its numbers, or text and records disagree on a number's method.

    Attributes
    ----------
    unsupported
        The method phrases (with their lines) whose method made none of the quoted outputs.
    inconsistent
        The placeholders (and captions) whose sentence names a method other than the recorded one.
    """

    def __init__(self, message: str, unsupported: list[str], inconsistent: list[str]):
        super().__init__(message)
        self.unsupported = unsupported
        self.inconsistent = inconsistent


class MethodRecordWarning(UserWarning):
    """Quoted outputs lack a method record or disclosure status, so the method checks cannot be complete."""


class TypesettingError(PaperBuildError, RuntimeError):
    """The Typst compiler warned; the paper is not written."""


class LayoutError(PaperBuildError, RuntimeError):
    """The layout check found defects in the built paper (which is in place, to be looked at)."""

    def __init__(self, message: str, report: LayoutReport):
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class Placeholder:
    """One ``{{kind:notebook/key}}`` occurrence in the paper source."""

    kind: str
    notebook: str
    key: str
    line: int
    column: int = 0

    @property
    def ref(self) -> str:
        """``notebook/key``, the name used in messages and ``data-key`` attributes (``RUN`` for ``methods``)."""
        return f"{self.notebook}/{self.key}" if self.key else self.notebook


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

    _records: dict[tuple[str, str], OutputRecord] | None = field(default=None, init=False, repr=False,
                                                                   compare=False)

    def records(self) -> dict[tuple[str, str], OutputRecord]:
        """Every output with its method records and disclosure status, by ``(kind, "notebook/key")`` (read once)."""
        if self._records is None:
            self._records = {(r.kind, r.ref): r
                             for r in output_records(self.notebook, self.numbers, self.manifest)}
        return self._records


@dataclass
class ResolvedPaper:
    """The paper source with placeholders resolved for one output format, plus the files it needs."""

    markdown: str
    images: dict[str, Path] = field(default_factory=dict)  # path inside the build folder -> source file
    figures: list[PlacedFigure] = field(default_factory=list)


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


def _sentence(text: str) -> str:
    """``text`` ending in a full stop (a caption runs on into its source note)."""
    text = str(text).strip()
    return text if not text or text[-1] in ".!?" else text + "."


# Column names that say what a column holds. A confidence level ("95% CI low") is not a percentage.
_CONFIDENCE_LEVEL = re.compile(r"\b\d{2}(?:\.\d+)?\s*%\s*(?=(?:CI|conf|confidence|interval|band|uniform|log)\b)", re.I)
_P_VALUE = re.compile(r"^\s*(?:p|p[\s_-]?val(?:ue)?s?|pr\s*\(.*\)|p\s*\(.*\))\s*$", re.I)
_PERCENT = re.compile(r"%|\bpct\b|\bpercent(?:age)?s?\b|\bpp\b|percentage points", re.I)
_YEAR = re.compile(r"^\s*(?:year|jaar|yr)\s*$", re.I)
_COUNT = re.compile(r"\b(?:n|count|counts|number|persons|people|exits|leavers|spells|returned|returning|"
                    r"at risk|replications|reps|areas|units|clusters|municipalities|neighbourhoods|observations|"
                    r"obs|cases|months|periods)\b", re.I)
# Companions of an estimate (interval bounds, standard error, true value): printed with the estimate's decimals.
_COMPANION = re.compile(r"\b(?:ci|conf(?:idence)?|lower|upper|low|high|lb|ub|se|s\.e\.|std\.?\s*err(?:or)?|"
                        r"standard error|truth|true)\b", re.I)
#: Decimals are never raised beyond this to show small values.
MAX_DECIMALS = 4
_KINDS = ("text", "yesno", "count", "year", "percent", "p", "estimate", "mixed")


@dataclass(frozen=True)
class ColumnFormat:
    """How a table column is printed: ``kind`` (one of ``text, yesno, count, year, percent, p, estimate,
    mixed``) and, for numbers, ``decimals`` (``mixed``: per cell, three significant digits)."""

    kind: str
    decimals: int = 0

    @property
    def numeric(self) -> bool:
        return self.kind not in ("text", "yesno")


def _decimals_for(smallest: float, significant: int) -> int:
    """Decimals that show ``smallest`` (> 0) with ``significant`` significant digits, within 0..MAX_DECIMALS."""
    return int(min(max(significant - 1 - math.floor(math.log10(smallest)), 0), MAX_DECIMALS))


def _bool_like(values: pd.Series) -> bool:
    present = values.dropna()
    return len(present) > 0 and all(v in (True, False) or str(v).strip().lower() in ("true", "false")
                                    for v in present)


def column_format(name: str, values: pd.Series, *, spec: Any = None,
                  previous: ColumnFormat | None = None) -> ColumnFormat:
    """Decide how a column is printed, from a recorded ``spec`` or from its name and values.

    Rules, in order: a ``spec`` from the results record (an int = decimals of an estimate column, or a kind
    name) wins; booleans print as yes/no; a p-value column (``p``, ``p-value``) as a p-value (3 decimals,
    "< 0.001"); an interval bound, standard error or true value that follows an estimate or percentage column
    (``95% CI low``, ``SE``, ``Truth``) with that column's format; a percentage column (``%``, ``pct``, ``pp``
    in the name, but not a confidence level such as "95% CI") with 1 decimal (more only if its smallest
    non-zero value would print as zero); whole numbers as counts (0 decimals, thousands separators; a
    ``year`` column without); any other number as an estimate, with
    the decimals that give its *smallest* non-zero value three significant digits (at most
    :data:`MAX_DECIMALS`), not decimals set by the largest value. A column mixing magnitudes (largest /
    smallest non-zero above 10,000, e.g. persons and hazards in one column) is printed per cell with three
    significant digits.
    """
    if spec is not None:
        if isinstance(spec, bool) or not isinstance(spec, (int, str)):
            raise ValueError(f"decimals spec of column {name!r} must be an int or one of {_KINDS}, got {spec!r}")
        if isinstance(spec, int):
            return ColumnFormat("estimate", spec)
        if spec not in _KINDS:
            raise ValueError(f"decimals spec of column {name!r} must be an int or one of {_KINDS}, got {spec!r}")
        if spec in ("percent", "p"):
            return ColumnFormat(spec, 1 if spec == "percent" else 3)
        return ColumnFormat(spec, 0)
    if pd.api.types.is_bool_dtype(values) or (values.dtype == object and _bool_like(values)):
        return ColumnFormat("yesno")
    if not pd.api.types.is_numeric_dtype(values):
        return ColumnFormat("text")
    finite = pd.to_numeric(values, errors="coerce").dropna()
    label = _CONFIDENCE_LEVEL.sub("", str(name))
    if _P_VALUE.match(label):
        return ColumnFormat("p", 3)
    nonzero = finite[finite != 0].abs()
    integral = not finite.empty and bool((finite == finite.round()).all())
    if previous is not None and previous.kind in ("estimate", "percent") and _COMPANION.search(label):
        return previous
    if _PERCENT.search(label):
        decimals = 1 if nonzero.empty else max(1, _decimals_for(float(nonzero.min()), 1))
        return ColumnFormat("percent", min(decimals, 3))
    if integral and (pd.api.types.is_integer_dtype(values) or _COUNT.search(label) or finite.abs().max() >= 10):
        return ColumnFormat("year" if _YEAR.match(label) else "count", 0)
    if nonzero.empty:
        return ColumnFormat("estimate", 3)
    if float(nonzero.max()) / float(nonzero.min()) > 1e4:
        return ColumnFormat("mixed", 3)
    return ColumnFormat("estimate", _decimals_for(float(nonzero.min()), 3))


def _significant(value: float, digits: int = 3) -> str:
    """Three significant digits, whole numbers at least, thousands separators (mixed-magnitude columns)."""
    if value == 0:
        return "0"
    return format_number(float(value), _decimals_for(abs(float(value)), digits) if abs(value) < 10 ** digits else 0)


def format_cell(value: Any, fmt: ColumnFormat) -> str:
    """One table cell as printed: yes/no, "< 0.001", true minus signs, :data:`MISSING_CELL` for no value."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or (not isinstance(value, str)
                                                                             and pd.isna(value)):
        return MISSING_CELL if fmt.numeric else ""
    if fmt.kind == "text":
        return str(value)
    if fmt.kind == "yesno":
        return "yes" if value is True or str(value).strip().lower() == "true" else "no"
    number = float(value)
    if fmt.kind == "p":
        return "< 0.001" if number < 0.001 else format_number(number, 3)
    if fmt.kind == "mixed":
        return _significant(number)
    if fmt.kind == "year":
        return str(int(round(number)))
    return format_number(number, fmt.decimals)


@dataclass
class FormattedTable:
    """A table as printed: header, cell strings, and per column whether it holds numbers."""

    header: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    formats: list[ColumnFormat]


def format_table(frame: pd.DataFrame, decimals: dict[str, Any] | None = None) -> FormattedTable:
    """Format every cell of a results table (:func:`column_format` per column, ``decimals`` = recorded specs)."""
    decimals = dict(decimals or {})
    unknown = sorted(set(decimals) - {str(c) for c in frame.columns})
    if unknown:
        raise ValueError(f"decimals spec names columns the table does not have: {unknown}")
    formats: list[ColumnFormat] = []
    previous: ColumnFormat | None = None
    for name in frame.columns:
        fmt = column_format(str(name), frame[name], spec=decimals.get(str(name)), previous=previous)
        formats.append(fmt)
        # the column that later interval bounds, SEs and true values belong to: the last estimate or percentage
        # column that is not itself one of them (a text or yes/no column in between does not break the link)
        if fmt.kind in ("estimate", "percent") and not _COMPANION.search(_CONFIDENCE_LEVEL.sub("", str(name))):
            previous = fmt
        elif fmt.kind not in ("estimate", "percent", "text", "yesno"):
            previous = None
    columns = [[format_cell(v, fmt) for v in frame[name].tolist()] for name, fmt in zip(frame.columns, formats)]
    rows = [[column[i] for column in columns] for i in range(len(frame))]
    return FormattedTable([str(c) for c in frame.columns], rows, [f.numeric for f in formats], formats)


def frame_to_pipe_table(frame: pd.DataFrame, caption: str, decimals: dict[str, Any] | None = None) -> str:
    """Render a table as a pandoc pipe table with a ``Table:`` caption (the HTML version).

    Numbers are right-aligned (equal decimals within a column, so their decimal points line up), text
    left-aligned. The rules under the header are short on purpose: the HTML build runs pandoc with a very
    large ``--columns`` so pandoc sets no column widths and the browser sizes columns by their content.
    """
    table = format_table(frame, decimals)
    header = "| " + " | ".join(f"*{h}*" if h in SYMBOL_HEADERS else escape_markdown(h) for h in table.header) + " |"
    rule = "|" + "|".join("---:" if numeric else ":---" for numeric in table.numeric) + "|"
    rows = ["| " + " | ".join(escape_markdown(c) for c in row) + " |" for row in table.rows]
    return "\n".join([header, rule, *rows, "", f"Table: {caption}"])


def _typst_string(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def frame_to_typst_table(frame: pd.DataFrame, *, label: str, caption_typst: str,
                         decimals: dict[str, Any] | None = None, placement: str = "auto") -> str:
    """Render a table as a raw Typst block calling the template's ``bj-table`` (the PDF version).

    Cells are passed as strings, so nothing in them is read as markup; ``bj-table`` measures them, gives each
    column the width its content needs (header text wraps at spaces only, numbers never wrap), shrinks the
    type step by step down to 7 pt when the table is wider than the text block, and sets it on a landscape
    page when even that is too wide. ``placement`` is the float's (``auto``; ``top`` in the appendix, where no
    text flows between the floats and they should stack from the top of the page).
    """
    table = format_table(frame, decimals)
    tuple_of = lambda items: "(" + "".join(f"{item}, " for item in items) + ")"  # noqa: E731 - one-element safe
    rows = tuple_of(tuple_of(_typst_string(c) for c in row) for row in table.rows)
    return ("```{=typst}\n"
            f"#bj-table(number: {_typst_string(label)}, placement: {placement}, caption: [{caption_typst}],\n"
            f"  header: {tuple_of(_typst_string(h) for h in table.header)},\n"
            f"  numeric: {tuple_of('true' if n else 'false' for n in table.numeric)},\n"
            f"  rows: {rows})\n"
            "```")


# --------------------------------------------------------------------------------------------- sources

def unpublished_sources(text: str) -> list[str]:
    """What in ``text`` cites a project file rather than a public document (empty when nothing does)."""
    found, taken = [], []
    for pattern, what in UNPUBLISHED_SOURCES:
        for match in pattern.finditer(str(text)):
            if any(match.start() < end and start < match.end() for start, end in taken):
                continue  # already reported under an earlier pattern
            taken.append(match.span())
            found.append(f"{match.group(0).strip()!r} ({what})")
    return found


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
        on_line = []
        for match in PLACEHOLDER.finditer(line):
            holder = Placeholder(match.group(1), match.group(2), match.group(3), number, match.start())
            if holder.kind in BLOCK_KINDS and line.strip() != match.group(0):
                problems.append(f"line {number}: {{{{{holder.kind}:{holder.ref}}}}} must stand alone on its line")
            on_line.append(holder)
        on_line += [Placeholder("methods", m.group(1), "", number, m.start())
                    for m in METHODS_PLACEHOLDER.finditer(line)]
        found += sorted(on_line, key=lambda h: h.column)
        leftover = METHODS_PLACEHOLDER.sub("", PLACEHOLDER.sub("", line))
        if "{{" in leftover or "}}" in leftover:
            problems.append(f"line {number}: malformed placeholder in {line.strip()!r} "
                            f"(expected {{{{num|table|figure|figref|tabref:NOTEBOOK/KEY}}}} or {{{{methods:RUN}}}})")
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


# --------------------------------------------------------------------------------------------- numbering

@dataclass(frozen=True)
class FloatNumbers:
    """Printed numbers of the paper's figures and tables (``"3"``, ``"A1"``), by ``notebook/key``."""

    figures: dict[str, str]
    tables: dict[str, str]

    def label(self, kind: str, ref: str) -> str:
        return (self.figures if kind in ("figure", "figref") else self.tables)[ref]


def number_floats(source: str, placeholders: list[Placeholder] | None = None) -> FloatNumbers:
    """Number figures and tables by first mention, A1, A2, ... after the ``#appendix`` heading.

    The first mention of an item is its first ``{{figref:...}}``/``{{tabref:...}}`` or the item itself,
    whichever comes first.

    Raises
    ------
    PaperSourceError
        When a reference points at an item the paper does not show, an item is shown twice or never
        referred to, or items are placed out of the order of their numbers (the message names the
        placeholder to move).
    """
    placeholders = find_placeholders(source) if placeholders is None else placeholders
    appendix_line = next((n for n, line in enumerate(source.splitlines(), start=1)
                          if APPENDIX_HEADING.match(line)), None)
    problems: list[str] = []
    numbers: dict[str, dict[str, str]] = {"figure": {}, "table": {}}
    for kind, ref_kind in (("figure", "figref"), ("table", "tabref")):
        placed: list[Placeholder] = []
        for holder in (h for h in placeholders if h.kind == kind):
            earlier = next((p for p in placed if p.ref == holder.ref), None)
            if earlier is not None:
                problems.append(f"line {holder.line}: {kind} {holder.ref} is shown twice (also on line "
                                f"{earlier.line})")
            else:
                placed.append(holder)
        shown = {h.ref for h in placed}
        references = [h for h in placeholders if h.kind == ref_kind]
        problems += [f"line {h.line}: {{{{{h.kind}:{h.ref}}}}} refers to a {kind} the paper does not show"
                     for h in references if h.ref not in shown]
        referred = {h.ref for h in references}
        problems += [f"line {h.line}: {kind} {h.ref} is never referred to in the text; add "
                     f"{{{{{ref_kind}:{h.ref}}}}} where the text discusses it" for h in placed if h.ref not in referred]
        first: dict[str, tuple[int, int]] = {}
        for holder in sorted(references + placed, key=lambda h: (h.line, h.column)):
            first.setdefault(holder.ref, (holder.line, holder.column))
        for in_appendix, prefix in ((False, ""), (True, "A")):
            items = [h for h in placed if (appendix_line is not None and h.line > appendix_line) == in_appendix]
            by_mention = sorted(items, key=lambda h: first[h.ref])
            for position, holder in enumerate(by_mention, start=1):
                numbers[kind][holder.ref] = f"{prefix}{position}"
            for where, expected in zip(items, by_mention):
                if where.ref != expected.ref:
                    problems.append(f"line {where.line}: {kind} {where.ref} is placed before {kind} {expected.ref}, "
                                    f"which the text mentions first (line {first[expected.ref][0]}); move "
                                    f"{{{{{kind}:{expected.ref}}}}} before line {where.line}")
                    break
    if problems:
        raise PaperSourceError("paper source: " + "; ".join(problems))
    return FloatNumbers(numbers["figure"], numbers["table"])


# --------------------------------------------------------------------------------------------- front matter

_JEL = re.compile(r"^\s*JEL\s*:?\s*((?:[A-Z]\d{1,2}\s*,?\s*)+)$")
_SUPERSCRIPTS = "\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
#: Front-matter fields that come from ``CITATION.cff`` only (one source of truth).
CFF_FIELDS = ("author", "date", "keywords", "jel", "version")


@dataclass(frozen=True)
class FrontMatter:
    """What the title block prints, from ``CITATION.cff``."""

    authors: tuple[dict[str, Any], ...]
    affiliations: tuple[str, ...]
    version: str | None
    date: str | None
    keywords: tuple[str, ...]
    jel: tuple[str, ...]
    title: str | None

    def author_line(self) -> str:
        """Names separated by " · ", with superscript affiliation markers when there are several affiliations."""
        names = []
        for author in self.authors:
            marker = ""
            if len(self.affiliations) > 1 and author.get("affiliation"):
                marker = _SUPERSCRIPTS[self.affiliations.index(author["affiliation"]) % len(_SUPERSCRIPTS)]
            names.append(author["name"] + marker)
        return " \u00b7 ".join(names)

    def affiliation_lines(self) -> list[str]:
        if len(self.affiliations) <= 1:
            return list(self.affiliations)
        return [f"{_SUPERSCRIPTS[i % len(_SUPERSCRIPTS)]}\u2009{a}" for i, a in enumerate(self.affiliations)]

    def metadata(self) -> dict[str, Any]:
        """Pandoc metadata for the templates (``author-line``, ``affiliations``, ``author-names``, ``version``,
        ``date``, ``keywords``, ``jel``)."""
        meta: dict[str, Any] = {"author-line": escape_markdown(self.author_line()),
                                "author-names": [a["name"] for a in self.authors],
                                "author": [escape_markdown(a["name"]) for a in self.authors]}
        if self.affiliations:
            meta["affiliations"] = [escape_markdown(line) for line in self.affiliation_lines()]
        if self.version:
            meta["version"] = escape_markdown(self.version)
        if self.date:
            meta["date"] = self.date
        if self.keywords:
            meta["keywords"] = [escape_markdown(k) for k in self.keywords]
        if self.jel:
            meta["jel"] = ", ".join(self.jel)
        return meta


def _cff_name(person: dict[str, Any]) -> str:
    if person.get("name"):
        return str(person["name"])
    parts = [person.get("given-names"), person.get("name-particle"), person.get("family-names")]
    name = " ".join(str(p) for p in parts if p)
    return f"{name}, {person['name-suffix']}" if person.get("name-suffix") else name


def front_matter(citation_file: str | Path) -> FrontMatter:
    """Read authors, affiliations, version, date, keywords and JEL codes from a ``CITATION.cff``.

    Authors, keywords and title come from ``preferred-citation`` when it has them (the citation of the paper),
    else from the top level; version and date (``date-released``) from the top level. Keywords written
    ``JEL: C21`` (or ``JEL C21, C23``) are JEL codes, the others keywords.

    Raises
    ------
    PaperSourceError
        When the file is missing, is not a mapping, or lists no author.
    """
    path = Path(citation_file)
    if not path.is_file():
        raise PaperSourceError(f"{path} does not exist; the paper's authors, version and date come from it")
    content = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(content, dict):
        raise PaperSourceError(f"{path}: expected a YAML mapping (Citation File Format)")
    preferred = content.get("preferred-citation") or {}
    people = preferred.get("authors") or content.get("authors") or []
    if not people:
        raise PaperSourceError(f"{path}: no authors")
    authors = tuple({"name": _cff_name(p), "affiliation": str(p["affiliation"]).strip() if p.get("affiliation")
                     else None, "orcid": p.get("orcid")} for p in people)
    affiliations = tuple(dict.fromkeys(a["affiliation"] for a in authors if a["affiliation"]))
    keywords, jel = [], []
    for keyword in preferred.get("keywords") or content.get("keywords") or []:
        match = _JEL.match(str(keyword))
        if match:
            jel += [code for code in re.split(r"[\s,]+", match.group(1)) if code]
        else:
            keywords.append(str(keyword))
    released = content.get("date-released")
    if isinstance(released, str):
        released = dt.date.fromisoformat(released)
    date = f"{released.day} {released.strftime('%B %Y')}" if isinstance(released, dt.date) else None
    version = str(content["version"]) if content.get("version") is not None else None
    return FrontMatter(authors, affiliations, version, date, tuple(keywords), tuple(jel), preferred.get("title"))


def _paper_metadata(source: str) -> dict[str, Any]:
    if not source.startswith("---"):
        return {}
    block = source.split("\n---", 2)
    try:
        content = yaml.safe_load(block[0].lstrip("-"))
    except yaml.YAMLError as err:
        raise PaperSourceError(f"paper source: front matter is not valid YAML ({err})") from err
    return content if isinstance(content, dict) else {}


def check_front_matter(source: str, front: FrontMatter, citation_file: Path) -> None:
    """``paper.md`` may not set what ``CITATION.cff`` gives, and both titles must agree."""
    meta = _paper_metadata(source)
    doubled = [name for name in CFF_FIELDS if name in meta]
    if doubled:
        raise PaperSourceError(f"paper source: the front matter sets {doubled}; these come from {citation_file.name} "
                               f"(authors, preferred-citation keywords incl. 'JEL: ...', version, date-released) "
                               f"-- remove them from paper.md")
    if front.title and meta.get("title") and " ".join(str(meta["title"]).split()) != " ".join(front.title.split()):
        raise PaperSourceError(f"paper source: title {meta['title']!r} differs from the preferred-citation title "
                               f"{front.title!r} in {citation_file.name}")


# --------------------------------------------------------------------------------------------- checks

def check_sources(placeholders: list[Placeholder], results: dict[str, NotebookResults]) -> None:
    """Refuse tables, captions and figure lettering that cite project files instead of public documents.

    Raises
    ------
    UnpublishedSourceError
        Listing every offending cell, caption and figure text, with the notebook to fix.
    """
    problems = []
    seen = set()
    for holder in placeholders:
        if holder.kind not in BLOCK_KINDS or (holder.kind, holder.ref) in seen:
            continue
        seen.add((holder.kind, holder.ref))
        res = results[holder.notebook]
        spec = res.manifest["tables" if holder.kind == "table" else "figures"][holder.key]
        where = f"{holder.kind} {holder.ref}"
        for found in unpublished_sources(spec.get("caption", "")):
            problems.append(f"{where}, caption: {found}")
        if holder.kind == "table":
            frame = pd.read_csv(res.folder / spec["file"], keep_default_na=True)
            for column in frame.columns:
                for found in unpublished_sources(column):
                    problems.append(f"{where}, column name {column!r}: {found}")
                if pd.api.types.is_numeric_dtype(frame[column]):
                    continue
                for row, value in enumerate(frame[column].tolist(), start=1):
                    if isinstance(value, str):
                        for found in unpublished_sources(value):
                            problems.append(f"{where}, column {column!r}, row {row} "
                                            f"({str(frame.iloc[row - 1, 0])[:40]!r}): {found}")
        else:
            png = next((res.folder / f for f in spec.get("files", []) if f.endswith(".png")), None)
            inventory = figure_inventory(png) if png is not None and png.is_file() else None
            for text in dict.fromkeys(t["text"] for t in (inventory or {}).get("texts", [])):
                for found in unpublished_sources(text):
                    problems.append(f"{where}, lettering {text[:40]!r}: {found}")
    if problems:
        notebooks = sorted({p.split(" ", 2)[1].split("/")[0] for p in problems})
        raise UnpublishedSourceError(
            "cannot build the paper: tables, captions and figures may cite public documents only (a CBS table "
            "id, a Divosa benchmark, a council letter, a publication in references.bib), not project files or "
            "seed-document numbers:\n  " + "\n  ".join(problems)
            + f"\n  fix the source texts in notebook(s) {', '.join(notebooks)} (or the code they call) and rerun")


# --------------------------------------------------------------------------------------------- methods

def quoted_records(placeholders: list[Placeholder], results: dict[str, NotebookResults], *,
                   run: str | None = None) -> list[OutputRecord]:
    """The records of every output the paper quotes (a number, table or figure, placed or referred to), once each,
    in order of first quotation; only those of ``run`` when given."""
    out: dict[tuple[str, str], OutputRecord] = {}
    for holder in placeholders:
        if holder.kind not in OUTPUT_KIND or (run is not None and holder.notebook != run):
            continue
        key = (OUTPUT_KIND[holder.kind], holder.ref)
        if key not in out and holder.notebook in results:
            out[key] = results[holder.notebook].records().get(key, OutputRecord(key[0], holder.ref))
    return list(out.values())


def _shown(sentence: str, limit: int = 160) -> str:
    """A sentence for a message: white space collapsed, shortened to ``limit`` characters, quoted."""
    sentence = " ".join(sentence.split())
    return repr(sentence if len(sentence) <= limit else sentence[:limit - 3] + "...")


def check_methods(source: str, placeholders: list[Placeholder], results: dict[str, NotebookResults], *,
                  require_records: bool = False) -> list[str]:
    """Check the methods the paper names against the records of the outputs it quotes (issue 9).

    Checked (rules in :mod:`bijstand.report.methods`): method phrases in the text and in the captions of the
    placed tables and figures whose method made none of the quoted outputs
    (:func:`~bijstand.report.methods.unsupported_methods`); placeholders whose sentence names an estimator,
    inference method or "doubly robust" the output was not made with
    (:func:`~bijstand.report.methods.inconsistent_numbers`); captions naming methods their item was not made with
    (:func:`~bijstand.report.methods.inconsistent_caption`); ``{{methods:RUN}}`` for a run none of whose quoted
    outputs records an estimation method.

    Parameters
    ----------
    source
        The paper source.
    placeholders, results
        From :func:`find_placeholders` and :func:`collect_results`.
    require_records
        Make quoted outputs without a method record or disclosure status errors. When ``False`` (the default
        while notebooks are converted) they are warned about, and so is an unsupported method phrase while any
        quoted output lacks a record (that output may have been made by it).

    Returns
    -------
    list of str
        The warnings (also issued as :class:`MethodRecordWarning`), for ``layout.txt``.

    Raises
    ------
    MethodStatementError
        Listing every unsupported phrase with its line and every inconsistent placeholder or caption.
    """
    records = quoted_records(placeholders, results)
    unrecorded = [f"{r.kind} {r.ref}" for r in records if not r.recorded]
    undisclosed = [f"{r.kind} {r.ref}" for r in records if r.disclosure is None]
    lines = {(OUTPUT_KIND[h.kind], h.ref): h.line for h in placeholders if h.kind in BLOCK_KINDS}
    spans = sentence_spans(source)
    unsupported = []
    for mention in unsupported_methods(source, records):
        start, end = next(((a, b) for a, b in spans if a <= mention.start < b), (mention.start, mention.end))
        unsupported.append(f"{mention} in {_shown(source[start:end])}")
    inconsistent = [str(p) for p in inconsistent_numbers(source, records)]
    for record in records:
        if record.kind == "number" or (record.kind, record.ref) not in lines:
            continue
        notebook, key = record.ref.split("/", 1)
        caption = results[notebook].manifest.get(f"{record.kind}s", {}).get(key, {}).get("caption", "")
        line = lines[(record.kind, record.ref)]
        where = f"line {line} (caption of {{{{{record.kind}:{record.ref}}}}}):"
        unsupported += [f"{where} {str(m).split(': ', 1)[1]} in {_shown(caption)}"
                        for m in unsupported_methods(caption, records)]
        inconsistent += [str(p) for p in inconsistent_caption(caption, record, line=line)]
    for holder in (h for h in placeholders if h.kind == "methods"):
        if holder.notebook in results and not methods_statement(
                quoted_records(placeholders, results, run=holder.notebook)):
            inconsistent.append(f"line {holder.line}: {{{{methods:{holder.notebook}}}}} has nothing to state: no "
                                f"output of run {holder.notebook} that the paper quotes records an estimation "
                                f"method")
    errors: list[str] = []
    warned: list[str] = []
    if unsupported:
        text = ("the paper names methods that made none of the numbers, tables and figures it quotes (remove "
                "them, mark a mere mention as [...]{.mention}, or quote an output they made):\n    "
                + "\n    ".join(unsupported))
        if unrecorded and not require_records:
            warned.append(text + f"\n    (not an error yet: {len(unrecorded)} quoted output(s) have no method "
                                 f"record and may have been made by them)")
        else:
            errors.append(text)
    if inconsistent:
        errors.append("text and records disagree on how a number was made:\n    " + "\n    ".join(inconsistent))
    for missing, what in ((unrecorded, "no method record (pass method=/methods= to Results.number/table/figure)"),
                          (undisclosed, "no disclosure status (pass disclosure= to Results.number/table/figure)")):
        if missing:
            shown = ", ".join(missing[:12]) + (f", ... ({len(missing) - 12} more)" if len(missing) > 12 else "")
            (errors if require_records else warned).append(f"{len(missing)} quoted output(s) have {what}: {shown}")
    if errors:
        raise MethodStatementError("cannot build the paper: " + "\n  ".join(errors)
                                   + ("\n  warnings: " + "\n  ".join(warned) if warned else ""),
                                   unsupported, inconsistent)
    for message in warned:
        warnings.warn(message, MethodRecordWarning, stacklevel=3)
    return warned


# --------------------------------------------------------------------------------------------- references

def read_bibtex(path: str | Path) -> dict[str, dict[str, str]]:
    """Entries of a BibTeX file: ``{key: {"ENTRYTYPE": type, field: raw value}}`` (values keep inner braces)."""
    text = Path(path).read_text(encoding="utf-8")
    entries: dict[str, dict[str, str]] = {}
    for match in re.finditer(r"^@(\w+)\s*\{\s*([^,\s]+)\s*,", text, flags=re.M):
        position, depth, start = match.end(), 1, match.end()
        while depth and position < len(text):
            depth += {"{": 1, "}": -1}.get(text[position], 0)
            position += 1
        body = text[start:position - 1]
        fields: dict[str, str] = {"ENTRYTYPE": match.group(1).lower()}
        for field_match in re.finditer(r"(\w[\w-]*)\s*=\s*", body):
            if body[:field_match.start()].count("{") != body[:field_match.start()].count("}"):
                continue  # "=" inside a value
            cursor = field_match.end()
            if cursor < len(body) and body[cursor] == "{":
                depth, end = 1, cursor + 1
                while depth and end < len(body):
                    depth += {"{": 1, "}": -1}.get(body[end], 0)
                    end += 1
                fields[field_match.group(1).lower()] = body[cursor + 1:end - 1]
            else:
                fields[field_match.group(1).lower()] = body[cursor:].split(",", 1)[0].strip().strip('"')
        entries[match.group(2)] = fields
    return entries


def check_bibliography(path: str | Path) -> list[str]:
    """What each reference lacks for a complete citation (one message per entry and problem).

    Every entry needs author, title and year; a journal article its journal, volume and pages (or a note that
    it is published online first) and a DOI or URL; a thesis or report its school or institution; any other
    entry a venue (``howpublished``) or URL; a web source (any URL but a journal article's) an access date
    (``urldate``). Braces are allowed only in
    author and title fields, where they protect names and capitals; anywhere else citeproc prints them
    ("{MPhil} thesis").
    """
    problems = []
    for key, fields in read_bibtex(path).items():
        kind = fields["ENTRYTYPE"]
        missing = [name for name in ("author", "title", "year") if not fields.get(name)]
        if kind == "article":
            missing += [name for name in ("journal",) if not fields.get(name)]
            if not (fields.get("volume") and fields.get("pages")) and "online" not in fields.get("note", "").lower():
                missing.append("volume and pages")
            if not (fields.get("doi") or fields.get("url")):
                missing.append("doi or url")
        elif kind in ("mastersthesis", "phdthesis") and not fields.get("school"):
            missing.append("school")
        elif kind == "techreport" and not fields.get("institution"):
            missing.append("institution")
        elif kind == "misc" and not (fields.get("url") or fields.get("howpublished")):
            missing.append("howpublished or url")
        if kind in ("misc", "techreport", "mastersthesis", "phdthesis") and not fields.get("url") \
                and not fields.get("doi"):
            missing.append("url (where to find it)")
        if fields.get("url") and kind != "article" and not fields.get("urldate"):
            missing.append("urldate (access date)")
        if missing:
            problems.append(f"{key}: missing {', '.join(missing)}")
        stray = [name for name, value in fields.items()
                 if name not in ("author", "editor", "title", "booktitle", "ENTRYTYPE") and "{" in value]
        if stray:
            problems.append(f"{key}: braces in {', '.join(stray)} would be printed")
    return problems


# --------------------------------------------------------------------------------------------- resolving

_CAPTION_BREAK = "BIJSTANDCAPTIONBREAK"


def captions_to_typst(captions: list[str]) -> list[str]:
    """Convert Markdown captions to Typst markup with one pandoc call."""
    if not captions:
        return []
    markdown = f"\n\n{_CAPTION_BREAK}\n\n".join(c if c.strip() else "\u200b" for c in captions)
    converted = _pandoc(markdown, "typst", ["--wrap=none"])
    parts = re.split(rf"\n\s*{_CAPTION_BREAK}\s*\n", "\n" + converted.strip() + "\n")
    parts = [p.strip() for p in parts]
    if len(parts) != len(captions):
        raise RuntimeError(f"pandoc returned {len(parts)} captions for {len(captions)}")
    return parts


#: ``= {{num:...}}`` with spaces on one line: the spaces become non-breaking, so "$p$ = 0.264" never breaks
#: before or after its equals sign.
_EQUALS_NUMBER = re.compile(r"(?<=\S)[ \t]+=[ \t]+(?=\{\{\s*num\s*:)")
#: A letter "x" between words of a caption ("estimator x outcome"): the multiplication sign is meant.
_TIMES = re.compile(r"(?<=\w) x (?=[\w(])")


def bind_equals(source: str) -> str:
    """Join ``$p$ = {{num:...}}`` with non-breaking spaces (lines and placeholder positions unchanged)."""
    return _EQUALS_NUMBER.sub("\u00a0=\u00a0", source)


def caption_text(caption: str) -> str:
    """A caption as printed: ending in a full stop, a letter "x" between words as the multiplication sign "×"."""
    return _TIMES.sub(" \u00d7 ", _sentence(caption))


#: "M-bar" (how notebooks spell the HonestDiD parameter in plain text) is the text's $\bar M$.
_M_BAR = re.compile(r"\bM\\?-bar\b")


def caption_markdown(caption: str) -> str:
    """A notebook's caption as pandoc Markdown: :func:`caption_text`, escaped, "M-bar" set as an italic M̄."""
    return _M_BAR.sub("*M\u0304*", escape_markdown(caption_text(caption)))


def _caption(res: NotebookResults, spec: dict[str, Any]) -> str:
    note = disclosure_note(spec.get("disclosure"))
    parts = [caption_markdown(spec.get("caption", ""))] + [escape_markdown(p) for p in (res.provenance(), note)]
    return " ".join(part for part in parts if part).strip()


def resolve_placeholders(source: str, results: dict[str, NotebookResults], *, target: str) -> ResolvedPaper:
    """Replace every placeholder for output ``target`` (``"typst"`` or ``"html"``).

    Figures and tables get the numbers of :func:`number_floats`. In Typst they are raw blocks calling the
    template's ``bj-figure`` / ``bj-table`` with that number (floats, captions converted by pandoc); in HTML
    they are pandoc figures and pipe tables whose captions start "Figure 2: " / "Table A1: ". Figures are
    referred to by a path inside the build folder (``figures/<notebook>/<key>.<ext>``) so that Typst, whose
    file access is confined to its root, finds them.
    """
    if target not in ("typst", "html"):
        raise ValueError(f"target must be 'typst' or 'html', got {target!r}")
    placeholders = find_placeholders(source)
    numbers = number_floats(source, placeholders)
    blocks = [h for h in placeholders if h.kind in BLOCK_KINDS]
    captions = {(h.kind, h.ref): _caption(results[h.notebook], results[h.notebook].manifest[
        "tables" if h.kind == "table" else "figures"][h.key]) for h in blocks}
    order = list(captions)
    typst_captions = dict(zip(order, captions_to_typst([captions[k] for k in order]))) if target == "typst" else {}

    images: dict[str, Path] = {}
    figures: list[PlacedFigure] = []

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
            return f"Figure\u00a0{numbers.figures[ref]}"
        if kind == "tabref":
            return f"Table\u00a0{numbers.tables[ref]}"
        label = numbers.label(kind, ref)
        # appendix floats stack from the top of their pages (no text flows between them)
        placement = "top" if label.startswith("A") else "auto"
        if kind == "table":
            spec = res.manifest["tables"][key]
            frame = pd.read_csv(res.folder / spec["file"], keep_default_na=True)
            try:
                if target == "html":
                    return "\n" + frame_to_pipe_table(frame, f"Table {label}: {captions[(kind, ref)]}",
                                                      spec.get("decimals")) + "\n"
                return "\n" + frame_to_typst_table(frame, label=label, caption_typst=typst_captions[(kind, ref)],
                                                   decimals=spec.get("decimals"), placement=placement) + "\n"
            except ValueError as err:
                raise PaperSourceError(f"table {ref}: {err}") from err
        spec = res.manifest["figures"][key]
        files = [res.folder / f for f in spec.get("files", [])]
        png = next(f for f in files if f.suffix == ".png" and f.is_file())
        svg = next((f for f in files if f.suffix == ".svg" and f.is_file()), None)
        chosen = svg if (target == "html" and svg is not None) else png
        inside = f"figures/{notebook}/{chosen.name}"
        images[inside] = chosen
        figures.append(PlacedFigure(ref, label, png, _sentence(spec.get("caption", "")), svg))
        if target == "html":
            return f"\n![Figure {label}: {captions[(kind, ref)]}]({inside}){{#fig-{notebook}-{key} width=100%}}\n"
        return (f"\n```{{=typst}}\n#bj-figure(number: {_typst_string(label)}, placement: {placement}, "
                f"path: {_typst_string(inside)}, "
                f"caption: [{typst_captions[(kind, ref)]}])\n```\n")

    statements = {h.notebook: methods_statement(quoted_records(placeholders, results, run=h.notebook))
                  for h in placeholders if h.kind == "methods"}

    def replace_methods(match: re.Match[str]) -> str:
        run = match.group(1)
        if not statements.get(run):
            raise MissingResultError(f"{{{{methods:{run}}}}}: no output of run {run} that the paper quotes "
                                     f"records an estimation method; notebook {run} must pass method=/methods=")
        return f'[{escape_markdown(statements[run])}]{{.methods data-run="{run}"}}'

    resolved = PLACEHOLDER.sub(replace, bind_equals(source))
    return ResolvedPaper(METHODS_PLACEHOLDER.sub(replace_methods, resolved), images, figures)


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
                out_dir: str | Path = "build/paper", *, paper_dir: str | Path | None = None,
                citation_file: str | Path | None = None, check_layout: bool = True,
                require_records: bool = False) -> list[Path]:
    """Build ``paper.pdf`` and ``paper.html`` in ``out_dir`` from ``paper_dir/paper.md`` and ``results_dir``.

    Parameters
    ----------
    results_dir
        Folder holding ``<notebook>/numbers.json``, ``manifest.json``, ``tables/``, ``figures/``.
    params_file
        The parameter file the paper is built for; every quoted notebook's recorded parameters must equal
        the values listed there.
    out_dir
        Where ``paper.pdf``, ``paper.html`` and ``layout.txt`` go (created if needed).
    paper_dir
        Folder with ``paper.md``, ``references.bib``, ``template.typ``, ``template.html`` and ``paper.css``
        (default: ``<repo>/paper``).
    citation_file
        ``CITATION.cff`` with authors, version and date (default: the one beside ``paper_dir``).
    check_layout
        Run :func:`bijstand.report.layout.check_paper` on the result (default) and raise :class:`LayoutError`
        when it finds problems.
    require_records
        Fail when a quoted output has no method record or disclosure status (:func:`check_methods`); warn
        otherwise. The default becomes ``True`` once every notebook records its methods.

    Returns
    -------
    list of Path
        ``[out_dir/paper.pdf, out_dir/paper.html]``.

    Raises
    ------
    MissingResultError, StaleResultError, PaperSourceError, UnpublishedSourceError, MethodStatementError
        Before anything is written, naming the notebook (and key or parameter) or the line to fix.
    TypesettingError
        When Typst warns (nothing is written).
    LayoutError
        After the paper is written, when the layout check finds problems (listed in ``layout.txt``).
    """
    from bijstand.extras import extra_required

    with extra_required("paper", "the paper build"):
        import typst

    results_dir, params_file, out_dir = Path(results_dir), Path(params_file), Path(out_dir)
    paper_dir = Path(paper_dir) if paper_dir else project_root() / "paper"
    citation_file = Path(citation_file) if citation_file else paper_dir.resolve().parent / "CITATION.cff"
    source = (paper_dir / "paper.md").read_text(encoding="utf-8")
    bibliography = (paper_dir / "references.bib").resolve()

    front = front_matter(citation_file)
    check_front_matter(source, front, citation_file)
    placeholders = find_placeholders(source)
    number_floats(source, placeholders)
    results = collect_results(placeholders, results_dir, params_file, load_paper_params(params_file))
    check_sources(placeholders, results)
    method_warnings = check_methods(source, placeholders, results, require_records=require_records)
    for_typst = resolve_placeholders(source, results, target="typst")
    for_html = resolve_placeholders(source, results, target="html")

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".paper-build-", dir=out_dir) as tmp:
        build = Path(tmp)
        _stage_images(for_typst, build)
        _stage_images(for_html, build)
        metadata = build / "front-matter.yaml"
        metadata.write_text(yaml.safe_dump(front.metadata(), allow_unicode=True, sort_keys=True), encoding="utf-8")
        common = ["--citeproc", f"--bibliography={bibliography}", "--standalone", "--metadata=lang:en-GB",
                  "--metadata=link-citations:true", f"--metadata-file={metadata}"]
        # --wrap=none: a line break inside a Typst string (e.g. the PDF keywords) would end up in the metadata.
        typst_source = _pandoc(for_typst.markdown, "typst",
                               [*common, "--wrap=none", f"--template={(paper_dir / 'template.typ').resolve()}"])
        (build / "paper.typ").write_text(typst_source, encoding="utf-8")
        # Typst's own fonts only: a system font that differs between machines would change the PDF bytes.
        pdf, typst_warnings = typst.Compiler(root=str(build), ignore_system_fonts=True).compile_with_warnings(
            input=str(build / "paper.typ"), format="pdf", timestamp=_source_date_epoch())
        if typst_warnings:
            raise TypesettingError("typst warned, the paper is not written:\n  "
                                   + "\n  ".join(str(w.message) for w in typst_warnings))
        (build / "paper.pdf").write_bytes(pdf)
        # --columns: pipe tables get no fixed column widths; the browser sizes columns by content (paper.css)
        _pandoc(for_html.markdown, "html5",
                [*common, "--embed-resources", "--mathml", "--number-sections", "--columns=100000",
                 f"--template={(paper_dir / 'template.html').resolve()}",
                 f"--css={(paper_dir / 'paper.css').resolve()}", f"--resource-path={build}"],
                outputfile=build / "paper.html")
        outputs = []
        for name in ("paper.pdf", "paper.html"):
            os.replace(build / name, out_dir / name)
            outputs.append(out_dir / name)
    if check_layout:
        report = check_paper(out_dir / "paper.pdf", for_typst.figures)
        report.notes += [f"references: {problem}" for problem in check_bibliography(bibliography)]
        report.notes += [f"methods: {warning}" for warning in method_warnings]
        (out_dir / "layout.txt").write_text(report.text(), encoding="utf-8")
        if not report.ok:
            shown = "\n  ".join(str(p) for p in report.problems[:12])
            more = f"\n  ... and {len(report.problems) - 12} more" if len(report.problems) > 12 else ""
            raise LayoutError(f"the paper was built ({out_dir / 'paper.pdf'}), but the layout check found "
                              f"{len(report.problems)} problem(s) (all in {out_dir / 'layout.txt'}):\n  "
                              f"{shown}{more}", report)
    return outputs


def main(argv: list[str] | None = None) -> int:
    """``python -m bijstand.report.paper``: build the paper; exit status 2 with the reason on failure."""
    parser = argparse.ArgumentParser(prog="python -m bijstand.report.paper", description=__doc__.split("\n")[0])
    parser.add_argument("--results", default="results", help="results folder (default: results)")
    parser.add_argument("--params", default="params/paper.yaml", help="parameter file the paper is built for")
    parser.add_argument("--out", default="build/paper", help="output folder (default: build/paper)")
    parser.add_argument("--no-layout-check", action="store_true", help="skip the layout check of the result")
    parser.add_argument("--require-records", action="store_true",
                        help="fail when a quoted output has no method record or disclosure status")
    args = parser.parse_args(argv)
    try:
        outputs = build_paper(args.results, args.params, args.out, check_layout=not args.no_layout_check,
                              require_records=args.require_records)
    except PaperBuildError as err:
        print(f"paper: {err}", file=sys.stderr)
        return 2
    for path in outputs:
        print(f"built {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
