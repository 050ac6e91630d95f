"""Machine-readable results of a notebook: the only thing the paper reads.

Every notebook writes its numbers, tables and figures through one :class:`Results` object::

    res = Results.open("02_cohort_approach", params=params_dict, seed=seed)
    cs = MethodRecord("callaway_santanna", control_group="notyet", aggregation="simple", cluster="area",
                      n_clusters=22, inference="analytic_t", data_source="synthetic")
    res.number("att_simple", 0.0123, digits=3, label="ATT, simple aggregation", method=cs, disclosure="synthetic")
    res.table("att_dynamic", frame, caption="Event-study estimates", methods=[cs], disclosure="synthetic")
    res.figure("event_study", fig, caption="Event study of outflow to work", methods=[cs], disclosure=12)
    res.close()

Layout of ``results/<notebook>/`` after :meth:`Results.close`::

    manifest.json      parameters, seed, parameter file, package versions, git commit, list of artefacts
                       (tables and figures with caption, and "methods" and "disclosure" when recorded),
                       the disclosure threshold, and which outputs lack a method record or disclosure status
    numbers.json       {key: {"value": float|int|str, "digits": int|None, "label": str,
                              "method": {...} (when recorded), "disclosure": {...} (when recorded)}}
    tables/<key>.csv
    figures/<key>.png and figures/<key>.svg

Provenance (issue 9): ``method=`` (a number) and ``methods=`` (a table or figure: one record per method it
shows) take :class:`~bijstand.report.methods.MethodRecord` objects or their dicts, validated against the
vocabulary :data:`~bijstand.report.methods.METHODS`; ``disclosure=`` states what the output rests on
(:func:`~bijstand.report.methods.disclosure_record`: ``"public"``, ``"synthetic"``, ``"estimates"`` or the
smallest number of persons per cell, never below :data:`~bijstand.report.disclosure.CBS_MIN_COUNT`). The paper
build checks its method statements against these records (:mod:`bijstand.report.methods`).

Deprecation path: the three arguments are optional while the notebooks are converted. Outputs written without
them are listed under ``"unrecorded"`` in the manifest, and the paper build warns about every quoted one
(``MethodRecordWarning``); ``build_paper(require_records=True)`` (``--require-records``) already makes that an
error. Once every notebook records them, the build's default flips to ``require_records=True`` and then these
arguments become required here (a ``TypeError`` for a call without them).

Why a staging directory: a notebook that fails half-way must leave the previous, complete results intact, so
artefacts are written to ``results/.<notebook>.partial/`` and swapped in with :func:`os.replace` only when
:meth:`Results.close` runs. When a run fails under ``bijstand run``, the pipeline moves that staging folder to the
git-ignored ``private/failed/<run>/`` (it may hold record-level values). Why no timestamps anywhere: the same
parameters must give byte-identical files.

Under ``bijstand run`` the folder is named after the *run* (``$BIJSTAND_RUN``), which may differ from the notebook
when a parameter file runs one notebook several times; :func:`bijstand.notebook.setup` opens the results that way.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bijstand.paths import project_root
from bijstand.report.disclosure import CBS_MIN_COUNT
from bijstand.report.methods import MethodRecord, disclosure_record, method_records

#: Environment variable through which ``bijstand run`` tells a notebook which parameter file it runs under.
PARAMS_FILE_ENV = "BIJSTAND_PARAMS_FILE"
#: Environment variables through which ``bijstand run`` tells a notebook's kernel the run it executes (the name of
#: its results folder), the notebook the run executes, and the run's resolved parameters (JSON);
#: see :mod:`bijstand.pipeline` and :func:`bijstand.notebook.setup`.
RUN_ENV = "BIJSTAND_RUN"
NOTEBOOK_ENV = "BIJSTAND_NOTEBOOK"
PARAMETERS_ENV = "BIJSTAND_PARAMETERS"
#: Environment variable that overrides the results directory (tests point it at a temporary folder).
RESULTS_DIR_ENV = "BIJSTAND_RESULTS_DIR"

#: Packages whose versions are recorded beside every result.
RECORDED_PACKAGES = (
    "bijstand", "numpy", "scipy", "pandas", "linearmodels", "lifelines", "duckdb", "pandera",
    "matplotlib", "seaborn", "moderndid", "papermill",
)


def default_results_dir() -> Path:
    """Results folder: ``$BIJSTAND_RESULTS_DIR`` if set, else ``<repo>/results``."""
    env = os.environ.get(RESULTS_DIR_ENV)
    return Path(env) if env else project_root() / "results"


def staging_folder(name: str, results_dir: str | Path | None = None) -> Path:
    """Folder in which the results of ``name`` are collected until :meth:`Results.close` publishes them."""
    return (Path(results_dir) if results_dir else default_results_dir()) / f".{name}.partial"


def _package_versions() -> dict[str, str]:
    versions = {}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(root: Path | None = None) -> str:
    """Commit hash of the working tree (``+dirty`` when it has uncommitted changes), or ``"unknown"``."""
    root = root or project_root()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
            text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def _jsonable(value: Any) -> Any:
    """Convert numpy / pandas scalars and containers to plain JSON types; NaN becomes ``None``."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return None if math.isnan(value) else value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value


def _dump_json(obj: Any, path: Path) -> None:
    path.write_text(json.dumps(_jsonable(obj), indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                    encoding="utf-8")


@dataclass
class Results:
    """Collects a notebook's results in a staging folder and publishes them atomically.

    Parameters
    ----------
    notebook
        Name of the results folder: the run name (``results/<run>/``). For a notebook run under its own name this
        is the notebook name without extension, e.g. ``"02_cohort_approach"``.
    params
        The notebook's parameters (recorded in the manifest).
    seed
        The random seed the notebook used (recorded separately so a reader finds it at once).
    results_dir
        Parent folder; defaults to :func:`default_results_dir`.
    source_notebook
        The notebook that makes these results (recorded in the manifest; differs from ``notebook`` when a
        parameter file runs one notebook under several run names).
    """

    notebook: str
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    results_dir: Path | None = None
    source_notebook: str | None = None
    _numbers: dict[str, dict[str, Any]] = field(default_factory=dict, init=False)
    _artefacts: list[str] = field(default_factory=list, init=False)
    _table_captions: dict[str, str] = field(default_factory=dict, init=False)
    _figure_captions: dict[str, str] = field(default_factory=dict, init=False)
    _table_records: dict[str, dict[str, Any]] = field(default_factory=dict, init=False)
    _figure_records: dict[str, dict[str, Any]] = field(default_factory=dict, init=False)
    _closed: bool = field(default=False, init=False)

    @classmethod
    def open(cls, notebook: str, *, params: dict[str, Any] | None = None, seed: int | None = None,
             results_dir: str | Path | None = None, source_notebook: str | None = None) -> Results:
        """Start collecting results for ``notebook`` (clears a stale staging folder of an earlier failed run).

        When ``bijstand run`` executes this notebook under a run name (``$BIJSTAND_RUN``, with
        ``$BIJSTAND_NOTEBOOK`` naming this notebook), the results go to ``results/<run>/`` instead, so a notebook
        that opens its results under its own name still writes where the pipeline expects them.
        """
        run, running_notebook = os.environ.get(RUN_ENV), os.environ.get(NOTEBOOK_ENV)
        if run and running_notebook and notebook == running_notebook:
            notebook = run
        res = cls(notebook=notebook, params=dict(params or {}), seed=seed,
                  results_dir=Path(results_dir) if results_dir else default_results_dir(),
                  source_notebook=source_notebook or running_notebook or notebook)
        if res.staging.exists():
            shutil.rmtree(res.staging)
        (res.staging / "tables").mkdir(parents=True)
        (res.staging / "figures").mkdir(parents=True)
        return res

    @property
    def final(self) -> Path:
        """Folder the results are published to."""
        return self.results_dir / self.notebook

    @property
    def staging(self) -> Path:
        """Folder the results are collected in until :meth:`close`."""
        return staging_folder(self.notebook, self.results_dir)

    def _check_key(self, key: str) -> None:
        if self._closed:
            raise RuntimeError(f"results of {self.notebook!r} are already closed; cannot add {key!r}")
        if not key or not all(c.isalnum() or c in "_-" for c in key):
            raise ValueError(f"result key {key!r} must be non-empty and use only letters, digits, '_' and '-'")

    def number(self, key: str, value: Any, *, digits: int | None = 3, label: str = "",
               method: MethodRecord | dict[str, Any] | None = None, disclosure: str | int | None = None) -> Any:
        """Record one number (or short string) the paper may quote; returns ``value`` for display.

        Parameters
        ----------
        key
            Name under which the paper quotes it (``{{num:RUN/KEY}}``): letters, digits, ``_`` and ``-``.
        value
            The number; numpy scalars are converted, NaN is stored as ``null``.
        digits
            Decimals the paper prints (``None``: four significant digits).
        label
            What the number is, for readers of ``numbers.json``.
        method
            How it was made (:class:`~bijstand.report.methods.MethodRecord` or its dict); optional for now.
        disclosure
            What it rests on (:func:`~bijstand.report.methods.disclosure_record`); optional for now.
        """
        self._check_key(key)
        if key in self._numbers:
            raise ValueError(f"number {key!r} recorded twice in {self.notebook!r}")
        entry: dict[str, Any] = {"value": _jsonable(value), "digits": digits, "label": label}
        entry.update(_provenance(f"number {key!r}", method_records(method), disclosure, single=True))
        self._numbers[key] = entry
        return value

    def table(self, key: str, frame: pd.DataFrame, *, caption: str = "", float_digits: int | None = 10,
              methods: Any = None, disclosure: str | int | None = None) -> Path:
        """Write a table as CSV (floats rounded to ``float_digits`` so platform noise does not change bytes).

        ``methods`` (one :class:`~bijstand.report.methods.MethodRecord` per method the table shows) and
        ``disclosure`` are recorded in the manifest beside the caption; both optional for now.
        """
        self._check_key(key)
        records = _provenance(f"table {key!r}", method_records(methods), disclosure)
        out = frame.copy()
        if float_digits is not None:
            floats = out.select_dtypes("float").columns
            out[floats] = out[floats].round(float_digits)
        path = self.staging / "tables" / f"{key}.csv"
        out.to_csv(path, index=False, lineterminator="\n")
        self._artefacts.append(f"tables/{key}.csv")
        self._table_captions[key] = caption
        self._table_records[key] = records
        return path

    def figure(self, key: str, fig: Any, *, caption: str = "", formats: tuple[str, ...] = ("png", "svg"),
               methods: Any = None, disclosure: str | int | None = None) -> Path:
        """Save a Matplotlib figure as PNG (150 dpi) and SVG without timestamps (:func:`~.plots.save_figure`).

        ``methods`` and ``disclosure`` as for :meth:`table`.
        """
        from bijstand.report.plots import save_figure

        self._check_key(key)
        records = _provenance(f"figure {key!r}", method_records(methods), disclosure)
        written = save_figure(fig, self.staging / "figures" / key, formats=list(formats))
        self._artefacts.extend(f"figures/{p.name}" for p in written)
        self._figure_captions[key] = caption
        self._figure_records[key] = records
        return written[0]

    def _unrecorded(self) -> dict[str, list[str]]:
        """Outputs written without a method record or disclosure status (``numbers/KEY``, ``tables/KEY``, ...)."""
        outputs = [(f"numbers/{k}", e, "method") for k, e in sorted(self._numbers.items())]
        outputs += [(f"tables/{k}", e, "methods") for k, e in sorted(self._table_records.items())]
        outputs += [(f"figures/{k}", e, "methods") for k, e in sorted(self._figure_records.items())]
        return {"methods": [name for name, entry, field_name in outputs if field_name not in entry],
                "disclosure": [name for name, entry, _ in outputs if "disclosure" not in entry]}

    def close(self) -> Path:
        """Write ``numbers.json`` and ``manifest.json`` and publish the folder atomically; return its path."""
        if self._closed:
            return self.final
        params_file = os.environ.get(PARAMS_FILE_ENV, "notebook defaults")
        _dump_json(self._numbers, self.staging / "numbers.json")
        manifest = {
            "notebook": self.notebook,
            "source_notebook": self.source_notebook or self.notebook,
            "params_file": params_file,
            "parameters": self.params,
            "seed": self.seed,
            "git_commit": git_commit(),
            "packages": _package_versions(),
            "tables": {k: {"file": f"tables/{k}.csv", "caption": c, **self._table_records[k]}
                       for k, c in sorted(self._table_captions.items())},
            "figures": {k: {"files": [a for a in self._artefacts if a.startswith(f"figures/{k}.")], "caption": c,
                            **self._figure_records[k]}
                        for k, c in sorted(self._figure_captions.items())},
            "numbers": sorted(self._numbers),
            "disclosure_threshold": CBS_MIN_COUNT,
            "unrecorded": self._unrecorded(),
        }
        _dump_json(manifest, self.staging / "manifest.json")
        old = self.results_dir / f".{self.notebook}.old"
        if old.exists():
            shutil.rmtree(old)
        if self.final.exists():
            os.replace(self.final, old)
        os.replace(self.staging, self.final)
        if old.exists():
            shutil.rmtree(old)
        self._closed = True
        return self.final


def _provenance(what: str, methods: tuple[MethodRecord, ...], disclosure: Any, *,
                single: bool = False) -> dict[str, Any]:
    """The ``method``/``methods`` and ``disclosure`` entries of one output (empty when none are given)."""
    out: dict[str, Any] = {}
    if methods:
        if single and len(methods) > 1:
            raise ValueError(f"{what}: a number is made by one method; got {len(methods)} records")
        out["method" if single else "methods"] = methods[0].to_dict() if single else [m.to_dict() for m in methods]
    try:
        record = disclosure_record(disclosure, CBS_MIN_COUNT)
    except ValueError as err:
        raise ValueError(f"{what}: {err}") from err
    if record is not None:
        out["disclosure"] = record
    return out


def _load_result_json(notebook: str, name: str, results_dir: str | Path | None) -> dict[str, Any]:
    base = Path(results_dir) if results_dir else default_results_dir()
    path = base / notebook / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: run notebook {notebook!r} first (bijstand run {notebook} --params params/paper.yaml)"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def load_numbers(notebook: str, results_dir: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Read ``results/<notebook>/numbers.json``; raise ``FileNotFoundError`` naming the notebook that makes it."""
    return _load_result_json(notebook, "numbers.json", results_dir)


def load_manifest(notebook: str, results_dir: str | Path | None = None) -> dict[str, Any]:
    """Read ``results/<notebook>/manifest.json``; raise ``FileNotFoundError`` naming the notebook that makes it."""
    return _load_result_json(notebook, "manifest.json", results_dir)
