"""Run the project's notebooks through Papermill with checked parameters.

The pipeline is deliberately thin. A parameter file (``params/*.yaml``) lists *runs*; every run executes one
notebook with some parameter values. Every value is checked against the parameters the notebook declares in its
cell tagged ``parameters`` *before any notebook runs* (name, type, declared range), each run is executed into
``build/notebooks/<run>.ipynb`` and writes its results to ``results/<run>/``. A failing notebook stops the run with
the notebook, cell and error named, and everything it left behind is moved to ``private/failed/<run>/``.

Parameter file format (``params/README.md``)::

    notebooks:
      01_data_overview:            # a run named after its notebook (the notebook's own name)
        seed: 20240101
      cohort_approach:             # a run with its own name: executes notebook 02_evaluation
        notebook: 02_evaluation
        intervention: cohort_approach

Parameter ranges are declared at the end of a parameter's comment in the notebook (:func:`parse_allowed`)::

    n_boot = 199  # bootstrap draws [0, 100000]
    alpha = 0.05  # level (0, 1)
    control_group = "notyet"  # comparison group {"notyet", "never"}
    window_start = "2018-09"  # first month YYYY-MM

What the kernel learns (environment variables, read by :func:`bijstand.notebook.setup`): ``BIJSTAND_RUN`` (run
name), ``BIJSTAND_NOTEBOOK`` (notebook name), ``BIJSTAND_PARAMETERS`` (the run's resolved parameters as JSON:
the notebook's declared defaults overridden by the parameter file) and ``BIJSTAND_PARAMS_FILE``.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from bijstand.paths import project_root
from bijstand.report.results import (
    NOTEBOOK_ENV,
    PARAMETERS_ENV,
    PARAMS_FILE_ENV,
    RESULTS_DIR_ENV,
    RUN_ENV,
    default_results_dir,
    staging_folder,
)

#: Key of a run entry in a parameter file that names the notebook the run executes.
NOTEBOOK_KEY = "notebook"
#: Allowed run names: they name files and folders (on Windows too) and results keys.
RUN_NAME = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]*")


class ParameterError(ValueError):
    """A parameter file names a run, notebook or parameter that does not exist, or gives a value of the wrong
    type or outside the declared range."""


class NotebookFailed(RuntimeError):
    """A notebook raised an error; the message names the run, notebook, cell and error and the private folder
    holding what it left behind."""


def notebooks_dir() -> Path:
    """Folder of the committed notebooks."""
    return project_root() / "notebooks"


def private_dir() -> Path:
    """Git-ignored folder for anything that may hold record-level values (``<repo>/private``)."""
    return project_root() / "private"


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


# --------------------------------------------------------------------------------------- declared ranges

_NUMBER = r"[-+]?(?:inf|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_INTERVAL = re.compile(rf"([\[(])\s*({_NUMBER})\s*,\s*({_NUMBER})\s*([\])])")
_CHOICES = re.compile(r"\{[^{}]*\}")
_MONTH_SPEC = re.compile(r"\bYYYY-MM\b")
_MONTH_VALUE = re.compile(r"(\d{4})-(\d{2})")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_month(value: Any) -> tuple[int, int] | None:
    """``(year, month)`` of a ``"YYYY-MM"`` string naming a calendar month, else ``None`` (``"2019-13"``)."""
    if not isinstance(value, str):
        return None
    match = _MONTH_VALUE.fullmatch(value)
    if not match or not 1 <= int(match.group(2)) <= 12:
        return None
    return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True)
class Allowed:
    """The values a notebook parameter may take, as declared at the end of its comment.

    ``kind`` is ``"interval"`` (``[lo, hi]``, ``(lo, hi)``, ``[lo, hi)``, ``(lo, hi]``; ``inf`` allowed),
    ``"choice"`` (``{"a", "b"}``, a Python set literal) or ``"month"`` (the word ``YYYY-MM``: a calendar month
    written ``"2019-09"``).
    """

    kind: Literal["interval", "choice", "month"]
    text: str
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    choices: tuple[Any, ...] = ()

    def describe(self) -> str:
        """The allowed values in words, for error messages and ``bijstand list``."""
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "month":
            return "a calendar month written YYYY-MM"
        return self.text

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not allowed, or ``None`` when it is."""
        if self.kind == "choice":
            ok = any(type(value) is type(c) and value == c for c in self.choices) or (
                _is_number(value) and any(_is_number(c) and value == c for c in self.choices))
            return None if ok else f"not {self.describe()}"
        if self.kind == "month":
            return None if parse_month(value) else "not an existing month written YYYY-MM"
        if not _is_number(value) or math.isnan(value):
            return f"not a number in {self.text}"
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return None if above and below else f"outside the allowed range {self.text}"


def parse_allowed(comment: str) -> Allowed | None:
    """The range or set of allowed values declared in a parameter's comment, or ``None``.

    Raises
    ------
    ValueError
        For a malformed declaration (``{...}`` that is not a set literal, ``[5, 1]``) or more than one.
    """
    found: list[Allowed] = []
    for match in _INTERVAL.finditer(comment):
        low, high = float(match.group(2)), float(match.group(3))
        if low > high:
            raise ValueError(f"range {match.group(0)} has its lower bound above its upper bound")
        found.append(Allowed("interval", re.sub(r"\s+", " ", match.group(0)), low, high,
                             match.group(1) == "(", match.group(4) == ")"))
    for match in _CHOICES.finditer(comment):
        try:
            choices = ast.literal_eval(match.group(0))
        except (ValueError, SyntaxError) as err:
            raise ValueError(f"allowed values {match.group(0)} are not a Python set literal like "
                             f'{{"a", "b"}}') from err
        if not isinstance(choices, (set, frozenset)) or not choices:
            raise ValueError(f"allowed values {match.group(0)} are not a non-empty set like {{\"a\", \"b\"}}")
        found.append(Allowed("choice", match.group(0), choices=tuple(sorted(choices, key=repr))))
    if _MONTH_SPEC.search(comment):
        found.append(Allowed("month", "YYYY-MM"))
    if len(found) > 1:
        raise ValueError(f"comment {comment!r} declares more than one range or set of allowed values")
    return found[0] if found else None


# --------------------------------------------------------------------------------------- declared parameters

def _default_value(spec: dict[str, Any]) -> Any:
    """The Python value of a declared parameter's default, or ``...`` when it is not a literal."""
    try:
        return ast.literal_eval(spec["default"])
    except (ValueError, SyntaxError, KeyError):
        return ...


def declared_parameters(notebook: Path) -> dict[str, dict[str, Any]]:
    """Parameters declared in the notebook's ``parameters`` cell: name -> {default, type, help, allowed}.

    ``allowed`` is the :class:`Allowed` declared at the end of the comment, or ``None``.
    """
    import papermill

    inspected = papermill.inspect_notebook(str(notebook))
    if not inspected:
        raise ParameterError(f"{notebook.name} has no cell tagged 'parameters'")
    declared = {}
    for name, spec in inspected.items():
        default = _default_value(spec)
        help_text = spec.get("help", "")
        try:
            allowed = parse_allowed(help_text)
        except ValueError as err:
            raise ParameterError(f"{notebook.name}: parameter {name!r}: {err}") from None
        declared[name] = {
            "default": default,
            "type": type(default).__name__ if default is not ... else spec.get("inferred_type_name", "unknown"),
            "help": help_text,
            "allowed": allowed,
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


def _who(notebook: Path, run: str | None) -> str:
    return f"notebook {notebook.stem}" + (f" (run {run})" if run and run != notebook.stem else "")


def check_values(notebook: Path, values: Mapping[str, Any], *, declared: dict[str, dict[str, Any]] | None = None,
                 run: str | None = None, source: str = "parameters",
                 from_source: set[str] | None = None) -> list[str]:
    """Problems with a run's resolved parameter values: declared ranges, months and window order.

    Parameters
    ----------
    values
        Every parameter of the run (the notebook's defaults overridden by the parameter file).
    from_source
        Names whose value came from ``source``; the others are named as the notebook's defaults.
    """
    declared = declared if declared is not None else declared_parameters(notebook)
    from_source = set(values) if from_source is None else from_source
    problems = []

    def origin(name: str) -> str:
        return source if name in from_source else f"default in {notebook.parent.name}/{notebook.name}"

    for name, value in values.items():
        allowed = declared.get(name, {}).get("allowed")
        why = allowed.problem(value) if allowed else None
        if why:
            problems.append(f"{origin(name)}: parameter {name!r} of {_who(notebook, run)} is {value!r}: {why} "
                            f"(declared in {notebook.name}: {declared[name]['help']!r})")
    for start in sorted(n for n in values if n.endswith("_start")):
        end = start[: -len("_start")] + "_end"
        if end not in values:
            continue
        first, last = parse_month(values[start]), parse_month(values[end])
        for name, month in ((start, first), (end, last)):
            if month is None and not (declared.get(name, {}).get("allowed")):  # not reported above already
                problems.append(f"{origin(name)}: parameter {name!r} of {_who(notebook, run)} is "
                                f"{values[name]!r}: not an existing month written YYYY-MM")
        if first and last and first > last:
            problems.append(f"{origin(start) if start in from_source else origin(end)}: {_who(notebook, run)}: "
                            f"{start} {values[start]!r} is after {end} {values[end]!r} "
                            f"(allowed: {start} <= {end})")
    return problems


def check_parameters(notebook: Path, params: dict[str, Any], *, source: str = "parameters",
                     run: str | None = None) -> None:
    """Refuse parameters the notebook does not declare, values whose type differs from the declared default,
    and values (including the notebook's own defaults) outside the declared ranges.

    Raises
    ------
    ParameterError
        Listing every offending parameter with the notebook, the value, the allowed values and the parameter
        file it came from.
    """
    declared = declared_parameters(notebook)
    problems = _type_problems(notebook, declared, params, source, run)
    if not problems:
        values = {name: spec["default"] for name, spec in declared.items()} | params
        problems = check_values(notebook, values, declared=declared, run=run, source=source,
                                from_source=set(params))
    if problems:
        raise ParameterError("\n".join(problems))


def _type_problems(notebook: Path, declared: dict[str, dict[str, Any]], params: Mapping[str, Any], source: str,
                   run: str | None) -> list[str]:
    problems = []
    where = f"{source}: run {run}: " if run and run != notebook.stem else f"{source}: "
    for name, value in params.items():
        if name not in declared:
            problems.append(f"{where}notebook {notebook.stem} has no parameter {name!r} "
                            f"(declared: {', '.join(sorted(declared))})")
            continue
        default = declared[name]["default"]
        if not _type_ok(value, default):
            problems.append(f"{where}parameter {name!r} of notebook {notebook.stem} must be "
                            f"{type(default).__name__} like its default {default!r}, got "
                            f"{type(value).__name__} {value!r}")
    for name, spec in declared.items():
        if spec["default"] is ... and name not in params:
            problems.append(f"{notebook.name}: the default of parameter {name!r} is not a plain value (number, "
                            f"string, list, ...); give it one so it can be recorded and set from params/*.yaml")
    return problems


# --------------------------------------------------------------------------------------- parameter files and runs

def load_params_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read a parameter file: ``{run: {param: value}}`` under the top-level key ``notebooks``.

    A run's entry may hold ``notebook: <name>``, the notebook it executes; without it the run's name is the
    notebook's name.
    """
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"parameter file {path} does not exist")
    content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(content, dict) or set(content) - {"notebooks"}:
        raise ParameterError(f"{path}: the only top-level key allowed is 'notebooks', found {sorted(content)}")
    notebooks = content.get("notebooks") or {}
    if not isinstance(notebooks, dict):
        raise ParameterError(f"{path}: 'notebooks' must map run names to parameters, got {notebooks!r}")
    for name, params in notebooks.items():
        if params is not None and not isinstance(params, dict):
            raise ParameterError(f"{path}: parameters of run {name!r} must be a mapping, got {params!r}")
    return {str(k): dict(v or {}) for k, v in notebooks.items()}


def display_path(path: str | Path) -> str:
    """A parameter file as results record it: relative to the repository when inside it, with ``/``."""
    path = Path(path)
    try:
        return path.resolve().relative_to(project_root().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


@dataclass(frozen=True)
class PlannedRun:
    """One run: a notebook executed under a run name with checked parameters.

    Attributes
    ----------
    run
        Run name: names ``build/notebooks/<run>.ipynb`` and ``results/<run>/``.
    notebook
        The notebook executed.
    parameters
        Values Papermill injects: those of the parameter file (a relative ``data_source`` made absolute).
    resolved
        Every declared parameter's value for this run (defaults overridden by ``parameters``).
    output
        Where the executed copy goes.
    source
        The parameter file (as recorded in results) or ``"notebook defaults"``.
    """

    run: str
    notebook: Path
    parameters: dict[str, Any]
    output: Path
    resolved: dict[str, Any] = field(default_factory=dict)
    source: str = "notebook defaults"


def _file_runs(all_params: dict[str, dict[str, Any]], directory: Path | None,
               source: str) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Runs a parameter file lists: run name -> (notebook, parameter values)."""
    runs: dict[str, tuple[Path, dict[str, Any]]] = {}
    problems = []
    for key, entry in all_params.items():
        params = dict(entry)
        target = params.pop(NOTEBOOK_KEY, None)
        try:
            if target is None:
                notebook = resolve_notebook(key, directory)
                run = notebook.stem
            else:
                if not isinstance(target, str):
                    raise ParameterError(f"{source}: run {key!r}: '{NOTEBOOK_KEY}' must be a notebook name, "
                                         f"got {target!r}")
                notebook = resolve_notebook(target, directory)
                run = key
                same_name = [p for p in list_notebooks(directory) if p.stem == key and p != notebook]
                if same_name:
                    raise ParameterError(f"{source}: run {key!r} is named like notebook {key} but executes "
                                         f"{notebook.stem}; give the run another name")
        except ParameterError as err:
            msg = str(err)
            problems.append(msg if msg.startswith(source) else f"{source}: {msg}")
            continue
        if not RUN_NAME.fullmatch(run):
            problems.append(f"{source}: run name {run!r} may use only letters, digits, '_' and '-' "
                            f"(it names build/notebooks/<run>.ipynb and results/<run>/)")
        clash = [r for r in runs if r.lower() == run.lower()]
        if clash:
            problems.append(f"{source}: runs {clash[0]!r} and {key!r} have the same name (case is ignored: "
                            f"Windows file names)")
        runs[run] = (notebook, params)
    if problems:
        raise ParameterError("\n".join(problems))
    return runs


def _resolve_data_source(value: Any, base_dir: Path) -> Any:
    """A relative ``data_source`` folder made absolute against ``base_dir`` (the kernel runs in notebooks/)."""
    from bijstand.data.sources import SYNTHETIC

    if not isinstance(value, str) or value == SYNTHETIC or not value:
        return value
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    return os.path.normpath(base_dir / path)


def plan_runs(names: list[str] | None, params_file: str | Path | None, *,
              output_dir: Path | None = None, directory: Path | None = None,
              base_dir: Path | None = None) -> list[PlannedRun]:
    """Resolve runs and check every parameter of every run in the file before anything runs.

    Parameters
    ----------
    names
        Run names, or notebook names / prefixes (meaning every run of that notebook); ``None`` or empty means
        every run: the runs the parameter file lists, plus, under its own name with its defaults, every notebook
        that no run of the file executes.
    params_file
        YAML parameter file; without one every notebook runs with its own (small, fast) defaults.
    base_dir
        Directory a relative ``data_source`` is resolved against (default: the current directory, where
        ``bijstand run`` was started).
    """
    output_dir = output_dir or project_root() / "build" / "notebooks"
    base_dir = Path(base_dir or Path.cwd()).absolute()
    source = display_path(params_file) if params_file else "notebook defaults"
    file_runs = _file_runs(load_params_file(params_file), directory, source) if params_file else {}
    used = {nb for nb, _ in file_runs.values()}
    every: dict[str, tuple[Path, dict[str, Any]]] = {}
    for nb in list_notebooks(directory):
        every.update({run: entry for run, entry in file_runs.items() if entry[0] == nb})
        if nb not in used and nb.stem not in every:
            every[nb.stem] = (nb, {})

    selected: list[str] = []
    for name in names or list(every):
        if name in every:
            chosen = [name]
        else:
            try:
                nb = resolve_notebook(name, directory)
            except ParameterError:
                raise ParameterError(f"unknown run or notebook {name!r}; runs: {', '.join(every) or 'none'}"
                                     ) from None
            chosen = [run for run, (notebook, _) in every.items() if notebook == nb]
        selected.extend(run for run in chosen if run not in selected)

    planned: dict[str, PlannedRun] = {}
    problems: list[str] = []
    declared_cache: dict[Path, dict[str, dict[str, Any]]] = {}
    for run, (nb, params) in every.items():
        if run not in selected and run not in file_runs:
            continue  # a notebook's default run that was not asked for: nothing to check
        try:
            declared = declared_cache.setdefault(nb, declared_parameters(nb))
        except ParameterError as err:
            problems.append(str(err))
            continue
        found = _type_problems(nb, declared, params, source, run)
        if found:
            problems.extend(found)
            continue
        injected = dict(params)
        resolved = {name: spec["default"] for name, spec in declared.items()} | injected
        if "data_source" in resolved:
            absolute = _resolve_data_source(resolved["data_source"], base_dir)
            if absolute != resolved["data_source"]:
                injected["data_source"] = resolved["data_source"] = absolute
            from bijstand.data.sources import SYNTHETIC

            if isinstance(absolute, str) and absolute != SYNTHETIC and not Path(absolute).is_dir():
                origin = source if "data_source" in params else f"default in {nb.name}"
                problems.append(f"{origin}: data_source {params.get('data_source', absolute)!r} of "
                                f"{_who(nb, run)} is not a folder ({absolute}; a relative path is resolved "
                                f"against {base_dir}, where bijstand was started)")
        problems.extend(check_values(nb, resolved, declared=declared, run=run, source=source,
                                     from_source=set(params)))
        planned[run] = PlannedRun(run, nb, injected, output_dir / f"{run}.ipynb", resolved, source)
    if problems:
        raise ParameterError("\n".join(problems))
    return [planned[run] for run in selected]


# --------------------------------------------------------------------------------------- up to date?

@functools.lru_cache(maxsize=1)
def _package_hash() -> str:
    """Hash of the installed ``bijstand`` sources: a change of code makes every run stale (like make's SOURCES)."""
    import bijstand

    package = Path(bijstand.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def run_fingerprint(run: PlannedRun) -> str:
    """What a run's result depends on: notebook, resolved parameters, parameter file, package code, data files."""
    from bijstand.data.sources import SYNTHETIC

    digest = hashlib.sha256()
    digest.update(json.dumps({"run": run.run, "notebook": run.notebook.name, "parameters": run.resolved,
                              "params_file": run.source}, sort_keys=True, default=repr).encode())
    digest.update(run.notebook.read_bytes())
    digest.update(_package_hash().encode())
    data = run.resolved.get("data_source")
    if isinstance(data, str) and data != SYNTHETIC and Path(data).is_dir():
        for path in sorted(Path(data).iterdir()):
            if path.is_file():
                stat = path.stat()
                digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _recorded_run(output: Path) -> dict[str, Any]:
    try:
        return json.loads(output.read_text(encoding="utf-8"))["metadata"].get("bijstand", {})
    except (OSError, ValueError, KeyError):
        return {}


def is_up_to_date(run: PlannedRun, results_dir: Path | None = None) -> bool:
    """Whether ``run.output`` was made from the same notebook, parameters, code and data, and its results exist."""
    recorded = _recorded_run(run.output)
    if not recorded or recorded.get("fingerprint") != run_fingerprint(run):
        return False
    results = (results_dir or default_results_dir()) / run.run / "manifest.json"
    return results.is_file() or not recorded.get("wrote_results", False)


# --------------------------------------------------------------------------------------- running

@contextmanager
def _environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (or, for ``None``, remove) environment variables for the block; the kernel inherits them."""
    old = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def kernel_environment(run: PlannedRun, params_file: str | Path | None) -> dict[str, str | None]:
    """Environment variables of a run's kernel: run name, notebook, resolved parameters, parameter file."""
    return {
        RUN_ENV: run.run,
        NOTEBOOK_ENV: run.notebook.stem,
        PARAMETERS_ENV: json.dumps(run.resolved, sort_keys=True),
        PARAMS_FILE_ENV: display_path(params_file) if params_file else None,
        # the same hash seed and backend make exports, so `bijstand run` and `make` give identical results
        "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0"),
        "MPLBACKEND": os.environ.get("MPLBACKEND", "Agg"),
    }


def _this_python_kernel_manager() -> type:
    """A Jupyter kernel manager that starts the kernel with the interpreter running ``bijstand``.

    Papermill would otherwise look up the kernel named ``python3``, and a user-level kernelspec of that name
    (Anaconda, ``ipykernel install --user``) takes precedence over the environment's own: the notebook would run
    in another Python that may not have ``bijstand`` or the locked versions.
    """
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpec

    class ThisPythonKernelManager(AsyncKernelManager):
        @property
        def kernel_spec(self) -> KernelSpec:
            if self._kernel_spec is None:
                self._kernel_spec = KernelSpec(
                    argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                    display_name="Python 3 (ipykernel)", language="python", metadata={"debugger": True},
                )
            return self._kernel_spec

    return ThisPythonKernelManager


def _move(source: Path, target: Path) -> None:
    """Move a file or folder onto ``target``, replacing what is there (``os.rename`` cannot on Windows)."""
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(source), str(target))


def _remove_empty(*folders: Path) -> None:
    """Remove folders that are empty, in order (no empty private/running/ left behind)."""
    for folder in folders:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _staging_folders(results_dir: Path) -> set[Path]:
    return set(results_dir.glob(".*.partial")) if results_dir.is_dir() else set()


def _quarantine(run: PlannedRun, partial: Path, results_dir: Path, before: set[Path], private: Path) -> Path:
    """Move what a failed run left (executed copy, results staging folders) to ``private/failed/<run>/``."""
    target = private / "failed" / run.run
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    if partial.exists():
        _move(partial, target / f"{run.run}.ipynb")
    ours = {staging_folder(run.run, results_dir), staging_folder(run.notebook.stem, results_dir)}
    for folder in sorted(_staging_folders(results_dir)):
        if folder in ours or folder not in before:
            _move(folder, target / "results" / folder.name[1: -len(".partial")])
    _remove_empty(private / "running")
    return target


def _failure_message(run: PlannedRun, err: Exception, kept: Path) -> str:
    """Name the failing cell by its position in the committed notebook (1-based) and its first line."""
    cell = "an unknown cell"
    try:
        nb = json.loads((kept / f"{run.run}.ipynb").read_text(encoding="utf-8"))
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
    who = f"notebook {run.notebook.stem}" if run.run == run.notebook.stem else \
        f"run {run.run} (notebook {run.notebook.stem})"
    return (f"{who} failed in {cell}: {ename}: {evalue}\n"
            f"parameters: {run.source}\n"
            f"the executed copy and any partial results are in {kept} (git-ignored: they may hold "
            f"record-level values, keep them inside the secure environment)")


def _record_run(executed: Path, run: PlannedRun, fingerprint: str, wrote_results: bool) -> None:
    nb = json.loads(executed.read_text(encoding="utf-8"))
    nb["metadata"]["bijstand"] = {"run": run.run, "notebook": run.notebook.stem, "params_file": run.source,
                                  "parameters": run.resolved, "fingerprint": fingerprint,
                                  "wrote_results": wrote_results}
    executed.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def run_notebooks(names: list[str] | None = None, params_file: str | Path | None = None, *,
                  output_dir: Path | None = None, progress: bool | None = None,
                  directory: Path | None = None, private: Path | None = None, skip_up_to_date: bool = False,
                  base_dir: Path | None = None, log: Callable[[str], None] | None = None) -> list[Path]:
    """Execute runs with Papermill; return the executed copies (also those skipped as up to date).

    Parameters
    ----------
    names
        Run names or notebook names / prefixes; every run when empty (see :func:`plan_runs`).
    params_file
        YAML parameter file (``params/paper.yaml``); the notebooks' defaults when ``None``.
    output_dir
        Where executed notebooks go (default ``build/notebooks``).
    progress
        Show progress bars; default: on, except when the environment variable ``CI`` is ``true``.
    directory
        Folder of the notebooks (default ``notebooks/``).
    private
        Git-ignored folder for running and failed runs (default :func:`private_dir`).
    skip_up_to_date
        Do not execute a run whose executed copy was made from the same notebook, parameters, code and data
        and whose results exist (what ``bijstand reproduce`` and ``make`` do).
    base_dir
        Directory a relative ``data_source`` is resolved against (default: the current directory).
    log
        Called with one line per run: executed, or up to date.

    Raises
    ------
    ParameterError
        Before anything runs.
    NotebookFailed
        When a notebook raises; the executed copy and the results staging folder are then in
        ``private/failed/<run>/`` and nowhere else.
    """
    import papermill
    from tqdm.auto import tqdm

    if progress is None:
        progress = os.environ.get("CI", "").lower() not in {"true", "1", "yes"}
    planned = plan_runs(names, params_file, output_dir=output_dir, directory=directory, base_dir=base_dir)
    private = Path(private) if private else private_dir()
    results_dir = default_results_dir()
    kernel_manager = _this_python_kernel_manager()
    done = []
    bar = tqdm(planned, desc="notebooks", unit="nb", disable=not progress, file=sys.stderr)
    for run in bar:
        bar.set_postfix_str(run.run)
        fingerprint = run_fingerprint(run)
        if skip_up_to_date and is_up_to_date(run, results_dir):
            if log:
                log(f"up to date: {run.output}")
            done.append(run.output)
            continue
        partial = private / "running" / f"{run.run}.ipynb"
        partial.parent.mkdir(parents=True, exist_ok=True)
        before = _staging_folders(results_dir)
        try:
            with _environment(kernel_environment(run, params_file)):
                papermill.execute_notebook(
                    str(run.notebook), str(partial), parameters=run.parameters, kernel_name="python3",
                    progress_bar=progress, cwd=str(run.notebook.parent), kernel_manager_class=kernel_manager,
                )
        except BaseException as err:  # also Ctrl-C: nothing with record-level values may stay behind
            kept = _quarantine(run, partial, results_dir, before, private)
            if isinstance(err, Exception):
                raise NotebookFailed(_failure_message(run, err, kept)) from err
            raise
        _record_run(partial, run, fingerprint, (results_dir / run.run / "manifest.json").is_file())
        _move(partial, run.output)
        if log:
            log(f"executed {run.output}")
        done.append(run.output)
    _remove_empty(private / "running", private)
    return done


def run_outputs(run: str, results_dir: Path | None = None) -> list[str]:
    """Files a run has published under ``results/<run>/`` (empty when it has not run)."""
    folder = (results_dir or default_results_dir()) / run
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def notebook_outputs(notebook: Path, results_dir: Path | None = None) -> list[str]:
    """Files a notebook run under its own name has published under ``results/<notebook>/``."""
    return run_outputs(notebook.stem, results_dir)


#: Marker of cells whose outputs are committed and compared by ``pytest --nbval-lax``.
CHECKED_CELL_MARKER = "# NBVAL_CHECK_OUTPUT"


def freeze_outputs(executed: Path, target: Path) -> None:
    """Copy an executed notebook over its committed source, keeping only deliberate outputs.

    Outputs are kept only for cells marked ``# NBVAL_CHECK_OUTPUT`` (the key estimates nbval compares);
    all other outputs, execution counts, Papermill and pipeline metadata and the injected-parameters cell are
    removed so the committed notebook diffs cleanly.
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
    nb["metadata"].pop("bijstand", None)
    nb["metadata"]["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb["metadata"].get("language_info", {}).pop("version", None)
    target.write_text(json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")


def prepare_synthetic_data(params_file: str | Path | None, cache_dir: Path | None = None) -> list[Path]:
    """Write every synthetic register the runs of ``params_file`` will read (one per seed and scale)."""
    from bijstand.data.sources import SYNTHETIC, write_synthetic

    wanted = set()
    for run in plan_runs(None, params_file):
        values = run.resolved
        if values.get("data_source") == SYNTHETIC and "seed" in values and "scale" in values:
            wanted.add((int(values["seed"]), float(values["scale"])))
    return [write_synthetic(cache_dir, seed=seed, scale=scale) for seed, scale in sorted(wanted)]


# --------------------------------------------------------------------------------------- reproduce and test

def default_params_file() -> Path:
    """``params/paper.yaml`` of the repository."""
    return project_root() / "params" / "paper.yaml"


def reproduce(params_file: str | Path | None = None, *, force: bool = False, paper: bool = True,
              progress: bool | None = None, log: Callable[[str], None] = print) -> list[Path]:
    """Everything ``make reproduce`` does after the environment: data, every run of ``params_file``, the paper.

    Runs that are up to date (same notebook, parameters, code and data; results present) are not executed again
    unless ``force``. Returns the paper's files (or the executed notebooks when ``paper`` is false).

    Raises
    ------
    bijstand.extras.MissingExtraError
        Before anything runs, when ``paper`` is true and the ``paper`` extra is not installed.
    """
    import importlib.util

    from bijstand.extras import MissingExtraError

    params_file = Path(params_file) if params_file else default_params_file()
    if paper:
        for module in ("pypandoc", "typst"):
            if importlib.util.find_spec(module) is None:
                raise MissingExtraError("paper", "the paper build (bijstand reproduce; --no-paper skips it)",
                                        module)
    started = time.perf_counter()
    folders = prepare_synthetic_data(params_file)
    log(f"data: {len(folders)} synthetic register(s) ready in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    executed = run_notebooks(None, params_file, progress=progress, skip_up_to_date=not force, log=log)
    log(f"notebooks: {len(executed)} run(s) in build/notebooks/ in {time.perf_counter() - started:.0f} s")
    if not paper:
        return executed
    from bijstand.report.paper import build_paper

    started = time.perf_counter()
    built = build_paper(results_dir=default_results_dir(), params_file=params_file,
                        out_dir=project_root() / "build" / "paper")
    log(f"paper: {', '.join(str(p) for p in built)} in {time.perf_counter() - started:.0f} s")
    return built


def test_command(pytest_args: list[str] | None = None) -> tuple[list[str], dict[str, str], Path]:
    """Command, environment and working directory of ``bijstand test`` (what ``make test`` runs).

    Without arguments: every unit test and every notebook under nbval (``tests notebooks``), results written to
    ``build/test-results/`` so the paper's ``results/`` stay untouched.
    """
    root = project_root()
    args = list(pytest_args or []) or ["tests", "notebooks", "--durations=15"]
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval-lax", *args]
    env = dict(os.environ) | {"PYTHONHASHSEED": "0", "MPLBACKEND": "Agg",
                              RESULTS_DIR_ENV: str(root / "build" / "test-results")}
    return command, env, root


test_command.__test__ = False  # not a pytest test, despite its name


def run_tests(pytest_args: list[str] | None = None) -> int:
    """Run the test suite like ``make test`` (pytest with nbval, in a fresh interpreter); return its exit code."""
    import importlib.util

    from bijstand.extras import MissingExtraError

    for module in ("pytest", "nbval"):
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError("dev", "bijstand test", module)
    command, env, root = test_command(pytest_args)
    return subprocess.run(command, env=env, cwd=root, check=False).returncode
