"""Run the project's notebooks through Papermill with checked parameters.

The pipeline is deliberately thin: a parameter file (``params/*.yaml``) maps notebook names to parameter values,
every value is checked against the parameters the notebook declares in its cell tagged ``parameters`` *before any
notebook runs*, and each notebook is executed into ``build/notebooks/``. A failing notebook stops the run with the
notebook, cell and error named; the results of notebooks that already ran stay as they are because
:class:`bijstand.report.results.Results` publishes a notebook's results only when it finishes.

Parameter file format::

    notebooks:
      02_cohort_approach:
        seed: 20240101
        scale: 1.0
"""

from __future__ import annotations

import ast
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bijstand.paths import project_root
from bijstand.report.results import PARAMS_FILE_ENV, default_results_dir


class ParameterError(ValueError):
    """A parameter file names a notebook or parameter that does not exist, or gives a value of the wrong type."""


class NotebookFailed(RuntimeError):
    """A notebook raised an error; the message names the notebook, the cell and the error."""


def notebooks_dir() -> Path:
    """Folder of the committed notebooks."""
    return project_root() / "notebooks"


def list_notebooks(directory: Path | None = None) -> list[Path]:
    """All analysis notebooks (``NN_name.ipynb``) in run order."""
    directory = directory or notebooks_dir()
    return sorted(p for p in directory.glob("[0-9][0-9]_*.ipynb"))


def resolve_notebook(name: str, directory: Path | None = None) -> Path:
    """Find a notebook by name (``02_cohort_approach``), file name, or unambiguous prefix (``02``)."""
    candidates = list_notebooks(directory)
    stem = Path(name).stem
    exact = [p for p in candidates if p.stem == stem]
    if exact:
        return exact[0]
    prefixed = [p for p in candidates if p.stem.startswith(stem)]
    if len(prefixed) == 1:
        return prefixed[0]
    known = ", ".join(p.stem for p in candidates) or "none"
    raise ParameterError(f"unknown notebook {name!r}; known notebooks: {known}")


def _default_value(spec: dict[str, Any]) -> Any:
    """The Python value of a declared parameter's default, or ``...`` when it is not a literal."""
    try:
        return ast.literal_eval(spec["default"])
    except (ValueError, SyntaxError, KeyError):
        return ...


def declared_parameters(notebook: Path) -> dict[str, dict[str, Any]]:
    """Parameters declared in the notebook's ``parameters`` cell: name -> {default, type, help}."""
    import papermill

    inspected = papermill.inspect_notebook(str(notebook))
    if not inspected:
        raise ParameterError(f"{notebook.name} has no cell tagged 'parameters'")
    declared = {}
    for name, spec in inspected.items():
        default = _default_value(spec)
        declared[name] = {
            "default": default,
            "type": type(default).__name__ if default is not ... else spec.get("inferred_type_name", "unknown"),
            "help": spec.get("help", ""),
        }
    return declared


def _type_ok(value: Any, default: Any) -> bool:
    if default is ... or default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    if isinstance(default, dict):
        return isinstance(value, dict)
    return isinstance(value, type(default))


def check_parameters(notebook: Path, params: dict[str, Any], *, source: str = "parameters") -> None:
    """Refuse parameters the notebook does not declare, or whose type differs from the declared default.

    Raises
    ------
    ParameterError
        Listing every offending parameter with the notebook and the parameter file it came from.
    """
    declared = declared_parameters(notebook)
    problems = []
    for name, value in params.items():
        if name not in declared:
            problems.append(
                f"{source}: notebook {notebook.stem} has no parameter {name!r} "
                f"(declared: {', '.join(sorted(declared))})"
            )
            continue
        default = declared[name]["default"]
        if not _type_ok(value, default):
            problems.append(
                f"{source}: parameter {name!r} of notebook {notebook.stem} must be "
                f"{type(default).__name__} like its default {default!r}, got {type(value).__name__} {value!r}"
            )
    if problems:
        raise ParameterError("\n".join(problems))


def load_params_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read a parameter file: ``{notebook: {param: value}}`` under the top-level key ``notebooks``."""
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"parameter file {path} does not exist")
    content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(content, dict) or set(content) - {"notebooks"}:
        raise ParameterError(f"{path}: the only top-level key allowed is 'notebooks', found {sorted(content)}")
    notebooks = content.get("notebooks") or {}
    for name, params in notebooks.items():
        if not isinstance(params, dict):
            raise ParameterError(f"{path}: parameters of notebook {name!r} must be a mapping, got {params!r}")
    return {str(k): dict(v) for k, v in notebooks.items()}


@dataclass(frozen=True)
class PlannedRun:
    """One notebook to execute with its checked parameters."""

    notebook: Path
    parameters: dict[str, Any]
    output: Path


def plan_runs(names: list[str] | None, params_file: str | Path | None, *,
              output_dir: Path | None = None, directory: Path | None = None) -> list[PlannedRun]:
    """Resolve notebooks and check every parameter before anything runs.

    ``names`` empty or ``None`` means every notebook. Without a parameter file the notebooks' own (small, fast)
    defaults are used.
    """
    output_dir = output_dir or project_root() / "build" / "notebooks"
    all_params = load_params_file(params_file) if params_file else {}
    source = str(params_file) if params_file else "command line"
    notebooks = [resolve_notebook(n, directory) for n in names] if names else list_notebooks(directory)
    for listed in all_params:
        resolve_notebook(listed, directory)  # a typo in the parameter file's notebook names is an error too
    planned = []
    problems = []
    for nb in notebooks:
        params = all_params.get(nb.stem, {})
        try:
            check_parameters(nb, params, source=source)
        except ParameterError as err:
            problems.append(str(err))
        planned.append(PlannedRun(nb, params, output_dir / nb.name))
    if problems:
        raise ParameterError("\n".join(problems))
    return planned


def _failure_message(run: PlannedRun, err: Exception) -> str:
    """Name the failing cell by its position in the committed notebook (1-based) and its first line."""
    cell = "an unknown cell"
    try:
        nb = json.loads(run.output.with_suffix(".partial.ipynb").read_text(encoding="utf-8"))
        # Papermill adds error banners and an injected-parameters cell; skip them to count as the author sees.
        added = {"papermill-error-cell-tag", "injected-parameters"}
        source_cells = [c for c in nb["cells"] if not added & set(c.get("metadata", {}).get("tags", []))]
        for position, c in enumerate(source_cells, start=1):
            if any(o.get("output_type") == "error" for o in c.get("outputs", [])):
                text = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                first_line = text.strip().splitlines()[0] if text.strip() else ""
                cell = f"cell {position} ({first_line[:60]!r})"
                break
    except (OSError, ValueError, KeyError):
        pass
    ename = getattr(err, "ename", type(err).__name__)
    evalue = getattr(err, "evalue", str(err))
    return (f"notebook {run.notebook.stem} failed in {cell}: {ename}: {evalue}\n"
            f"executed copy: {run.output.with_suffix('.partial.ipynb')}")


def run_notebooks(names: list[str] | None = None, params_file: str | Path | None = None, *,
                  output_dir: Path | None = None, progress: bool | None = None,
                  directory: Path | None = None) -> list[Path]:
    """Execute notebooks with Papermill; return the executed copies.

    Parameters
    ----------
    names
        Notebook names or prefixes; all notebooks when empty.
    params_file
        YAML parameter file (``params/paper.yaml``); the notebooks' defaults when ``None``.
    output_dir
        Where executed notebooks go (default ``build/notebooks``).
    progress
        Show progress bars; default: on, except when the environment variable ``CI`` is ``true``.
    directory
        Folder of the notebooks (default ``notebooks/``).
    """
    import papermill
    from tqdm.auto import tqdm

    if progress is None:
        progress = os.environ.get("CI", "").lower() not in {"true", "1", "yes"}
    planned = plan_runs(names, params_file, output_dir=output_dir, directory=directory)
    if params_file:
        os.environ[PARAMS_FILE_ENV] = Path(params_file).as_posix()
    else:
        os.environ.pop(PARAMS_FILE_ENV, None)
    done = []
    bar = tqdm(planned, desc="notebooks", unit="nb", disable=not progress, file=sys.stderr)
    for run in bar:
        bar.set_postfix_str(run.notebook.stem)
        run.output.parent.mkdir(parents=True, exist_ok=True)
        partial = run.output.with_suffix(".partial.ipynb")
        try:
            papermill.execute_notebook(
                str(run.notebook), str(partial), parameters=run.parameters, kernel_name="python3",
                progress_bar=progress, cwd=str(run.notebook.parent),
            )
        except Exception as err:  # papermill raises PapermillExecutionError; anything else is also fatal
            raise NotebookFailed(_failure_message(run, err)) from err
        os.replace(partial, run.output)
        done.append(run.output)
    return done


def notebook_outputs(notebook: Path, results_dir: Path | None = None) -> list[str]:
    """Files a notebook has published under ``results/<notebook>/`` (empty when it has not run)."""
    folder = (results_dir or default_results_dir()) / notebook.stem
    if not folder.is_dir():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


#: Marker of cells whose outputs are committed and compared by ``pytest --nbval-lax``.
CHECKED_CELL_MARKER = "# NBVAL_CHECK_OUTPUT"


def freeze_outputs(executed: Path, target: Path) -> None:
    """Copy an executed notebook over its committed source, keeping only deliberate outputs.

    Outputs are kept only for cells marked ``# NBVAL_CHECK_OUTPUT`` (the key estimates nbval compares);
    all other outputs, execution counts, Papermill metadata and the injected-parameters cell are removed so the
    committed notebook diffs cleanly.
    """
    nb = json.loads(executed.read_text(encoding="utf-8"))
    cells = []
    code_position = 0
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags:
            continue
        cell.get("metadata", {}).pop("papermill", None)
        cell.get("metadata", {}).pop("execution", None)
        if cell["cell_type"] == "code":
            code_position += 1
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            keep = CHECKED_CELL_MARKER in source
            # nbval treats a cell with outputs but no execution count as "unrun"; numbering code cells by their
            # position (not the kernel's counter) keeps the committed file stable between runs.
            cell["execution_count"] = code_position
            # stderr (warnings carrying absolute paths) is volatile: it is never part of a committed output
            cell["outputs"] = [
                o | ({"execution_count": code_position} if o.get("output_type") == "execute_result" else {})
                for o in cell.get("outputs", [])
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ] if keep else []
        cells.append(cell)
    nb["cells"] = cells
    nb["metadata"].pop("papermill", None)
    nb["metadata"]["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb["metadata"].get("language_info", {}).pop("version", None)
    target.write_text(json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")


def prepare_synthetic_data(params_file: str | Path | None, cache_dir: Path | None = None) -> list[Path]:
    """Write every synthetic register the notebooks will read under ``params_file`` (one per seed and scale)."""
    from bijstand.data.sources import SYNTHETIC, write_synthetic

    overrides = load_params_file(params_file) if params_file else {}
    wanted = set()
    for nb in list_notebooks():
        values = {k: v["default"] for k, v in declared_parameters(nb).items()} | overrides.get(nb.stem, {})
        if values.get("data_source") == SYNTHETIC and "seed" in values and "scale" in values:
            wanted.add((int(values["seed"]), float(values["scale"])))
    return [write_synthetic(cache_dir, seed=seed, scale=scale) for seed, scale in sorted(wanted)]
