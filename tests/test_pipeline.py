"""The Papermill pipeline: runs, parameter checks before anything runs, named and private failures, atomic results.

The notebooks here are tiny ones written into a temporary project. Every kernel in this file starts while a broken
user-level ``python3`` kernelspec is on ``JUPYTER_PATH`` (as Anaconda or ``ipykernel install --user`` leave on a
partner's machine), so the tests also show that the pipeline starts its kernel with its own interpreter.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from bijstand.pipeline import (
    NotebookFailed,
    ParameterError,
    freeze_outputs,
    load_params_file,
    parse_allowed,
    plan_runs,
    run_notebooks,
)
from bijstand.report.results import NOTEBOOK_ENV, PARAMETERS_ENV, RUN_ENV, Results

ROOT = Path(__file__).resolve().parents[1]


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

#: A record-level value the failing notebook writes; built at run time so the notebook source does not hold it.
SECRET = "P-SECRET-77"
FAILS_BODY = [
    "import pandas as pd\nfrom bijstand.report.results import Results\nres = Results.open('02_fails')\n"
    "person = 'P-SECRET-' + str(7 * 11)\nres.table('records', pd.DataFrame({'person_id': [person]}))\nprint(person)",
    "raise ValueError('boom in cell three')",
]

EVAL_PARAMETERS = """\
intervention = "cohort"  # which intervention {"cohort", "counter"}
n_boot = 9  # bootstrap draws [0, 100000]
alpha = 0.05  # level (0, 1)
window_start = "2018-09"  # first month YYYY-MM
window_end = "2021-08"  # last month YYYY-MM
data_source = "synthetic"  # "synthetic" or a folder with a partner's files
"""
EVAL_DEFAULTS = {"intervention": "cohort", "n_boot": 9, "alpha": 0.05, "window_start": "2018-09",
                 "window_end": "2021-08", "data_source": "synthetic"}
EVAL_BODY = ["from bijstand.notebook import setup\nres, params = setup('03_eval', globals())\n"
             "res.number('n_boot', n_boot, digits=0)\nres.number('intervention', intervention)\nres.close()"]


@pytest.fixture()
def project(tmp_path, monkeypatch):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    write_notebook(nbdir / "01_tiny.ipynb", "seed = 1\nn = 100\nlabel = 'x'\nscale = 0.5", RESULTS_BODY)
    write_notebook(nbdir / "02_fails.ipynb", "k = 1", FAILS_BODY)
    write_notebook(nbdir / "03_eval.ipynb", EVAL_PARAMETERS, EVAL_BODY)
    monkeypatch.setenv("BIJSTAND_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("CI", "true")
    # a user-level kernelspec named python3 that cannot start: the pipeline must not use it
    broken = tmp_path / "jupyter" / "kernels" / "python3"
    broken.mkdir(parents=True)
    (broken / "kernel.json").write_text(json.dumps({"argv": [str(tmp_path / "no-such-python"), "-m",
                                                             "ipykernel_launcher", "-f", "{connection_file}"],
                                                    "display_name": "broken", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return tmp_path


def write_params(path: Path, content: dict) -> Path:
    path.write_text(yaml.safe_dump(content))
    return path


def run(project: Path, names, params, **kwargs):
    return run_notebooks(names, params, directory=project / "notebooks", output_dir=project / "out",
                         private=project / "private", **kwargs)


# ----------------------------------------------------------------------------------- names and types (as before)

def test_unknown_parameter_is_refused_before_anything_runs(project):
    params = write_params(project / "p.yaml", {"notebooks": {"01_tiny": {"seeed": 3}}})
    with pytest.raises(ParameterError, match=r"notebook 01_tiny has no parameter 'seeed'"):
        run(project, None, params)
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


# ----------------------------------------------------------------------------------- runs

def two_runs(project: Path) -> Path:
    return write_params(project / "runs.yaml", {"notebooks": {
        "01_tiny": {"n": 20},
        "eval_cohort": {"notebook": "03_eval", "n_boot": 5},
        "eval_counter": {"notebook": "03_eval", "intervention": "counter"},
    }})


def test_plan_runs_a_notebook_under_run_names_and_others_under_their_own(project):
    params = two_runs(project)
    nbdir = project / "notebooks"
    planned = plan_runs(None, params, directory=nbdir, output_dir=project / "out")
    # 03_eval is executed by two runs, so not also under its own name; 02_fails is in no run: its own name
    assert [(p.run, p.notebook.stem) for p in planned] == [
        ("01_tiny", "01_tiny"), ("02_fails", "02_fails"), ("eval_cohort", "03_eval"), ("eval_counter", "03_eval")]
    cohort = planned[2]
    assert cohort.output == project / "out" / "eval_cohort.ipynb"
    assert cohort.parameters == {"n_boot": 5}  # what papermill injects
    assert cohort.resolved == EVAL_DEFAULTS | {"n_boot": 5}  # what the notebook records
    # a notebook name selects all its runs; a run name one run
    assert [p.run for p in plan_runs(["03"], params, directory=nbdir)] == ["eval_cohort", "eval_counter"]
    assert [p.run for p in plan_runs(["eval_counter"], params, directory=nbdir)] == ["eval_counter"]
    with pytest.raises(ParameterError, match="unknown run or notebook 'eval_x'"):
        plan_runs(["eval_x"], params, directory=nbdir)


@pytest.mark.parametrize("entry, message", [
    ({"eval": {"notebook": "09_none"}}, "unknown notebook '09_none'"),
    ({"01_tiny": {"notebook": "03_eval"}}, "run '01_tiny' is named like notebook 01_tiny but executes 03_eval"),
    ({"bad name": {"notebook": "03_eval"}}, "run name 'bad name' may use only letters"),
    ({"Eval": {"notebook": "03_eval"}, "eval": {"notebook": "03_eval"}}, "same name"),
    ({"eval": {"notebook": "03_eval", "n_bot": 3}}, "run eval: notebook 03_eval has no parameter 'n_bot'"),
])
def test_bad_runs_are_refused(project, entry, message):
    params = write_params(project / "p.yaml", {"notebooks": entry})
    with pytest.raises(ParameterError, match=message):
        plan_runs(None, params, directory=project / "notebooks")


@pytest.mark.slow
def test_one_notebook_runs_as_two_runs_and_records_its_resolved_parameters(project):
    params = two_runs(project)
    lines = []
    outputs = run(project, ["03_eval"], params, log=lines.append)
    assert outputs == [project / "out" / "eval_cohort.ipynb", project / "out" / "eval_counter.ipynb"]
    assert not (project / "out" / "03_eval.ipynb").exists()
    for name, expected in [("eval_cohort", EVAL_DEFAULTS | {"n_boot": 5}),
                           ("eval_counter", EVAL_DEFAULTS | {"intervention": "counter"})]:
        manifest = json.loads((project / "results" / name / "manifest.json").read_text())
        numbers = json.loads((project / "results" / name / "numbers.json").read_text())
        assert manifest["parameters"] == expected  # from the pipeline, not copied by hand in the notebook
        assert manifest["source_notebook"] == "03_eval"
        assert manifest["params_file"].endswith("runs.yaml")
        assert numbers["n_boot"]["value"] == expected["n_boot"]
        assert numbers["intervention"]["value"] == expected["intervention"]
        executed = json.loads((project / "out" / f"{name}.ipynb").read_text())
        assert executed["metadata"]["bijstand"]["run"] == name
    assert not {RUN_ENV, NOTEBOOK_ENV, PARAMETERS_ENV} & set(os.environ)  # the parent's environment is restored
    assert not (project / "private").exists()  # nothing private after runs that succeeded
    # a second run with nothing changed executes nothing; a changed parameter executes that run again
    before = (project / "out" / "eval_cohort.ipynb").stat().st_mtime_ns
    lines.clear()
    run(project, ["03_eval"], params, skip_up_to_date=True, log=lines.append)
    assert lines == [f"up to date: {project / 'out' / 'eval_cohort.ipynb'}",
                     f"up to date: {project / 'out' / 'eval_counter.ipynb'}"]
    assert (project / "out" / "eval_cohort.ipynb").stat().st_mtime_ns == before
    changed = write_params(project / "runs.yaml", {"notebooks": {
        "eval_cohort": {"notebook": "03_eval", "n_boot": 5},
        "eval_counter": {"notebook": "03_eval", "intervention": "counter", "n_boot": 7}}})
    lines.clear()
    run(project, ["03_eval"], changed, skip_up_to_date=True, log=lines.append)
    assert lines == [f"up to date: {project / 'out' / 'eval_cohort.ipynb'}",
                     f"executed {project / 'out' / 'eval_counter.ipynb'}"]


# ----------------------------------------------------------------------------------- declared ranges

@pytest.mark.parametrize("comment, inside, outside", [
    ("bootstrap draws [0, 100000]", [0, 100000, 5], [-1, 100001]),
    ("level (0, 1)", [0.05, 0.999], [0, 1, 1.5, float("nan")]),
    ("share [0, 1)", [0, 0.5], [1]),
    ("scale (0, inf)", [0.1, 1e9], [0, -1]),
    ('comparison group {"notyet", "never"}', ["notyet", "never"], ["nevertreated", 1]),
    ("number of folds {2, 5, 10}", [2, 5, 10], [3, True]),
    ("first month YYYY-MM", ["2018-09", "1999-12"], ["2018-13", "2018-00", "2018-9", "Sept 2018", 201809]),
])
def test_declared_ranges(comment, inside, outside):
    allowed = parse_allowed(comment)
    assert [allowed.problem(v) for v in inside] == [None] * len(inside)
    assert all(allowed.problem(v) for v in outside), [(v, allowed.problem(v)) for v in outside]


def test_comments_without_a_range_declare_none_and_malformed_ones_are_refused():
    assert parse_allowed("seed of the synthetic register and of every bootstrap") is None
    assert parse_allowed('"synthetic" or a folder with a partner\'s spells + areas files') is None
    assert parse_allowed("1 - confidence level") is None
    for bad in ("draws [10, 1]", "group {notyet, never}", "draws [0, 10] or {1, 2}"):
        with pytest.raises(ValueError):
            parse_allowed(bad)


@pytest.mark.parametrize("values, expected", [
    ({"n_boot": -1}, r"runs\.yaml: parameter 'n_boot' of notebook 03_eval \(run eval\) is -1: outside the allowed "
                     r"range \[0, 100000\]"),
    ({"alpha": 1.0}, r"parameter 'alpha' of notebook 03_eval \(run eval\) is 1\.0: outside the allowed range "
                     r"\(0, 1\)"),
    ({"intervention": "soft"}, r"parameter 'intervention' .* is 'soft': not one of 'cohort', 'counter'"),
    ({"window_start": "2019-13"}, r"parameter 'window_start' .* is '2019-13': not an existing month"),
    ({"window_start": "2022-01"}, r"runs\.yaml: notebook 03_eval \(run eval\): window_start '2022-01' is after "
                                  r"window_end '2021-08'"),
])
def test_values_outside_the_declared_range_are_refused_before_anything_runs(project, values, expected):
    params = write_params(project / "runs.yaml", {"notebooks": {"eval": {"notebook": "03_eval"} | values,
                                                                "01_tiny": {}}})
    with pytest.raises(ParameterError, match=expected):
        run(project, None, params)
    assert not (project / "out").exists() and not (project / "results").exists()


def test_a_default_outside_its_range_and_a_malformed_range_name_the_notebook(project):
    nbdir = project / "notebooks"
    write_notebook(nbdir / "04_bad_default.ipynb", "n = 5  # draws [10, 20]", ["pass"])
    with pytest.raises(ParameterError, match=r"default in notebooks/04_bad_default\.ipynb: parameter 'n' .* is 5"):
        plan_runs(["04"], None, directory=nbdir)
    write_notebook(nbdir / "05_bad_range.ipynb", "group = 'a'  # {a, b}", ["pass"])
    with pytest.raises(ParameterError, match=r"05_bad_range\.ipynb: parameter 'group': allowed values \{a, b\}"):
        plan_runs(["05"], None, directory=nbdir)


# ----------------------------------------------------------------------------------- relative data_source

def test_relative_data_source_is_resolved_where_bijstand_was_started(project, monkeypatch):
    work = project / "work"
    (work / "partner").mkdir(parents=True)
    monkeypatch.chdir(work)
    params = write_params(project / "runs.yaml", {"notebooks": {"eval": {"notebook": "03_eval",
                                                                         "data_source": "partner"}}})
    planned = plan_runs(["eval"], params, directory=project / "notebooks")[0]
    assert planned.parameters["data_source"] == str(work / "partner")  # injected absolute, not notebooks/partner
    assert Path(planned.resolved["data_source"]).is_absolute()
    missing = write_params(project / "missing.yaml", {"notebooks": {"eval": {"notebook": "03_eval",
                                                                             "data_source": "nowhere"}}})
    with pytest.raises(ParameterError, match=r"data_source 'nowhere' of notebook 03_eval \(run eval\) is not a "
                                             r"folder .*resolved against"):
        plan_runs(["eval"], missing, directory=project / "notebooks")


# ----------------------------------------------------------------------------------- setup() and Results

def test_setup_interactively_takes_names_from_the_parameters_cell_and_values_from_the_namespace(project,
                                                                                                 monkeypatch):
    from bijstand.notebook import setup

    for name in (RUN_ENV, NOTEBOOK_ENV, PARAMETERS_ENV):
        monkeypatch.delenv(name, raising=False)
    namespace = dict(EVAL_DEFAULTS) | {"n_boot": 11, "unrelated": 1}
    res, params = setup("03_eval", namespace, directory=project / "notebooks")
    assert params == EVAL_DEFAULTS | {"n_boot": 11}
    assert res.notebook == "03_eval"
    res.close()
    assert json.loads((project / "results" / "03_eval" / "manifest.json").read_text())["parameters"] == params
    with pytest.raises(ParameterError, match=r"notebook namespace: parameter 'alpha' .* is 2: outside"):
        setup("03_eval", namespace | {"alpha": 2}, directory=project / "notebooks")
    with pytest.raises(NameError, match="run the cell tagged 'parameters'"):
        setup("03_eval", {"n_boot": 3}, directory=project / "notebooks")


def test_setup_under_the_pipeline_uses_the_run_name_and_the_recorded_parameters(project, monkeypatch):
    from bijstand.notebook import setup

    resolved = EVAL_DEFAULTS | {"n_boot": 5}
    monkeypatch.setenv(RUN_ENV, "eval_cohort")
    monkeypatch.setenv(NOTEBOOK_ENV, "03_eval")
    monkeypatch.setenv(PARAMETERS_ENV, json.dumps(resolved))
    res, params = setup("03_eval", dict(resolved), directory=project / "notebooks")
    assert (res.notebook, params, res.source_notebook) == ("eval_cohort", resolved, "03_eval")
    with pytest.raises(RuntimeError, match="changed after the parameters cell"):
        setup("03_eval", resolved | {"n_boot": 6})
    with pytest.raises(RuntimeError, match="pass the notebook's own name"):
        setup("02_evaluation", dict(resolved))
    # a notebook that opens its results under its own name writes them under the run name too
    assert Results.open("03_eval").notebook == "eval_cohort"
    assert Results.open("other").notebook == "other"


# ----------------------------------------------------------------------------------- results and failures

def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_same_parameters_give_byte_identical_results(project):
    params = write_params(project / "p.yaml", {"notebooks": {"01_tiny": {"seed": 7, "n": 50}}})
    run(project, ["01_tiny"], params)
    first = _hashes(project / "results" / "01_tiny")
    run(project, ["01_tiny"], params)
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
    run(project, ["01_tiny"], other)
    assert _hashes(project / "results" / "01_tiny")["numbers.json"] != first["numbers.json"]


@pytest.mark.slow
def test_a_failed_run_leaves_its_records_only_in_the_private_folder_and_says_where(project):
    run(project, ["01_tiny"], None)
    before = _hashes(project / "results" / "01_tiny")
    with pytest.raises(NotebookFailed) as err:
        run(project, ["02_fails"], None)
    message = str(err.value)
    kept = project / "private" / "failed" / "02_fails"
    assert "notebook 02_fails failed in cell 3 (\"raise ValueError(" in message
    assert "ValueError: boom in cell three" in message
    assert str(kept) in message
    # what the notebook wrote is kept privately: the executed copy and the results staging folder
    assert SECRET in (kept / "02_fails.ipynb").read_text()
    assert (kept / "results" / "02_fails" / "tables" / "records.csv").read_text() == f"person_id\n{SECRET}\n"
    # ... and nowhere else: no staging folder, no partial executed copy, no file holding the record
    assert not list((project / "results").glob(".*"))
    assert sorted(p.name for p in (project / "out").iterdir()) == ["01_tiny.ipynb"]
    leaked = [p for p in project.rglob("*") if p.is_file() and not p.is_relative_to(project / "private")
              and SECRET.encode() in p.read_bytes()]
    assert leaked == []
    assert not (project / "private" / "running").exists()
    assert _hashes(project / "results" / "01_tiny") == before  # earlier results survive


def test_private_folder_is_git_ignored():
    assert "private/" in (ROOT / ".gitignore").read_text().splitlines()  # read, not `git check-ignore`: no git needed


# ----------------------------------------------------------------------------------- commands

def test_bijstand_plan_prints_the_runs_and_list_shows_ranges(tmp_path, capsys):
    from bijstand.cli import main

    params = write_params(tmp_path / "runs.yaml", {"notebooks": {"cohort": {"notebook": "02_cohort_approach"}}})
    assert main(["plan", "--params", str(params)]) == 0
    others = [p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) if p.stem[:2] != "02"]
    assert capsys.readouterr().out.split() == [others[0], "cohort", *others[1:]]
    assert main(["list", "--params", str(params)]) == 0
    listed = capsys.readouterr().out
    assert "cohort  <- notebooks/02_cohort_approach.ipynb" in listed
    assert "window_start: str = '2018-09'" in listed


def test_bijstand_test_runs_pytest_with_nbval_like_make_test():
    from bijstand.pipeline import test_command

    command, env, cwd = test_command()
    assert command[:3] == [sys.executable, "-m", "pytest"]
    assert {"--nbval-lax", "tests", "notebooks"} <= set(command)
    assert env["PYTHONHASHSEED"] == "0" and env["MPLBACKEND"] == "Agg"
    assert env["BIJSTAND_RESULTS_DIR"] == str(ROOT / "build" / "test-results")
    assert cwd == ROOT
    done = subprocess.run([sys.executable, "-m", "bijstand", "test",
                           "tests/test_environment.py::test_environment_yml_pins_python_312", "-q"],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_reproduce_is_data_then_runs_then_paper_and_refuses_early_without_the_paper_extra(monkeypatch, tmp_path):
    import importlib.util

    import bijstand.pipeline as pipeline
    import bijstand.report.paper as paper
    from bijstand.extras import MissingExtraError

    calls = []
    monkeypatch.setattr(pipeline, "prepare_synthetic_data", lambda p: calls.append(("data", p)) or [])
    monkeypatch.setattr(pipeline, "run_notebooks",
                        lambda names, p, **kw: calls.append(("run", p, kw["skip_up_to_date"])) or [])
    monkeypatch.setattr(paper, "build_paper", lambda **kw: calls.append(("paper", kw["params_file"])) or [])
    params = tmp_path / "p.yaml"
    pipeline.reproduce(params, log=lambda line: None)
    assert calls == [("data", params), ("run", params, True), ("paper", params)]
    calls.clear()
    pipeline.reproduce(params, force=True, paper=False, log=lambda line: None)
    assert calls == [("data", params), ("run", params, False)]
    calls.clear()
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "typst" else real(name, *a))
    with pytest.raises(MissingExtraError, match=r'pip install "bijstand\[paper\]"'):
        pipeline.reproduce(params, log=lambda line: None)
    assert calls == []  # refused before the data step


def test_make_calls_the_same_commands():
    """One implementation: make's reproduce, notebooks and test targets call the bijstand commands."""
    makefile = (ROOT / "Makefile").read_text()
    recipes = {}
    current = None
    for line in makefile.splitlines():
        if line and not line.startswith(("\t", " ", "#")) and ":" in line and "=" not in line.split(":")[0]:
            current = line.split(":")[0]
            recipes[current] = []
        elif line.startswith("\t") and current:
            recipes[current].append(line.strip())
    assert recipes["reproduce"] == ["$(BIJSTAND) reproduce --params $(PARAMS)"]
    assert recipes["test"] == ["$(BIJSTAND) test"]
    assert recipes["notebooks"] == ["$(BIJSTAND) run --params $(PARAMS) --skip-up-to-date"]


# ----------------------------------------------------------------------------------- freezing, real notebooks

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
    nb.metadata["bijstand"] = {"run": "x", "fingerprint": "abc"}
    executed = tmp_path / "executed.ipynb"
    nbformat.write(nb, executed)
    target = tmp_path / "frozen.ipynb"
    freeze_outputs(executed, target)
    frozen = json.loads(target.read_text())
    assert "papermill" not in frozen["metadata"] and "bijstand" not in frozen["metadata"]
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


def test_the_paper_parameters_and_every_notebook_default_pass_the_checks():
    """params/paper.yaml and the notebooks' own defaults (what make test runs) are inside the declared ranges."""
    assert plan_runs(None, ROOT / "params" / "paper.yaml")
    assert plan_runs(None, None)
