"""The project's data formats (data contract v2), declared once as pandera schemas.

Three formats (see ``data/README.md``, whose column tables are generated from this module by
:func:`render_readme`, and ``tests/test_validate.py`` checks that they agree):

* ``spells`` - person-spell register, one row per benefit spell;
* ``areas`` - one row per area: code, name, municipality, any number of intervention start columns (``*_start``)
  and any number of grouping columns (text, e.g. ``borough``, ``district``);
* ``panel`` - area x month panel with counts, durability of exits and rates, built by
  :func:`bijstand.data.panel.build_area_panel` or delivered directly (a panel-only delivery = panel + areas).

Each column is a :class:`pandera.Column` whose ``metadata["parse"]`` says how CSV text is read
(:mod:`bijstand.data.validate`: ``id``, ``int``, ``float``, ``bool``, ``date``, ``str``), whose ``checks`` carry
plain-English ``error`` texts, and whose ``description`` and ``metadata`` (``type``, ``allowed``) are the
documentation. Columns that are not required have ``required=False``; the intervention start columns of the areas
file are one regex column (``^.+_start$``). Rules that involve several columns or rows (e.g. overlapping spells,
rates that must equal 100 x count / stock) are :class:`RowRule` objects turned into dataframe-level pandera checks
that return one boolean per row, so every offending row is known.

Rules that depend on the study (window, known areas) are parameters of :func:`build_schema`.

Study window and dates: every month is a first-of-month timestamp. Spells may start before the window (people
already on benefit on 1 January 2015) and may have ended before it (the look-back needed to count re-inflow), but no
date may lie after the window end and no spell may start before 1965-01 (the Algemene Bijstandswet). Intervention
start months in the area file and panel months must lie inside the window.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

KINDS = ("spells", "areas", "panel")
EXIT_REASONS = ("work", "enforcement", "other", "non_response")
"""Allowed ``exit_reason`` values; ``non_response`` is optional (a register that does not record it keeps such exits
under ``enforcement``)."""
OPTIONAL_EXIT_REASONS = ("non_response",)
EDUCATION_LEVELS = ("low", "middle", "high")
DEFAULT_WINDOW = ("2015-01", "2024-12")
EARLIEST_SPELL_START = pd.Timestamp("1965-01-01")
"""The Algemene Bijstandswet took effect on 1 January 1965; an earlier start month is a data error."""
MUNICIPALITY_PATTERN = r"GM\d{4}"
START_COLUMN_PATTERN = r"^.+_start$"
"""Areas file: every column whose name ends in ``_start`` is an intervention start month (empty = never)."""
IGNORED_PANEL_PATTERN = r"^first_treat_.+$"
"""Panel columns of contract v1 that carried treatment timing; ignored now (timing comes from the areas file)."""

PANEL_KEY_COLUMNS = ("municipality", "area", "month", "period")
INFLOW_COLUMNS = ("inflow", "reinflow_6m", "reinflow_12m")
OUTFLOW_COLUMNS = ("outflow", "outflow_work", "outflow_enforcement", "outflow_non_response", "outflow_other")
REASON_COLUMNS = OUTFLOW_COLUMNS[1:]
COUNT_COLUMNS = ("stock", *INFLOW_COLUMNS, *OUTFLOW_COLUMNS)
DURABILITY_SUFFIXES = ("return_6m", "return_12m", "durable_12m")
DURABILITY_COLUMNS = tuple(f"{x}_{s}" for x in OUTFLOW_COLUMNS for s in DURABILITY_SUFFIXES)
RATE_COLUMNS = tuple(f"{c}_rate" for c in (*OUTFLOW_COLUMNS, *DURABILITY_COLUMNS))
SHARE_COLUMNS = ("reinflow_12m_share",)
PANEL_COLUMNS = (*PANEL_KEY_COLUMNS, *COUNT_COLUMNS, *DURABILITY_COLUMNS, *RATE_COLUMNS, *SHARE_COLUMNS)
RATE_TOLERANCE = 1e-6
"""Largest allowed difference between a delivered rate and 100 x count / denominator."""
FOLLOW_UP_MONTHS = {"return_6m": 6, "return_12m": 12, "durable_12m": 12}


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
        ``False`` unless a missing value is itself the problem (missing values are reported separately).
    context
        Further columns whose values are quoted in the message (e.g. ``person_id``).
    inputs
        Every column ``failing`` reads. The rule is skipped when one of them is absent from the file, and a row is
        not reported when one of its inputs could not be read (that cell is reported already).
    level
        ``"error"`` or ``"warning"`` (reported, but the file is still accepted).
    """

    name: str
    column: str
    message: str
    failing: Callable[[pd.DataFrame], pd.Series]
    context: tuple[str, ...] = field(default_factory=tuple)
    inputs: tuple[str, ...] = field(default_factory=tuple)
    level: str = "error"

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


def is_start_column(name: str) -> bool:
    """Whether an areas-file column is an intervention start column (its name ends in ``_start``)."""
    return re.fullmatch(START_COLUMN_PATTERN, str(name)) is not None


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


def _whole() -> pa.Check:
    return pa.Check(lambda s: s.isna() | (s == np.round(s)), name="whole_number",
                    error="is not a whole number (a count)")


def _identifier() -> pa.Check:
    def ok(s: pd.Series) -> pd.Series:
        if pd.api.types.is_integer_dtype(s):
            return s >= 0
        as_int = s.map(lambda v: isinstance(v, (int, np.integer)) and v < 0)
        return s.isna() | ~as_int.astype(bool)

    return pa.Check(ok, name="identifier", error="is negative; a numeric identifier must be 0 or more")


def _municipality_code() -> pa.Check:
    return pa.Check(lambda s: s.isna() | s.astype("string[pyarrow]").str.fullmatch(MUNICIPALITY_PATTERN).fillna(False),
                    name="municipality_code",
                    error="is not a CBS municipality code ('GM' and four digits, e.g. 'GM0363')")


def _non_empty_text() -> pa.Check:
    return pa.Check(lambda s: s.isna() | (s.astype("string[pyarrow]").str.strip() != "").fillna(False),
                    name="non_empty", error="is empty")


_PANDERA_DTYPE = {"id": None, "int": "int64", "float": "float64", "bool": "bool", "date": "datetime64[ns]",
                  "str": "str"}


def _column(parse: str, description: str, type_label: str, *, nullable: bool = False, required: bool = True,
            checks: list[pa.Check] | None = None, allowed: str = "", regex: bool = False,
            doc_name: str | None = None) -> pa.Column:
    return pa.Column(_PANDERA_DTYPE[parse], checks=checks or [], nullable=nullable, required=required,
                     regex=regex, description=description,
                     metadata={"type": type_label, "allowed": allowed, "parse": parse, "doc_name": doc_name})


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


def _municipality_rule(known_area_municipality: dict[str, str]) -> RowRule:
    mapping = dict(known_area_municipality)

    def failing(f):
        expected = f["area"].map(mapping)
        return expected.notna() & f["municipality"].notna() & (expected != f["municipality"])

    return RowRule("area_in_other_municipality", "municipality",
                   "municipality differs from this area's municipality in the areas file", failing,
                   ("area",), inputs=("area", "municipality"))


def _spell_rules(known_area_municipality: dict[str, str] | None) -> list[RowRule]:
    rules = [
        RowRule("spell_end_before_start", "spell_end", "spell_end lies before spell_start",
                lambda f: f["spell_end"] < f["spell_start"], ("spell_start",), inputs=("spell_start", "spell_end")),
        RowRule("exit_reason_on_running_spell", "exit_reason",
                "exit_reason is given but spell_end is empty; a running spell has no exit reason",
                lambda f: f["spell_end"].isna() & f["exit_reason"].notna(), inputs=("spell_end", "exit_reason")),
        RowRule("exit_reason_missing", "exit_reason",
                f"exit_reason is missing but spell_end is set; an ended spell needs one of {', '.join(EXIT_REASONS)}",
                lambda f: f["spell_end"].notna() & f["exit_reason"].isna(), ("spell_end",),
                inputs=("spell_end", "exit_reason")),
        RowRule("duplicate_spell", "spell_start",
                "duplicate spell: an earlier row has the same person and start month (duplicate person-month)",
                lambda f: _duplicated(f, ["person_id", "spell_start"]), ("person_id",),
                inputs=("person_id", "spell_start")),
        RowRule("overlapping_spell", "spell_start",
                "spell overlaps an earlier spell of the same person (starts on or before that spell's last month, "
                "or that spell is still running)",
                _overlapping_spells, ("person_id",), inputs=("person_id", "spell_start", "spell_end")),
    ]
    if known_area_municipality:
        rules.append(_municipality_rule(known_area_municipality))
    return rules


def _area_rules() -> list[RowRule]:
    return [RowRule("duplicate_area", "area",
                    "duplicate area code: an earlier row has the same area; each area must appear once",
                    lambda f: _duplicated(f, ["area"]), inputs=("area",))]


def _exceeds(small: str, large: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda f: f[small].notna() & f[large].notna() & (f[small] > f[large])


def _ratio_rule(rate: str, count: str, denominator: str) -> RowRule:
    def failing(f):
        num, den, value = f[count].astype(float), f[denominator].astype(float), f[rate].astype(float)
        defined = den.notna() & (den > 0) & num.notna()
        expected = 100.0 * num / den.where(den > 0)
        wrong = defined & (value.isna() | ((value - expected).abs() > RATE_TOLERANCE))
        invented = den.notna() & ~defined & value.notna()
        return wrong | invented

    return RowRule(f"{rate}_inconsistent", rate,
                   f"{rate} is not 100 * {count} / {denominator} (to {RATE_TOLERANCE:g}; empty when {denominator} "
                   f"is 0 or {count} is empty)", failing, (count, denominator), inputs=(rate, count, denominator))


def _censored(f: pd.DataFrame) -> pd.Series:
    months = f["month"]
    end = months.max()
    flagged = pd.Series(False, index=f.index)
    if pd.isna(end):
        return flagged
    for column in DURABILITY_COLUMNS:
        if column not in f.columns:
            continue
        horizon = next(months for suffix, months in FOLLOW_UP_MONTHS.items() if column.endswith(suffix))
        cutoff = end - pd.DateOffset(months=horizon)
        flagged |= months.notna() & (months > cutoff) & f[column].notna()
    return flagged


def _panel_rules(known_area_municipality: dict[str, str] | None) -> list[RowRule]:
    def period_mismatch(f):
        expected = (f["month"].dt.year - 2015) * 12 + f["month"].dt.month
        return f["month"].notna() & f["period"].notna() & (f["period"] != expected)

    def reasons_do_not_add_up(f):
        parts = sum(f[c] for c in REASON_COLUMNS)
        return parts.notna() & f["outflow"].notna() & (parts != f["outflow"])

    rules = [
        RowRule("duplicate_area_month", "month", "duplicate area-month: an earlier row has the same area and month",
                lambda f: _duplicated(f, ["area", "month"]), ("area",), inputs=("area", "month")),
        RowRule("period_mismatch", "period", "period does not equal 12 * (year - 2015) + month of column month",
                period_mismatch, ("month",), inputs=("period", "month")),
        RowRule("outflow_reasons_sum", "outflow",
                f"outflow does not equal {' + '.join(REASON_COLUMNS)}", reasons_do_not_add_up,
                inputs=("outflow", *REASON_COLUMNS)),
        RowRule("reinflow_6m_above_12m", "reinflow_6m", "reinflow_6m exceeds reinflow_12m",
                _exceeds("reinflow_6m", "reinflow_12m"), ("reinflow_12m",), inputs=("reinflow_6m", "reinflow_12m")),
        RowRule("reinflow_12m_above_inflow", "reinflow_12m",
                "reinflow_12m exceeds inflow (re-inflow is part of inflow)",
                _exceeds("reinflow_12m", "inflow"), ("inflow",), inputs=("reinflow_12m", "inflow")),
    ]
    for x in OUTFLOW_COLUMNS:
        r6, r12, durable = f"{x}_return_6m", f"{x}_return_12m", f"{x}_durable_12m"

        def durable_wrong(f, x=x, r12=r12, durable=durable):
            both = f[x].notna() & f[r12].notna() & f[durable].notna()
            mismatch = both & ((f[durable] - (f[x] - f[r12])).abs() > 1e-9)
            return mismatch | (f[x].notna() & (f[r12].isna() != f[durable].isna()))

        rules += [
            RowRule(f"{r6}_above_12m", r6, f"{r6} exceeds {r12} (a return within 6 months is one within 12 months)",
                    _exceeds(r6, r12), (r12,), inputs=(r6, r12)),
            RowRule(f"{r12}_above_{x}", r12, f"{r12} exceeds {x} (returns are part of the exits)",
                    _exceeds(r12, x), (x,), inputs=(r12, x)),
            RowRule(f"{durable}_inconsistent", durable,
                    f"{durable} does not equal {x} - {r12} (both are empty when the 12-month follow-up is "
                    "incomplete)", durable_wrong, (x, r12), inputs=(durable, x, r12)),
        ]
    rules += [_ratio_rule(f"{c}_rate", c, "stock") for c in (*OUTFLOW_COLUMNS, *DURABILITY_COLUMNS)]
    rules.append(_ratio_rule("reinflow_12m_share", "reinflow_12m", "inflow"))
    rules.append(RowRule(
        "durability_censored", "month",
        "durability counts (X_return_6m / X_return_12m / X_durable_12m) are filled in although the follow-up is "
        "incomplete (an exit month within 6 resp. 12 months of the panel's last month); such exits are censored "
        "and should be empty, unless the register runs beyond the panel's last month",
        _censored, inputs=("month",), level="warning"))
    if known_area_municipality:
        rules.append(_municipality_rule(known_area_municipality))
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
        ``area`` and ``municipality`` (then the municipality of each row must match its area's).

    Returns
    -------
    pandera.DataFrameSchema
        Columns in contract order; ``metadata["row_rules"]`` holds the :class:`RowRule` list,
        ``metadata["other_columns"]`` says what happens to columns the format does not name (``"warn"``: kept
        and reported as unexpected; ``"group"``: grouping columns, kept as text), ``metadata["ignored_columns"]``
        (panel) a pattern of columns that are dropped with a warning.
    """
    if kind not in KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    first, last = parse_window(window)
    area_municipality = None
    if isinstance(known_areas, pd.DataFrame):
        codes = known_areas[known_areas["area"].notna()]
        if "municipality" in codes.columns:
            codes = codes[codes["municipality"].notna()]
            area_municipality = dict(zip(codes["area"].astype(str), codes["municipality"].astype(str)))
        known_areas = known_areas["area"].dropna().astype(str).tolist()

    municipality = _column("str", "CBS municipality code", "str", checks=[_municipality_code()],
                           allowed="`GM` + 4 digits, e.g. `GM0363` Amsterdam, `GM0599` Rotterdam")
    metadata = {"window": (first, last), "other_columns": "warn", "ignored_columns": None}
    if kind == "spells":
        columns = {
            "person_id": _column("id", "person identifier (pseudonymised)", "integer or text",
                                 checks=[_identifier()],
                                 allowed="digits of any length (kept exact: int64 when all fit, else text), or text "
                                         "ids; never decimals or scientific notation"),
            "municipality": municipality,
            "area": _column("str", "area within the municipality (a code of the areas file)", "str",
                            checks=_area_column_checks(known_areas), allowed="a code of the areas file"),
            "spell_start": _column("date", "first month on benefit", "date (first of month)",
                                   checks=[_first_of_month(), _not_after(last), _not_too_early()],
                                   allowed=f"`YYYY-MM-01`, from 1965-01 to {last:%Y-%m}"),
            "spell_end": _column("date", "last month on benefit; empty while the spell is still running",
                                 "date (first of month) or empty", nullable=True,
                                 checks=[_first_of_month(), _not_after(last)],
                                 allowed=f"`YYYY-MM-01` up to {last:%Y-%m}, not before spell_start; empty = running"),
            "exit_reason": _column("str", "reason the spell ended (`non_response`: did not respond to an invitation, "
                                          "suspension then withdrawal; a register that does not record it keeps "
                                          "such exits under `enforcement`)", "str or empty", nullable=True,
                                   checks=[_allowed(EXIT_REASONS, "exit_reason")],
                                   allowed="`work`, `enforcement`, `other`, optionally `non_response`; empty if and "
                                           "only if spell_end is empty"),
            "birth_year": _column("int", "year of birth", "int64",
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
        columns = {
            "municipality": municipality,
            "area": _column("str", "area code (unique)", "str", checks=[_non_empty_text()],
                            allowed="unique, e.g. `AMS01`, `RTM01`, or the municipality code"),
            "area_name": _column("str", "area name", "str", checks=[_non_empty_text()], allowed="any text"),
            "recipients_2018": _column("int", "persons on bijstand in the area in 2018 (optional column; only the "
                                              "synthetic register's area sizes use it)", "int64", required=False,
                                       checks=[_non_negative()], allowed="integer >= 0"),
            START_COLUMN_PATTERN: _column(
                "date", "first month of an intervention in this area, one column per intervention (any number, e.g. "
                        "`cohort_start`, `counter_performance_start`, `outreach_start`, `werkfit_start`; the "
                        "intervention description in the parameters says which column it uses); empty = never "
                        "treated inside the window", "date (first of month) or empty", nullable=True, required=False,
                checks=[_first_of_month(), _within(first, last)], regex=True, doc_name="*_start",
                allowed=f"`YYYY-MM-01` within {first:%Y-%m} .. {last:%Y-%m}, or empty"),
        }
        rules = _area_rules()
        metadata["other_columns"] = "group"
    else:
        columns = {
            "municipality": municipality,
            "area": _column("str", "area code", "str", checks=_area_column_checks(known_areas),
                            allowed="a code of the areas file"),
            "month": _column("date", "calendar month", "date (first of month)",
                             checks=[_first_of_month(), _within(first, last)],
                             allowed=f"`YYYY-MM-01` within {first:%Y-%m} .. {last:%Y-%m}"),
            "period": _column("int", "integer month, 12 (year - 2015) + month (2015-01 = 1)", "int64",
                              allowed="consistent with month"),
        }
        meanings = {
            "stock": "persons on benefit during the month",
            "inflow": "spells starting in the month",
            "reinflow_6m": "inflows of persons who left benefit within the previous 6 months",
            "reinflow_12m": "inflows of persons who left benefit within the previous 12 months",
            "outflow": "spells ending in the month (last month on benefit), all reasons",
            "outflow_work": "outflow to work",
            "outflow_enforcement": "outflow for enforcement reasons (handhaving; non-response too where the register "
                                   "does not record it separately)",
            "outflow_non_response": "outflow because the person did not respond to an invitation; 0 where not "
                                    "recorded",
            "outflow_other": "outflow for other reasons",
        }
        for name in COUNT_COLUMNS:
            columns[name] = _column("int", meanings[name], "int64", checks=[_non_negative()],
                                    allowed="integer >= 0")
        horizon_text = {"return_6m": "followed by a new spell of the same person within 6 months after the exit "
                                     "month", "return_12m": "followed by a new spell within 12 months",
                        "durable_12m": "that last 12 months"}
        for x in OUTFLOW_COLUMNS:
            for suffix in DURABILITY_SUFFIXES:
                months = FOLLOW_UP_MONTHS[suffix]
                extra = f"= {x} - {x}_return_12m" if suffix == "durable_12m" else "integer >= 0"
                columns[f"{x}_{suffix}"] = _column(
                    "float", f"exits counted in {x} {horizon_text[suffix]}; empty when the follow-up is incomplete",
                    "float64 or empty", nullable=True, checks=[_non_negative(), _whole()],
                    allowed=f"{extra}; empty in the last {months} months of the data")
        for name in RATE_COLUMNS:
            count = name.removesuffix("_rate")
            columns[name] = _column("float", f"100 * {count} / stock (empty when stock is 0 or {count} is empty)",
                                    "float64 or empty", nullable=True, checks=[_non_negative()],
                                    allowed="number >= 0, consistent with the counts")
        columns["reinflow_12m_share"] = _column(
            "float", "100 * reinflow_12m / inflow: share of the inflow that is re-inflow (inflow composition; empty "
                     "when inflow is 0)", "float64 or empty", nullable=True, checks=[_non_negative()],
            allowed="number >= 0, consistent with the counts")
        rules = _panel_rules(area_municipality)
        metadata["ignored_columns"] = IGNORED_PANEL_PATTERN
    metadata["row_rules"] = rules
    return pa.DataFrameSchema(columns, checks=[rule.as_check() for rule in rules], strict=False, ordered=False,
                              name=kind, metadata=metadata)


SPELLS_SCHEMA = build_schema("spells")
AREAS_SCHEMA = build_schema("areas")
PANEL_SCHEMA = build_schema("panel")


def row_rules(schema: pa.DataFrameSchema) -> dict[str, RowRule]:
    """The :class:`RowRule` objects of a schema from :func:`build_schema`, by name."""
    return {rule.name: rule for rule in (schema.metadata or {}).get("row_rules", [])}


def required_columns(schema: pa.DataFrameSchema) -> list[str]:
    """Names of the columns every file of this format must have (regex columns are never required)."""
    return [name for name, column in schema.columns.items() if column.required and not column.regex]


def columns_of(schema: pa.DataFrameSchema, header: Iterable[str]) -> dict[str, pa.Column]:
    """Schema column for each name of ``header`` the format declares (regex columns expanded), in header order."""
    out = {}
    for name in header:
        name = str(name)
        if name in schema.columns and not schema.columns[name].regex:
            out[name] = schema.columns[name]
            continue
        for pattern, column in schema.columns.items():
            if column.regex and re.fullmatch(pattern, name):
                out[name] = column
                break
    return out


# ------------------------------------------------------------------------------------------------ documentation

_README_BEGIN = "<!-- schema:{kind}:begin (generated by bijstand.data.schemas.render_readme; do not edit) -->"
_README_END = "<!-- schema:{kind}:end -->"


def schema_markdown(kind: str) -> str:
    """Markdown table (column, type, meaning, allowed values) of one format, generated from its schema."""
    schema = build_schema(kind)
    lines = ["| column | type | meaning | allowed values |", "|---|---|---|---|"]
    for name, column in schema.columns.items():
        meta = column.metadata or {}
        label = f"`{meta.get('doc_name') or name}`" + ("" if column.required else " (optional)")
        lines.append(f"| {label} | {meta.get('type', str(column.dtype))} | {column.description} | "
                     f"{meta.get('allowed', '')} |")
    if schema.metadata.get("other_columns") == "group":
        lines.append("| any other column (optional) | text | grouping column, e.g. `borough`, `district`: an "
                     "intervention may name it as its level of assignment (cluster variable) | "
                     "any text; empty allowed |")
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
    """Regenerate the schema tables in a README in place (atomically); returns whether anything changed."""
    path = Path(path)
    old = path.read_text(encoding="utf-8")
    new = render_readme(old)
    if new != old:
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
                out.write(new)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return new != old


if __name__ == "__main__":  # python -m bijstand.data.schemas data/README.md
    import sys

    for target in sys.argv[1:] or ["data/README.md"]:
        print(f"{target}: {'updated' if update_readme(target) else 'up to date'}")


__all__ = [
    "AREAS_SCHEMA", "COUNT_COLUMNS", "DEFAULT_WINDOW", "DURABILITY_COLUMNS", "EDUCATION_LEVELS", "EXIT_REASONS",
    "KINDS", "OUTFLOW_COLUMNS", "PANEL_COLUMNS", "PANEL_SCHEMA", "RATE_COLUMNS", "RowRule", "SPELLS_SCHEMA",
    "START_COLUMN_PATTERN", "build_schema", "columns_of", "is_start_column", "parse_window", "render_readme",
    "required_columns", "row_rules", "schema_markdown", "update_readme",
]
