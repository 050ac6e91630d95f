"""The Papermill pipeline: parameter checks before anything runs, named failures, atomic results."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nbformat
import pytest

from bijstand.pipeline import (
    NotebookFailed,
    ParameterError,
    freeze_outputs,
    load_params_file,
    plan_runs,
    run_notebooks,
)


def write_notebook(path: Path, parameters: str, body: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    params_cell = nbformat.v4.new_code_cell(parameters)
    params_cell.metadata["tags"] = ["parameters"]
    nb.cells = [params_cell] + [nbformat.v4.new_code_cell(src) for src in body]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


RESULTS_BODY = [
    "import numpy as np\nfrom bijstand.report.results import Results",
    "rng = np.random.default_rng(seed)\nres = Results.open('01_tiny', params={'seed': seed, 'n': n}, seed=seed)\n"
    "draws = rng.normal(size=n)\nres.number('mean', float(draws.mean()), digits=4)\n"
    "import pandas as pd\nres.table('draws', pd.DataFrame({'x': draws}))\n"
    "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n"
    "ax.hist(draws)\nres.figure('hist', fig)\nres.close()",
]


@pytest.fixture()
def project(tmp_path, monkeypatch):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    write_notebook(nbdir / "01_tiny.ipynb", "seed = 1\nn = 100\nlabel = 'x'\nscale = 0.5", RESULTS_BODY)
    write_notebook(nbdir / "02_fails.ipynb", "k = 1", ["x = 1", "raise ValueError('boom in cell two')"])
    monkeypatch.setenv("BIJSTAND_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("CI", "true")
    return tmp_path


def write_params(path: Path, content: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(content))
    return path


def test_unknown_parameter_is_refused_before_anything_runs(project):
    params = write_params(project / "p.yaml", {"notebooks": {"01_tiny": {"seeed": 3}}})
    with pytest.raises(ParameterError, match=r"notebook 01_tiny has no parameter 'seeed'"):
        run_notebooks(None, params, directory=project / "notebooks", output_dir=project / "out")
    assert not (project / "out").exists()


def test_wrong_type_is_refused(project):
    params = write_params(project / "p.yaml", {"notebooks": {"01_tiny": {"n": "many"}}})
    with pytest.raises(ParameterError, match=r"parameter 'n' of notebook 01_tiny must be int.*got str 'many'"):
        plan_runs(None, params, directory=project / "notebooks")


def test_int_is_accepted_for_float_but_not_bool_for_int(project):
    ok = write_params(project / "ok.yaml", {"notebooks": {"01_tiny": {"scale": 1}}})
    assert plan_runs(["01"], ok, directory=project / "notebooks")[0].parameters == {"scale": 1}
    bad = write_params(project / "bad.yaml", {"notebooks": {"01_tiny": {"n": True}}})
    with pytest.raises(ParameterError, match="must be int"):
        plan_runs(["01"], bad, directory=project / "notebooks")


def test_unknown_notebook_in_params_file_is_refused(project):
    params = write_params(project / "p.yaml", {"notebooks": {"09_nothing": {"seed": 3}}})
    with pytest.raises(ParameterError, match="unknown notebook '09_nothing'"):
        plan_runs(["01"], params, directory=project / "notebooks")


def test_params_file_with_stray_top_level_key_is_refused(tmp_path):
    params = write_params(tmp_path / "p.yaml", {"notebook": {}})
    with pytest.raises(ParameterError, match="only top-level key allowed is 'notebooks'"):
        load_params_file(params)


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_same_parameters_give_byte_identical_results(project):
    params = write_params(project / "p.yaml", {"notebooks": {"01_tiny": {"seed": 7, "n": 50}}})
    run_notebooks(["01_tiny"], params, directory=project / "notebooks", output_dir=project / "out")
    first = _hashes(project / "results" / "01_tiny")
    run_notebooks(["01_tiny"], params, directory=project / "notebooks", output_dir=project / "out")
    second = _hashes(project / "results" / "01_tiny")
    assert set(first) >= {"numbers.json", "manifest.json", "tables/draws.csv", "figures/hist.png",
                          "figures/hist.svg"}
    assert first == second
    manifest = json.loads((project / "results" / "01_tiny" / "manifest.json").read_text())
    assert manifest["parameters"] == {"seed": 7, "n": 50}
    assert manifest["seed"] == 7
    assert manifest["params_file"].endswith("p.yaml")
    assert manifest["packages"]["numpy"]
    # a different seed changes the numbers: the hash comparison above is not vacuous
    other = write_params(project / "q.yaml", {"notebooks": {"01_tiny": {"seed": 8, "n": 50}}})
    run_notebooks(["01_tiny"], other, directory=project / "notebooks", output_dir=project / "out")
    assert _hashes(project / "results" / "01_tiny")["numbers.json"] != first["numbers.json"]


@pytest.mark.slow
def test_failing_notebook_is_named_with_its_cell_and_earlier_results_survive(project):
    run_notebooks(["01_tiny"], None, directory=project / "notebooks", output_dir=project / "out")
    before = _hashes(project / "results" / "01_tiny")
    with pytest.raises(NotebookFailed) as err:
        run_notebooks(["01_tiny", "02_fails"], None, directory=project / "notebooks", output_dir=project / "out")
    message = str(err.value)
    assert "notebook 02_fails failed in cell 3 (\"raise ValueError(" in message
    assert "ValueError: boom in cell two" in message
    assert _hashes(project / "results" / "01_tiny") == before
    assert not (project / "out" / "02_fails.ipynb").exists()


def test_freeze_keeps_only_checked_outputs_and_strips_papermill(tmp_path):
    nb = nbformat.v4.new_notebook()
    checked = nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(1)", execution_count=3,
                                         outputs=[nbformat.v4.new_output("stream", name="stdout", text="1\n"),
                                                  nbformat.v4.new_output("stream", name="stderr",
                                                                         text="/abs/path.py:1: Warning\n")])
    loose = nbformat.v4.new_code_cell("print(2)", execution_count=4,
                                       outputs=[nbformat.v4.new_output("stream", name="stdout", text="2\n")])
    injected = nbformat.v4.new_code_cell("seed = 3")
    injected.metadata["tags"] = ["injected-parameters"]
    checked.metadata["papermill"] = {"duration": 1.0}
    nb.cells = [injected, checked, loose]
    nb.metadata["papermill"] = {"parameters": {}}
    executed = tmp_path / "executed.ipynb"
    nbformat.write(nb, executed)
    target = tmp_path / "frozen.ipynb"
    freeze_outputs(executed, target)
    frozen = json.loads(target.read_text())
    assert "papermill" not in frozen["metadata"]
    assert len(frozen["cells"]) == 2
    assert "".join(frozen["cells"][0]["outputs"][0]["text"]) == "1\n"
    assert len(frozen["cells"][0]["outputs"]) == 1  # the warning on stderr is not committed
    assert "papermill" not in frozen["cells"][0]["metadata"]
    assert frozen["cells"][1]["outputs"] == []
    assert [c["execution_count"] for c in frozen["cells"]] == [1, 2]  # positions, not the kernel's counter


def test_every_notebook_declares_all_its_parameters():
    """Papermill silently skips a parameter line it cannot parse (a comment with ':' or '(' can do it); such a
    parameter could then not be set from params/*.yaml. Every assignment in each parameters cell must be declared."""
    import ast

    from bijstand.pipeline import declared_parameters, list_notebooks

    notebooks = list_notebooks()
    assert [nb.stem[:2] for nb in notebooks] == ["01", "02", "03", "04", "05", "06"]
    for nb in notebooks:
        cells = json.loads(nb.read_text())["cells"]
        source = next("".join(c["source"]) for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
        assigned = {t.id for node in ast.parse(source).body if isinstance(node, ast.Assign) for t in node.targets}
        assert set(declared_parameters(nb)) == assigned, nb.name
