"""Validate a partner's register file (CSV or Parquet) against the project's formats, reporting every problem.

:func:`validate_partner_file` reads the file, parses each column into the dtype declared in
:mod:`bijstand.data.schemas`, runs the pandera schema lazily (so that all failures are collected, not just the
first), and either returns the typed DataFrame or raises :class:`DataValidationError` listing every problem with

* the file,
* the column,
* the row, counted as a user sees it in the CSV: **the header is row 1, the first data row is row 2** (the same
  numbers are used for Parquet files, as if exported to CSV),
* the offending value as written in the file, and
* a plain-English message.

Policy choices (documented in ``data/README.md``):

* Missing required columns are errors, with the closest existing column name suggested (``difflib``) for typos.
* Unexpected extra columns are **warnings** (:class:`DataValidationWarning`), not errors: a partner's export often
  carries more columns than needed, and the synthetic register itself adds ``borough`` to the area file. They are
  kept, unchanged, after the contract columns in the returned frame.
* Semicolon-separated CSV (the Dutch Excel default) is detected from the header line.
* Text cells ``""``, ``NA``, ``NaN``, ``null`` and ``None`` count as missing.

Validation never writes; :func:`convert_partner_file` validates and then writes Parquet atomically (temporary file
in the target folder + :func:`os.replace`), so a failed conversion leaves no output file behind.
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from bijstand.data.schemas import DEFAULT_WINDOW, KINDS, build_schema, row_rules

MAX_LISTED = 50
"""Problems listed in full in the error message; the rest are counted."""
ROW_CONVENTION = "rows counted as in the CSV file: header = row 1, first data row = row 2"
CSV_SUFFIXES = (".csv", ".csv.gz", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
MISSING_TEXT = frozenset({"", "na", "nan", "null", "none", "nat", "<na>"})
TRUE_TEXT = frozenset({"true", "1", "yes", "y", "t", "ja", "waar"})
FALSE_TEXT = frozenset({"false", "0", "no", "n", "f", "nee", "onwaar"})
_INT_RE = re.compile(r"[+-]?\d+(\.0*)?")
_DATE_RE = re.compile(r"\d{4}-\d{2}(-\d{2})?([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?")


@dataclass(frozen=True)
class Problem:
    """One problem in a partner file.

    Attributes
    ----------
    file
        Path as given.
    column
        Column concerned (``None`` for file-level problems).
    row
        Row number with the header as row 1 (first data row = 2); ``1`` for header problems; ``None`` for
        file-level problems.
    value
        The value as written in the file (``None`` if not applicable).
    message
        Plain-English description.
    level
        ``"error"``, ``"warning"`` (extra column; does not fail validation) or ``"note"`` (checks skipped).
    """

    file: str
    column: str | None
    row: int | None
    value: Any
    message: str
    level: str = "error"

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append("header (row 1)" if self.row == 1 else f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        text = ", ".join(where) + ": "
        if self.value is not None:
            text += f"value {self.value!r} "
        text += self.message
        return text if self.level == "error" else f"[{self.level}] {text}"


class DataValidationError(ValueError):
    """A partner file breaks the data format; ``problems`` holds every :class:`Problem` found."""

    def __init__(self, file: str, problems: list[Problem]):
        self.file = file
        self.problems = list(problems)
        super().__init__(self._render())

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    def _render(self) -> str:
        errors = self.errors
        remarks = [p for p in self.problems if p.level != "error"]
        head = (f"{self.file}: {len(errors)} problem{'s' if len(errors) != 1 else ''} found ({ROW_CONVENTION})"
                + (f", plus {len(remarks)} warning(s)/note(s)" if remarks else "") + ":")
        listed = (errors + remarks)[:MAX_LISTED]
        lines = [head, *(f"  - {p}" for p in listed)]
        rest = len(self.problems) - len(listed)
        if rest > 0:
            lines.append(f"  ... and {rest} more (first {MAX_LISTED} shown; all are in DataValidationError.problems)")
        return "\n".join(lines)


class DataValidationWarning(UserWarning):
    """A partner file is valid but has something worth knowing (e.g. an unexpected column)."""


# ------------------------------------------------------------------------------------------------------ reading

def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in CSV_SUFFIXES + PARQUET_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _read(path: Path, label: str) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Raw frame (CSV: every cell as text, so that each bad cell can be quoted) and file-level problems."""
    def fail(message):
        return None, [Problem(label, None, None, None, message)]

    if not path.exists():
        return fail("file not found")
    if path.is_dir():
        return fail("is a folder, not a file")
    suffix = _suffix(path)
    if suffix in PARQUET_SUFFIXES:
        try:
            return pd.read_parquet(path), []
        except Exception as err:  # pyarrow raises several types for corrupt files
            return fail(f"cannot be read as Parquet ({type(err).__name__}: {str(err)[:200]})")
    if suffix not in CSV_SUFFIXES:
        return fail(f"has extension {suffix or '(none)'!r}; give a CSV (.csv) or Parquet (.parquet, .pq) file")
    if path.stat().st_size == 0:
        return fail("is empty (0 bytes: no header, no rows)")
    try:
        with open(path, encoding="utf-8-sig", errors="strict") as handle:
            header = handle.readline()
        # Dutch Excel writes ';' by default; decide from the header so that ids with commas cannot mislead
        sep = ";" if header.count(";") > header.count(",") else ","
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, sep=sep, encoding="utf-8-sig",
                            skipinitialspace=False)
    except UnicodeDecodeError as err:
        return fail(f"is not UTF-8 text (byte {err.start}); save it as CSV UTF-8")
    except pd.errors.EmptyDataError:
        return fail("is empty (no header, no rows)")
    except (pd.errors.ParserError, ValueError) as err:
        return fail(f"cannot be read as CSV ({str(err).strip()[:200]})")
    return frame, []


# ------------------------------------------------------------------------------------------------------ parsing

def _is_text(raw: pd.Series) -> bool:
    return raw.dtype == object or pd.api.types.is_string_dtype(raw)


def _stripped_text(raw: pd.Series) -> pd.Series:
    # pyarrow-backed strings: strip / lower / regex run about 5x faster than on Python objects (measured on the
    # 840k-row synthetic register)
    return raw.astype("string[pyarrow]").str.strip()


def _missing_text(raw: pd.Series, text: pd.Series | None) -> pd.Series:
    if text is not None:
        return (raw.isna() | text.str.lower().isin(MISSING_TEXT).fillna(True)).astype(bool)
    return raw.isna()


def _parse_int(raw: pd.Series, missing: pd.Series, text: pd.Series | None) -> tuple[pd.Series, pd.Series, str]:
    if pd.api.types.is_bool_dtype(raw):
        return pd.Series(np.nan, index=raw.index), ~missing, "is true/false, not a whole number"
    if text is None:
        values = raw.astype("float64")
        bad = ~missing & (values != np.round(values))
    else:
        bad = ~missing & ~text.str.fullmatch(_INT_RE.pattern).fillna(False).astype(bool)
        values = pd.to_numeric(text.where(~bad & ~missing), errors="coerce").astype("float64")
    return values.where(~bad & ~missing), bad, "is not a whole number"


def _parse_float(raw: pd.Series, missing: pd.Series, text: pd.Series | None) -> tuple[pd.Series, pd.Series, str]:
    if text is None and not pd.api.types.is_bool_dtype(raw):
        values = raw.astype("float64")
        return values.where(~missing), pd.Series(False, index=raw.index), ""
    source = text if text is not None else raw.astype("string[pyarrow]")
    values = pd.to_numeric(source.where(~missing), errors="coerce").astype("float64")
    bad = ~missing & values.isna()
    return values, bad, "is not a number (use a decimal point, e.g. 12.5)"


def _parse_bool(raw: pd.Series, missing: pd.Series, text: pd.Series | None) -> tuple[pd.Series, pd.Series, str]:
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype(object).where(~missing), pd.Series(False, index=raw.index), ""
    lowered = (text if text is not None else raw.astype("string[pyarrow]")).str.lower()
    is_true = lowered.isin(TRUE_TEXT).fillna(False).astype(bool)
    is_false = lowered.isin(FALSE_TEXT).fillna(False).astype(bool)
    bad = ~missing & ~is_true & ~is_false
    values = pd.Series(np.where(is_true, True, np.where(is_false, False, None)), index=raw.index, dtype=object)
    return values.where(~missing & ~bad), bad.astype(bool), "is not true/false (also accepted: 1/0, yes/no)"


def _parse_datetime(raw: pd.Series, missing: pd.Series, text: pd.Series | None) -> tuple[pd.Series, pd.Series, str]:
    if pd.api.types.is_datetime64_any_dtype(raw):
        values = raw.dt.tz_localize(None) if getattr(raw.dt, "tz", None) is not None else raw
        return values.astype("datetime64[ns]"), pd.Series(False, index=raw.index), ""
    source = text if text is not None else raw.astype("string[pyarrow]")
    # A strict ISO pattern first: pandas alone would read "2019" as 2019-01-01 and guess day/month orders
    shaped = source.str.fullmatch(_DATE_RE.pattern).fillna(False).astype(bool)
    values = pd.to_datetime(source.where(shaped & ~missing).astype(object), format="ISO8601", errors="coerce")
    bad = ~missing & values.isna()
    return values.astype("datetime64[ns]"), bad, "is not a date; write months as YYYY-MM-01 (ISO 8601)"


def _parse_str(raw: pd.Series, missing: pd.Series, text: pd.Series | None) -> tuple[pd.Series, pd.Series, str]:
    source = text if text is not None else raw.astype("string[pyarrow]").str.strip()
    values = source.astype(object).where(~missing, None)
    return values, pd.Series(False, index=raw.index), ""


_PARSERS = {"int64": _parse_int, "float64": _parse_float, "bool": _parse_bool, "datetime64[ns]": _parse_datetime,
            "str": _parse_str}


def _final_dtype(values: pd.Series, dtype: str) -> pd.Series:
    if dtype == "int64":
        return values.astype("int64")
    if dtype == "bool":
        return values.astype(bool)
    if dtype == "str":
        return values.astype(object)
    return values.astype(dtype)


# ------------------------------------------------------------------------------------------------------ helpers

def _raw_value(raw: pd.DataFrame, column: str, index: int) -> Any:
    value = raw.at[index, column]
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return None if pd.isna(value) else str(pd.Timestamp(value).date())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _resolve_known_areas(known_areas) -> Iterable[str] | pd.DataFrame | None:
    if known_areas is None or isinstance(known_areas, pd.DataFrame):
        return known_areas
    if isinstance(known_areas, (str, os.PathLike)):
        return validate_partner_file(known_areas, kind="areas")
    return [str(a) for a in known_areas]


def _column_problems(schema: pa.DataFrameSchema, raw: pd.DataFrame, label: str) -> tuple[list[Problem], list[str]]:
    problems, missing_columns = [], []
    expected = list(schema.columns)
    extra = [c for c in raw.columns if c not in schema.columns]
    suggested_for = {}
    for column in expected:
        if column in raw.columns:
            continue
        missing_columns.append(column)
        lowered = {str(c).lower(): c for c in extra}
        close = difflib.get_close_matches(column.lower(), list(lowered), n=1, cutoff=0.6)
        hint = ""
        if close:
            found = lowered[close[0]]
            suggested_for[found] = column
            hint = f"; the file has column {found!r} - is that a misspelling of {column!r}? rename it"
        problems.append(Problem(label, column, 1, None, f"required column is missing from the header{hint}"))
    for column in extra:
        if column in suggested_for:
            continue
        close = difflib.get_close_matches(str(column), expected, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}? it is present already)" if close else ""
        problems.append(Problem(label, str(column), 1, None,
                                f"unexpected column, not part of the {schema.name} format; kept but not used{hint}",
                                level="warning"))
    return problems, missing_columns


# ------------------------------------------------------------------------------------------------------ public API

def validate_partner_file(path: str | os.PathLike, *, kind: str = "spells",
                          known_areas: Iterable[str] | pd.DataFrame | str | os.PathLike | None = None,
                          window: tuple[str, str] = DEFAULT_WINDOW) -> pd.DataFrame:
    """Check a partner's file against a data format and return it typed; report every problem at once.

    Parameters
    ----------
    path
        CSV (``.csv``, ``.csv.gz``, comma- or semicolon-separated, UTF-8) or Parquet (``.parquet``, ``.pq``).
    kind
        ``"spells"``, ``"areas"`` or ``"panel"`` (formats in ``data/README.md``).
    known_areas
        Area codes allowed in ``area`` (spells, panel): codes, an areas DataFrame (then the municipality of every
        row must also match its area's), or the path of an areas file (validated first).
    window
        First and last month of the study window, ``("YYYY-MM", "YYYY-MM")``.

    Returns
    -------
    pandas.DataFrame
        Contract columns in contract order with the declared dtypes (``int64``, ``bool``, ``datetime64[ns]``,
        ``object`` strings with ``None`` for missing), followed by any extra columns unchanged.

    Raises
    ------
    DataValidationError
        (a ``ValueError``) listing every problem: file, column, row (header = row 1, first data row = row 2),
        value as written and a plain-English message; the first 50 are in the message, all in ``.problems``.

    Warns
    -----
    DataValidationWarning
        For unexpected extra columns when the file is otherwise valid.
    """
    if kind not in KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    label = str(path)
    schema = build_schema(kind, window=window, known_areas=_resolve_known_areas(known_areas))
    raw, problems = _read(Path(path), label)
    if raw is None:
        raise DataValidationError(label, problems)
    raw = raw.rename(columns=lambda c: str(c).strip()).reset_index(drop=True)
    header_problems, missing_columns = _column_problems(schema, raw, label)
    problems += header_problems
    if len(raw) == 0:
        problems.append(Problem(label, None, None, None, "has a header but no data rows"))
        raise DataValidationError(label, problems)

    typed = {}
    flagged: set[tuple[str, int]] = set()
    columns_with_parse_problems = set()
    for name, column in schema.columns.items():
        if name not in raw.columns:
            continue
        dtype = str(column.dtype)
        text = _stripped_text(raw[name]) if _is_text(raw[name]) else None
        missing = _missing_text(raw[name], text)
        values, bad, reason = _PARSERS[dtype](raw[name], missing, text)
        for index in np.flatnonzero(bad.to_numpy()):
            problems.append(Problem(label, name, int(index) + 2, _raw_value(raw, name, index), reason))
            flagged.add((name, int(index)))
        if not column.nullable:
            for index in np.flatnonzero(missing.to_numpy()):
                problems.append(Problem(label, name, int(index) + 2, None, "required value is missing"))
                flagged.add((name, int(index)))
        if bad.any() or (missing.any() and not column.nullable):
            columns_with_parse_problems.add(name)
        elif not (missing.any() and dtype in ("int64", "bool")):
            values = _final_dtype(values, dtype)  # clean column: give pandera the declared dtype to check
        typed[name] = values
    frame = pd.DataFrame(typed, index=raw.index)

    rules = row_rules(schema)
    check_schema = schema
    if missing_columns:
        # Keep the cross-column rules that can still be evaluated; note the others so nobody mistakes silence
        # for a pass.
        usable, skipped = [], []
        for rule in rules.values():
            try:
                rule.failing(frame)
                usable.append(rule)
            except KeyError:
                skipped.append(rule.name)
        check_schema = pa.DataFrameSchema({n: c for n, c in schema.columns.items() if n not in missing_columns},
                                          checks=[rule.as_check() for rule in usable], name=schema.name)
        if skipped:
            problems.append(Problem(label, None, None, None, "rules across columns not checked until the missing "
                                    f"columns are added: {', '.join(skipped)}", level="note"))
    try:
        check_schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        problems += _pandera_problems(err.failure_cases, rules, raw, label, flagged, columns_with_parse_problems)

    errors = [p for p in problems if p.level == "error"]
    if errors:
        problems.sort(key=lambda p: (p.level != "error", p.row or 0, list(raw.columns).index(p.column)
                                     if p.column in raw.columns else -1))
        raise DataValidationError(label, problems)
    for problem in problems:  # only warnings remain here
        warnings.warn(str(problem), DataValidationWarning, stacklevel=2)
    out = pd.DataFrame({name: _final_dtype(frame[name], str(schema.columns[name].dtype)) for name in schema.columns})
    for column in raw.columns:
        if column not in schema.columns:
            out[column] = raw[column]
    return out


def _pandera_problems(failure_cases: pd.DataFrame, rules, raw: pd.DataFrame, label: str,
                      flagged: set[tuple[str, int]], columns_with_parse_problems: set[str]) -> list[Problem]:
    problems = []
    seen_rule_rows: set[tuple[str, int]] = set()
    for case in failure_cases.itertuples(index=False):
        check = str(case.check)
        index = None if pd.isna(case.index) else int(case.index)
        if check in rules:
            rule = rules[check]
            # pandera lists a failing row of a dataframe-level check once per column; report it once
            if index is None or (check, index) in seen_rule_rows:
                continue
            seen_rule_rows.add((check, index))
            context = ", ".join(f"{c}={_raw_value(raw, c, index)!r}" for c in rule.context if c in raw.columns)
            message = rule.message + (f" ({context})" if context else "")
            problems.append(Problem(label, rule.column, index + 2, _raw_value(raw, rule.column, index), message))
            continue
        column = None if pd.isna(case.column) else str(case.column)
        if column in columns_with_parse_problems and (check == "not_nullable" or check.startswith("dtype(")):
            continue  # the unparseable / missing cells were reported while parsing
        if index is not None and (column, index) in flagged:
            continue
        value = _raw_value(raw, column, index) if (index is not None and column in raw.columns) else None
        problems.append(Problem(label, column, None if index is None else index + 2, value, check))
    return problems


def convert_partner_file(src: str | os.PathLike, dst: str | os.PathLike, *, kind: str = "spells",
                         known_areas: Iterable[str] | pd.DataFrame | str | os.PathLike | None = None,
                         window: tuple[str, str] = DEFAULT_WINDOW) -> Path:
    """Validate a partner file and write it as typed Parquet, atomically.

    The frame is written to a temporary file in ``dst``'s folder and moved into place with :func:`os.replace`,
    so ``dst`` either does not change (validation or writing failed; no temporary file is left) or is the
    complete new file.

    Parameters
    ----------
    src, dst
        Input file (see :func:`validate_partner_file`) and output Parquet path.
    kind, known_areas, window
        As in :func:`validate_partner_file`.

    Returns
    -------
    pathlib.Path
        ``dst``.

    Raises
    ------
    DataValidationError
        If ``src`` breaks the format (nothing is written).
    """
    frame = validate_partner_file(src, kind=kind, known_areas=known_areas, window=window)
    target = Path(dst)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


__all__ = ["DataValidationError", "DataValidationWarning", "Problem", "convert_partner_file",
           "validate_partner_file"]
