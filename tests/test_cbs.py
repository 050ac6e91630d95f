"""Vendored CBS figures, their provenance checksums, the CBS parsing rules and the offline-tested OData client.

Expected numbers are read off the CBS StatLine tables themselves (the raw downloads the files were vendored from),
not from the loaders' output.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bijstand.data import cbs

FIXTURES = Path(__file__).parent / "fixtures" / "cbs_odata"
VENDORED = Path(__file__).resolve().parents[1] / "data" / "external" / "cbs"


# ---------------------------------------------------------------------------------------------- vendored files

def test_default_dir_is_the_repository_copy():
    assert cbs.default_cbs_dir().resolve() == VENDORED.resolve()


def test_provenance_checksums_match_every_vendored_file():
    recorded = cbs.read_provenance_checksums(VENDORED)
    assert set(recorded) == set(cbs.VENDORED_FILES.values())
    for name, digest in recorded.items():
        assert cbs.sha256_of(VENDORED / name) == digest, f"{name} changed since vendoring; update PROVENANCE.md"


def test_provenance_names_licence_attribution_and_tables():
    text = (VENDORED / "PROVENANCE.md").read_text(encoding="utf-8")
    for needle in ("CC BY 4.0", "Bron: CBS", "2026-11-22", "83450NED", "83747NED", "84066NED", "37789ksz",
                   "82662NED", "85585NED"):
        assert needle in text


def test_municipal_figures_columns_types_and_known_values():
    frame = cbs.load_municipal_figures()
    assert list(frame.columns) == cbs.MUNICIPAL_COLUMNS
    assert frame["year"].dtype == np.int64
    # 485 / 490 / 488 regions per age group in 2015 / 2016 / 2017, three age groups each
    assert len(frame) == 3 * (485 + 490 + 488)
    assert frame.groupby("year").size().to_dict() == {2015: 1455, 2016: 1470, 2017: 1464}
    assert not frame["region_code"].str.contains(" ").any()
    ams = frame.query("year == 2015 and age_group_code == '20150' and region_code == 'GM0363'").iloc[0]
    assert ams["table_id"] == "83450NED"
    assert ams[["inwoners", "bijstandsontvangers", "dichtheid_per1000", "instroom", "uitstroom",
                "uitstroom_werk"]].tolist() == [708090, 48850, 69.0, 11460, 11510, 4720]
    # CBS '.' -> NaN: Amsterdam AOW-age outflow to work is not published
    old = frame.query("year == 2015 and age_group_code == '90200' and region_code == 'GM0363'").iloc[0]
    assert np.isnan(old["uitstroom_werk"]) and np.isnan(old["uitstroom_werk_pct"])
    assert old["uitstroom"] == 1760
    assert set(frame["age_group_code"]) == set(cbs.AGE_GROUPS)


def test_municipality_names_cover_codes_in_the_data():
    codes = set(cbs.load_municipal_figures()["region_code"])
    assert set(cbs.MUNICIPALITY_NAMES) <= codes
    assert cbs.MUNICIPALITY_NAMES["GM0363"] == "Amsterdam"
    assert cbs.MUNICIPALITY_NAMES["GM0599"] == "Rotterdam"


def test_national_monthly_drops_annual_rows():
    frame = cbs.load_national_monthly()
    assert list(frame.columns) == ["month", "benefits_total_thousands", "benefits_below_aow_thousands"]
    assert frame["month"].dtype == "datetime64[ns]"
    assert (frame["month"].dt.day == 1).all()
    assert frame["month"].is_monotonic_increasing and frame["month"].is_unique
    assert frame["month"].iloc[0] == pd.Timestamp("1998-01-01")
    assert frame["month"].iloc[-1] == pd.Timestamp("2018-11-01")
    assert len(frame) == 12 * 20 + 11  # 1998-01 .. 2018-11, no JJ00 rows
    first = frame.iloc[0]
    assert (first["benefits_total_thousands"], first["benefits_below_aow_thousands"]) == (449.0, 435.1)
    assert frame["benefits_total_thousands"].isna().sum() == 1  # 2018MM11 not yet published ('.')


def test_national_quarterly_flows_and_stock():
    flows = cbs.load_national_quarterly_flows()
    assert list(flows.columns) == ["quarter", "inflow", "reinflow_within_1y", "outflow", "provisional"]
    assert flows["quarter"].iloc[0] == "2019Q1" and flows["quarter"].iloc[-1] == "2023Q4"
    assert flows.iloc[0][["inflow", "reinflow_within_1y", "outflow"]].tolist() == [23790, 7660, 24690]
    assert flows["provisional"].dtype == bool
    assert flows.loc[flows["provisional"], "quarter"].str[:4].unique().tolist() == ["2022", "2023"]
    assert (flows["reinflow_within_1y"] < flows["inflow"]).all()
    # COVID-19: 2020Q2 inflow +39% year on year (CBS / DOMAIN.md)
    by_q = flows.set_index("quarter")["inflow"]
    assert by_q["2020Q2"] / by_q["2019Q2"] - 1 == pytest.approx(0.39, abs=0.005)

    stock = cbs.load_national_quarterly_stock()
    assert list(stock.columns) == ["quarter", "persons"]
    assert len(stock) == 16 and stock["persons"].dtype == np.int64
    assert stock.set_index("quarter").loc["2019Q1", "persons"] == 431550


def test_data_dir_override_and_missing_file(tmp_path):
    shutil.copy(VENDORED / cbs.VENDORED_FILES["national_quarterly_stock"], tmp_path)
    assert len(cbs.load_national_quarterly_stock(data_dir=tmp_path)) == 16
    with pytest.raises(FileNotFoundError, match="cbs_82662NED_quarterly_flows_2019_2023.csv"):
        cbs.load_national_quarterly_flows(data_dir=tmp_path)


# ---------------------------------------------------------------------------------------------- pure parsing

def test_parse_period_codes_all_kinds():
    out = cbs.parse_period_codes(["2017JJ00", "2018MM03", "2019KW02", "2020HJ02", " 2021MM12 "])
    assert out["period_type"].tolist() == ["year", "month", "quarter", "half-year", "month"]
    assert out["year"].tolist() == [2017, 2018, 2019, 2020, 2021]
    assert out["period_start"].tolist() == [pd.Timestamp(s) for s in
                                            ("2017-01-01", "2018-03-01", "2019-04-01", "2020-07-01", "2021-12-01")]
    assert out["period_code"].iloc[-1] == "2021MM12"


@pytest.mark.parametrize("code", ["2019KW05", "2018MM13", "2017JJ01", "2017", "2017Q1"])
def test_parse_period_codes_rejects_malformed(code):
    with pytest.raises(ValueError, match=f"Perioden: cannot parse CBS period code '{code}' at position 1"):
        cbs.parse_period_codes(["2017JJ00", code])


def test_tidy_strips_padding_and_reads_missing_markers():
    rows = [{"ID": "0", "RegioS": "GM0363  ", "Perioden": "2017JJ00", "Aantal_1": "  1200", "Pct_2": "       ."},
            {"ID": "1", "RegioS": "NL01    ", "Perioden": "2017JJ00", "Aantal_1": "x", "Pct_2": "  12.5"}]
    out = cbs.tidy_cbs_records(rows)
    assert list(out.columns) == ["RegioS", "period_code", "period_type", "year", "period_start", "Aantal_1", "Pct_2"]
    assert out["RegioS"].tolist() == ["GM0363", "NL01"]
    assert out["Aantal_1"].iloc[0] == 1200.0 and np.isnan(out["Aantal_1"].iloc[1])
    assert np.isnan(out["Pct_2"].iloc[0]) and out["Pct_2"].iloc[1] == 12.5


def test_tidy_rejects_text_in_a_measure():
    with pytest.raises(ValueError, match=r"Aantal_1: value 'n/a' in row 1 \(0-based\)"):
        cbs.tidy_cbs_records([{"RegioS": "GM0363", "Aantal_1": "3"}, {"RegioS": "GM0599", "Aantal_1": "n/a"}])


def _load_json(name):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def test_parse_untyped_odata_response():
    out = cbs.parse_odata_response(_load_json("37789ksz_UntypedDataSet.json"))
    assert out["period_code"].tolist() == ["2017MM12", "2017JJ00", "2018MM01", "2018MM11"]
    assert out["period_type"].tolist() == ["month", "year", "month", "month"]
    assert out["TotaalBijstandsuitkeringen_11"].iloc[:3].tolist() == [434.5, 441.6, 434.2]
    assert out.iloc[3][["TotaalBijstandsuitkeringen_11", "BijstandsuitkeringenTotDeAOWLeeftijd_12"]].isna().all()
    assert "ID" not in out.columns


def test_parse_rejects_odata_error_page():
    with pytest.raises(ValueError, match="page 1 has no 'value' list: .*Table not found"):
        cbs.parse_odata_response({"odata.error": {"message": {"value": "Table not found"}}})


# ---------------------------------------------------------------------------------------------- OData client

class _FakeResponse:
    def __init__(self, payload, status=200):
        self.payload, self.status = payload, status

    def raise_for_status(self):
        if self.status >= 400:
            raise RuntimeError(f"HTTP {self.status}")

    def json(self):
        return self.payload


class _RecordedSession:
    """Serves the recorded pages by URL and logs every request; nothing touches the network."""

    def __init__(self, pages_by_url):
        self.pages_by_url = pages_by_url
        self.calls = []

    def get(self, url, params=None, timeout=None):
        self.calls.append((url, params))
        return _FakeResponse(self.pages_by_url[url])


def _typed_session():
    page1 = _load_json("83450NED_TypedDataSet_page1.json")
    page2 = _load_json("83450NED_TypedDataSet_page2.json")
    return _RecordedSession({
        "https://opendata.cbs.nl/ODataFeed/odata/83450NED/TypedDataSet": page1,
        page1["odata.nextLink"]: page2,
    })


def test_fetch_follows_next_link_and_tidies():
    session = _typed_session()
    out = cbs.fetch_cbs_table("83450NED", filters="Leeftijd eq '20150'", select=["Leeftijd", "Regiokenmerken"],
                              session=session)
    assert session.calls[0][1] == {"$format": "json", "$filter": "Leeftijd eq '20150'",
                                   "$select": "Leeftijd,Regiokenmerken"}
    assert session.calls[1] == (_load_json("83450NED_TypedDataSet_page1.json")["odata.nextLink"], None)
    assert len(out) == 5
    assert out["Regiokenmerken"].tolist() == ["NL01", "GM0363", "GM0599", "GM0363", "GM0599"]
    municipal = cbs.municipal_from_cbs(out, table_id="83450NED", year=2015)
    # Same rows as the vendored file (which came from the StatLine CSV download, not from OData)
    vendored = cbs.load_municipal_figures().merge(municipal[["year", "age_group_code", "region_code"]])
    pd.testing.assert_frame_equal(
        municipal.sort_values(["age_group_code", "region_code"]).reset_index(drop=True),
        vendored.sort_values(["age_group_code", "region_code"]).reset_index(drop=True),
    )


def test_fetch_default_transport_is_patched_not_used(monkeypatch):
    import requests

    session = _typed_session()
    monkeypatch.setattr(requests, "Session", lambda: session)
    out = cbs.fetch_cbs_table("83450NED")
    assert len(out) == 5 and len(session.calls) == 2


def test_fetch_rejects_bad_table_id():
    with pytest.raises(ValueError, match="table_id: '83450NED; drop' does not look like a CBS table id"):
        cbs.fetch_cbs_table("83450NED; drop", session=_typed_session())


def test_municipal_from_cbs_refuses_reordered_measures():
    out = cbs.parse_odata_response(_load_json("83450NED_TypedDataSet_page2.json"))
    out = out.rename(columns={"Instromers_4": "WSWWerknemers_4"})
    with pytest.raises(ValueError, match=r"measure instroom expected as one of \['Instromers_4', 'Instroom_4'\]"):
        cbs.municipal_from_cbs(out, table_id="83450NED", year=2015)


def test_refresh_vendored_mocked(tmp_path):
    for name in list(cbs.VENDORED_FILES.values()) + ["PROVENANCE.md"]:
        shutil.copy(VENDORED / name, tmp_path / name)
    old = cbs.read_provenance_checksums(tmp_path)
    page1 = _load_json("83450NED_TypedDataSet_page1.json")
    session = _RecordedSession({"https://opendata.cbs.nl/ODataFeed/odata/83450NED/UntypedDataSet": page1})
    page1_no_next = dict(page1)
    page1_no_next.pop("odata.nextLink")
    session.pages_by_url["https://opendata.cbs.nl/ODataFeed/odata/83450NED/UntypedDataSet"] = page1_no_next
    new = cbs.refresh_vendored(tmp_path, municipal_tables={"83450NED": 2015}, session=session)
    refreshed = cbs.load_municipal_figures(data_dir=tmp_path)
    assert refreshed["region_code"].tolist() == ["NL01", "GM0363", "GM0599"]
    assert cbs.read_provenance_checksums(tmp_path) == new
    assert new[cbs.VENDORED_FILES["municipal"]] != old[cbs.VENDORED_FILES["municipal"]]
    assert new[cbs.VENDORED_FILES["national_monthly"]] == old[cbs.VENDORED_FILES["national_monthly"]]
    # the repository copy is untouched
    assert cbs.read_provenance_checksums(VENDORED) == old
    assert not list(tmp_path.glob("*.tmp"))


def test_environment_variable_overrides_the_folder(tmp_path, monkeypatch):
    shutil.copy(VENDORED / cbs.VENDORED_FILES["national_quarterly_stock"], tmp_path)
    monkeypatch.setenv("BIJSTAND_CBS_DIR", str(tmp_path))
    assert cbs.default_cbs_dir() == tmp_path
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        cbs.load_municipal_figures()
