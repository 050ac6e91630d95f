"""The project's data formats, declared once as pandera schemas.

Three formats (see ``data/README.md``, whose column tables are generated from this module by
:func:`render_readme`, and ``tests/test_validate.py`` checks that they agree):

* ``spells`` - person-spell register, one row per benefit spell;
* ``areas`` - one row per area with the start months of the interventions;
* ``panel`` - area x month panel built by :func:`bijstand.data.panel.build_area_panel`.

Each column is a :class:`pandera.Column` whose ``dtype`` drives parsing of CSV text
(:mod:`bijstand.data.validate`), whose ``checks`` carry plain-English ``error`` texts, and whose ``description``
and ``metadata`` (``type``, ``allowed``) are the documentation. Rules that involve several columns or rows
(e.g. overlapping spells) are :class:`RowRule` objects turned into dataframe-level pandera checks that return one
boolean per row, so every offending row is reported.

Rules that depend on the study (window, known areas) are parameters of :func:`build_schema`.

Study window and dates: every month is a first-of-month timestamp. Spells may start before the window (people
already on benefit on 1 January 2015) and may have ended before it (the look-back needed to count re-inflow), but no
date may lie after the window end and no spell may start before 1965-01 (the Algemene Bijstandswet). Intervention
start months in the area file and panel months must lie inside the window.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

KINDS = ("spells", "areas", "panel")
EXIT_REASONS = ("work", "enforcement", "other")
EDUCATION_LEVELS = ("low", "middle", "high")
DEFAULT_WINDOW = ("2015-01", "2024-12")
EARLIEST_SPELL_START = pd.Timestamp("1965-01-01")
"""The Algemene Bijstandswet took effect on 1 January 1965; an earlier start month is a data error."""
MUNICIPALITY_PATTERN = r"GM\d{4}"

COUNT_COLUMNS = ("stock", "inflow", "reinflow_6m", "reinflow_12m", "outflow", "outflow_work",
                 "outflow_enforcement", "outflow_other")
RATE_COLUMNS = ("outflow_rate", "outflow_work_rate", "outflow_enforcement_rate", "outflow_other_rate",
                "reinflow_12m_share")
FIRST_TREAT_COLUMNS = ("first_treat_cohort", "first_treat_counter", "first_treat_outreach")


@dataclass(frozen=True)
class RowRule:
    """A rule over several columns or rows, reported per offending row against one column.

    Attributes
    ----------
    name
        Identifier (also the pandera check name).
    column
        Column a user should look at (named in the message).
    message
        Plain-English statement of the problem for one row.
    failing
        ``frame -> bool Series`` (``True`` = the row breaks the rule). Rows whose inputs are missing must be
        ``False`` (missing values are reported separately).
    context
        Further columns whose values are quoted in the message (e.g. ``person_id``).
    """

    name: str
    column: str
    message: str
    failing: Callable[[pd.DataFrame], pd.Series]
    context: tuple[str, ...] = field(default_factory=tuple)

    def as_check(self) -> pa.Check:
        failing = self.failing
        return pa.Check(lambda frame: ~failing(frame).fillna(False).astype(bool), name=self.name,
                        error=self.name)


def parse_window(window: tuple[str, str] | None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last month of a ``("YYYY-MM", "YYYY-MM")`` window as first-of-month Timestamps."""
    start, end = window or DEFAULT_WINDOW
    first, last = pd.Timestamp(start).to_period("M").to_timestamp(), pd.Timestamp(end).to_period("M").to_timestamp()
    if last < first:
        raise ValueError(f"window: end {end!r} lies before start {start!r}")
    return first, last


# ---------------------------------------------------------------------------------------------------------- checks

def _first_of_month() -> pa.Check:
    return pa.Check(lambda s: s.isna() | (s.dt.day == 1) & (s.dt.normalize() == s), name="first_of_month",
                    error="is not the first day of a month (months are written as YYYY-MM-01)")


def _not_after(last: pd.Timestamp) -> pa.Check:
    return pa.Check(lambda s: s.isna() | (s <= last), name="not_after_window",
                    error=f"lies after the study window (ends {last:%Y-%m})")


def _not_too_early() -> pa.Check:
    return pa.Check(lambda s: s.isna() | (s >= EARLIEST_SPELL_START), name="not_before_1965",
                    error="lies before 1965-01, when the Algemene Bijstandswet took effect")


def _within(first: pd.Timestamp, last: pd.Timestamp) -> pa.Check:
    return pa.Check(lambda s: s.isna() | ((s >= first) & (s <= last)), name="within_window",
                    error=f"lies outside the study window {first:%Y-%m} .. {last:%Y-%m}")


def _allowed(values: Iterable[str], what: str) -> pa.Check:
    values = tuple(values)
    return pa.Check(lambda s: s.isna() | s.isin(values), name=f"allowed_{what}",
                    error=f"is not an allowed {what}; allowed: {', '.join(repr(v) for v in values)}")


def _known_areas(known: Iterable[str]) -> pa.Check:
    known = frozenset(str(a) for a in known)
    return pa.Check(lambda s: s.isna() | s.isin(known), name="known_area",
                    error=f"is not a known area code (not in the areas file / known_areas, {len(known)} codes)")


def _non_negative() -> pa.Check:
    return pa.Check(lambda s: s.isna() | (s >= 0), name="non_negative", error="is negative; must be 0 or more")


def _municipality_code() -> pa.Check:
    return pa.Check(lambda s: s.isna() | s.astype("string[pyarrow]").str.fullmatch(MUNICIPALITY_PATTERN).fillna(False),
                    name="municipality_code",
                    error="is not a CBS municipality code ('GM' and four digits, e.g. 'GM0363')")


def _non_empty_text() -> pa.Check:
    return pa.Check(lambda s: s.isna() | (s.astype("string[pyarrow]").str.strip() != "").fillna(False),
                    name="non_empty", error="is empty")


def _column(dtype: str, description: str, type_label: str, *, nullable: bool = False,
            checks: list[pa.Check] | None = None, allowed: str = "") -> pa.Column:
    return pa.Column(dtype, checks=checks or [], nullable=nullable, required=True, description=description,
                     metadata={"type": type_label, "allowed": allowed})


# -------------------------------------------------------------------------------------------------- row rules

def _duplicated(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    complete = frame[keys].notna().all(axis=1)
    # only repeats are flagged (keep="first"), so each extra row is reported once and the first copy stays clean
    return frame[keys].duplicated(keep="first") & complete


def _overlapping_spells(frame: pd.DataFrame) -> pd.Series:
    """Rows that start on or before the end of the same person's previous spell (or while it is still running).

    Exact duplicates (same person, same start) are left to the duplicate rule so that each problem is reported
    once.
    """
    keys = frame[["person_id", "spell_start", "spell_end"]]
    valid = keys["person_id"].notna() & keys["spell_start"].notna()
    ordered = keys[valid].sort_values(["person_id", "spell_start", "spell_end"], na_position="last", kind="stable")
    same_person = ordered["person_id"].eq(ordered["person_id"].shift())
    previous_start = ordered["spell_start"].shift()
    # cumulative max of the previous ends per person: a spell nested in a long earlier one overlaps too
    end_or_open = ordered["spell_end"].fillna(pd.Timestamp.max.floor("D"))
    previous_end = end_or_open.groupby(ordered["person_id"]).cummax().groupby(ordered["person_id"]).shift()
    overlap = same_person & (ordered["spell_start"] <= previous_end) & (ordered["spell_start"] != previous_start)
    return overlap.reindex(frame.index, fill_value=False)


def _spell_rules(known_area_municipality: dict[str, str] | None) -> list[RowRule]:
    rules = [
        RowRule("spell_end_before_start", "spell_end", "spell_end lies before spell_start",
                lambda f: f["spell_end"] < f["spell_start"], ("spell_start",)),
        RowRule("exit_reason_on_running_spell", "exit_reason",
                "exit_reason is given but spell_end is empty; a running spell has no exit reason",
                lambda f: f["spell_end"].isna() & f["exit_reason"].notna()),
        RowRule("exit_reason_missing", "exit_reason",
                f"exit_reason is missing but spell_end is set; an ended spell needs one of {', '.join(EXIT_REASONS)}",
                lambda f: f["spell_end"].notna() & f["exit_reason"].isna(), ("spell_end",)),
        RowRule("duplicate_spell", "spell_start",
                "duplicate spell: an earlier row has the same person and start month (duplicate person-month)",
                lambda f: _duplicated(f, ["person_id", "spell_start"]), ("person_id",)),
        RowRule("overlapping_spell", "spell_start",
                "spell overlaps an earlier spell of the same person (starts on or before that spell's last month, "
                "or that spell is still running)",
                _overlapping_spells, ("person_id",)),
    ]
    if known_area_municipality:
        mapping = dict(known_area_municipality)
        rules.append(RowRule(
            "area_in_other_municipality", "municipality",
            "municipality does not match the municipality of this area in the areas file",
            lambda f: f["area"].map(mapping).notna() & f["municipality"].notna()
            & (f["area"].map(mapping) != f["municipality"]), ("area",)))
    return rules


def _area_rules() -> list[RowRule]:
    return [RowRule("duplicate_area", "area",
                    "duplicate area code: an earlier row has the same area; each area must appear once",
                    lambda f: _duplicated(f, ["area"]))]


def _panel_rules() -> list[RowRule]:
    def period_mismatch(f):
        expected = (f["month"].dt.year - 2015) * 12 + f["month"].dt.month
        return f["month"].notna() & f["period"].notna() & (f["period"] != expected)

    def reasons_do_not_add_up(f):
        parts = f["outflow_work"] + f["outflow_enforcement"] + f["outflow_other"]
        return parts.notna() & f["outflow"].notna() & (parts != f["outflow"])

    rules = [
        RowRule("duplicate_area_month", "month", "duplicate area-month: an earlier row has the same area and month",
                lambda f: _duplicated(f, ["area", "month"]), ("area",)),
        RowRule("period_mismatch", "period", "period does not equal 12 * (year - 2015) + month of column month",
                period_mismatch, ("month",)),
        RowRule("outflow_reasons_sum", "outflow",
                "outflow does not equal outflow_work + outflow_enforcement + outflow_other", reasons_do_not_add_up),
        RowRule("reinflow_6m_above_12m", "reinflow_6m", "reinflow_6m exceeds reinflow_12m",
                lambda f: f["reinflow_6m"] > f["reinflow_12m"], ("reinflow_12m",)),
        RowRule("reinflow_12m_above_inflow", "reinflow_12m",
                "reinflow_12m exceeds inflow (re-inflow is part of inflow)",
                lambda f: f["reinflow_12m"] > f["inflow"], ("inflow",)),
    ]
    for column in FIRST_TREAT_COLUMNS:
        rules.append(RowRule(
            f"{column}_varies", column,
            f"{column} differs from its value in the first row of the same area (must be constant within an area)",
            lambda f, c=column: f[c].notna() & (f[c] != f.groupby("area")[c].transform("first")), ("area",)))
    return rules


# ---------------------------------------------------------------------------------------------------- schemas

def _area_column_checks(known_areas: Iterable[str] | None) -> list[pa.Check]:
    checks = [_non_empty_text()]
    if known_areas is not None:
        checks.append(_known_areas(known_areas))
    return checks


def build_schema(kind: str, *, window: tuple[str, str] | None = DEFAULT_WINDOW,
                 known_areas: Iterable[str] | pd.DataFrame | None = None) -> pa.DataFrameSchema:
    """The pandera schema of one data format.

    Parameters
    ----------
    kind
        ``"spells"``, ``"areas"`` or ``"panel"``.
    window
        First and last month of the study window, ``("YYYY-MM", "YYYY-MM")``.
    known_areas
        Area codes that may appear (spells, panel): an iterable of codes, or an areas frame with columns
        ``area`` and ``municipality`` (then the municipality of each spell must match its area's).

    Returns
    -------
    pandera.DataFrameSchema
        Columns in contract order; ``metadata["row_rules"]`` holds the :class:`RowRule` list.
    """
    if kind not in KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    first, last = parse_window(window)
    area_municipality = None
    if isinstance(known_areas, pd.DataFrame):
        if "municipality" in known_areas.columns:
            area_municipality = dict(zip(known_areas["area"].astype(str), known_areas["municipality"].astype(str)))
        known_areas = known_areas["area"].astype(str).tolist()

    municipality = _column("str", "CBS municipality code", "str", checks=[_municipality_code()],
                           allowed="`GM` + 4 digits, e.g. `GM0363` Amsterdam, `GM0599` Rotterdam")
    if kind == "spells":
        columns = {
            "person_id": _column("int64", "person identifier (pseudonymised)", "int64", checks=[_non_negative()],
                                 allowed="integer >= 0"),
            "municipality": municipality,
            "area": _column("str", "area within the municipality (Amsterdam cohort area `AMS01`..`AMS22`, Rotterdam "
                                   "neighbourhood `RTM01`..`RTM42`; elsewhere the municipality code)", "str",
                            checks=_area_column_checks(known_areas), allowed="a code of the areas file"),
            "spell_start": _column("datetime64[ns]", "first month on benefit", "date (first of month)",
                                   checks=[_first_of_month(), _not_after(last), _not_too_early()],
                                   allowed=f"`YYYY-MM-01`, from 1965-01 to {last:%Y-%m}"),
            "spell_end": _column("datetime64[ns]", "last month on benefit; empty while the spell is still running",
                                 "date (first of month) or empty", nullable=True,
                                 checks=[_first_of_month(), _not_after(last)],
                                 allowed=f"`YYYY-MM-01` up to {last:%Y-%m}, not before spell_start; empty = running"),
            "exit_reason": _column("str", "reason the spell ended", "str or empty", nullable=True,
                                   checks=[_allowed(EXIT_REASONS, "exit_reason")],
                                   allowed="`work`, `enforcement`, `other`; empty if and only if spell_end is empty"),
            "birth_year": _column("int64", "year of birth", "int64",
                                  checks=[pa.Check(lambda s: s.isna() | s.between(1900, last.year - 15),
                                                   name="birth_year_range",
                                                   error=f"is not a plausible birth year (1900 .. {last.year - 15})")],
                                  allowed=f"1900 .. {last.year - 15}"),
            "education": _column("str", "highest education level", "str",
                                 checks=[_allowed(EDUCATION_LEVELS, "education")], allowed="`low`, `middle`, `high`"),
            "refugee": _column("bool", "refugee with a residence permit (statushouder)", "bool",
                               allowed="`true`/`false` (also `1`/`0`, `yes`/`no`)"),
            "exempt": _column("bool", "exempt from the obligation to work (ontheffing)", "bool",
                              allowed="`true`/`false` (also `1`/`0`, `yes`/`no`)"),
        }
        rules = _spell_rules(area_municipality)
    elif kind == "areas":
        def start(what):
            return _column("datetime64[ns]", f"first month of the {what} in this area; empty = never",
                           "date (first of month) or empty", nullable=True,
                           checks=[_first_of_month(), _within(first, last)],
                           allowed=f"`YYYY-MM-01` within {first:%Y-%m} .. {last:%Y-%m}, or empty")

        columns = {
            "municipality": municipality,
            "area": _column("str", "area code (unique)", "str", checks=[_non_empty_text()],
                            allowed="unique, e.g. `AMS01`, `RTM01`, or the municipality code"),
            "area_name": _column("str", "area name", "str", checks=[_non_empty_text()], allowed="any text"),
            "recipients_2018": _column("int64", "persons on bijstand in the area in 2018", "int64",
                                       checks=[_non_negative()], allowed="integer >= 0"),
            "cohort_start": start("cohort approach (Amsterdam)"),
            "counter_performance_start": start("counter-performance (Rotterdam)"),
            "outreach_start": start("soft outreach (Amsterdam)"),
        }
        rules = _area_rules()
    else:
        columns = {
            "municipality": municipality,
            "area": _column("str", "area code", "str", checks=_area_column_checks(known_areas),
                            allowed="a code of the areas file"),
            "month": _column("datetime64[ns]", "calendar month", "date (first of month)",
                             checks=[_first_of_month(), _within(first, last)],
                             allowed=f"`YYYY-MM-01` within {first:%Y-%m} .. {last:%Y-%m}"),
            "period": _column("int64", "integer month, 12 (year - 2015) + month (2015-01 = 1)", "int64",
                              allowed="consistent with month"),
        }
        meanings = {
            "stock": "persons on benefit during the month",
            "inflow": "spells starting in the month",
            "reinflow_6m": "inflows of persons who left benefit within the previous 6 months",
            "reinflow_12m": "inflows of persons who left benefit within the previous 12 months",
            "outflow": "spells ending in the month (last month on benefit)",
            "outflow_work": "outflow to work",
            "outflow_enforcement": "outflow for enforcement reasons (handhaving, non-response)",
            "outflow_other": "outflow for other reasons",
        }
        for name in COUNT_COLUMNS:
            columns[name] = _column("int64", meanings[name], "int64", checks=[_non_negative()],
                                    allowed="integer >= 0")
        for name in RATE_COLUMNS:
            if name == "reinflow_12m_share":
                meaning = "reinflow_12m as % of inflow (empty when inflow is 0)"
            else:
                meaning = f"{name.removesuffix('_rate')} per 100 recipients in stock (empty when stock is 0)"
            columns[name] = _column("float64", meaning, "float64 or empty", nullable=True, checks=[_non_negative()],
                                    allowed="number >= 0")
        for name in FIRST_TREAT_COLUMNS:
            what = name.removeprefix("first_treat_")
            columns[name] = _column("int64", f"period of the first month of the {what} intervention in the area; "
                                             "0 = never", "int64", checks=[_non_negative()],
                                    allowed="integer >= 0, constant within an area")
        rules = _panel_rules()
    return pa.DataFrameSchema(columns, checks=[rule.as_check() for rule in rules], strict=False, ordered=False,
                              name=kind, metadata={"row_rules": rules, "window": (first, last)})


SPELLS_SCHEMA = build_schema("spells")
AREAS_SCHEMA = build_schema("areas")
PANEL_SCHEMA = build_schema("panel")


def row_rules(schema: pa.DataFrameSchema) -> dict[str, RowRule]:
    """The :class:`RowRule` objects of a schema from :func:`build_schema`, by name."""
    return {rule.name: rule for rule in (schema.metadata or {}).get("row_rules", [])}


# ------------------------------------------------------------------------------------------------ documentation

_README_BEGIN = "<!-- schema:{kind}:begin (generated by bijstand.data.schemas.render_readme; do not edit) -->"
_README_END = "<!-- schema:{kind}:end -->"


def schema_markdown(kind: str) -> str:
    """Markdown table (column, type, meaning, allowed values) of one format, generated from its schema."""
    schema = build_schema(kind)
    lines = ["| column | type | meaning | allowed values |", "|---|---|---|---|"]
    for name, column in schema.columns.items():
        meta = column.metadata or {}
        lines.append(f"| `{name}` | {meta.get('type', str(column.dtype))} | {column.description} | "
                     f"{meta.get('allowed', '')} |")
    return "\n".join(lines)


def render_readme(text: str) -> str:
    """Replace each generated schema block in ``text`` (``data/README.md``) by the current table."""
    for kind in KINDS:
        begin, end = _README_BEGIN.format(kind=kind), _README_END.format(kind=kind)
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), flags=re.DOTALL)
        if not pattern.search(text):
            raise ValueError(f"README has no block {begin!r} ... {end!r}")
        text = pattern.sub(lambda _m, k=kind, b=begin, e=end: f"{b}\n{schema_markdown(k)}\n{e}", text)
    return text


def update_readme(path: str | Path) -> bool:
    """Regenerate the schema tables in a README in place; returns whether anything changed."""
    path = Path(path)
    old = path.read_text(encoding="utf-8")
    new = render_readme(old)
    if new != old:
        path.write_text(new, encoding="utf-8")
    return new != old


if __name__ == "__main__":  # python -m bijstand.data.schemas data/README.md
    import sys

    for target in sys.argv[1:] or ["data/README.md"]:
        print(f"{target}: {'updated' if update_readme(target) else 'up to date'}")


__all__ = [
    "AREAS_SCHEMA", "DEFAULT_WINDOW", "EDUCATION_LEVELS", "EXIT_REASONS", "KINDS", "PANEL_SCHEMA", "RowRule",
    "SPELLS_SCHEMA", "build_schema", "parse_window", "render_readme", "row_rules", "schema_markdown",
    "update_readme",
]
