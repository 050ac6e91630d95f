"""Layout checks of the built paper: the defects a production editor would flag that a program can see.

:func:`check_paper` reads the built PDF with ``pdfplumber`` and the figures the paper places (their inventory,
written by :func:`bijstand.report.plots.save_figure`) and returns a :class:`LayoutReport` listing
:class:`LayoutProblem` s of these kinds:

``outside``
    lettering outside the page, or outside the text block (a table or figure wider than the text, a line that
    did not break); running heads and page numbers in the margins are not counted.
``overlap``
    two glyphs of different words drawn over each other (colliding table headers, a cell running into the
    next one); mathematics, whose accents sit on their letters, is left out.
``font``
    lettering below :data:`MIN_FONT_PT` in the PDF (``pdfplumber`` character sizes), or in a figure at the size
    it is placed at (the inventory's sizes times placed width / saved width).
``numbering``
    figure or table captions not numbered 1, 2, ... then A1, A2, ... in the order they appear; a number first
    mentioned after a higher one (numbers must follow the order of first mention); a caption never mentioned.
``half-empty``
    a page whose content ends above half of the text block although the next page neither starts a section
    nor is a landscape page.
``widow``
    a section heading at the foot of a page with no line of its text after it on that page.
``figure``
    in a placed figure: overlapping or clipped lettering; a caption promise ("95% bands", "diamonds",
    "the dashed line", "intervals") that the figure does not draw, or draws too thin to see.
``typst``
    a warning of the Typst compiler.

:func:`check_html` (used by hand; it needs Chromium, which is not a Python dependency) opens the HTML at a
1200-pixel window and reports tables that would need sideways scrolling.

Command line::

    python -m bijstand.report.layout build/paper/paper.pdf [--html build/paper/paper.html]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bijstand.report.plots import MIN_FONT_PT, figure_inventory

#: Width of the text block (16 cm) in points: figures are placed at this width.
TEXT_WIDTH_PT = 16 / 2.54 * 72
_CM = 72 / 2.54


@dataclass(frozen=True)
class PageGeometry:
    """Margins of ``paper/template.typ`` in points (A4, 2.5 cm left/right/top, 2.7 cm bottom)."""

    left: float = 2.5 * _CM
    right: float = 2.5 * _CM
    top: float = 2.5 * _CM
    bottom: float = 2.7 * _CM


@dataclass(frozen=True)
class LayoutProblem:
    """One defect: its kind (see the module notes), where it is, and what is wrong."""

    kind: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message} [{self.kind}]"


@dataclass(frozen=True)
class PlacedFigure:
    """A figure as the paper places it: reference, printed number, files, caption and placed width."""

    ref: str
    label: str
    png: Path
    caption: str
    svg: Path | None = None
    width_pt: float = TEXT_WIDTH_PT


@dataclass
class LayoutReport:
    """Result of :func:`check_paper`: problems, and notes on what could not be checked."""

    problems: list[LayoutProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pages: int = 0
    figures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        """Plain-text report: a summary line, the problems, then per figure its title(s) beside its caption."""
        lines = [f"layout check: {self.pages} pages, {len(self.figures)} figures, {len(self.problems)} problem(s)"]
        lines += [f"  {problem}" for problem in self.problems]
        if self.notes:
            lines.append("notes:")
            lines += [f"  {note}" for note in self.notes]
        if self.figures:
            lines.append("figures (in-figure titles beside captions, for a reader's check that they agree):")
            for entry in self.figures:
                lines.append(f"  Figure {entry['label']} ({entry['ref']}): min lettering {entry['min_font_pt']} pt "
                             f"at print size; titles {entry['titles']}; caption: {entry['caption']}")
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------- figures

_PROMISES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("bands", re.compile(r"\bbands?\b", re.I)),
    ("diamonds", re.compile(r"\bdiamonds?\b", re.I)),
    ("a dashed line", re.compile(r"\bdashed\b", re.I)),
    ("a dotted line", re.compile(r"\bdotted\b", re.I)),
    ("intervals", re.compile(r"\bintervals?\b|\berror bars?\b|\bbars are\b|\bCIs?\b", re.I)),
)
#: A band thinner than this at print size (mean across its length, points) disappears under its line.
MIN_BAND_PT = 1.0


def caption_promises(caption: str, drawn: dict[str, Any], scale: float = 1.0) -> list[str]:
    """What ``caption`` promises that a figure with inventory ``drawn`` does not show (one message each).

    ``scale`` is placed width / saved width, to judge band thickness at print size.
    """
    missing = []
    bands = [b * scale for b in drawn.get("bands", [])]
    visible = [b for b in bands if b >= MIN_BAND_PT]
    for promise, pattern in _PROMISES:
        if not pattern.search(caption):
            continue
        if promise == "bands":
            if not bands:
                missing.append("the caption promises bands; the figure draws none")
            elif not visible:
                missing.append(f"the caption promises bands; the figure draws {len(bands)}, at most "
                               f"{max(bands):.2f} pt wide at print size (mean), too thin to see under their lines "
                               f"(< {MIN_BAND_PT:g} pt)")
        elif promise == "diamonds" and not drawn.get("diamonds"):
            missing.append("the caption promises diamonds; the figure draws no diamond markers")
        elif promise == "a dashed line" and not drawn.get("dashed_lines"):
            missing.append("the caption promises a dashed line; the figure draws none")
        elif promise == "a dotted line" and not drawn.get("dotted_lines"):
            missing.append("the caption promises a dotted line; the figure draws none")
        elif promise == "intervals" and not drawn.get("intervals") and not visible:
            missing.append("the caption promises intervals; the figure draws neither interval bars nor bands")
    return missing


def _svg_font_sizes(svg: Path) -> tuple[float, list[tuple[str, float]]]:
    """Width (pt) of a Matplotlib SVG and its lettering sizes, read from the glyph groups' scale."""
    text = svg.read_text(encoding="utf-8")
    width = float(re.search(r'<svg[^>]*\swidth="([\d.]+)pt"', text).group(1))
    sizes = [(label, 100 * float(scale)) for label, scale in
             re.findall(r'<!-- (.*?) -->\s*<g transform="[^"]*scale\(([\d.]+) -[\d.]+\)"', text, flags=re.S)]
    return width, sizes


def check_figure(figure: PlacedFigure) -> tuple[list[LayoutProblem], dict[str, Any], list[str]]:
    """Problems of one placed figure, a summary for the report, and notes (e.g. no inventory found)."""
    where = f"Figure {figure.label} ({figure.ref})"
    problems: list[LayoutProblem] = []
    notes: list[str] = []
    inventory = figure_inventory(figure.png)
    if inventory is None and figure.svg is not None:
        inventory = figure_inventory(figure.svg)
    summary: dict[str, Any] = {"ref": figure.ref, "label": figure.label, "caption": figure.caption,
                               "titles": [], "min_font_pt": None}
    if inventory is None:
        if figure.svg is not None:
            width_pt, sizes = _svg_font_sizes(figure.svg)
            scale = figure.width_pt / width_pt
            small = sorted({(label, round(size * scale, 1)) for label, size in sizes
                            if size * scale < MIN_FONT_PT - 0.05}, key=lambda item: item[1])
            if sizes:
                summary["min_font_pt"] = round(min(s for _, s in sizes) * scale, 1)
            if small:
                problems.append(LayoutProblem("font", where, f"lettering below {MIN_FONT_PT:g} pt at print size: "
                                              + ", ".join(f"'{t}' {s} pt" for t, s in small[:6])))
        notes.append(f"{where}: no inventory in {figure.png.name} (saved without bijstand.report.plots."
                     f"save_figure); overlaps and caption promises not checked")
        return problems, summary, notes

    scale = figure.width_pt / (inventory["width_in"] * 72)
    summary["titles"] = inventory["drawn"].get("titles", [])
    if inventory.get("min_font_pt") is not None:
        summary["min_font_pt"] = round(inventory["min_font_pt"] * scale, 1)
    small = sorted({(t["text"], round(t["size_pt"] * scale, 1)) for t in inventory["texts"]
                    if t["size_pt"] * scale < MIN_FONT_PT - 0.05}, key=lambda item: item[1])
    if small:
        problems.append(LayoutProblem("font", where, f"lettering below {MIN_FONT_PT:g} pt at print size (drawn "
                                      f"{inventory['width_in']:.2f} in wide, placed at {figure.width_pt / 72:.2f} in): "
                                      + ", ".join(f"'{t}' {s} pt" for t, s in small[:6])))
    for a, b in inventory.get("overlapping_text", []):
        problems.append(LayoutProblem("figure", where, f"lettering overlaps: '{a}' and '{b}'"))
    for text in inventory.get("clipped_text", []):
        problems.append(LayoutProblem("figure", where, f"lettering cut off at the edge: '{text}'"))
    for message in caption_promises(figure.caption, inventory["drawn"], scale):
        problems.append(LayoutProblem("figure", where, message))
    return problems, summary, notes


# --------------------------------------------------------------------------------------------- PDF

_MATH_FONT = re.compile(r"math", re.I)
_CAPTION = re.compile(r"^(Figure|Table)\s*(A?\d+):")
_MENTION = re.compile(r"\b(Figure|Table)\s*(A?\d+)\b(?!:)")
#: Punctuation a justified line may hang into the margin (optical margin alignment), by up to 0.6 em.
_HANGING = set(",.;:-\u2010\u2013\u2014'\u2019\"\u201d)")


def _is_bold(fontname: str) -> bool:
    return "bold" in fontname.lower()


def _lines(chars: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Group characters into lines by baseline (chars within 1.5 pt of a line's bottom)."""
    lines: list[list[dict[str, Any]]] = []
    for char in sorted(chars, key=lambda c: (round(c["bottom"], 1), c["x0"])):
        if lines and abs(lines[-1][0]["bottom"] - char["bottom"]) <= 1.5:
            lines[-1].append(char)
        else:
            lines.append([char])
    return [sorted(line, key=lambda c: c["x0"]) for line in lines]


def _line_text(line: Sequence[dict[str, Any]]) -> str:
    text, previous = "", None
    for char in line:
        if previous is not None and char["x0"] - previous["x1"] > 0.15 * char["size"]:
            text += " "
        text += char["text"]
        previous = char
    return text


def _overlapping_chars(chars: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Pairs of glyphs of the same line band drawn over each other by more than kerning does.

    Kerning tucks letters into each other by up to about 0.09 em in Libertinus ("We", "W,"); text running into
    the next table cell overlaps by more. Glyph boxes are the advance widths and the middle of the line height
    (ascenders and descenders of neighbouring lines may touch). A grid of 12-pt cells keeps this linear.
    """
    grid: dict[tuple[int, int], list[int]] = defaultdict(list)
    boxes: list[tuple[float, float, float, float] | None] = []
    for i, char in enumerate(chars):
        if not char["text"].strip() or _MATH_FONT.search(char.get("fontname", "")):
            boxes.append(None)
            continue
        height = char["bottom"] - char["top"]
        box = (char["x0"], char["top"] + 0.25 * height, char["x1"], char["bottom"] - 0.2 * height)
        boxes.append(box)
        for gx in range(int(box[0] // 12), int(box[2] // 12) + 1):
            for gy in range(int(box[1] // 12), int(box[3] // 12) + 1):
                grid[(gx, gy)].append(i)
    pairs = set()
    for members in grid.values():
        for n, i in enumerate(members):
            for j in members[n + 1:]:
                a, b = boxes[i], boxes[j]
                width = min(a[2], b[2]) - max(a[0], b[0])
                height = min(a[3], b[3]) - max(a[1], b[1])
                if width <= 0 or height <= 0.3 * min(a[3] - a[1], b[3] - b[1]):
                    continue
                em = min(chars[i]["size"], chars[j]["size"])
                punctuation = chars[i]["text"] in _HANGING or chars[j]["text"] in _HANGING
                if width > (0.2 if punctuation else 0.1) * em:
                    pairs.add((min(i, j), max(i, j)))
    return [(chars[i], chars[j]) for i, j in sorted(pairs)]


#: Largest share of a page's text block that may stay empty (gaps between lines and floats of more than
#: :data:`GAP_PT` count as empty) unless the next page starts a section or is a landscape page.
MAX_EMPTY = 0.4
GAP_PT = 24.0
#: Space Typst keeps between a float and the text (``place(clearance: 1.4em)`` at 11 pt).
FLOAT_CLEARANCE_PT = 1.4 * 11


def _filled_fraction(spans: Sequence[tuple[float, float]], top: float, bottom: float) -> float:
    """Share of ``[top, bottom]`` covered by ``spans`` once gaps up to :data:`GAP_PT` are closed."""
    if not spans:
        return 0.0
    covered, start, end = 0.0, None, None
    for low, high in sorted((max(a, top), min(b, bottom)) for a, b in spans):
        if start is None:
            start, end = low, high
        elif low - end <= GAP_PT:
            end = max(end, high)
        else:
            covered += end - start
            start, end = low, high
    covered += end - start
    return covered / (bottom - top)


def check_pdf(pdf_path: str | Path, geometry: PageGeometry = PageGeometry(),
              notes: list[str] | None = None) -> tuple[list[LayoutProblem], int]:
    """Check the built PDF page by page; return the problems and the number of pages.

    ``notes``, when given, receives remarks that are not defects: main-text figures and tables set two or more
    pages after their first mention (floats queue up behind each other when there is little text between them;
    the cure is fewer or smaller floats in the main text, which is the author's call).
    """
    from bijstand.extras import extra_required

    with extra_required("paper", "the layout check of the paper"):
        import pdfplumber

    problems: list[LayoutProblem] = []
    captions: list[tuple[str, str, int]] = []  # (kind, number, page)
    mentions: list[tuple[str, str, int]] = []
    pages_info = []
    with pdfplumber.open(str(pdf_path)) as pdf:
        for number, page in enumerate(pdf.pages, start=1):
            where = f"page {number}"
            width, height = float(page.width), float(page.height)
            body_top, body_bottom = geometry.top, height - geometry.bottom
            chars = [c for c in page.chars if c["text"].strip()]
            outside_page = [c for c in chars if c["x0"] < -0.5 or c["x1"] > width + 0.5 or c["top"] < -0.5
                            or c["bottom"] > height + 0.5]
            if outside_page:
                problems.append(LayoutProblem("outside", where, "lettering outside the page: "
                                              + repr("".join(c["text"] for c in outside_page[:40]))))
            # the last line's descenders may reach a little below the text block
            body = [c for c in chars if c["top"] >= body_top - 2 and c["bottom"] <= body_bottom + 0.3 * c["size"] + 1]
            slack = [0.6 * c["size"] if c["text"] in _HANGING else 1.0 for c in body]
            beyond = [c for c, extra in zip(body, slack) if c["x0"] < geometry.left - extra
                      or c["x1"] > width - geometry.right + extra]
            if beyond:
                problems.append(LayoutProblem("outside", where, "lettering outside the text block: "
                                              + repr(_line_text(_lines(beyond)[0])[:60])))
            small = [c for c in chars if c["size"] < MIN_FONT_PT - 0.05]
            if small:
                problems.append(LayoutProblem("font", where, f"lettering below {MIN_FONT_PT:g} pt "
                                              f"({min(c['size'] for c in small):.1f} pt): "
                                              + repr("".join(c["text"] for c in small[:30]))))
            for a, b in _overlapping_chars(body)[:5]:
                problems.append(LayoutProblem("overlap", where, f"glyphs drawn over each other: '{a['text']}' at "
                                              f"({a['x0']:.0f}, {a['top']:.0f}) and '{b['text']}' at "
                                              f"({b['x0']:.0f}, {b['top']:.0f})"))
            lines = _lines(body)
            for line in lines:
                text = _line_text(line)
                caption = _CAPTION.match(text)
                if caption:
                    captions.append((caption.group(1), caption.group(2), number))
                    text = text[caption.end():]
                mentions += [(m.group(1), m.group(2), number) for m in _MENTION.finditer(text)]
            graphics = [obj for obj in (page.images + page.rects + page.lines)
                        if obj["top"] >= body_top - 2 and obj["bottom"] <= body_bottom + 2]
            spans = [(c["top"], c["bottom"]) for c in body] + [(g["top"], g["bottom"]) for g in graphics]
            fill = _filled_fraction(spans, body_top, body_bottom)
            headings = [line for line in lines if all(_is_bold(c["fontname"]) for c in line)
                        and 11.4 <= line[0]["size"] <= 14.5]
            first_is_heading = bool(lines) and bool(headings) and headings[0] is lines[0]
            # a float opening the page: an image at the top of the text block, with its caption below it
            opening = [g for g in page.images if abs(g["top"] - body_top) < 6]
            opening_height = 0.0
            if opening:
                extent = max(g["bottom"] for g in opening)
                for line in lines:  # the caption: lines that follow the image without a gap
                    if extent < line[0]["top"] <= extent + 14:
                        extent = max(c["bottom"] for c in line)
                opening_height = extent - body_top + FLOAT_CLEARANCE_PT
            pages_info.append({"number": number, "fill": fill, "landscape": width > height,
                               "first_is_heading": first_is_heading, "opening_float": opening_height,
                               "empty_pt": (1 - fill) * (body_bottom - body_top)})
            if headings:
                last = headings[-1]
                after = [line for line in lines if line[0]["bottom"] > last[0]["bottom"] + 1
                         and 10.4 <= line[0]["size"] <= 11.6 and not _is_bold(line[0]["fontname"])]
                if not after:
                    problems.append(LayoutProblem("widow", where, f"heading {_line_text(last)!r} has no line of "
                                                  f"its text after it on this page"))
    for i, info in enumerate(pages_info[:-1]):
        following = pages_info[i + 1]
        # reasons to leave space: a landscape page or a new section follows, or the figure that opens the
        # next page is taller than the space (nothing else was left to fill it)
        if info["fill"] < 1 - MAX_EMPTY and not info["landscape"] and not following["landscape"] \
                and not following["first_is_heading"] and following["opening_float"] <= info["empty_pt"]:
            problems.append(LayoutProblem("half-empty", f"page {info['number']}",
                                          f"{100 * (1 - info['fill']):.0f}% of the text block is empty, and the "
                                          f"next page neither starts a section, nor is a landscape page, nor opens "
                                          f"with a figure too tall for the space"))
    problems += _numbering_problems(captions, mentions)
    if notes is not None:
        first_page: dict[tuple[str, str], int] = {}
        for kind, label, page in mentions:
            first_page.setdefault((kind, label), page)
        for kind, label, page in captions:
            mentioned = first_page.get((kind, label))
            if mentioned is not None and page - mentioned >= 2 and not label.startswith("A"):
                notes.append(f"{kind} {label} is set on page {page}, {page - mentioned} pages after its first "
                             f"mention (page {mentioned})")
    return problems, len(pages_info)


def _sort_key(label: str) -> tuple[int, int]:
    return (1, int(label[1:])) if label.startswith("A") else (0, int(label))


def _numbering_problems(captions: list[tuple[str, str, int]],
                        mentions: list[tuple[str, str, int]]) -> list[LayoutProblem]:
    problems = []
    for kind in ("Figure", "Table"):
        labels = [label for k, label, _ in captions if k == kind]
        if len(set(labels)) != len(labels):
            duplicated = sorted({label for label in labels if labels.count(label) > 1}, key=_sort_key)
            problems.append(LayoutProblem("numbering", f"{kind.lower()}s", f"numbers used twice: {duplicated}"))
        main = [label for label in labels if not label.startswith("A")]
        appendix = [label for label in labels if label.startswith("A")]
        if main != [str(n) for n in range(1, len(main) + 1)]:
            problems.append(LayoutProblem("numbering", f"{kind.lower()}s", f"main-text captions in the order they "
                                          f"appear are {main}, not 1, 2, ..."))
        if appendix != [f"A{n}" for n in range(1, len(appendix) + 1)]:
            problems.append(LayoutProblem("numbering", f"{kind.lower()}s", f"appendix captions in the order they "
                                          f"appear are {appendix}, not A1, A2, ..."))
        if main and appendix and labels.index(appendix[0]) < labels.index(main[-1]):
            problems.append(LayoutProblem("numbering", f"{kind.lower()}s", "an appendix caption appears before a "
                                          "main-text caption"))
        first_mention: dict[str, int] = {}
        for k, label, page in mentions:
            if k == kind:
                first_mention.setdefault(label, len(first_mention))
        order = sorted(first_mention, key=first_mention.get)
        for sequence in ([m for m in order if not m.startswith("A")], [m for m in order if m.startswith("A")]):
            for before, after in zip(sequence, sequence[1:]):
                if _sort_key(after) < _sort_key(before):
                    problems.append(LayoutProblem("numbering", f"{kind} {after}", f"first mentioned after {kind} "
                                                  f"{before}; numbers must follow the order of first mention"))
        for label in labels:
            if label not in first_mention:
                problems.append(LayoutProblem("numbering", f"{kind} {label}", "never mentioned in the text"))
        for label in first_mention:
            if label not in labels:
                problems.append(LayoutProblem("numbering", f"{kind} {label}", "mentioned, but no caption has "
                                              "this number"))
    return problems


# --------------------------------------------------------------------------------------------- together

def check_paper(pdf_path: str | Path, figures: Iterable[PlacedFigure] = (),
                typst_warnings: Iterable[str] = ()) -> LayoutReport:
    """Check the PDF, every placed figure, and list the Typst warnings; see the module notes."""
    report = LayoutReport()
    report.problems += [LayoutProblem("typst", "typst", message) for message in typst_warnings]
    pdf_problems, report.pages = check_pdf(pdf_path, notes=report.notes)
    report.problems += pdf_problems
    for figure in figures:
        problems, summary, notes = check_figure(figure)
        report.problems += problems
        report.notes += notes
        report.figures.append(summary)
    return report


# --------------------------------------------------------------------------------------------- HTML

_HTML_PROBE = """<script>
window.addEventListener("load", function () {
  var root = document.documentElement, out = [];
  document.querySelectorAll("table").forEach(function (table, i) {
    var box = table.getBoundingClientRect(), scroller = table, node = table;
    while (node && node !== document.body) {
      var style = getComputedStyle(node);
      if (node.scrollWidth > node.clientWidth + 1 && /(auto|scroll)/.test(style.overflowX)) { scroller = node; }
      node = node.parentElement;
    }
    var caption = table.querySelector("caption");
    out.push({index: i, caption: caption ? caption.textContent.slice(0, 60) : "",
              left: box.left, right: box.right, width: box.width,
              scrollWidth: scroller.scrollWidth, clientWidth: scroller.clientWidth,
              fontSize: parseFloat(getComputedStyle(table).fontSize)});
  });
  document.body.setAttribute("data-layout", JSON.stringify({viewport: root.clientWidth,
    documentWidth: root.scrollWidth, tables: out}));
});
</script>"""


def check_html(html_path: str | Path, *, width: int = 1200, chromium: str | None = None) -> list[LayoutProblem]:
    """Open the HTML in headless Chromium at ``width`` pixels; report tables that need sideways scrolling.

    Needs a Chromium executable (``chromium`` or ``chromium-browser`` on the path, or ``chromium``); raises
    :class:`FileNotFoundError` when there is none. Run it as root with ``--no-sandbox`` (it is passed).
    """
    executable = chromium or shutil.which("chromium") or shutil.which("chromium-browser")
    if not executable:
        raise FileNotFoundError("check_html needs Chromium (apt-get install chromium)")
    source = Path(html_path).read_text(encoding="utf-8").replace("</body>", _HTML_PROBE + "</body>")
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(source, encoding="utf-8")
        result = subprocess.run([executable, "--headless", "--no-sandbox", "--disable-gpu",
                                 "--disable-background-networking", f"--window-size={width},3000",
                                 "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                                capture_output=True, text=True, timeout=120, check=False)
    match = re.search(r'data-layout="([^"]*)"', result.stdout)
    if not match:
        raise RuntimeError(f"Chromium did not report the layout (exit {result.returncode}): {result.stderr[-500:]}")
    import html

    layout = json.loads(html.unescape(match.group(1)))
    problems = []
    if layout["documentWidth"] > layout["viewport"] + 1:
        problems.append(LayoutProblem("outside", "html", f"the page is {layout['documentWidth']} px wide at a "
                                      f"{layout['viewport']} px window: it scrolls sideways"))
    for table in layout["tables"]:
        where = f"html table {table['index'] + 1} ({table['caption']!r})"
        if table["scrollWidth"] > table["clientWidth"] + 1:
            problems.append(LayoutProblem("outside", where, f"needs sideways scrolling ({table['scrollWidth']} px "
                                          f"of content in {table['clientWidth']} px)"))
        if table["right"] > layout["viewport"] + 1 or table["left"] < -1:
            problems.append(LayoutProblem("outside", where, "extends beyond the window"))
    return problems


def main(argv: list[str] | None = None) -> int:
    """``python -m bijstand.report.layout PDF [--html HTML]``: print the report; exit 1 on problems."""
    parser = argparse.ArgumentParser(prog="python -m bijstand.report.layout", description=__doc__.split("\n")[0])
    parser.add_argument("pdf", help="built paper, e.g. build/paper/paper.pdf")
    parser.add_argument("--html", help="also check this HTML at a 1200-pixel window (needs Chromium)")
    args = parser.parse_args(argv)
    report = check_paper(args.pdf)
    if args.html:
        report.problems += check_html(args.html)
    print(report.text(), end="")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
