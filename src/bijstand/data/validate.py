"""Validate a partner's register files (CSV or Parquet) against the project's formats, reporting every problem.

:func:`validate_partner_file` checks one file, :func:`validate_delivery` a whole delivery folder (spells + areas, or
panel + areas) exactly as :func:`bijstand.data.sources.load_register` reads it. Both read the file, parse each
column into the dtype declared in :mod:`bijstand.data.schemas`, run the pandera schema lazily (so that all failures
are collected, not just the first), and either return the typed data or raise :class:`DataValidationError` listing
every problem with

* the file,
* the column,
* the row, counted as a text editor shows the CSV: **the header is row 1, the first data row is row 2**, and blank
  lines count (Parquet rows are numbered as if exported to CSV),
* the offending value as written in the file, and
* a plain-English message.

Policy choices (documented in ``data/README.md``):

* Nothing is guessed. A whole number with a thousands separator (``101.000``, ``1,234``) is refused, not read
  (``101.000`` may be 101 or 101000); so is a decimal comma in a number column (``2,5``). Identifiers are never
  read through floating point: digits of any length stay exact (``int64`` when every id fits, else text).
* One root cause is reported once: when more than :data:`SUMMARY_AFTER` rows of one column share a problem, they
  become one summary (``10,000 of 10,000 values are not a date ..., e.g. row 2 '01-03-2016'``) whose ``rows`` hold
  every row number; checks that depend on a missing column or an unreadable cell are not run for it.
* Missing required columns are errors, with the closest existing column name suggested (``difflib``) for typos.
  A column name that appears twice is an error (pandas would silently rename the second copy to ``name.1``).
* Unexpected extra columns are **warnings** (:class:`DataValidationWarning`), kept unchanged after the contract
  columns. In the areas file, extra columns are grouping columns (text) and columns ending in ``_start``
  intervention start months; in a panel, ``first_treat_*`` columns (contract v1) are dropped with a warning.
* CSV: UTF-8 (a byte-order mark, as Excel on Windows writes, is fine), comma, semicolon or tab separated (detected
  from the header line), ``.csv`` or gzip-compressed ``.csv.gz``. Text cells ``""``, ``NA``, ``NaN``, ``null`` and
  ``None`` count as missing; lines that are empty (or only separators) are skipped but keep their line number.
* A file that cannot be read at all (binary, not UTF-8, truncated Parquet, a folder) gives one problem in one line.

Validation never writes; :func:`convert_partner_file` validates and then writes Parquet atomically (temporary file
in the target folder + :func:`os.replace`), so a failed conversion leaves no output file behind.
"""

from __future__ import annotations

import csv
import difflib
import gzip
import os
import re
import tempfile
import warnings
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from bijstand.data.schemas import (
    DEFAULT_WINDOW,
    KINDS,
    build_schema,
    columns_of,
    is_start_column,
    required_columns,
    row_rules,
)

MAX_LISTED = 50
"""Problems listed in full in the error message; the rest are counted."""
SUMMARY_AFTER = 10
"""More rows than this with the same problem in the same column are reported as one summary problem."""
ROW_CONVENTION = "rows counted as in the CSV file: header = row 1, first data row = row 2"
CSV_SUFFIXES = (".csv.gz", ".csv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
DELIVERY_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
"""File names a delivery folder may use for each table: ``spells.csv``, ``spells.csv.gz``, ``spells.parquet``, ..."""
MISSING_TEXT = frozenset({"", "na", "nan", "null", "none", "nat", "<na>"})
TRUE_TEXT = frozenset({"true", "1", "yes", "y", "t", "ja", "waar"})
FALSE_TEXT = frozenset({"false", "0", "no", "n", "f", "nee", "onwaar"})
_DATE_RE = r"\d{4}-\d{2}(-\d{2})?([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?"
_PLAIN_INT_RE = r"[+-]?\d+"
_ZERO_DECIMALS_RE = r"[+-]?\d+\.0+"
_GROUP_SEPARATORS = ".,' \u00a0"  # thousands separators seen in exports: point, comma, apostrophe, (no-break) space
_GROUPED_RE = r"[+-]?\d{1,3}([" + _GROUP_SEPARATORS + r"]\d{3})+"  # 101.000, 1,234, 1 234 567 (or decimals)
_NUMBER_LIKE_RE = r"[+-]?\d[\d" + _GROUP_SEPARATORS + r"]*([eE][+-]?\d+)?"
_SCIENTIFIC_RE = r"[+-]?\d+([.,]\d+)?[eE][+-]?\d+"
_FLOAT_RE = r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?"
_COMMA_NUMBER_RE = r"[+-]?[\d" + _GROUP_SEPARATORS + r"]*\d,\d+"
_EXACT_FLOAT_LIMIT = 2 ** 53
_SEPARATOR_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs"}
_INT64_MAX = np.iinfo(np.int64).max

THOUSANDS = ("looks like a number with a thousands separator or decimals, which cannot be read safely ('101.000' "
             "could be 101 or 101000); write whole numbers as plain digits, e.g. 101000")
DECIMAL_COMMA = ("has a comma: a decimal comma or a thousands separator? write numbers with a decimal point and no "
                 "thousands separator, e.g. 2.5 or 1234")
NOT_WHOLE = "is not a whole number"
NOT_NUMBER = "is not a number (write a decimal point, e.g. 12.5)"
NOT_DATE = ("is not a date in the form YYYY-MM-01 (ISO 8601; day-first dates such as 01-03-2016 are not read, "
            "because 01-03 could be March or January)")
NOT_BOOL = "is not true/false (also accepted: 1/0, yes/no)"
MISSING_VALUE = "required value is missing"
FORMAT_CHECKS = ("is not the first day of a month",)
"""Checks whose failures in several columns share one cause (how the file was written); their summaries merge."""


@dataclass(frozen=True)
class Problem:
    """One problem in a partner file.

    Attributes
    ----------
    file
        Path as given (the folder for problems of a delivery as a whole).
    column
        Column concerned (``None`` for file-level problems).
    row
        Row number with the header as row 1 (first data row = 2; blank lines count); ``1`` for header problems;
        ``None`` for file-level problems. For a summary (``count > 1``) the first row concerned.
    value
        The value as written in the file (``None`` if not applicable).
    message
        Plain-English description.
    level
        ``"error"``, ``"warning"`` (does not fail validation) or ``"note"`` (checks skipped).
    count
        Number of rows this problem stands for (more than one: a summary of one root cause).
    rows
        Every row number concerned (summaries; empty otherwise).
    """

    file: str
    column: str | None
    row: int | None
    value: Any
    message: str
    level: str = "error"
    count: int = 1
    rows: tuple[int, ...] = ()

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None and self.count == 1:
            where.append("header (row 1)" if self.row == 1 else f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        text = ", ".join(where) + ": "
        if self.value is not None and self.count == 1:
            text += f"value {self.value!r} "
        text += self.message
        return text if self.level == "error" else f"[{self.level}] {text}"


class DataValidationError(ValueError):
    """A partner file or delivery breaks the data format; ``problems`` holds every :class:`Problem` found."""

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
        if len(errors) == 1 and not remarks and errors[0].row is None and errors[0].column is None:
            return str(errors[0])  # a file that cannot be read at all: one line
        files = {p.file for p in self.problems}
        head = (f"{self.file}: {len(errors)} problem{'s' if len(errors) != 1 else ''} found"
                + (f" in {len(files)} files" if len(files) > 1 else "") + f" ({ROW_CONVENTION})"
                + (f", plus {len(remarks)} warning(s)/note(s)" if remarks else "") + ":")
        listed = (errors + remarks)[:MAX_LISTED]
        lines = [head, *(f"  - {p}" for p in listed)]
        rest = len(self.problems) - len(listed)
        if rest > 0:
            lines.append(f"  ... and {rest} more (first {MAX_LISTED} shown; all are in DataValidationError.problems)")
        return "\n".join(lines)


class DataValidationWarning(UserWarning):
    """A partner file is valid but has something worth knowing (e.g. an unexpected column)."""


# ------------------------------------------------------------------------------------------------------ issues

@dataclass
class _Issues:
    """Row-level findings of one file, aggregated into :class:`Problem` objects at the end.

    Findings are kept as arrays of frame positions; the text of each row is only built for problems that are listed
    row by row (a summary needs three examples, not 10,000 messages).
    """

    label: str
    lines: np.ndarray
    raw: pd.DataFrame
    items: dict[tuple[str, str | None, str], dict] = field(default_factory=dict)

    def add(self, column: str | None, key: str, indices: Iterable[int], message: str, summary: str, *,
            level: str = "error", value_column: str | None = None, context: tuple[str, ...] = (),
            merge: bool = False) -> None:
        """Record ``message`` for each frame position in ``indices``; ``summary`` is the plural form.

        ``merge``: a cause in how the file was written (e.g. day-first dates), whose summaries in several columns
        are one problem.
        """
        indices = np.asarray(list(indices) if not isinstance(indices, np.ndarray) else indices, dtype=np.int64)
        if len(indices) == 0:
            return
        group = self.items.setdefault((level, column, key), {"summary": summary, "merge": merge, "chunks": []})
        group["chunks"].append((indices, message, value_column or column, context))

    def _value(self, column: str | None, index: int) -> Any:
        return _raw_value(self.raw, column, int(index))

    def problems(self, total: int) -> list[Problem]:
        """Problems: one per row, or one summary per column and cause when more than SUMMARY_AFTER rows share it.

        Summaries of the same cause in several columns (e.g. day-first dates in spell_start and spell_end) are one
        problem, named after the first column.
        """
        out, merged = [], {}
        for (level, column, key), group in self.items.items():
            if sum(len(chunk[0]) for chunk in group["chunks"]) <= SUMMARY_AFTER:
                entries = [(int(i), message, value_column, context)
                           for indices, message, value_column, context in group["chunks"] for i in indices]
                for index, message, value_column, context in sorted(entries, key=lambda e: e[0]):
                    note = ", ".join(f"{c}={self._value(c, index)!r}" for c in context if c in self.raw.columns)
                    out.append(Problem(self.label, column, int(self.lines[index]), self._value(value_column, index),
                                       message + (f" ({note})" if note else ""), level))
                continue
            indices = np.sort(np.concatenate([chunk[0] for chunk in group["chunks"]]))
            rows = self.lines[indices]
            value_column = group["chunks"][0][2]
            examples, seen = [], set()
            for index in indices[:10_000]:
                value = self._value(value_column, index)
                if value in seen:
                    continue
                seen.add(value)
                examples.append(f"row {self.lines[index]}" + ("" if value is None else f" {value!r}"))
                if len(examples) == 3:
                    break
            distinct = 0
            if value_column in self.raw.columns:
                distinct = int(self.raw[value_column].iloc[indices].astype(str).nunique())
            text = (f"{len(indices):,} of {total:,} {group['summary']}, e.g. {', '.join(examples)}"
                    + (f" ({distinct:,} distinct values)" if distinct > 3 else ""))
            first = merged.get((level, key)) if group["merge"] else None
            if first is None:
                merged[(level, key)] = len(out)
                out.append(Problem(self.label, column, int(rows[0]), None, text, level, count=len(indices),
                                   rows=tuple(int(r) for r in rows)))
            else:
                p = out[first]
                out[first] = Problem(p.file, p.column, min(p.row, int(rows[0])), None,
                                     f"{p.message}; the same in column {column!r} ({len(indices):,} of {total:,})",
                                     level, count=p.count + len(indices),
                                     rows=tuple(sorted({*p.rows, *(int(r) for r in rows)})))
        return out


def _plural(reason: str) -> str:
    """``'is not a date'`` -> ``'values are not a date'`` (the summary form of a per-value reason)."""
    for single, many in (("is ", "are "), ("lies ", "lie "), ("has ", "have "), ("looks ", "look ")):
        if reason.startswith(single):
            return "values " + many + reason[len(single):]
    return "values: " + reason


# ------------------------------------------------------------------------------------------------------ reading

@dataclass
class _Raw:
    """A file as read: cells as text (CSV) or native values (Parquet), and the file row number of each row."""

    frame: pd.DataFrame
    lines: np.ndarray
    is_csv: bool


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in CSV_SUFFIXES + PARQUET_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _sniff(head: bytes, suffix: str) -> str | None:
    """Why the first bytes of a file named ``*.csv`` cannot be CSV text (``None`` if they can)."""
    if head.startswith(b"PAR1"):
        return f"is a Parquet file (it starts with 'PAR1') but is named {suffix}; rename it to .parquet"
    if head.startswith(b"PK\x03\x04"):
        return ("is a zip archive or an Excel workbook, not CSV text; in Excel use Save as > 'CSV UTF-8 (comma "
                "delimited)'")
    if head.startswith(b"\x1f\x8b"):
        return "is gzip-compressed; name it .csv.gz"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "is UTF-16 text; save it as 'CSV UTF-8'"
    if b"\x00" in head:
        return "contains NUL bytes: it is a binary file, not CSV text"
    return None


def _read(path: Path, label: str) -> tuple[_Raw | None, list[Problem]]:
    def fail(message):
        return None, [Problem(label, None, None, None, message)]

    try:
        if not path.exists():
            return fail("file not found")
        if path.is_dir():
            return fail("is a folder, not a file")
        suffix = _suffix(path)
        if suffix in PARQUET_SUFFIXES:
            return _read_parquet(path, label)
        if suffix not in CSV_SUFFIXES:
            return fail(f"has extension {suffix or '(none)'!r}; give a CSV (.csv, .csv.gz) or Parquet (.parquet, .pq) "
                        "file")
        if path.stat().st_size == 0:
            return fail("is empty (0 bytes: no header, no rows)")
        return _read_csv(path, label, gz=suffix == ".csv.gz")
    except PermissionError:
        return fail("cannot be opened (permission denied; is it open in another program?)")
    except OSError as err:
        return fail(f"cannot be read ({type(err).__name__}: {err.strerror or err})")


def _read_parquet(path: Path, label: str) -> tuple[_Raw | None, list[Problem]]:
    import pyarrow.parquet as pq

    def fail(message):
        return None, [Problem(label, None, None, None, message)]

    with open(path, "rb") as handle:
        head = handle.read(4)
        handle.seek(max(0, path.stat().st_size - 4))
        tail = handle.read(4)
    if head != b"PAR1":
        return fail("is not a Parquet file (it does not start with 'PAR1'); if it is CSV text, name it .csv")
    if tail != b"PAR1":
        return fail("is an incomplete Parquet file (it does not end with 'PAR1'; truncated while copying?)")
    try:
        parquet = pq.ParquetFile(path)
        names = list(parquet.schema_arrow.names)
        repeated = _repeated_names(names)
        if repeated:
            return None, [Problem(label, name, 1, None, text) for name, text in repeated]
        frame = parquet.read().to_pandas(date_as_object=False)
    except Exception as err:  # pyarrow raises several types for corrupt files
        return fail(f"cannot be read as Parquet ({type(err).__name__}: {str(err).splitlines()[0][:200]})")
    frame.columns = [str(c).strip() for c in frame.columns]
    return _Raw(frame.reset_index(drop=True), np.arange(len(frame)) + 2, is_csv=False), []


def _first_non_utf8_line(path: Path, gz: bool) -> tuple[int | None, int]:
    """Line number (1-based) and value of the first byte that is not UTF-8 (only called once decoding failed)."""
    opener = gzip.open if gz else open
    with opener(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as err:
                return number, raw[err.start]
    return None, 0


def _repeated_names(names: list[str]) -> list[tuple[str, str]]:
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(names, start=1):
        if str(name).strip():
            positions.setdefault(str(name).strip(), []).append(i)
    return [(name, f"column name appears {len(where)} times in the header (columns {', '.join(map(str, where))}); "
                   "only one copy would be read - rename or remove the others")
            for name, where in positions.items() if len(where) > 1]


def _not_utf8(path: Path, gz: bool, err: UnicodeDecodeError) -> str:
    line, byte = _first_non_utf8_line(path, gz)
    where = f" (line {line}: byte 0x{byte:02x})" if line else f" ({err.reason})"
    return f"is not UTF-8 text{where}; save it as 'CSV UTF-8' (Excel: Save as > CSV UTF-8)"


def _physical_lines(path: Path, gz: bool) -> int:
    """Number of lines a text editor shows (a last line without line end counts)."""
    count, last = 0, b"\n"
    opener = gzip.open if gz else open
    with opener(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def _parse_csv_fast(path: Path, sep: str, gz: bool, width: int):
    """Header, data rows (a frame of text), field counts and line numbers, read by pyarrow; ``None`` if not exact.

    The numbers are exact only when every record is one physical line with the header's number of fields (blank
    lines become rows of empty cells and keep their place); anything else (a value spanning lines, a row with too
    few or too many fields, text that is not UTF-8, old Mac line ends) goes to :func:`_parse_csv_exact`, which is
    slower but reports such rows exactly.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    irregular = []

    def skip(row):
        irregular.append(row)
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.input_stream(str(path), compression="gzip" if gz else None),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True, use_threads=True, encoding="utf8"),
            parse_options=pacsv.ParseOptions(delimiter=sep, ignore_empty_lines=False, invalid_row_handler=skip),
            # every cell as text, as written: inferring types first would turn the id 00123 into 123
            convert_options=pacsv.ConvertOptions(column_types={f"f{i}": pa.string() for i in range(width)},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False))
    except Exception:  # noqa: BLE001 - any trouble: the exact reader reports it
        return None
    if irregular or table.num_columns != width or table.num_rows != _physical_lines(path, gz):
        return None
    frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get)
    header = frame.iloc[0].tolist()
    frame = frame.iloc[1:]
    nonblank = (frame != "").any(axis=1).to_numpy()
    lines = np.arange(2, len(frame) + 2, dtype=np.int64)[nonblank]
    frame = frame[nonblank].reset_index(drop=True)
    frame.columns = range(len(header))
    return header, frame, np.full(len(frame), len(header), dtype=np.int64), lines


def _parse_csv_exact(path: Path, sep: str, gz: bool):
    """Header, records, field counts and line numbers with Python's csv module (exact, also for odd files)."""
    line = 0
    try:
        opener = gzip.open if gz else open
        with opener(path, "rt", encoding="utf-8-sig", errors="strict", newline="") as handle:
            reader = csv.reader(handle, delimiter=sep)
            header = next(reader, None)
            records, lines = [], []
            previous = reader.line_num
            for record in reader:
                start, previous = previous + 1, reader.line_num
                line = previous
                if any(record):  # blank lines and lines of only separators are skipped, keeping their numbers
                    records.append(record)
                    lines.append(start)
    except UnicodeDecodeError as err:
        return _not_utf8(path, gz, err)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        return f"cannot be decompressed (gzip: {err}; truncated while copying?)"
    except csv.Error as err:
        return f"cannot be read as CSV (line {line + 1}: {err})"
    lengths = np.fromiter(map(len, records), dtype=np.int64, count=len(records))
    return header, records, lengths, np.asarray(lines, dtype=np.int64)


def _read_csv(path: Path, label: str, *, gz: bool) -> tuple[_Raw | None, list[Problem]]:
    def fail(message):
        return None, [Problem(label, None, None, None, message)]

    with open(path, "rb") as handle:
        head = handle.read(4096)
    if gz:
        if not head.startswith(b"\x1f\x8b"):
            return fail("is named .csv.gz but is not gzip-compressed; name it .csv")
        try:
            with gzip.open(path, "rb") as handle:
                head = handle.read(4096)
        except (OSError, EOFError, zlib.error) as err:
            return fail(f"cannot be decompressed (gzip: {err})")
    reason = _sniff(head, ".csv.gz" if gz else path.suffix)
    if reason and not (gz and reason.startswith("is gzip")):
        return fail(reason)

    try:
        opener = gzip.open if gz else open
        with opener(path, "rt", encoding="utf-8-sig", errors="strict", newline="") as handle:
            first = handle.readline()
    except UnicodeDecodeError as err:
        return fail(_not_utf8(path, gz, err))
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        return fail(f"cannot be decompressed (gzip: {err}; truncated while copying?)")
    counts = {sep: first.count(sep) for sep in (",", ";", "\t")}
    sep = max(counts, key=lambda s: counts[s]) if any(counts.values()) else ","
    width = len(next(csv.reader([first], delimiter=sep), []))
    parsed = _parse_csv_fast(path, sep, gz, width)
    if parsed is None:
        parsed = _parse_csv_exact(path, sep, gz)
    if isinstance(parsed, str):
        return fail(parsed)
    header, records, lengths, lines = parsed
    if header is None:
        return fail("is empty (no header, no rows)")
    header = [name.strip() for name in header]
    width = len(header)
    good = lengths == width
    if isinstance(records, pd.DataFrame):
        frame = records
    else:
        columns = list(zip(*(r for r, ok in zip(records, good) if ok))) if good.any() else [()] * width
        frame = pd.DataFrame({i: pd.Series(col, dtype=object) for i, col in enumerate(columns)})
    problems = []

    # the wrong number of fields: report the row (once per root cause) and leave it out of every other check
    if not good.all():
        issues = _Issues(label, lines[~good], pd.DataFrame(index=range(int((~good).sum()))))
        wrong = lengths[~good]
        found = ", ".join(str(n) for n in np.unique(wrong)[:5])
        for n in np.unique(wrong):
            issues.add(None, "field_count", np.flatnonzero(wrong == n),
                       f"has {n} fields but the header has {width} (a separator inside an unquoted value, such as a "
                       "decimal comma in a comma-separated file? this row is not checked further)",
                       f"rows do not have the header's {width} fields but {found} (the header is separated by "
                       f"{_SEPARATOR_NAMES[sep]}: a different separator in the rows, or separators inside unquoted "
                       "values such as decimal commas? these rows are not checked further)")
        problems += issues.problems(len(lengths))
    lines = lines[good]

    repeated = _repeated_names(header)
    if repeated:
        return None, problems + [Problem(label, name, 1, None, text) for name, text in repeated]
    unnamed = [i for i, name in enumerate(header) if not name]
    keep = []
    for i, name in enumerate(header):
        if name:
            keep.append(i)
        elif frame[i].str.strip().astype(bool).any():
            problems.append(Problem(label, None, 1, None, f"column {i + 1} has no name in the header but holds values;"
                                                          " give it a name or delete it"))
        else:
            problems.append(Problem(label, None, 1, None, f"column {i + 1} has no name and no values; ignored",
                                    level="warning"))
    if unnamed:
        frame = frame[keep]
    frame.columns = [header[i] for i in keep]
    if len(header) == 1 and not any(counts.values()):
        problems.append(Problem(label, None, 1, header[0],
                                "is the only column of the header: no comma, semicolon or tab separates the column "
                                "names; save the file as CSV with commas or semicolons"))
        return None, problems
    if len(frame) == 0 and len(lengths):
        return None, problems  # every row has the wrong number of fields: nothing else to say
    return _Raw(frame, lines, is_csv=True), problems


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
    return raw.isna().astype(bool)


def _match(text: pd.Series, pattern: str) -> pd.Series:
    return text.str.fullmatch(pattern).fillna(False).astype(bool)


_Parsed = tuple[pd.Series, list[tuple[pd.Series, str]]]
"""Parsed values and ``(mask, reason)`` pairs of the cells that could not be read."""


def _exact_ints(text: pd.Series, ok: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Exact integers of the digit strings in ``text[ok]`` (no float on the way) and a mask of those too large."""
    digits = text.where(ok).str.replace(r"\.0+$", "", regex=True).str.replace(r"^\+", "", regex=True)
    width = digits.str.lstrip("-").str.len().fillna(0).astype(int)
    too_large = ok & (width >= 19)
    for index in np.flatnonzero(too_large.to_numpy()):  # rare: decide exactly with Python integers
        if abs(int(digits.iloc[index])) <= _INT64_MAX:
            too_large.iloc[index] = False
    fits = ok & ~too_large
    values = pd.Series(np.zeros(len(text), dtype=np.int64), index=text.index)
    if fits.any():
        values[fits] = digits[fits].astype("int64").to_numpy()
    return values, too_large


def _as_int_series(values: pd.Series, valid: pd.Series) -> pd.Series:
    if valid.all():
        return values.astype("int64")
    return values.astype("float64").where(valid)


def _parse_int(raw: pd.Series, missing: pd.Series, text: pd.Series | None) -> _Parsed:
    if pd.api.types.is_bool_dtype(raw):
        return pd.Series(np.nan, index=raw.index), [(~missing, "is true/false, not a whole number")]
    if text is None:
        if pd.api.types.is_integer_dtype(raw):
            return raw.where(~missing), []
        values = raw.astype("float64")
        bad = ~missing & ~(np.isfinite(values) & (values == np.round(values)))
        return values.where(~bad & ~missing), [(bad, NOT_WHOLE)]
    grouped = ~missing & _match(text, _GROUPED_RE)
    ok = ~missing & ~grouped & (_match(text, _PLAIN_INT_RE) | _match(text, _ZERO_DECIMALS_RE))
    bad = ~missing & ~grouped & ~ok
    values, too_large = _exact_ints(text, ok)
    ok &= ~too_large
    return _as_int_series(values, ok | missing).where(ok), [
        (grouped, THOUSANDS), (bad, NOT_WHOLE), (too_large, "is too large for a whole number (int64)")]


def _parse_id(raw: pd.Series, missing: pd.Series, text: pd.Series | None) -> _Parsed:
    """Identifiers: exact integers (``int64``) when every id is a whole number that fits, otherwise text."""
    if text is None:
        if pd.api.types.is_bool_dtype(raw):
            return pd.Series(np.nan, index=raw.index), [(~missing, "is true/false, not an identifier")]
        if pd.api.types.is_unsigned_integer_dtype(raw) and (raw > _INT64_MAX).any():
            return raw.astype(str).astype(object).where(~missing, None), []
        if pd.api.types.is_integer_dtype(raw):
            return raw.where(~missing), []
        if pd.api.types.is_float_dtype(raw):
            values = raw.astype("float64")
            fraction = ~missing & ~(np.isfinite(values) & (values == np.round(values)))
            inexact = ~missing & ~fraction & (values.abs() > _EXACT_FLOAT_LIMIT)
            good = ~missing & ~fraction & ~inexact
            return values.where(good), [
                (fraction, NOT_WHOLE),
                (inexact, "is stored as a floating-point number above 2^53, so its last digits are not exact; store "
                          "identifiers as integers or text")]
        text = _stripped_text(raw.astype(str).where(~missing, ""))
    number_like = _match(text, _NUMBER_LIKE_RE)
    plain = _match(text, _PLAIN_INT_RE)
    grouped = ~missing & _match(text, _GROUPED_RE)
    decimals = ~missing & ~grouped & _match(text, _ZERO_DECIMALS_RE)
    scientific = ~missing & _match(text, _SCIENTIFIC_RE)
    textual = ~missing & ~number_like
    leading_zero = plain & _match(text, r"[+-]?0\d+")
    values, too_large = _exact_ints(text, ~missing & (plain | decimals))
    as_text = bool(textual.any() or leading_zero.any() or (too_large & plain).any())
    through_float = decimals & (too_large | (values.abs() > _EXACT_FLOAT_LIMIT))
    other = ~missing & number_like & ~plain & ~decimals & ~grouped & ~scientific
    problems = [
        (scientific, "is in scientific notation, which loses the digits of an identifier; export the id column as "
                     "text or as a whole number"),
        (grouped, "looks like a number with thousands separators; write identifiers as plain digits"),
        (other, NOT_WHOLE),
    ]
    if as_text:
        problems.append((decimals, "is written with decimals; identifiers here are text (some contain letters or "
                                   "leading zeros or are too long for int64), so write it exactly like the others"))
        values = text.astype(object).where(~missing & (plain | textual), None)
        return values, problems
    problems.append((through_float, "has decimals ('.0') and more than 15 digits: it went through a floating-point "
                                    "number, so its last digits may be wrong; export the id column as text"))
    good = ~missing & (plain | (decimals & ~through_float))
    return _as_int_series(values, good | missing).where(good), problems


def _parse_float(raw: pd.Series, missing: pd.Series, text: pd.Series | None) -> _Parsed:
    if text is None and not pd.api.types.is_bool_dtype(raw):
        values = raw.astype("float64")
        infinite = ~missing & ~np.isfinite(values.fillna(0.0))
        return values.where(~missing & ~infinite), [(infinite, "is infinite")]
    source = text if text is not None else raw.astype("string[pyarrow]")
    ok = ~missing & _match(source, _FLOAT_RE)
    comma = ~missing & ~ok & _match(source, _COMMA_NUMBER_RE)
    bad = ~missing & ~ok & ~comma
    values = pd.to_numeric(source.where(ok).astype(object), errors="coerce").astype("float64")
    return values, [(comma, DECIMAL_COMMA), (bad, NOT_NUMBER)]


def _parse_bool(raw: pd.Series, missing: pd.Series, text: pd.Series | None) -> _Parsed:
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype(object).where(~missing), []
    lowered = (text if text is not None else raw.astype("string[pyarrow]")).str.lower()
    is_true = lowered.isin(TRUE_TEXT).fillna(False).astype(bool)
    is_false = lowered.isin(FALSE_TEXT).fillna(False).astype(bool)
    bad = ~missing & ~is_true & ~is_false
    values = pd.Series(np.where(is_true, True, np.where(is_false, False, None)), index=raw.index, dtype=object)
    return values.where(~missing & ~bad), [(bad.astype(bool), NOT_BOOL)]


def _parse_date(raw: pd.Series, missing: pd.Series, text: pd.Series | None) -> _Parsed:
    if pd.api.types.is_datetime64_any_dtype(raw):
        values = raw.dt.tz_localize(None) if getattr(raw.dt, "tz", None) is not None else raw
        return values.astype("datetime64[ns]"), []
    source = text if text is not None else raw.astype("string[pyarrow]")
    # A strict ISO pattern first: pandas alone would read "2019" as 2019-01-01 and guess day/month orders
    shaped = _match(source, _DATE_RE)
    values = pd.to_datetime(source.where(shaped & ~missing).astype(object), format="ISO8601", errors="coerce")
    bad = ~missing & values.isna()
    return values.astype("datetime64[ns]"), [(bad, NOT_DATE)]


def _parse_str(raw: pd.Series, missing: pd.Series, text: pd.Series | None) -> _Parsed:
    source = text if text is not None else _stripped_text(raw.astype(str).where(~missing, ""))
    return source.astype(object).where(~missing, None), []


_PARSERS = {"id": _parse_id, "int": _parse_int, "float": _parse_float, "bool": _parse_bool, "date": _parse_date,
            "str": _parse_str}


def _final_dtype(values: pd.Series, parse: str) -> pd.Series:
    if parse == "int":
        return values.astype("int64")
    if parse == "id":
        return values if values.dtype == object else values.astype("int64")
    if parse == "bool":
        return values.astype(bool)
    if parse == "str":
        return values.astype(object)
    if parse == "date":
        return values.astype("datetime64[ns]")
    return values.astype("float64")


# ------------------------------------------------------------------------------------------------------ helpers

def _raw_value(raw: pd.DataFrame, column: str | None, index: int) -> Any:
    if column is None or column not in raw.columns:
        return None
    value = raw[column].iat[index]
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return None if pd.isna(value) else str(pd.Timestamp(value).date())
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str) and value.strip() == "":
        return None
    return value


def _resolve_known_areas(known_areas, window) -> Iterable[str] | pd.DataFrame | None:
    if known_areas is None or isinstance(known_areas, pd.DataFrame):
        return known_areas
    if isinstance(known_areas, (str, os.PathLike)):
        return validate_partner_file(known_areas, kind="areas", window=window)
    return [str(a) for a in known_areas]


def _header_problems(schema: pa.DataFrameSchema, raw: pd.DataFrame, label: str,
                     declared: dict) -> tuple[list[Problem], list[str], list[str]]:
    """Missing required columns (errors), unexpected and ignored columns (warnings)."""
    problems, missing_columns = [], []
    expected = required_columns(schema) + [n for n, c in schema.columns.items() if not c.required and not c.regex]
    policy = schema.metadata.get("other_columns", "warn")
    ignored_pattern = schema.metadata.get("ignored_columns")
    ignored = [c for c in raw.columns if ignored_pattern and re.fullmatch(ignored_pattern, str(c))]
    extra = [c for c in raw.columns if c not in declared and c not in ignored]
    suggested_for = {}
    for column in required_columns(schema):
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
    for column in ignored:
        problems.append(Problem(label, str(column), 1, None,
                                "is ignored and dropped: treatment timing comes from the *_start columns of the areas "
                                "file (data contract v2), not from the panel", level="warning"))
    if policy == "warn":
        for column in extra:
            if column in suggested_for:
                continue
            close = difflib.get_close_matches(str(column), expected, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}? it is present already)" if close else ""
            problems.append(Problem(label, str(column), 1, None,
                                    f"unexpected column, not part of the {schema.name} format; kept but not used{hint}",
                                    level="warning"))
    return problems, missing_columns, [c for c in extra if c not in suggested_for]


def _panel_coverage(frame: pd.DataFrame, known_codes: list[str] | None) -> list[str]:
    """Areas whose months do not form the panel's full range, and areas of the areas file without panel rows."""
    texts = []
    if {"area", "month"} <= set(frame.columns):
        rows = frame[["area", "month"]].dropna().drop_duplicates()
        if len(rows):
            months = pd.date_range(rows["month"].min(), rows["month"].max(), freq="MS")
            for area, group in rows.groupby("area", sort=True):
                absent = months.difference(pd.DatetimeIndex(group["month"]))
                if len(absent):
                    texts.append(f"area {area!r} has no row for {len(absent)} of the {len(months)} months "
                                 f"{months[0]:%Y-%m} .. {months[-1]:%Y-%m}, e.g. {absent[0]:%Y-%m}; the panel needs "
                                 "one row per area and month")
        if known_codes is not None:
            present = set(rows["area"])
            absent_areas = [a for a in known_codes if a not in present]
            if absent_areas:
                shown = ", ".join(repr(a) for a in absent_areas[:5]) + (" ..." if len(absent_areas) > 5 else "")
                texts.append(f"{len(absent_areas)} area(s) of the areas file have no rows in the panel: {shown}")
    return texts


# ------------------------------------------------------------------------------------------------------ checking

@dataclass
class _Checked:
    label: str
    kind: str
    frame: pd.DataFrame | None
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]


def _check_file(path: str | os.PathLike, kind: str, known_areas, window) -> _Checked:
    """Read and check one file; the typed frame is returned even when there are problems (bad cells missing)."""
    label = str(path)
    schema = build_schema(kind, window=window, known_areas=known_areas)
    read, problems = _read(Path(path), label)
    if read is None:
        return _Checked(label, kind, None, problems)
    raw = read.frame
    declared = columns_of(schema, raw.columns)
    header_problems, missing_columns, extra = _header_problems(schema, raw, label, declared)
    problems += header_problems
    if len(raw) == 0:
        problems.append(Problem(label, None, None, None, "has a header but no data rows"))
        return _Checked(label, kind, None, problems)

    issues = _Issues(label, read.lines, raw)
    typed, flagged = {}, {}
    for name, column in declared.items():
        parse = column.metadata["parse"]
        text = _stripped_text(raw[name]) if _is_text(raw[name]) else None
        missing = _missing_text(raw[name], text)
        values, bad_cells = _PARSERS[parse](raw[name], missing, text)
        unreadable = pd.Series(False, index=raw.index)
        for mask, reason in bad_cells:
            mask = mask.fillna(False).astype(bool)
            issues.add(name, reason, np.flatnonzero(mask.to_numpy()), reason, _plural(reason), merge=True)
            unreadable |= mask
        if not column.nullable:
            issues.add(name, "missing", np.flatnonzero(missing.to_numpy()), MISSING_VALUE,
                       "values are missing (required)")
            unreadable |= missing
        flagged[name] = unreadable.to_numpy()
        clean = not unreadable.any() and not (missing.any() and parse in ("int", "id", "bool"))
        typed[name] = _final_dtype(values, parse) if clean else values
    for name in extra if schema.metadata.get("other_columns") == "group" else ():
        text = _stripped_text(raw[name]) if _is_text(raw[name]) else None
        typed[name] = _parse_str(raw[name], _missing_text(raw[name], text), text)[0]
    frame = pd.DataFrame(typed, index=raw.index)

    # column checks and rules across columns, each only where its inputs could be read
    rules = row_rules(schema)
    usable = {n: r for n, r in rules.items() if all(c in frame.columns for c in r.inputs)}
    skipped = [n for n in rules if n not in usable]
    if missing_columns and skipped:
        problems.append(Problem(label, None, None, None, "rules across columns not checked until the missing "
                                f"columns are added: {', '.join(skipped)}", level="note"))
    check_schema = pa.DataFrameSchema(
        {name: pa.Column(None, checks=column.checks, nullable=True, name=name) for name, column in declared.items()},
        checks=[rule.as_check() for rule in usable.values()], name=schema.name)
    try:
        check_schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        _collect_failures(err.failure_cases, usable, flagged, issues)

    if kind == "panel":
        codes = known_areas if isinstance(known_areas, list) else None
        if isinstance(known_areas, pd.DataFrame):
            codes = known_areas["area"].dropna().astype(str).tolist()
        for text in _panel_coverage(frame, codes):
            problems.append(Problem(label, "area", None, None, text))
    problems += issues.problems(len(raw))
    out = pd.DataFrame({name: frame[name] for name in _contract_order(schema, declared)}, index=raw.index)
    for column in extra:  # grouping columns as text; other extra columns as read (CSV: text)
        out[column] = frame[column] if column in frame.columns else (
            raw[column].astype(object) if read.is_csv else raw[column])
    return _Checked(label, kind, out, problems)


def _contract_order(schema: pa.DataFrameSchema, declared: dict) -> dict:
    ordered = {}
    for name, column in schema.columns.items():
        if column.regex:
            ordered.update({n: c for n, c in declared.items() if c is column})
        elif name in declared:
            ordered[name] = declared[name]
    return ordered


def _collect_failures(failure_cases: pd.DataFrame, rules, flagged: dict[str, np.ndarray], issues: _Issues) -> None:
    cases = failure_cases[failure_cases["index"].notna()]
    if cases.empty:
        return
    checks = cases["check"].astype(str)
    # pandera lists a failing row of a dataframe-level check once per column: key rules by name only
    columns = cases["column"].astype(object).where(~checks.isin(list(rules)) & cases["column"].notna(), None)
    keyed = pd.DataFrame({"check": checks.to_numpy(), "column": columns.to_numpy(),
                          "index": cases["index"].astype(np.int64).to_numpy()})
    for (check, column), group in keyed.groupby(["check", "column"], dropna=False, sort=False):
        column = None if pd.isna(column) else str(column)
        positions = np.unique(group["index"].to_numpy())
        if check in rules:
            rule = rules[check]
            unreadable = np.zeros(len(issues.raw), dtype=bool)
            for name in rule.inputs:
                if name in flagged:
                    unreadable |= flagged[name]
            positions = positions[~unreadable[positions]]
            issues.add(rule.column, check, positions, rule.message, f"rows: {rule.message}", level=rule.level,
                       context=rule.context)
            continue
        if column in flagged:
            positions = positions[~flagged[column][positions]]
        issues.add(column, check, positions, check, _plural(check), merge=check.startswith(FORMAT_CHECKS))


def _sorted(problems: list[Problem], columns: list[str]) -> list[Problem]:
    order = {c: i for i, c in enumerate(columns)}
    return sorted(problems, key=lambda p: (p.level != "error", p.row or 0, order.get(p.column, -1)))


# ------------------------------------------------------------------------------------------------------ public API

def validate_partner_file(path: str | os.PathLike, *, kind: str = "spells",
                          known_areas: Iterable[str] | pd.DataFrame | str | os.PathLike | None = None,
                          window: tuple[str, str] = DEFAULT_WINDOW) -> pd.DataFrame:
    """Check a partner's file against a data format and return it typed; report every problem at once.

    Parameters
    ----------
    path
        CSV (``.csv``, ``.csv.gz``; comma-, semicolon- or tab-separated; UTF-8 with or without byte-order mark) or
        Parquet (``.parquet``, ``.pq``).
    kind
        ``"spells"``, ``"areas"`` or ``"panel"`` (formats in ``data/README.md``).
    known_areas
        Area codes allowed in ``area`` (spells, panel): codes, an areas DataFrame (then the municipality of every
        row must also match its area's, and a panel must have rows for every area), or the path of an areas file
        (validated first).
    window
        First and last month of the study window, ``("YYYY-MM", "YYYY-MM")``.

    Returns
    -------
    pandas.DataFrame
        Contract columns in contract order with the declared dtypes (``int64``, ``bool``, ``datetime64[ns]``,
        ``float64``, ``object`` strings with ``None`` for missing; ``person_id`` ``int64`` or ``object`` text),
        followed by any extra columns (areas: grouping columns as text; others: unchanged).

    Raises
    ------
    DataValidationError
        (a ``ValueError``) listing every problem: file, column, row (header = row 1, first data row = row 2, blank
        lines counted), value as written and a plain-English message; more than :data:`SUMMARY_AFTER` rows with the
        same problem in one column are one summary problem. The first 50 are in the message, all in ``.problems``.

    Warns
    -----
    DataValidationWarning
        For unexpected extra columns (and ignored ``first_treat_*`` panel columns) when the file is otherwise valid.
    """
    if kind not in KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    checked = _check_file(path, kind, _resolve_known_areas(known_areas, window), window)
    columns = list(checked.frame.columns) if checked.frame is not None else []
    problems = _sorted(checked.problems, columns)
    if checked.errors:
        raise DataValidationError(checked.label, problems) from None
    for problem in problems:  # only warnings and notes remain here
        warnings.warn(str(problem), DataValidationWarning, stacklevel=2)
    return checked.frame


@dataclass
class Delivery:
    """A validated partner delivery: areas plus person spells, or plus an area-month panel (panel-only).

    Attributes
    ----------
    folder
        Absolute path of the delivery folder.
    files
        The file read for each table (``"areas"``, ``"spells"`` or ``"panel"``).
    areas, spells, panel
        Typed frames (``spells`` is ``None`` in a panel-only delivery, ``panel`` is ``None`` when spells are
        delivered: the panel is then built from them).
    remarks
        Warnings and notes (also issued as :class:`DataValidationWarning`).
    """

    folder: Path
    files: dict[str, Path]
    areas: pd.DataFrame
    spells: pd.DataFrame | None
    panel: pd.DataFrame | None
    remarks: list[Problem]

    @property
    def kind(self) -> str:
        """``"spells"`` (spells + areas) or ``"panel"`` (panel-only delivery)."""
        return "spells" if self.spells is not None else "panel"


def find_delivery_files(folder: str | os.PathLike) -> tuple[dict[str, Path], list[Problem]]:
    """The file of each table in a delivery folder, and the problems of the folder itself.

    A table is found as ``<table>.csv``, ``.csv.gz``, ``.parquet`` or ``.pq`` (any letter case). Two files for one
    table (e.g. ``spells.csv`` beside ``spells.parquet``) are refused with both named: which one is meant cannot
    be known. A delivery is ``areas`` + ``spells``, or ``areas`` + ``panel``; when both spells and panel are present,
    the panel file is not read (a warning says so) because the panel is built from the spells.
    """
    folder = Path(folder)
    label = str(folder)
    problems: list[Problem] = []
    entries = sorted(folder.iterdir(), key=lambda p: p.name.lower())
    found: dict[str, Path] = {}
    ambiguous: set[str] = set()
    near: dict[str, list[str]] = {}
    for kind in KINDS:
        names = {f"{kind}{suffix}" for suffix in DELIVERY_SUFFIXES}
        candidates = [p for p in entries if p.name.lower() in names]
        if len(candidates) > 1:
            ambiguous.add(kind)
            problems.append(Problem(label, None, None, None, f"has {len(candidates)} files for the {kind} table: "
                                    f"{' and '.join(p.name for p in candidates)}; keep exactly one (which one is meant "
                                    "cannot be guessed)"))
        elif candidates:
            found[kind] = candidates[0]
        near[kind] = [p.name for p in entries if p.name.lower().startswith(f"{kind}.") and p not in candidates]

    def hint(*kinds):
        others = [name for kind in kinds for name in near[kind]]
        return f"; found {', '.join(others)}: save it as CSV UTF-8 (.csv) or Parquet" if others else ""

    if "areas" not in found and "areas" not in ambiguous:
        problems.append(Problem(label, None, None, None, "has no areas file (areas.csv, areas.csv.gz or "
                                "areas.parquet; see data/README.md)" + hint("areas")))
    if not {"spells", "panel"} & (set(found) | ambiguous):
        problems.append(Problem(label, None, None, None, "has neither a spells nor a panel file: a delivery is "
                                "spells + areas, or panel + areas (spells.csv / panel.csv, .csv.gz or .parquet; see "
                                "data/README.md)" + hint("spells", "panel")))
    if "spells" in found and "panel" in found:
        problems.append(Problem(label, None, None, None, f"{found['panel'].name} is not read: the panel is built "
                                f"from {found['spells'].name} (a delivery is spells + areas, or panel + areas); remove "
                                "one of them to silence this", level="warning"))
        del found["panel"]
    return found, problems


def validate_delivery(folder: str | os.PathLike, *, window: tuple[str, str] = DEFAULT_WINDOW) -> Delivery:
    """Validate a whole partner delivery folder, each file and the files against each other.

    The areas file is checked first; the spells (or panel) are then checked against it: unknown area codes, an
    area's municipality that differs between the files, and for a panel, every area of the areas file present with
    one row per month. Every problem of every file is collected before anything is raised.

    Parameters
    ----------
    folder
        Delivery folder (see :func:`find_delivery_files` for the file names).
    window
        Study window, as in :func:`validate_partner_file`.

    Returns
    -------
    Delivery
        The typed frames and the files they came from.

    Raises
    ------
    DataValidationError
        Listing the problems of all files (the folder itself is the error's ``file``).
    FileNotFoundError
        If ``folder`` does not exist or is not a folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder" if not folder.exists() else f"{folder}: is not a folder")
    files, problems = find_delivery_files(folder)
    checked: dict[str, _Checked] = {}
    if "areas" in files:
        checked["areas"] = _check_file(files["areas"], "areas", None, window)
    areas = checked["areas"].frame if "areas" in checked else None
    known = None
    if areas is not None and "area" in areas.columns:
        known = areas[[c for c in ("municipality", "area") if c in areas.columns]]
    for kind in ("spells", "panel"):
        if kind not in files:
            continue
        if known is None and "areas" in files:
            problems.append(Problem(str(files[kind]), None, None, None, "not checked against the areas file, which "
                                    "could not be read or has no area column", level="note"))
        checked[kind] = _check_file(files[kind], kind, known, window)
    for result in checked.values():
        columns = list(result.frame.columns) if result.frame is not None else []
        problems += _sorted(result.problems, columns)
    errors = [p for p in problems if p.level == "error"]
    if errors:
        problems.sort(key=lambda p: p.level != "error")
        raise DataValidationError(str(folder), problems) from None
    for problem in problems:
        warnings.warn(str(problem), DataValidationWarning, stacklevel=2)
    return Delivery(folder, files, checked["areas"].frame,
                    checked["spells"].frame if "spells" in checked else None,
                    checked["panel"].frame if "panel" in checked else None, problems)


def describe(kind: str, frame: pd.DataFrame) -> str:
    """One-line summary of a valid file (what ``bijstand validate-data`` prints)."""
    if kind == "areas":
        starts = [c for c in frame.columns if is_start_column(c)]
        groups = [c for c in frame.columns
                  if c not in ("municipality", "area", "area_name", "recipients_2018") and c not in starts]
        municipalities = sorted(frame["municipality"].unique())
        treated = {c: int(frame[c].notna().sum()) for c in starts}
        return (f"{len(frame):,} areas in {len(municipalities)} municipalit{'y' if len(municipalities) == 1 else 'ies'}"
                f" ({', '.join(municipalities[:5])}{' ...' if len(municipalities) > 5 else ''}); start columns: "
                + (", ".join(f"{c} ({n} treated)" for c, n in treated.items()) or "none")
                + f"; grouping columns: {', '.join(groups) or 'none'}")
    if kind == "spells":
        reasons = sorted(frame["exit_reason"].dropna().unique())
        first, last = frame["spell_start"].min(), frame[["spell_start", "spell_end"]].max().max()
        return (f"{len(frame):,} spells of {frame['person_id'].nunique():,} persons, {first:%Y-%m} .. {last:%Y-%m}; "
                f"exit reasons: {', '.join(reasons) or 'none'}"
                + ("" if "non_response" in reasons else " (non_response not recorded)"))
    months = frame["month"]
    return (f"{len(frame):,} rows: {frame['area'].nunique():,} areas x {months.nunique():,} months "
            f"({months.min():%Y-%m} .. {months.max():%Y-%m})"
            + ("" if frame["outflow_non_response"].sum() > 0 else "; non_response not recorded (all 0)"))


def convert_partner_file(src: str | os.PathLike, dst: str | os.PathLike, *, kind: str = "spells",
                         known_areas: Iterable[str] | pd.DataFrame | str | os.PathLike | None = None,
                         window: tuple[str, str] = DEFAULT_WINDOW) -> Path:
    """Validate a partner file and write it as typed Parquet, atomically.

    The frame is written to a temporary file in ``dst``'s folder and moved into place with :func:`os.replace`
    (which also replaces an existing file on Windows), so ``dst`` either does not change (validation or writing
    failed; no temporary file is left) or is the complete new file.

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


__all__ = ["DataValidationError", "DataValidationWarning", "Delivery", "Problem", "convert_partner_file",
           "describe", "find_delivery_files", "validate_delivery", "validate_partner_file"]
