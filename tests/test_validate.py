"""Partner-file validation: every broken file is reported with file, column, row (header = row 1) and value.

Each broken file is a small valid file with one defect put in by hand, so the expected row, column and value are
known without running the validator.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pandas as pd
import pytest

from bijstand.data import schemas
from bijstand.data.validate import (
    DataValidationError,
    DataValidationWarning,
    convert_partner_file,
    validate_partner_file,
)

REPO = Path(__file__).resolve().parents[1]

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

_PANEL_HEADER = ("municipality,area,month,period,stock,inflow,reinflow_6m,reinflow_12m,outflow,outflow_work,"
                 "outflow_enforcement,outflow_other,outflow_rate,outflow_work_rate,outflow_enforcement_rate,"
                 "outflow_other_rate,reinflow_12m_share,first_treat_cohort,first_treat_counter,first_treat_outreach")
PANEL_CSV = "\n".join([
    _PANEL_HEADER,
    "GM0363,AMS01,2019-10-01,58,1500,30,4,6,40,20,4,16,2.6667,1.3333,0.2667,1.0667,20.0,59,0,43",
    "GM0363,AMS01,2019-11-01,59,1490,25,3,5,35,18,2,15,2.349,1.2081,0.1342,1.0067,20.0,59,0,43",
    "GM0599,RTM01,2019-10-01,58,1200,0,0,0,0,0,0,0,0.0,0.0,0.0,0.0,,0,13,0",
    "GM0599,RTM01,2019-11-01,59,1200,20,2,4,30,10,5,15,2.5,0.8333,0.4167,1.25,20.0,0,13,0",
]) + "\n"

VALID = {"spells": SPELLS_CSV, "areas": AREAS_CSV, "panel": PANEL_CSV}


def _areas_frame():
    return pd.read_csv(io.StringIO(AREAS_CSV), dtype=str, keep_default_na=False)


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _edit(text, row, column, value):
    """Set one cell of a CSV text; ``row`` counts the header as row 1."""
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    frame.loc[row - 2, column] = value
    return frame.to_csv(index=False, lineterminator="\n")


def _problem_line(err: DataValidationError, *parts: str) -> str:
    """The one line of the error message that contains all ``parts``."""
    lines = [line for line in str(err).splitlines() if all(part in line for part in parts)]
    assert lines, f"no line with {parts} in:\n{err}"
    return lines[0]


# ---------------------------------------------------------------------------------------------- valid files

@pytest.mark.parametrize("kind", ["spells", "areas", "panel"])
def test_valid_csv_passes_with_declared_dtypes(tmp_path, kind):
    path = _write(tmp_path, f"{kind}.csv", VALID[kind])
    known = _areas_frame() if kind != "areas" else None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a valid file raises no warning either
        frame = validate_partner_file(path, kind=kind, known_areas=known)
    schema = schemas.build_schema(kind)
    assert list(frame.columns) == list(schema.columns)
    for name, column in schema.columns.items():
        expected = "object" if str(column.dtype) == "str" else str(column.dtype)
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
    text = AREAS_CSV.replace("outreach_start\n", "outreach_start,borough\n", 1)
    text = "\n".join(line + ",X" if i else line for i, line in enumerate(text.splitlines())) + "\n"
    path = _write(tmp_path, "areas_extra.csv", text)
    with pytest.warns(DataValidationWarning, match=r"areas_extra.csv, header \(row 1\), column 'borough': "
                                                   r"unexpected column"):
        frame = validate_partner_file(path, kind="areas")
    assert frame.columns[-1] == "borough" and frame["borough"].eq("X").all()


# ---------------------------------------------------------------------------------------------- broken files
# (name, kind, edit(text) -> text, row, column, value or None, message fragment)

CASES = [
    ("wrong_int", "spells", lambda t: _edit(t, 4, "birth_year", "nineteen65"),
     4, "birth_year", "nineteen65", "is not a whole number"),
    ("fraction_in_id", "spells", lambda t: _edit(t, 3, "person_id", "1.5"), 3, "person_id", "1.5",
     "is not a whole number"),
    ("unparseable_date", "spells", lambda t: _edit(t, 2, "spell_start", "03/2016"), 2, "spell_start", "03/2016",
     "is not a date; write months as YYYY-MM-01"),
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
     "GM0599", "municipality does not match the municipality of this area in the areas file (area='AMS02')"),
    ("end_after_window", "spells", lambda t: _edit(t, 6, "spell_end", "2025-03-01"), 6, "spell_end", "2025-03-01",
     "lies after the study window (ends 2024-12)"),
    ("start_after_window", "spells", lambda t: _edit(t, 5, "spell_start", "2026-01-01"), 5, "spell_start",
     "2026-01-01", "lies after the study window"),
    ("start_before_1965", "spells", lambda t: _edit(t, 4, "spell_start", "1960-01-01"), 4, "spell_start",
     "1960-01-01", "lies before 1965-01"),
    ("bad_exit_reason", "spells", lambda t: _edit(t, 4, "exit_reason", "job"), 4, "exit_reason", "job",
     "is not an allowed exit_reason; allowed: 'work', 'enforcement', 'other'"),
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
    ("missing_column", "spells", lambda t: _drop_column(t, "education"), 1, "education", None,
     "required column is missing from the header"),
    ("misspelt_column", "spells", lambda t: t.replace("exit_reason", "exit_reasn", 1), 1, "exit_reason", None,
     "the file has column 'exit_reasn' - is that a misspelling of 'exit_reason'? rename it"),
    ("duplicate_area", "areas", lambda t: _edit(t, 3, "area", "AMS01"), 3, "area", "AMS01",
     "duplicate area code"),
    ("cohort_before_window", "areas", lambda t: _edit(t, 2, "cohort_start", "2014-06-01"), 2, "cohort_start",
     "2014-06-01", "lies outside the study window 2015-01 .. 2024-12"),
    ("negative_recipients", "areas", lambda t: _edit(t, 6, "recipients_2018", "-5"), 6, "recipients_2018", "-5",
     "is negative"),
    ("empty_area_name", "areas", lambda t: _edit(t, 4, "area_name", " "), 4, "area_name", None,
     "required value is missing"),
    ("negative_count", "panel", lambda t: _edit(_edit(t, 3, "outflow_other", "-3"), 3, "outflow_work", "36"), 3,
     "outflow_other", "-3",
     "is negative; must be 0 or more"),
    ("outflow_sum", "panel", lambda t: _edit(t, 5, "outflow", "31"), 5, "outflow", "31",
     "outflow does not equal outflow_work + outflow_enforcement + outflow_other"),
    ("duplicate_area_month", "panel", lambda t: _edit(t, 3, "month", "2019-10-01"), 3, "month", "2019-10-01",
     "duplicate area-month"),
    ("period_mismatch", "panel", lambda t: _edit(t, 4, "period", "60"), 4, "period", "60",
     "period does not equal 12 * (year - 2015) + month of column month (month='2019-10-01')"),
    ("reinflow_above_inflow", "panel", lambda t: _edit(t, 5, "reinflow_12m", "21"), 5, "reinflow_12m", "21",
     "reinflow_12m exceeds inflow"),
    ("rate_not_number", "panel", lambda t: _edit(t, 2, "outflow_rate", "2,6667"), 2, "outflow_rate", "2,6667",
     "is not a number (use a decimal point"),
    ("panel_month_outside_window", "panel", lambda t: _edit(t, 2, "month", "2025-01-01"), 2, "month",
     "2025-01-01", "lies outside the study window"),
    ("first_treat_varies", "panel", lambda t: _edit(t, 3, "first_treat_cohort", "60"), 3, "first_treat_cohort",
     "60", "first_treat_cohort differs from its value in the first row of the same area"),
]


def _drop_column(text, column):
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    return frame.drop(columns=column).to_csv(index=False, lineterminator="\n")


@pytest.mark.parametrize("name,kind,edit,row,column,value,fragment", CASES, ids=[c[0] for c in CASES])
def test_broken_file_names_file_column_row_and_value(tmp_path, name, kind, edit, row, column, value, fragment):
    path = _write(tmp_path, f"{kind}_{name}.csv", edit(VALID[kind]))
    known = _areas_frame() if kind != "areas" else None
    with pytest.raises(DataValidationError) as info:
        validate_partner_file(path, kind=kind, known_areas=known)
    err = info.value
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
    with pytest.raises(DataValidationError) as info:
        validate_partner_file(_write(tmp_path, "spells_three.csv", text), kind="spells")
    assert [(p.row, p.column) for p in info.value.problems] == [(2, "spell_start"), (4, "exit_reason"),
                                                              (7, "refugee")]
    assert str(info.value).splitlines()[0].startswith(f"{tmp_path / 'spells_three.csv'}: 3 problems found")


def test_long_lists_are_capped_with_a_count(tmp_path):
    rows = [f"{i},GM0363,AMS01,2016-03-15,,,1980,low,false,false" for i in range(1, 121)]
    path = _write(tmp_path, "spells_many.csv", SPELLS_CSV.splitlines()[0] + "\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataValidationError) as info:
        validate_partner_file(path, kind="spells")
    err = info.value
    assert len(err.problems) == 120
    lines = str(err).splitlines()
    assert len(lines) == 1 + 50 + 1
    assert lines[-1] == "  ... and 70 more (first 50 shown; all are in DataValidationError.problems)"
    assert "row 121, column 'spell_start'" in str(err.problems[-1])


def test_broken_parquet_reports_rows_like_csv(tmp_path):
    frame = pd.read_csv(io.StringIO(PANEL_CSV), parse_dates=["month"])
    frame.loc[1, "inflow"] = -7  # second data row = row 3
    path = tmp_path / "panel_bad.parquet"
    frame.to_parquet(path, index=False)
    with pytest.raises(DataValidationError) as info:
        validate_partner_file(path, kind="panel")
    _problem_line(info.value, str(path), "row 3,", "column 'inflow'", "value -7", "is negative")


@pytest.mark.parametrize("name,content,fragment", [
    ("spells_empty.csv", "", "is empty (0 bytes: no header, no rows)"),
    ("spells_header_only.csv", SPELLS_CSV.splitlines()[0] + "\n", "has a header but no data rows"),
    ("spells.xlsx", "PK\x03\x04", "has extension '.xlsx'; give a CSV (.csv) or Parquet (.parquet, .pq) file"),
    ("spells_corrupt.parquet", "not a parquet file", "cannot be read as Parquet"),
])
def test_file_level_problems(tmp_path, name, content, fragment):
    path = _write(tmp_path, name, content)
    with pytest.raises(DataValidationError, match=None) as info:
        validate_partner_file(path, kind="spells")
    _problem_line(info.value, f"{path}: ", fragment)


def test_not_utf8_and_not_found(tmp_path):
    path = tmp_path / "areas_latin1.csv"
    path.write_bytes(AREAS_CSV.replace("Bloemhof", "Bloemhöf").encode("latin-1"))
    with pytest.raises(DataValidationError, match=r"areas_latin1.csv: is not UTF-8 text"):
        validate_partner_file(path, kind="areas")
    with pytest.raises(DataValidationError, match=r"nothere.csv: file not found"):
        validate_partner_file(tmp_path / "nothere.csv", kind="areas")


def test_known_areas_from_an_areas_file_path(tmp_path):
    areas = _write(tmp_path, "areas.csv", AREAS_CSV)
    spells = _write(tmp_path, "spells.csv", _edit(SPELLS_CSV, 2, "area", "AMS07"))
    with pytest.raises(DataValidationError) as info:
        validate_partner_file(spells, kind="spells", known_areas=areas)
    _problem_line(info.value, "row 2,", "column 'area'", "value 'AMS07'", "is not a known area code")


def test_window_argument_moves_the_limits(tmp_path):
    path = _write(tmp_path, "spells.csv", SPELLS_CSV)
    with pytest.raises(DataValidationError) as info:
        validate_partner_file(path, kind="spells", window=("2015-01", "2019-12"))
    assert [(p.row, p.column) for p in info.value.problems] == [(6, "spell_start"), (6, "spell_end")]
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

    def half_write(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PAR1 partial")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_write)
    with pytest.raises(OSError, match="disk full"):
        convert_partner_file(src, dst)
    assert not dst.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spells.csv"]


# ---------------------------------------------------------------------------------------------- documentation

def test_readme_tables_match_the_schemas():
    readme = REPO / "data" / "README.md"
    text = readme.read_text(encoding="utf-8")
    assert schemas.render_readme(text) == text, "run: python -m bijstand.data.schemas data/README.md"
    for kind in schemas.KINDS:
        for column in schemas.build_schema(kind).columns:
            assert f"| `{column}` |" in text


def test_schema_rows_are_the_data_contract():
    assert list(schemas.SPELLS_SCHEMA.columns) == [
        "person_id", "municipality", "area", "spell_start", "spell_end", "exit_reason", "birth_year", "education",
        "refugee", "exempt"]
    assert list(schemas.AREAS_SCHEMA.columns) == [
        "municipality", "area", "area_name", "recipients_2018", "cohort_start", "counter_performance_start",
        "outreach_start"]
    assert len(schemas.PANEL_SCHEMA.columns) == 20
    assert schemas.SPELLS_SCHEMA.columns["spell_end"].nullable is True
    assert schemas.SPELLS_SCHEMA.columns["spell_start"].nullable is False


def test_schema_validates_a_typed_frame_directly(tmp_path):
    frame = validate_partner_file(_write(tmp_path, "spells.csv", SPELLS_CSV), kind="spells")
    schemas.SPELLS_SCHEMA.validate(frame)  # the typed output satisfies the pandera schema itself
    frame.loc[0, "exit_reason"] = "job"
    with pytest.raises(Exception, match="allowed exit_reason"):
        schemas.SPELLS_SCHEMA.validate(frame)



def test_missing_column_still_runs_the_rules_it_can_and_notes_the_rest(tmp_path):
    text = _edit(_drop_column(SPELLS_CSV, "exit_reason"), 3, "spell_start", "2017-04-01")
    with pytest.raises(DataValidationError) as info:
        validate_partner_file(_write(tmp_path, "spells_partial.csv", text), kind="spells")
    err = info.value
    assert [(p.row, p.column, p.level) for p in err.problems] == [
        (1, "exit_reason", "error"), (3, "spell_start", "error"), (None, None, "note")]
    assert err.problems[-1].message.endswith("exit_reason_on_running_spell, exit_reason_missing")
