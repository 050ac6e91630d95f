"""The results contract: what notebooks write and the paper reads."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from bijstand.report.results import Results, load_manifest, load_numbers  # noqa: E402


def test_results_are_published_only_on_close(tmp_path):
    res = Results.open("02_x", params={"seed": 1}, seed=1, results_dir=tmp_path)
    res.number("att", np.float64(0.125), digits=3, label="ATT")
    res.number("n", np.int64(22), digits=0)
    res.table("t", pd.DataFrame({"a": [1.0, np.nan], "b": ["x", "y"]}), caption="A table")
    assert not (tmp_path / "02_x").exists()
    res.close()
    numbers = load_numbers("02_x", tmp_path)
    assert numbers["att"] == {"value": 0.125, "digits": 3, "label": "ATT"}
    assert numbers["n"]["value"] == 22
    manifest = load_manifest("02_x", tmp_path)
    assert manifest["tables"]["t"] == {"file": "tables/t.csv", "caption": "A table"}
    assert manifest["numbers"] == ["att", "n"]
    assert (tmp_path / "02_x" / "tables" / "t.csv").read_text() == "a,b\n1.0,x\n,y\n"


def test_unfinished_run_leaves_previous_results(tmp_path):
    first = Results.open("03_y", results_dir=tmp_path)
    first.number("v", 1.0)
    first.close()
    second = Results.open("03_y", results_dir=tmp_path)
    second.number("v", 2.0)  # the notebook "crashes" before close()
    assert load_numbers("03_y", tmp_path)["v"]["value"] == 1.0
    third = Results.open("03_y", results_dir=tmp_path)  # a new run clears the stale staging folder
    third.number("v", 3.0)
    third.close()
    assert load_numbers("03_y", tmp_path)["v"]["value"] == 3.0
    assert not list(tmp_path.glob(".*"))


def test_nan_becomes_null_and_keys_are_checked(tmp_path):
    res = Results.open("04_z", results_dir=tmp_path)
    res.number("missing", float("nan"))
    with pytest.raises(ValueError, match="recorded twice"):
        res.number("missing", 1.0)
    with pytest.raises(ValueError, match="must be non-empty"):
        res.number("bad key", 1.0)
    res.close()
    assert json.loads((tmp_path / "04_z" / "numbers.json").read_text())["missing"]["value"] is None


def test_figures_are_byte_identical(tmp_path):
    def draw(folder):
        res = Results.open("05_f", results_dir=folder)
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.plot([0, 1, 2], [1, 3, 2], label="line")
        ax.legend()
        res.figure("fig", fig, caption="cap")
        plt.close(fig)
        res.close()
        return {p.name: p.read_bytes() for p in (folder / "05_f" / "figures").iterdir()}

    a = draw(tmp_path / "a")
    b = draw(tmp_path / "b")
    assert set(a) == {"fig.png", "fig.svg"}
    assert a == b


def test_missing_results_name_the_notebook(tmp_path):
    with pytest.raises(FileNotFoundError, match="run notebook '06_sim' first"):
        load_numbers("06_sim", tmp_path)


def test_method_records_and_disclosure_are_written_beside_the_results(tmp_path):
    from bijstand.report.methods import MethodRecord, output_records

    cs = MethodRecord("callaway_santanna", control_group="notyettreated", aggregation="simple", cluster="area",
                      n_clusters=22, inference="analytic_t", data_source="synthetic")
    wild = {"estimator": "callaway_santanna", "cluster": "area", "n_clusters": 22, "inference": "wild_restricted",
            "n_draws": 9999, "multiplier": "webb"}
    res = Results.open("07_m", results_dir=tmp_path)
    res.number("att", 0.5, method=cs, disclosure="synthetic")
    res.number("p", 0.04, method=wild, disclosure=25)
    res.number("old", 1.0)  # a notebook that records no provenance yet still works
    res.table("t", pd.DataFrame({"a": [1.0]}), caption="T", methods=[cs, wild], disclosure="estimates")
    fig, ax = plt.subplots(figsize=(2, 2))
    res.figure("f", fig, caption="F", formats=("png",), methods=cs, disclosure="public")
    plt.close(fig)
    res.close()
    numbers = load_numbers("07_m", tmp_path)
    assert numbers["att"]["method"] == {"estimator": "callaway_santanna", "control_group": "notyet",
                                        "aggregation": "simple", "cluster": "area", "n_clusters": 22,
                                        "inference": "analytic_t", "critical_value": pytest.approx(2.0796, abs=1e-4),
                                        "alpha": 0.05, "data_source": "synthetic"}
    assert numbers["att"]["disclosure"] == {"status": "synthetic", "threshold": 10}
    assert numbers["p"]["disclosure"] == {"status": "min_cell", "min_persons": 25, "threshold": 10}
    assert numbers["old"] == {"value": 1.0, "digits": 3, "label": ""}
    manifest = load_manifest("07_m", tmp_path)
    assert [m["inference"] for m in manifest["tables"]["t"]["methods"]] == ["analytic_t", "wild_restricted"]
    assert manifest["tables"]["t"]["disclosure"] == {"status": "estimates", "threshold": 10}
    assert manifest["figures"]["f"]["disclosure"]["status"] == "public"
    assert manifest["disclosure_threshold"] == 10
    assert manifest["unrecorded"] == {"methods": ["numbers/old"], "disclosure": ["numbers/old"]}
    records = {(r.kind, r.ref): r for r in output_records("07_m", numbers, manifest)}
    assert records[("number", "07_m/att")].methods == (cs,)
    assert records[("table", "07_m/t")].methods[1].n_draws == 9999
    assert not records[("number", "07_m/old")].recorded


def test_bad_provenance_is_refused_when_recorded(tmp_path):
    res = Results.open("08_bad", results_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown estimator 'did_multiplegt'"):
        res.number("a", 1.0, method={"estimator": "did_multiplegt"})
    with pytest.raises(ValueError, match="unknown inference 'jackknife'"):
        res.number("b", 1.0, method={"estimator": "twfe", "inference": "jackknife"})
    with pytest.raises(ValueError, match="number 'c': disclosure: the smallest cell has 7 persons"):
        res.number("c", 1.0, disclosure=7)
    with pytest.raises(ValueError, match="disclosure must be one of"):
        res.table("t", pd.DataFrame({"a": [1]}), disclosure="confidential")
    with pytest.raises(ValueError, match="a number is made by one method"):
        res.number("d", 1.0, method=[{"estimator": "twfe"}, {"estimator": "imputation"}])
    assert not (res.staging / "tables" / "t.csv").exists()
