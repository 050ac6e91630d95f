"""Every notebook with a ``data_source`` parameter runs on partner data of the documented schema.

A differently-seeded, small synthetic register is written to a temporary folder exactly as a partner would deliver
it (``spells.parquet`` + ``areas.csv``, dates as ``YYYY-MM-DD``), without its truth, and each notebook is executed
with ``data_source`` pointing there. The notebooks must then run without the truth and say so.
"""

from __future__ import annotations

import json

import pytest

from bijstand.pipeline import declared_parameters, list_notebooks, run_notebooks

PARTNER_NOTEBOOKS = [nb for nb in list_notebooks() if "data_source" in declared_parameters(nb)]


@pytest.fixture(scope="module")
def partner_folder(tmp_path_factory):
    from bijstand.data.synthetic import simulate_register

    folder = tmp_path_factory.mktemp("partner")
    register = simulate_register(seed=7, scale=0.05)
    register.spells.to_parquet(folder / "spells.parquet", index=False)
    areas = register.areas.copy()
    for column in ("cohort_start", "counter_performance_start", "outreach_start"):
        areas[column] = areas[column].dt.strftime("%Y-%m-%d")
    areas.to_csv(folder / "areas.csv", index=False)
    return folder


def test_partner_notebooks_exist():
    names = {nb.stem for nb in PARTNER_NOTEBOOKS}
    assert {"01_data_overview"} <= names


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("notebook", PARTNER_NOTEBOOKS, ids=lambda nb: nb.stem)
def test_notebook_runs_on_partner_data(notebook, partner_folder, tmp_path, monkeypatch):
    import yaml

    monkeypatch.setenv("BIJSTAND_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("CI", "true")
    params = tmp_path / "partner.yaml"
    params.write_text(yaml.safe_dump({"notebooks": {notebook.stem: {"data_source": str(partner_folder)}}}))
    run_notebooks([notebook.stem], params, output_dir=tmp_path / "executed")
    manifest = json.loads((tmp_path / "results" / notebook.stem / "manifest.json").read_text())
    assert manifest["parameters"]["data_source"] == str(partner_folder)
    executed = (tmp_path / "executed" / f"{notebook.stem}.ipynb").read_text()
    assert "partner register in" in executed
