"""Partner deliveries as ``data_source``: read right or refused with a clear message.

The deliveries are the hand-written fixtures of the fictional municipality GM1234 "Voorbeeldstad"
(``tests/fixtures/partner_voorbeeldstad*/``, see the README there): 8 areas with their own codes, one never treated,
an own intervention start column ``werkfit_start`` and a grouping column ``district``. Broken deliveries are copies
with one defect put in by hand. ``bijstand validate-data FOLDER`` is tested through :func:`bijstand.cli.main`.
"""

from __future__ import annotations

import gzip
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

from bijstand.cli import main
from bijstand.data.sources import load_register
from bijstand.data.validate import DataValidationError, DataValidationWarning, validate_delivery

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SPELLS_DELIVERY = FIXTURES / "partner_voorbeeldstad"
PANEL_DELIVERY = FIXTURES / "partner_voorbeeldstad_panel"


def _copy(source: Path, tmp_path: Path, name: str = "delivery") -> Path:
    target = tmp_path / name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.py", "*.md"))
    return target


def _replace(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= count, old
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def _cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(["validate-data", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


# ---------------------------------------------------------------------------------------------- spells + areas

def test_spells_delivery_is_read_with_its_own_codes_start_column_and_districts():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataValidationWarning)  # a valid delivery warns about nothing
        register = load_register(str(SPELLS_DELIVERY))
    assert register.truth is None and not register.is_synthetic and register.has_spells
    assert register.params == {"source": str(SPELLS_DELIVERY), "delivery": "spells",
                               "files": {"spells": str(SPELLS_DELIVERY / "spells.csv"),
                                         "areas": str(SPELLS_DELIVERY / "areas.csv")}}
    areas = register.areas
    assert areas["area"].tolist() == [f"VS0{k}" for k in range(1, 9)]
    assert areas["werkfit_start"].dtype == "datetime64[ns]"
    assert areas.loc[areas["werkfit_start"].isna(), "area"].tolist() == ["VS08"]  # the never-treated area
    assert areas["district"].tolist()[:3] == ["Binnenstad", "Binnenstad", "Oost"]
    spells = register.spells
    assert len(spells) == 21 and spells["person_id"].dtype == "int64" and spells["person_id"].nunique() == 17
    assert spells["person_id"].iloc[:2].tolist() == [80123456789012341, 80123456789012342]
    assert set(register.panel["area"]) == set(areas["area"])
    assert not register.records_non_response


def test_relative_data_source_resolves_against_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(FIXTURES)
    register = load_register("partner_voorbeeldstad")
    assert register.params["source"] == str(SPELLS_DELIVERY)
    assert Path(register.params["source"]).is_absolute()
    assert register.source == f"partner register in {SPELLS_DELIVERY}"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        load_register("partner_voorbeeldstad")
    message = str(info.value)
    assert f"{tmp_path / 'partner_voorbeeldstad'} does not exist" in message
    assert f"a relative data_source is taken from the current working directory, {tmp_path}" in message


def test_data_source_that_is_a_file_says_so():
    with pytest.raises(NotADirectoryError, match=r"spells.csv is a file; give the folder that holds the delivery"):
        load_register(str(SPELLS_DELIVERY / "spells.csv"))


def test_spells_are_checked_against_the_areas_file(tmp_path, capsys):
    folder = _copy(SPELLS_DELIVERY, tmp_path)
    spells = folder / "spells.csv"
    _replace(spells, "80123456789012344,GM1234,VS02", "80123456789012344,GM4321,VS02")  # row 6
    _replace(spells, "80123456789012346,GM1234,VS03", "80123456789012346,GM1234,VS33")  # row 9
    with pytest.raises(DataValidationError) as info:
        load_register(str(folder))
    problems = [(Path(p.file).name, p.row, p.column, p.value) for p in info.value.problems]
    assert problems == [("spells.csv", 6, "municipality", "GM4321"), ("spells.csv", 9, "area", "VS33")]
    code, out, err = _cli(capsys, folder)
    assert code == 1 and out == ""
    assert f"{spells}, row 6, column 'municipality': value 'GM4321' municipality differs from this area's " \
           "municipality in the areas file (area='VS02')" in err
    assert f"{spells}, row 9, column 'area': value 'VS33' is not a known area code" in err


def test_every_problem_of_every_file_is_reported_at_once(tmp_path):
    folder = _copy(SPELLS_DELIVERY, tmp_path)
    _replace(folder / "areas.csv", "VS08,Buitenpolder,Noord,", "VS08,Buitenpolder,Noord,2019-13-01")
    _replace(folder / "spells.csv", ",1978,low,", ",1978,laag,")
    with pytest.raises(DataValidationError) as info:
        validate_delivery(folder)
    lines = str(info.value).splitlines()
    assert lines[0].startswith(f"{folder}: 2 problems found in 2 files")
    assert lines[1].startswith(f"  - {folder / 'areas.csv'}, row 9, column 'werkfit_start': value '2019-13-01'")
    assert lines[2].startswith(f"  - {folder / 'spells.csv'}, row 2, column 'education': value 'laag'")


def test_an_unreadable_areas_file_is_one_problem_without_follow_on_errors(tmp_path):
    folder = _copy(SPELLS_DELIVERY, tmp_path)
    (folder / "areas.csv").write_bytes(b"\x00\x01binary junk" * 20)
    with pytest.raises(DataValidationError) as info:
        validate_delivery(folder)
    err = info.value
    assert [p.level for p in err.problems] == ["error", "note"]
    assert str(err.problems[0]) == f"{folder / 'areas.csv'}: contains NUL bytes: it is a binary file, not CSV text"
    assert "not checked against the areas file" in err.problems[1].message


def test_non_response_exits_are_accepted_in_a_delivery(tmp_path):
    folder = _copy(SPELLS_DELIVERY, tmp_path)
    _replace(folder / "spells.csv", "2019-02-01,2019-07-01,enforcement", "2019-02-01,2019-07-01,non_response")
    delivery = validate_delivery(folder)
    assert (delivery.spells["exit_reason"] == "non_response").sum() == 1


# ---------------------------------------------------------------------------------------------- panel-only

def test_panel_only_delivery_gives_a_register_without_spells():
    register = load_register(str(PANEL_DELIVERY))
    assert register.spells is None and not register.has_spells
    assert register.params["delivery"] == "panel"
    assert register.source == f"partner register in {PANEL_DELIVERY} (panel-only delivery)"
    panel = register.panel
    assert panel.shape == (192, 49) and panel["area"].nunique() == 8
    assert panel["month"].min() == pd.Timestamp("2019-01-01") and panel["month"].max() == pd.Timestamp("2020-12-01")
    assert panel["stock"].dtype == "int64" and panel["outflow_work_rate"].dtype == "float64"
    last = panel[panel["month"] == pd.Timestamp("2020-12-01")]
    assert last["outflow_return_12m"].isna().all()  # censored follow-up stays missing, not zero
    assert register.records_non_response
    with pytest.raises(ValueError, match=r"the duration model needs person spells, but partner register in .* is a "
                                         r"panel-only delivery \(panel \+ areas\)"):
        register.require_spells("the duration model")


def test_panel_only_delivery_with_first_treat_columns_warns_and_drops_them(tmp_path):
    folder = _copy(PANEL_DELIVERY, tmp_path)
    panel = pd.read_csv(folder / "panel.csv", dtype=str, keep_default_na=False)
    panel["first_treat_werkfit"] = "51"
    panel.to_csv(folder / "panel.csv", index=False)
    with pytest.warns(DataValidationWarning, match=r"column 'first_treat_werkfit': is ignored and dropped"):
        register = load_register(str(folder))
    assert "first_treat_werkfit" not in register.panel.columns


def test_panel_only_delivery_must_cover_every_area_and_month(tmp_path, capsys):
    folder = _copy(PANEL_DELIVERY, tmp_path)
    lines = (folder / "panel.csv").read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if ",VS08," not in line and not line.startswith("GM1234,VS03,2020-05-01")]
    (folder / "panel.csv").write_text("\n".join(kept) + "\n", encoding="utf-8")
    code, out, err = _cli(capsys, folder)
    assert code == 1
    assert "area 'VS03' has no row for 1 of the 24 months 2019-01 .. 2020-12, e.g. 2020-05" in err
    assert "1 area(s) of the areas file have no rows in the panel: 'VS08'" in err


def test_panel_area_in_another_municipality_than_in_the_areas_file(tmp_path):
    folder = _copy(PANEL_DELIVERY, tmp_path)
    _replace(folder / "areas.csv", "GM1234,VS05", "GM5678,VS05")
    with pytest.raises(DataValidationError) as info:
        load_register(str(folder))
    problem = info.value.problems[0]
    assert (problem.column, problem.count) == ("municipality", 24)  # one summary for VS05's 24 months
    assert "24 of 192 rows: municipality differs from this area's municipality in the areas file" in str(problem)


# ---------------------------------------------------------------------------------------------- the folder

@pytest.mark.parametrize("extra,names", [
    ("spells.parquet", "spells.csv and spells.parquet"),
    ("spells.csv.gz", "spells.csv and spells.csv.gz"),
    ("SPELLS.PQ", "spells.csv and SPELLS.PQ"),
])
def test_two_files_for_one_table_are_refused_with_both_named(tmp_path, extra, names):
    folder = _copy(SPELLS_DELIVERY, tmp_path)
    spells = folder / "spells.csv"
    if extra.endswith(".gz"):
        (folder / extra).write_bytes(gzip.compress(spells.read_bytes()))
    else:
        pd.read_csv(spells).to_parquet(folder / extra, index=False)
    with pytest.raises(DataValidationError) as info:
        load_register(str(folder))
    assert str(info.value) == (f"{folder}: has 2 files for the spells table: {names}; keep exactly one (which one is "
                               "meant cannot be guessed)")


def test_csv_gz_delivery_is_read(tmp_path):
    folder = _copy(SPELLS_DELIVERY, tmp_path)
    for name in ("spells.csv", "areas.csv"):
        (folder / f"{name}.gz").write_bytes(gzip.compress((folder / name).read_bytes()))
        (folder / name).unlink()
    register = load_register(str(folder))
    assert len(register.spells) == 21 and register.params["files"]["spells"].endswith("spells.csv.gz")


def test_missing_tables_are_named(tmp_path):
    folder = _copy(SPELLS_DELIVERY, tmp_path)
    (folder / "areas.csv").rename(folder / "areas.xlsx")
    (folder / "spells.csv").unlink()
    with pytest.raises(DataValidationError) as info:
        validate_delivery(folder)
    messages = [p.message for p in info.value.problems]
    assert messages == [
        "has no areas file (areas.csv, areas.csv.gz or areas.parquet; see data/README.md); found areas.xlsx: save it "
        "as CSV UTF-8 (.csv) or Parquet",
        "has neither a spells nor a panel file: a delivery is spells + areas, or panel + areas (spells.csv / "
        "panel.csv, .csv.gz or .parquet; see data/README.md)"]


def test_spells_and_panel_together_the_panel_is_not_read(tmp_path):
    folder = _copy(SPELLS_DELIVERY, tmp_path)
    (folder / "panel.csv").write_text("not even a panel\n", encoding="utf-8")
    with pytest.warns(DataValidationWarning, match="panel.csv is not read: the panel is built from spells.csv"):
        register = load_register(str(folder))
    assert register.params["delivery"] == "spells" and "panel" not in register.params["files"]


@pytest.mark.parametrize("content,fragment", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "contains NUL bytes: it is a binary file, not CSV text"),
    ("person_id;area\n1;Bl\xf6emhof\n".encode("latin-1"), "is not UTF-8 text (line 2: byte 0xf6)"),
    (None, "is a folder, not a file"),
])
def test_unreadable_file_is_one_line_from_load_register_and_from_the_cli(tmp_path, capsys, content, fragment):
    folder = _copy(SPELLS_DELIVERY, tmp_path)
    spells = folder / "spells.csv"
    spells.unlink()
    if content is None:
        spells.mkdir()
    else:
        spells.write_bytes(content)
    with pytest.raises(DataValidationError) as info:
        load_register(str(folder))
    assert str(info.value) == f"{spells}: {fragment}" or str(info.value).startswith(f"{spells}: {fragment}")
    assert len(str(info.value).splitlines()) == 1
    code, out, err = _cli(capsys, folder)
    assert code == 1 and out == ""
    assert err.splitlines() == [str(info.value)]
    assert "Traceback" not in err


def test_truncated_parquet_is_one_line(tmp_path, capsys):
    folder = _copy(SPELLS_DELIVERY, tmp_path)
    spells = folder / "spells.parquet"
    pd.read_csv(folder / "spells.csv").to_parquet(spells, index=False)
    (folder / "spells.csv").unlink()
    spells.write_bytes(spells.read_bytes()[:-100])
    code, out, err = _cli(capsys, folder)
    assert (code, err) == (1, f"{spells}: is an incomplete Parquet file (it does not end with 'PAR1'; truncated while "
                              "copying?)\n")


# ---------------------------------------------------------------------------------------------- the CLI

def test_cli_valid_delivery_prints_one_line_per_file(capsys):
    code, out, err = _cli(capsys, SPELLS_DELIVERY)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"{SPELLS_DELIVERY / 'areas.csv'}: 8 areas in 1 municipality (GM1234); start columns: werkfit_start "
        "(7 treated); grouping columns: district",
        f"{SPELLS_DELIVERY / 'spells.csv'}: 21 spells of 17 persons, 2010-04 .. 2024-03; exit reasons: enforcement, "
        "other, work (non_response not recorded)",
        f"{SPELLS_DELIVERY}: valid spells delivery (spells + areas)"]
    code, out, err = _cli(capsys, PANEL_DELIVERY)
    assert (code, err) == (0, "")
    assert out.splitlines()[1:] == [
        f"{PANEL_DELIVERY / 'panel.csv'}: 192 rows: 8 areas x 24 months (2019-01 .. 2020-12)",
        f"{PANEL_DELIVERY}: valid panel delivery (panel + areas)"]


def test_cli_missing_folder_names_the_absolute_path(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = _cli(capsys, "levering")
    assert code == 1 and out == ""
    assert err.startswith("bijstand validate-data: ")
    assert str(tmp_path / "levering") in err and len(err.splitlines()) == 1


def test_cli_single_file_form_still_works(capsys, tmp_path):
    code, out, err = _cli(capsys, SPELLS_DELIVERY / "spells.csv", "--kind", "spells")
    assert (code, err) == (0, "") and out.splitlines()[-1] == f"{SPELLS_DELIVERY / 'spells.csv'}: valid spells file"
    code, out, err = _cli(capsys, SPELLS_DELIVERY / "areas.csv")  # kind from the file name
    assert code == 0 and out.splitlines()[-1].endswith("areas.csv: valid areas file")
    broken = tmp_path / "spells.csv"
    broken.write_text((SPELLS_DELIVERY / "spells.csv").read_text(encoding="utf-8").replace(",VS03,", ",VS99,", 1),
                      encoding="utf-8")
    code, out, err = _cli(capsys, broken, "--kind", "spells", "--areas", SPELLS_DELIVERY / "areas.csv")
    assert code == 1 and f"{broken}, row 7, column 'area': value 'VS99' is not a known area code" in err
