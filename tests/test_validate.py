"""Partner-file validation: every broken file is reported with file, column, row (header = row 1) and value.

Each broken file is a small valid file with one defect put in by hand, so the expected row, column and value are
known without running the validator. The panel and the Voorbeeldstad areas come from the hand-written fixtures in
``tests/fixtures/partner_voorbeeldstad*/`` (see the README there); nothing here uses the project's simulator.
"""

from __future__ import annotations

import ast
import gzip
import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bijstand.data import schemas
from bijstand.data.validate import (
    SUMMARY_AFTER,
    DataValidationError,
    DataValidationWarning,
    convert_partner_file,
    validate_partner_file,
)

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
VOORBEELDSTAD = FIXTURES / "partner_voorbeeldstad"
VOORBEELDSTAD_PANEL = FIXTURES / "partner_voorbeeldstad_panel"

# Rows are numbered as in the CSV: header = row 1, so person 1's first spell is row 2.
SPELLS_CSV = """\
person_id,municipality,area,spell_start,spell_end,exit_reason,birth_year,education,refugee,exempt
1,GM0363,AMS01,2016-03-01,2017-05-01,work,1980,low,false,false
1,GM0363,AMS01,2018-01-01,,,1980,low,false,false
2,GM0599,RTM01,2014-06-01,2019-02-01,enforcement,1965,middle,true,false
3,GM0599,RTM02,2015-01-01,,,1990,high,false,true
4,GM0362,GM0362,2020-04-01,2021-01-01,other,1975,middle,false,false
5,GM0363,AMS02,2012-01-01,2014-03-01,work,1985,low,false,false
"""

AREAS_CSV = """\
municipality,area,area_name,recipients_2018,cohort_start,counter_performance_start,outreach_start
GM0363,AMS01,Centrum West,1500,2019-11-01,,2018-07-01
GM0363,AMS02,Centrum Oost,1400,2019-11-01,,2018-07-01
GM0599,RTM01,Afrikaanderwijk,1200,,2016-01-01,
GM0599,RTM02,Bloemhof,1100,,2016-07-01,
GM0362,GM0362,Amstelveen,1021,,,
"""

# 8 areas VS01..VS08 x 24 months 2019-01..2020-12: VS01 is rows 2..25, VS02 rows 26..49
PANEL_CSV = (VOORBEELDSTAD_PANEL / "panel.csv").read_text(encoding="utf-8")
VS_AREAS_CSV = (VOORBEELDSTAD / "areas.csv").read_text(encoding="utf-8")

VALID = {"spells": SPELLS_CSV, "areas": AREAS_CSV, "panel": PANEL_CSV}


def _frame(text):
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def _known(kind):
    """Areas the spells (Amsterdam/Rotterdam codes) or the panel (Voorbeeldstad codes) are checked against."""
    return {"spells": _frame(AREAS_CSV), "panel": _frame(VS_AREAS_CSV)}.get(kind)


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _edit(text, row, column, value):
    """Set one cell of a CSV text; ``row`` counts the header as row 1."""
    frame = _frame(text)
    frame.loc[row - 2, column] = value
    return frame.to_csv(index=False, lineterminator="\n")


def _edits(text, *cells):
    for row, column, value in cells:
        text = _edit(text, row, column, value)
    return text


def _problem_line(err: DataValidationError, *parts: str) -> str:
    """The one line of the error message that contains all ``parts``."""
    lines = [line for line in str(err).splitlines() if all(part in line for part in parts)]
    assert lines, f"no line with {parts} in:\n{err}"
    return lines[0]


def _errors(path, kind="spells", **kwargs) -> DataValidationError:
    with pytest.raises(DataValidationError) as info:
        validate_partner_file(path, kind=kind, **kwargs)
    return info.value


# ---------------------------------------------------------------------------------------------- valid files

@pytest.mark.parametrize("kind", ["spells", "areas", "panel"])
def test_valid_csv_passes_with_declared_dtypes(tmp_path, kind):
    path = _write(tmp_path, f"{kind}.csv", VALID[kind])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a valid file raises no warning either
        frame = validate_partner_file(path, kind=kind, known_areas=_known(kind))
    schema = schemas.build_schema(kind)
    expected_columns = [c for c in _frame(VALID[kind]).columns]
    assert sorted(frame.columns) == sorted(expected_columns)
    for name, column in schemas.columns_of(schema, frame.columns).items():
        parse = column.metadata["parse"]
        expected = {"str": "object", "id": "int64", "int": "int64", "float": "float64", "bool": "bool",
                    "date": "datetime64[ns]"}[parse]
        assert str(frame[name].dtype) == expected, name


def test_valid_spells_values_are_parsed(tmp_path):
    frame = validate_partner_file(_write(tmp_path, "spells.csv", SPELLS_CSV), kind="spells")
    assert frame["spell_start"].iloc[0] == pd.Timestamp("2016-03-01")
    assert pd.isna(frame["spell_end"].iloc[1]) and frame["exit_reason"].iloc[1] is None
    assert frame["refugee"].tolist() == [False, False, True, False, False, False]
    assert frame["person_id"].tolist() == [1, 1, 2, 3, 4, 5]


def test_parquet_and_csv_give_the_same_frame(tmp_path):
    from_csv = validate_partner_file(_write(tmp_path, "spells.csv", SPELLS_CSV), kind="spells")
    parquet = tmp_path / "spells.parquet"
    from_csv.to_parquet(parquet, index=False)
    from_parquet = validate_partner_file(parquet, kind="spells")
    pd.testing.assert_frame_equal(from_parquet, from_csv)


def test_semicolon_csv_and_yyyy_mm_months(tmp_path):
    text = SPELLS_CSV.replace(",", ";").replace("-01;", ";").replace("2014-03-01", "2014-03")
    frame = validate_partner_file(_write(tmp_path, "spells_nl.csv", text), kind="spells")
    assert frame["spell_end"].iloc[0] == pd.Timestamp("2017-05-01")


def test_extra_column_is_a_warning_and_kept(tmp_path):
    text = SPELLS_CSV.replace("exempt\n", "exempt,source_system\n", 1)
    text = "\n".join(line + ",X" if i else line for i, line in enumerate(text.splitlines())) + "\n"
    path = _write(tmp_path, "spells_extra.csv", text)
    with pytest.warns(DataValidationWarning, match=r"spells_extra.csv, header \(row 1\), column 'source_system': "
                                                   r"unexpected column"):
        frame = validate_partner_file(path, kind="spells")
    assert frame.columns[-1] == "source_system" and frame["source_system"].eq("X").all()


def test_non_response_is_an_allowed_exit_reason(tmp_path):
    text = _edit(SPELLS_CSV, 4, "exit_reason", "non_response")
    frame = validate_partner_file(_write(tmp_path, "spells.csv", text), kind="spells")
    assert frame["exit_reason"].tolist()[2] == "non_response"
    assert "non_response" in schemas.EXIT_REASONS


def test_areas_with_own_start_column_grouping_column_and_no_recipients(tmp_path):
    """Contract v2: any *_start columns (dates or empty), free grouping columns as text, recipients_2018 optional."""
    text = VS_AREAS_CSV.replace("werkfit_start\n", "werkfit_start,pilot_start\n", 1)
    text = "\n".join(line + (",2020-01-01" if i == 1 else ",") if i else line
                     for i, line in enumerate(text.splitlines())) + "\n"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # grouping and start columns are part of the format: no warning
        frame = validate_partner_file(_write(tmp_path, "areas.csv", text), kind="areas")
    assert list(frame.columns) == ["municipality", "area", "area_name", "werkfit_start", "pilot_start", "district"]
    assert frame["werkfit_start"].dtype == "datetime64[ns]" and frame["werkfit_start"].isna().sum() == 1
    assert frame["pilot_start"].notna().sum() == 1
    assert frame["district"].dtype == object and frame["district"].nunique() == 4
    assert "recipients_2018" not in frame.columns


def test_grouping_column_from_parquet_is_kept_as_text(tmp_path):
    frame = _frame(VS_AREAS_CSV)
    frame["district"] = np.arange(8) // 2  # numbers in Parquet, still a grouping column
    path = tmp_path / "areas.parquet"
    frame.to_parquet(path, index=False)
    out = validate_partner_file(path, kind="areas")
    assert out["district"].tolist() == ["0", "0", "1", "1", "2", "2", "3", "3"]


def test_delivered_panel_first_treat_columns_are_ignored_with_a_warning(tmp_path):
    text = PANEL_CSV.replace("reinflow_12m_share\n", "reinflow_12m_share,first_treat_werkfit\n", 1)
    text = "\n".join(line + ",51" if i else line for i, line in enumerate(text.splitlines())) + "\n"
    path = _write(tmp_path, "panel.csv", text)
    with pytest.warns(DataValidationWarning, match=r"column 'first_treat_werkfit': is ignored and dropped: treatment "
                                                   r"timing comes from the \*_start columns of the areas file"):
        frame = validate_partner_file(path, kind="panel", known_areas=_known("panel"))
    assert "first_treat_werkfit" not in frame.columns
    assert list(frame.columns) == list(schemas.PANEL_COLUMNS)


def test_panel_durability_filled_in_for_censored_months_is_a_warning(tmp_path):
    # VS02, 2020-12 (row 49): the last month of the panel, so no follow-up at all; outflow there is 6
    text = _edits(PANEL_CSV, (49, "outflow_return_12m", "0"), (49, "outflow_durable_12m", "6"),
                  (49, "outflow_return_12m_rate", "0.0"), (49, "outflow_durable_12m_rate", str(100 * 6 / 133)))
    with pytest.warns(DataValidationWarning, match=r"row 49, column 'month': value '2020-12-01' durability counts .* "
                                                   r"are filled in although the follow-up is incomplete"):
        validate_partner_file(_write(tmp_path, "panel.csv", text), kind="panel", known_areas=_known("panel"))


# ---------------------------------------------------------------------------------------------- broken files
# (name, kind, edit(text) -> text, row, column, value or None, message fragment)

CASES = [
    ("wrong_int", "spells", lambda t: _edit(t, 4, "birth_year", "nineteen65"),
     4, "birth_year", "nineteen65", "is not a whole number"),
    ("fraction_in_id", "spells", lambda t: _edit(t, 3, "person_id", "1.5"), 3, "person_id", "1.5",
     "is not a whole number"),
    ("unparseable_date", "spells", lambda t: _edit(t, 2, "spell_start", "03/2016"), 2, "spell_start", "03/2016",
     "is not a date in the form YYYY-MM-01"),
    ("dutch_date", "spells", lambda t: _edit(t, 5, "spell_start", "01-01-2015"), 5, "spell_start", "01-01-2015",
     "is not a date"),
    ("not_month_start", "spells", lambda t: _edit(t, 2, "spell_start", "2016-03-15"), 2, "spell_start",
     "2016-03-15", "is not the first day of a month"),
    ("end_before_start", "spells", lambda t: _edit(t, 2, "spell_end", "2016-01-01"), 2, "spell_end", "2016-01-01",
     "spell_end lies before spell_start (spell_start='2016-03-01')"),
    ("overlap", "spells", lambda t: _edit(t, 3, "spell_start", "2017-04-01"), 3, "spell_start", "2017-04-01",
     "spell overlaps an earlier spell of the same person (starts on or before that spell's last month, or that "
     "spell is still running) (person_id='1')"),
    ("overlap_running", "spells",
     lambda t: t + "3,GM0599,RTM02,2019-05-01,2019-08-01,work,1990,high,false,true\n", 8, "spell_start",
     "2019-05-01", "spell overlaps an earlier spell"),
    ("duplicate_person_month", "spells", lambda t: t + t.splitlines()[1] + "\n", 8, "spell_start", "2016-03-01",
     "duplicate spell: an earlier row has the same person and start month (duplicate person-month) "
     "(person_id='1')"),
    ("unknown_area", "spells", lambda t: _edit(t, 5, "area", "RTM99"), 5, "area", "RTM99",
     "is not a known area code"),
    ("municipality_of_other_area", "spells", lambda t: _edit(t, 7, "municipality", "GM0599"), 7, "municipality",
     "GM0599", "municipality differs from this area's municipality in the areas file (area='AMS02')"),
    ("end_after_window", "spells", lambda t: _edit(t, 6, "spell_end", "2025-03-01"), 6, "spell_end", "2025-03-01",
     "lies after the study window (ends 2024-12)"),
    ("start_after_window", "spells", lambda t: _edit(t, 5, "spell_start", "2026-01-01"), 5, "spell_start",
     "2026-01-01", "lies after the study window"),
    ("start_before_1965", "spells", lambda t: _edit(t, 4, "spell_start", "1960-01-01"), 4, "spell_start",
     "1960-01-01", "lies before 1965-01"),
    ("bad_exit_reason", "spells", lambda t: _edit(t, 4, "exit_reason", "job"), 4, "exit_reason", "job",
     "is not an allowed exit_reason; allowed: 'work', 'enforcement', 'other', 'non_response'"),
    ("reason_on_running_spell", "spells", lambda t: _edit(t, 5, "exit_reason", "work"), 5, "exit_reason", "work",
     "exit_reason is given but spell_end is empty"),
    ("reason_missing_for_ended_spell", "spells", lambda t: _edit(t, 6, "exit_reason", ""), 6, "exit_reason",
     None, "exit_reason is missing but spell_end is set"),
    ("missing_required_value", "spells", lambda t: _edit(t, 5, "education", ""), 5, "education", None,
     "required value is missing"),
    ("na_text_in_required", "spells", lambda t: _edit(t, 3, "person_id", "NA"), 3, "person_id", None,
     "required value is missing"),
    ("bad_bool", "spells", lambda t: _edit(t, 6, "refugee", "maybe"), 6, "refugee", "maybe",
     "is not true/false"),
    ("bad_education", "spells", lambda t: _edit(t, 2, "education", "university"), 2, "education", "university",
     "is not an allowed education"),
    ("bad_municipality_code", "spells", lambda t: _edit(t, 3, "municipality", "0363"), 3, "municipality", "0363",
     "is not a CBS municipality code"),
    ("implausible_birth_year", "spells", lambda t: _edit(t, 2, "birth_year", "2019"), 2, "birth_year", "2019",
     "is not a plausible birth year (1900 .. 2009)"),
    ("thousands_in_birth_year", "spells", lambda t: _edit(t, 2, "birth_year", "1.980"), 2, "birth_year", "1.980",
     "looks like a number with a thousands separator or decimals"),
    ("missing_column", "spells", lambda t: _drop_column(t, "education"), 1, "education", None,
     "required column is missing from the header"),
    ("misspelt_column", "spells", lambda t: t.replace("exit_reason", "exit_reasn", 1), 1, "exit_reason", None,
     "the file has column 'exit_reasn' - is that a misspelling of 'exit_reason'? rename it"),
    ("duplicate_area", "areas", lambda t: _edit(t, 3, "area", "AMS01"), 3, "area", "AMS01",
     "duplicate area code"),
    ("cohort_before_window", "areas", lambda t: _edit(t, 2, "cohort_start", "2014-06-01"), 2, "cohort_start",
     "2014-06-01", "lies outside the study window 2015-01 .. 2024-12"),
    ("start_not_a_date", "areas", lambda t: _edit(t, 4, "counter_performance_start", "maart 2016"), 4,
     "counter_performance_start", "maart 2016", "is not a date"),
    ("negative_recipients", "areas", lambda t: _edit(t, 6, "recipients_2018", "-5"), 6, "recipients_2018", "-5",
     "is negative"),
    ("thousands_in_recipients", "areas", lambda t: _edit(t, 2, "recipients_2018", "1,500"), 2, "recipients_2018",
     "1,500", "looks like a number with a thousands separator"),
    ("empty_area_name", "areas", lambda t: _edit(t, 4, "area_name", " "), 4, "area_name", None,
     "required value is missing"),
    ("negative_count", "panel", lambda t: _edits(t, (3, "outflow_other", "-3"), (3, "outflow_work", "7")), 3,
     "outflow_other", "-3", "is negative; must be 0 or more"),
    ("outflow_sum", "panel", lambda t: _edit(t, 5, "outflow", "99"), 5, "outflow", "99",
     "outflow does not equal outflow_work + outflow_enforcement + outflow_non_response + outflow_other"),
    ("duplicate_area_month", "panel", lambda t: _edit(t, 3, "month", "2019-01-01"), 3, "month", "2019-01-01",
     "duplicate area-month"),
    ("period_mismatch", "panel", lambda t: _edit(t, 4, "period", "60"), 4, "period", "60",
     "period does not equal 12 * (year - 2015) + month of column month (month='2019-03-01')"),
    ("reinflow_above_inflow", "panel", lambda t: _edit(t, 5, "reinflow_12m", "99"), 5, "reinflow_12m", "99",
     "reinflow_12m exceeds inflow"),
    ("rate_decimal_comma", "panel", lambda t: _edit(t, 2, "outflow_rate", "4,0"), 2, "outflow_rate", "4,0",
     "has a comma: a decimal comma or a thousands separator?"),
    ("rate_not_number", "panel", lambda t: _edit(t, 2, "outflow_rate", "four"), 2, "outflow_rate", "four",
     "is not a number (write a decimal point"),
    ("rate_inconsistent", "panel", lambda t: _edit(t, 2, "outflow_work_rate", "1.5"), 2, "outflow_work_rate",
     "1.5", "outflow_work_rate is not 100 * outflow_work / stock (to 1e-06"),
    ("rate_when_stock_is_zero", "panel", lambda t: _edit(t, 6, "stock", "0"), 6, "outflow_rate", None,
     "outflow_rate is not 100 * outflow / stock"),
    ("share_inconsistent", "panel", lambda t: _edit(t, 2, "reinflow_12m_share", "50"), 2, "reinflow_12m_share",
     "50", "reinflow_12m_share is not 100 * reinflow_12m / inflow"),
    ("durable_inconsistent", "panel", lambda t: _edit(t, 2, "outflow_work_durable_12m", "2"), 2,
     "outflow_work_durable_12m", "2", "outflow_work_durable_12m does not equal outflow_work - outflow_work_return_12m"),
    ("return_6m_above_12m", "panel", lambda t: _edit(t, 3, "outflow_work_return_6m", "2"), 3,
     "outflow_work_return_6m", "2", "outflow_work_return_6m exceeds outflow_work_return_12m"),
    ("return_12m_above_exits", "panel", lambda t: _edit(t, 26, "outflow_enforcement_return_12m", "3"), 26,
     "outflow_enforcement_return_12m", "3", "outflow_enforcement_return_12m exceeds outflow_enforcement"),
    ("durability_not_whole", "panel", lambda t: _edit(t, 2, "outflow_work_return_12m", "0.5"), 2,
     "outflow_work_return_12m", "0.5", "is not a whole number (a count)"),
    ("panel_area_in_other_municipality", "panel", lambda t: _edit(t, 2, "municipality", "GM0363"), 2,
     "municipality", "GM0363", "municipality differs from this area's municipality in the areas file (area='VS01')"),
    ("panel_unknown_area", "panel", lambda t: _edit(t, 2, "area", "VS99"), 2, "area", "VS99",
     "is not a known area code"),
    ("panel_month_outside_window", "panel", lambda t: _edit(t, 2, "month", "2025-01-01"), 2, "month",
     "2025-01-01", "lies outside the study window"),
]


def _drop_column(text, column):
    return _frame(text).drop(columns=column).to_csv(index=False, lineterminator="\n")


@pytest.mark.parametrize("name,kind,edit,row,column,value,fragment", CASES, ids=[c[0] for c in CASES])
def test_broken_file_names_file_column_row_and_value(tmp_path, name, kind, edit, row, column, value, fragment):
    path = _write(tmp_path, f"{kind}_{name}.csv", edit(VALID[kind]))
    err = _errors(path, kind, known_areas=_known(kind))
    assert isinstance(err, ValueError)
    where = "header (row 1)" if row == 1 else f"row {row},"
    parts = [str(path), where, f"column {column!r}", fragment]
    if value is not None:
        parts.append(f"value {value!r}")
    _problem_line(err, *parts)
    assert "header = row 1, first data row = row 2" in str(err).splitlines()[0]
    assert len({str(p) for p in err.problems}) == len(err.problems), "a problem is reported twice"
    problem = next(p for p in err.problems if p.column == column and fragment in p.message)
    assert (problem.file, problem.row) == (str(path), row)


def test_every_problem_is_reported_not_just_the_first(tmp_path):
    text = _edit(_edit(_edit(SPELLS_CSV, 2, "spell_start", "2016-03-15"), 4, "exit_reason", "job"),
                 7, "refugee", "maybe")
    err = _errors(_write(tmp_path, "spells_three.csv", text))
    assert [(p.row, p.column) for p in err.problems] == [(2, "spell_start"), (4, "exit_reason"), (7, "refugee")]
    assert str(err).splitlines()[0].startswith(f"{tmp_path / 'spells_three.csv'}: 3 problems found")


def test_many_different_problems_are_listed_up_to_a_cap_with_a_count(tmp_path):
    # 10 rows with 6 different defects each = 60 problems, none of them frequent enough to be summarised
    rows = [f"{i},GM0363,AMS01,2016-03-15,2015-01-01,job,1850,university,maybe,perhaps" for i in range(1, 11)]
    path = _write(tmp_path, "spells_many.csv", SPELLS_CSV.splitlines()[0] + "\n" + "\n".join(rows) + "\n")
    err = _errors(path)
    assert len(err.problems) == 70  # 6 column defects + end-before-start, per row
    lines = str(err).splitlines()
    assert len(lines) == 1 + 50 + 1
    assert lines[-1] == "  ... and 20 more (first 50 shown; all are in DataValidationError.problems)"


# ------------------------------------------------------------------------------- one root cause, reported once

def test_a_column_of_day_first_dates_is_one_problem_not_one_per_row(tmp_path):
    rows = [f"{i},GM0363,AMS01,01-{1 + i % 12:02d}-2016,,,1980,low,false,false" for i in range(1, 201)]
    path = _write(tmp_path, "spells_dayfirst.csv", SPELLS_CSV.splitlines()[0] + "\n" + "\n".join(rows) + "\n")
    err = _errors(path)
    assert len(err.problems) == 1
    problem = err.problems[0]
    assert (problem.column, problem.count, problem.rows[:3], len(problem.rows)) == ("spell_start", 200, (2, 3, 4), 200)
    assert str(problem).startswith(f"{path}, column 'spell_start': 200 of 200 values are not a date in the form "
                                   "YYYY-MM-01")
    assert "e.g. row 2 '01-02-2016', row 3 '01-03-2016', row 4 '01-04-2016'" in str(problem)
    assert len(str(err).splitlines()) == 2


def test_the_same_cause_in_two_columns_is_one_problem(tmp_path):
    rows = [f"{i},GM0363,AMS01,01-03-2016,01-05-2016,work,1980,low,false,false" for i in range(1, 31)]
    path = _write(tmp_path, "spells.csv", SPELLS_CSV.splitlines()[0] + "\n" + "\n".join(rows) + "\n")
    err = _errors(path)
    assert len(err.problems) == 1 and err.problems[0].count == 60
    assert err.problems[0].message.endswith("; the same in column 'spell_end' (30 of 30)")


def test_missing_values_in_two_columns_are_two_problems(tmp_path):
    rows = [f"{i},GM0363,AMS01,2016-03-01,,,,,false,false" for i in range(1, 13)]  # no birth_year, no education
    err = _errors(_write(tmp_path, "spells.csv", SPELLS_CSV.splitlines()[0] + "\n" + "\n".join(rows) + "\n"))
    assert [(p.column, p.count) for p in err.problems] == [("birth_year", 12), ("education", 12)]
    assert str(err.problems[0]).endswith("birth_year': 12 of 12 values are missing (required), e.g. row 2")


def test_few_occurrences_are_listed_one_by_one(tmp_path):
    rows = [f"{i},GM0363,AMS01,2016-03-15,,,1980,low,false,false" for i in range(1, SUMMARY_AFTER + 1)]
    path = _write(tmp_path, "spells.csv", SPELLS_CSV.splitlines()[0] + "\n" + "\n".join(rows) + "\n")
    err = _errors(path)
    assert [p.row for p in err.problems] == list(range(2, SUMMARY_AFTER + 2))


def test_rows_separated_differently_from_the_header_are_one_problem(tmp_path):
    text = SPELLS_CSV.splitlines()[0] + "\n" + "\n".join(line.replace(",", ";")
                                                          for line in SPELLS_CSV.splitlines()[1:]) + "\n"
    text += "\n".join(f"{i};GM0363;AMS01;2016-03-01;;;1980;low;false;false" for i in range(10, 20)) + "\n"
    err = _errors(_write(tmp_path, "spells.csv", text))
    assert len(err.problems) == 1
    assert "16 of 16 rows do not have the header's 10 fields but 1 (the header is separated by commas" in str(err)


def test_a_header_without_any_separator_is_one_problem(tmp_path):
    text = SPELLS_CSV.replace(",", "|")
    err = _errors(_write(tmp_path, "spells.csv", text))
    assert len(err.problems) == 1
    assert "is the only column of the header: no comma, semicolon or tab separates the column names" in str(err)


def test_follow_on_errors_of_a_missing_column_are_not_reported(tmp_path):
    text = _edit(_drop_column(SPELLS_CSV, "exit_reason"), 3, "spell_start", "2017-04-01")
    err = _errors(_write(tmp_path, "spells_partial.csv", text))
    assert [(p.row, p.column, p.level) for p in err.problems] == [
        (1, "exit_reason", "error"), (3, "spell_start", "error"), (None, None, "note")]
    assert err.problems[-1].message.endswith("exit_reason_on_running_spell, exit_reason_missing")


def test_an_unreadable_cell_is_not_reported_again_by_the_rules_that_use_it(tmp_path):
    # a rate that cannot be read is one problem, not also "rate is not 100 * count / stock"
    text = _edit(PANEL_CSV, 2, "outflow_rate", "4,0")
    err = _errors(_write(tmp_path, "panel.csv", text), "panel")
    assert [(p.row, p.column) for p in err.problems] == [(2, "outflow_rate")]


# ------------------------------------------------------------------------------- no silent corruption

@pytest.mark.parametrize("sep,cell", [(";", "101.000"), (";", "1,234"), (",", '"1,234"'), (",", "101.000"),
                                      (";", "1 234")])
def test_thousands_separators_in_whole_numbers_are_refused_not_misread(tmp_path, sep, cell):
    header = sep.join(["municipality", "area", "area_name", "recipients_2018"])
    text = f"{header}\n" + sep.join(["GM1234", "VS01", "Noord", cell]) + "\n"
    err = _errors(_write(tmp_path, "areas.csv", text), "areas")
    written = cell.strip('"')
    _problem_line(err, "areas.csv, row 2, column 'recipients_2018'", f"value {written!r}",
                  "looks like a number with a thousands separator or decimals, which cannot be read safely")


def test_whole_numbers_written_with_zero_decimals_are_read_exactly(tmp_path):
    text = "municipality;area;area_name;recipients_2018\nGM1234;VS01;Noord;101\nGM1234;VS02;Zuid;12.0\n"
    frame = validate_partner_file(_write(tmp_path, "areas.csv", text), kind="areas")
    assert frame["recipients_2018"].tolist() == [101, 12] and frame["recipients_2018"].dtype == "int64"


def test_a_decimal_comma_in_a_float_column_is_refused(tmp_path):
    frame = _frame(PANEL_CSV)
    frame.loc[0, "outflow_rate"] = "4,0"  # semicolon-separated, as Dutch Excel writes: the comma is inside a cell
    text = frame.to_csv(index=False, sep=";", lineterminator="\n")
    err = _errors(_write(tmp_path, "panel.csv", text), "panel")
    _problem_line(err, "row 2, column 'outflow_rate'", "value '4,0'", "has a comma: a decimal comma")


SEVENTEEN = ("80123456789012341", "80123456789012342")


def _spells_with_ids(ids):
    rows = [f"{pid},GM0363,AMS01,2016-03-01,,,1980,low,false,false" for pid in ids]
    return SPELLS_CSV.splitlines()[0] + "\n" + "\n".join(rows) + "\n"


def test_seventeen_digit_ids_that_differ_in_the_last_digit_stay_two_persons(tmp_path):
    frame = validate_partner_file(_write(tmp_path, "spells.csv", _spells_with_ids(SEVENTEEN)), kind="spells")
    assert frame["person_id"].dtype == "int64"
    assert frame["person_id"].tolist() == [80123456789012341, 80123456789012342]
    assert frame["person_id"].nunique() == 2
    assert float(SEVENTEEN[0]) == float(SEVENTEEN[1])  # what reading through float would have done


@pytest.mark.parametrize("ids,expected", [
    (("P-0001", "80123456789012342"), ["P-0001", "80123456789012342"]),  # text ids stay text
    (("00123", "123"), ["00123", "123"]),  # leading zeros: text, so 00123 and 123 stay two persons
    (("123456789012345678901", "123456789012345678902"), ["123456789012345678901", "123456789012345678902"]),
])
def test_ids_that_are_not_plain_int64_are_kept_as_text(tmp_path, ids, expected):
    frame = validate_partner_file(_write(tmp_path, "spells.csv", _spells_with_ids(ids)), kind="spells")
    assert frame["person_id"].tolist() == expected and frame["person_id"].nunique() == 2


@pytest.mark.parametrize("pid,fragment", [
    ("8.012345678901234e+16", "is in scientific notation, which loses the digits of an identifier"),
    ("80123456789012340.0", "has decimals ('.0') and more than 15 digits: it went through a floating-point number"),
    ("80.123.456", "looks like a number with thousands separators"),
])
def test_ids_that_went_through_float_are_refused(tmp_path, pid, fragment):
    err = _errors(_write(tmp_path, "spells.csv", _spells_with_ids([pid, "5"])))
    _problem_line(err, "row 2, column 'person_id'", f"value {pid!r}", fragment)


def test_parquet_ids_are_exact_as_int64_and_refused_as_inexact_float(tmp_path):
    frame = _frame(_spells_with_ids(SEVENTEEN))
    typed = validate_partner_file(_write(tmp_path, "spells.csv", _spells_with_ids(SEVENTEEN)), kind="spells")
    typed.to_parquet(tmp_path / "spells.parquet", index=False)
    back = validate_partner_file(tmp_path / "spells.parquet", kind="spells")
    assert back["person_id"].tolist() == [80123456789012341, 80123456789012342]
    as_float = typed.assign(person_id=frame["person_id"].astype(float))
    as_float.to_parquet(tmp_path / "spells_float.parquet", index=False)
    err = _errors(tmp_path / "spells_float.parquet")
    _problem_line(err, "row 2, column 'person_id'", "is stored as a floating-point number above 2^53")


def test_duplicated_column_names_are_refused(tmp_path):
    text = SPELLS_CSV.replace("exempt\n", "exempt,education\n", 1)
    text = "\n".join(line + ",high" if i else line for i, line in enumerate(text.splitlines())) + "\n"
    err = _errors(_write(tmp_path, "spells.csv", text))
    assert len(err.problems) == 1
    _problem_line(err, "header (row 1), column 'education'", "column name appears 2 times in the header (columns 8, "
                                                               "11)")
    table = pa.table([pa.array([1]), pa.array(["x"]), pa.array(["y"])], names=["person_id", "area", "area"])
    pq.write_table(table, tmp_path / "spells.parquet")
    err = _errors(tmp_path / "spells.parquet")
    _problem_line(err, "column 'area'", "column name appears 2 times")


def test_row_numbers_count_blank_lines_as_an_editor_does(tmp_path):
    lines = SPELLS_CSV.splitlines()
    text = "\n".join([lines[0], lines[1], "", "", lines[2].replace("2018-01-01", "2018-01-15"), ",,,,,,,,,",
                      lines[3]]) + "\n"
    err = _errors(_write(tmp_path, "spells.csv", text))
    assert [(p.row, p.column) for p in err.problems] == [(5, "spell_start")]  # line 5 in an editor


def test_row_numbers_stay_exact_after_a_quoted_value_spanning_two_lines(tmp_path):
    text = AREAS_CSV.replace("Centrum Oost", '"Centrum\nOost"').replace("1100,", "-1100,")  # row 3 has 2 lines
    err = _errors(_write(tmp_path, "areas.csv", text), "areas")
    assert [(p.row, p.column, p.value) for p in err.problems] == [(6, "recipients_2018", "-1100")]  # line 6


def test_one_row_with_a_decimal_comma_in_a_comma_separated_file(tmp_path):
    lines = SPELLS_CSV.splitlines()
    lines[3] = lines[3].replace(",1965,", ",1965,5,")  # row 4: one field too many
    err = _errors(_write(tmp_path, "spells.csv", "\n".join(lines) + "\n"))
    assert [(p.row, p.column) for p in err.problems] == [(4, None)]
    assert str(err.problems[0]) == (f"{tmp_path / 'spells.csv'}, row 4: has 11 fields but the header has 10 (a "
                                    "separator inside an unquoted value, such as a decimal comma in a comma-separated "
                                    "file? this row is not checked further)")


def test_csv_gz_is_read(tmp_path):
    path = tmp_path / "spells.csv.gz"
    path.write_bytes(gzip.compress(SPELLS_CSV.encode("utf-8")))
    frame = validate_partner_file(path, kind="spells")
    assert len(frame) == 6 and frame["person_id"].tolist() == [1, 1, 2, 3, 4, 5]
    broken = tmp_path / "areas.csv.gz"
    broken.write_bytes(gzip.compress(AREAS_CSV.encode("utf-8"))[:40])
    err = _errors(broken, "areas")
    assert len(str(err).splitlines()) == 1 and "areas.csv.gz: cannot be decompressed" in str(err)


def test_excel_windows_csv_with_bom_semicolons_and_crlf(tmp_path):
    """Excel on Windows writes a UTF-8 byte-order mark, semicolons and CRLF line ends."""
    text = "\ufeff" + SPELLS_CSV.replace(",", ";").replace("\n", "\r\n")
    path = tmp_path / "spells.csv"
    path.write_bytes(text.encode("utf-8"))
    assert path.read_bytes()[:3] == b"\xef\xbb\xbf"
    frame = validate_partner_file(path, kind="spells")
    assert frame.columns[0] == "person_id" and frame["person_id"].tolist() == [1, 1, 2, 3, 4, 5]
    assert frame["exempt"].tolist()[3] is True


# ------------------------------------------------------------------------------- unreadable files: one line

@pytest.mark.parametrize("name,content,fragment", [
    ("spells_empty.csv", b"", "is empty (0 bytes: no header, no rows)"),
    ("spells.xlsx", b"PK\x03\x04", "has extension '.xlsx'; give a CSV (.csv, .csv.gz) or Parquet"),
    ("spells_corrupt.parquet", b"not a parquet file", "is not a Parquet file (it does not start with 'PAR1')"),
    ("spells_truncated.parquet", b"PAR1\x15\x04\x15", "is an incomplete Parquet file"),
    ("spells_junk.csv", bytes(range(256)) * 8, "contains NUL bytes: it is a binary file, not CSV text"),
    ("spells_excel.csv", b"PK\x03\x04\x14\x00", "is a zip archive or an Excel workbook, not CSV text"),
    ("spells_parquet.csv", b"PAR1\x00\x00PAR1", "is a Parquet file (it starts with 'PAR1') but is named .csv"),
    ("spells_utf16.csv", "person_id\n".encode("utf-16"), "is UTF-16 text"),
    ("spells_latin1.csv", SPELLS_CSV.replace("low", "l\xe9w", 1).encode("latin-1"),
     "is not UTF-8 text (line 2: byte 0xe9); save it as 'CSV UTF-8'"),
])
def test_unreadable_files_are_one_line_naming_the_file(tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_bytes(content)
    err = _errors(path)
    assert str(err).startswith(f"{path}: {fragment}")
    assert len(str(err).splitlines()) == 1
    assert err.__cause__ is None and err.__suppress_context__


def test_header_only_and_not_found_and_folder(tmp_path):
    err = _errors(_write(tmp_path, "spells_header_only.csv", SPELLS_CSV.splitlines()[0] + "\n"))
    _problem_line(err, "spells_header_only.csv: has a header but no data rows")
    err = _errors(tmp_path / "nothere.csv", "areas")
    assert str(err) == f"{tmp_path / 'nothere.csv'}: file not found"
    (tmp_path / "spells.csv").mkdir()
    assert str(_errors(tmp_path / "spells.csv")) == f"{tmp_path / 'spells.csv'}: is a folder, not a file"


def test_known_areas_from_an_areas_file_path(tmp_path):
    areas = _write(tmp_path, "areas.csv", AREAS_CSV)
    spells = _write(tmp_path, "spells.csv", _edit(SPELLS_CSV, 2, "area", "AMS07"))
    err = _errors(spells, known_areas=areas)
    _problem_line(err, "row 2,", "column 'area'", "value 'AMS07'", "is not a known area code")


def test_panel_needs_one_row_per_area_and_month_and_every_area(tmp_path):
    lines = PANEL_CSV.splitlines()
    text = "\n".join(lines[:10] + lines[11:]) + "\n"  # VS01 2019-10 (file row 11) removed
    text = "\n".join(line for line in text.splitlines() if ",VS08," not in line) + "\n"
    err = _errors(_write(tmp_path, "panel.csv", text), "panel", known_areas=_known("panel"))
    _problem_line(err, "column 'area'", "area 'VS01' has no row for 1 of the 24 months 2019-01 .. 2020-12, "
                                        "e.g. 2019-10")
    _problem_line(err, "column 'area'", "1 area(s) of the areas file have no rows in the panel: 'VS08'")


def test_window_argument_moves_the_limits(tmp_path):
    path = _write(tmp_path, "spells.csv", SPELLS_CSV)
    err = _errors(path, window=("2015-01", "2019-12"))
    assert [(p.row, p.column) for p in err.problems] == [(6, "spell_start"), (6, "spell_end")]
    with pytest.raises(ValueError, match="kind: 'persons' is not one of spells, areas, panel"):
        validate_partner_file(path, kind="persons")


# ---------------------------------------------------------------------------------------------- conversion

def test_convert_writes_typed_parquet(tmp_path):
    dst = convert_partner_file(_write(tmp_path, "spells.csv", SPELLS_CSV), tmp_path / "out" / "spells.parquet")
    back = pd.read_parquet(dst)
    assert back["spell_start"].dtype == "datetime64[ns]" and back["refugee"].dtype == bool
    assert back["birth_year"].tolist() == [1980, 1980, 1965, 1990, 1975, 1985]
    assert sorted(p.name for p in dst.parent.iterdir()) == ["spells.parquet"]


def test_convert_leaves_no_file_when_validation_fails(tmp_path):
    src = _write(tmp_path, "spells.csv", _edit(SPELLS_CSV, 3, "exit_reason", "job"))
    dst = tmp_path / "spells.parquet"
    with pytest.raises(DataValidationError):
        convert_partner_file(src, dst)
    assert not dst.exists()
    dst.write_bytes(b"previous version")
    with pytest.raises(DataValidationError):
        convert_partner_file(src, dst)
    assert dst.read_bytes() == b"previous version"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spells.csv", "spells.parquet"]


def test_convert_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    src = _write(tmp_path, "spells.csv", SPELLS_CSV)
    dst = tmp_path / "spells.parquet"
    dst.write_bytes(b"previous version")

    def half_write(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PAR1 partial")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_write)
    with pytest.raises(OSError, match="disk full"):
        convert_partner_file(src, dst)
    assert dst.read_bytes() == b"previous version"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spells.csv", "spells.parquet"]


def test_readme_update_is_atomic(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    text = (REPO / "data" / "README.md").read_text(encoding="utf-8")
    stale = text.replace("| `person_id` |", "| `person_nr` |", 1)
    readme.write_text(stale, encoding="utf-8")

    def failing_replace(src, dst):
        raise OSError("target locked")

    monkeypatch.setattr(schemas.os, "replace", failing_replace)
    with pytest.raises(OSError, match="target locked"):
        schemas.update_readme(readme)
    assert readme.read_text(encoding="utf-8") == stale
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]
    monkeypatch.undo()
    assert schemas.update_readme(readme) is True and readme.read_text(encoding="utf-8") == text


# ---------------------------------------------------------------------------------------------- documentation

def test_readme_tables_match_the_schemas():
    readme = REPO / "data" / "README.md"
    text = readme.read_text(encoding="utf-8")
    assert schemas.render_readme(text) == text, "run: python -m bijstand.data.schemas data/README.md"
    for kind in schemas.KINDS:
        for name, column in schemas.build_schema(kind).columns.items():
            assert f"| `{column.metadata.get('doc_name') or name}`" in text


def test_schema_rows_are_the_data_contract():
    assert list(schemas.SPELLS_SCHEMA.columns) == [
        "person_id", "municipality", "area", "spell_start", "spell_end", "exit_reason", "birth_year", "education",
        "refugee", "exempt"]
    assert schemas.required_columns(schemas.AREAS_SCHEMA) == ["municipality", "area", "area_name"]
    assert schemas.AREAS_SCHEMA.columns["recipients_2018"].required is False
    assert schemas.is_start_column("werkfit_start") and not schemas.is_start_column("start")
    panel = list(schemas.PANEL_SCHEMA.columns)
    assert len(panel) == 49 and panel == list(schemas.PANEL_COLUMNS)
    assert not any(c.startswith("first_treat") for c in panel)
    for x in ("outflow", "outflow_work", "outflow_enforcement", "outflow_non_response", "outflow_other"):
        for column in (x, f"{x}_return_6m", f"{x}_return_12m", f"{x}_durable_12m", f"{x}_rate",
                       f"{x}_durable_12m_rate", f"{x}_return_12m_rate"):
            assert column in panel, column
    assert "reinflow_12m_share" in panel
    assert schemas.SPELLS_SCHEMA.columns["spell_end"].nullable is True
    assert schemas.SPELLS_SCHEMA.columns["spell_start"].nullable is False
    assert schemas.PANEL_SCHEMA.columns["outflow_work_durable_12m"].nullable is True


def test_schema_validates_a_typed_frame_directly(tmp_path):
    frame = validate_partner_file(_write(tmp_path, "spells.csv", SPELLS_CSV), kind="spells")
    schemas.SPELLS_SCHEMA.validate(frame)  # the typed output satisfies the pandera schema itself
    frame.loc[0, "exit_reason"] = "job"
    with pytest.raises(Exception, match="allowed exit_reason"):
        schemas.SPELLS_SCHEMA.validate(frame)


# ---------------------------------------------------------------------------------------------- Windows

INTAKE_FILES = ["src/bijstand/data/schemas.py", "src/bijstand/data/validate.py", "src/bijstand/data/sources.py"]


@pytest.mark.parametrize("relative", INTAKE_FILES)
def test_no_posix_only_calls_and_text_files_opened_with_an_encoding(relative):
    tree = ast.parse((REPO / relative).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        owner = getattr(node.func.value, "id", "") if isinstance(node.func, ast.Attribute) else ""
        assert not (owner == "os" and name in {"rename", "chmod", "chown", "fork", "symlink", "link"}), \
            f"{relative}:{node.lineno}: os.{name} is POSIX-only or fails over an existing file on Windows"
        keywords = {k.arg for k in node.keywords}
        if name in {"read_text", "write_text"}:
            assert "encoding" in keywords, f"{relative}:{node.lineno}: {name} without encoding="
        if name in {"open", "fdopen"}:
            mode = next((a.value for a in node.args[1:2] if isinstance(a, ast.Constant)), None)
            mode = next((k.value.value for k in node.keywords if k.arg == "mode"), mode)
            if mode is None or "b" not in str(mode):
                assert "encoding" in keywords, f"{relative}:{node.lineno}: text-mode {name} without encoding="
        for arg in node.args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                assert not arg.value.startswith("/tmp"), f"{relative}:{node.lineno}: hard-coded /tmp"
