"""The preamble every notebook shares.

A notebook's second cell (after the cell tagged ``parameters``) is::

    from bijstand.notebook import setup

    res, params = setup("02_evaluation", globals())

``res`` is the :class:`~bijstand.report.results.Results` the notebook writes to; ``params`` the notebook's
parameters, recorded in ``results/<run>/manifest.json`` without the notebook listing them by hand.

*Under the pipeline* (``bijstand run``, ``bijstand reproduce``, ``make``) the run name and the run's resolved
parameters (the notebook's declared defaults overridden by the parameter file, already checked) come from the
environment variables ``BIJSTAND_RUN`` and ``BIJSTAND_PARAMETERS``, so one notebook executed as several runs writes
``results/<run>/`` for each. *Interactively* (Jupyter, nbval; no such variables) the run name is the notebook's
name, the parameter names are those of the notebook's own ``parameters`` cell (Papermill's inspection of
``notebooks/<name>.ipynb``) and their values are taken from the namespace, after the same range checks the pipeline
applies.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bijstand.pipeline import ParameterError, check_values, declared_parameters, notebooks_dir
from bijstand.report.results import NOTEBOOK_ENV, PARAMETERS_ENV, RUN_ENV, Results


def _plain(value: Any) -> Any:
    """A value as JSON carries it (tuples become lists), to compare the namespace with the pipeline's record."""
    return json.loads(json.dumps(value, default=repr))


def _pipeline_parameters(notebook: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    running = os.environ.get(NOTEBOOK_ENV)
    if running and running != notebook:
        raise RuntimeError(f"setup({notebook!r}) is called in notebook {running} (the pipeline runs "
                           f"notebooks/{running}.ipynb): pass the notebook's own name")
    params = json.loads(os.environ.get(PARAMETERS_ENV) or "{}")
    differ = [name for name, value in params.items()
              if name in namespace and _plain(namespace[name]) != _plain(value)]
    if differ:
        raise RuntimeError(f"parameters {', '.join(differ)} were changed after the parameters cell; the "
                           f"pipeline records {', '.join(f'{n}={params[n]!r}' for n in differ)}. Call setup() "
                           f"right after the parameters cell and set parameters only in params/*.yaml")
    return params


def _interactive_parameters(notebook: str, namespace: Mapping[str, Any], directory: Path | None) -> dict[str, Any]:
    path = (directory or notebooks_dir()) / f"{notebook}.ipynb"
    if not path.is_file():
        raise FileNotFoundError(f"setup({notebook!r}): {path} does not exist; pass the notebook's file name "
                                f"without .ipynb")
    declared = declared_parameters(path)
    missing = [name for name in declared if name not in namespace]
    if missing:
        raise NameError(f"parameters {', '.join(missing)} of {path.name} are not defined: run the cell tagged "
                        f"'parameters' before setup()")
    params = {name: namespace[name] for name in declared}
    problems = check_values(path, params, declared=declared, source="notebook namespace")
    if problems:
        raise ParameterError("\n".join(problems))
    return params


def setup(notebook: str, namespace: Mapping[str, Any], *, directory: Path | None = None,
          display_width: int = 160) -> tuple[Results, dict[str, Any]]:
    """Open the notebook's results under its run name with its parameters recorded.

    Parameters
    ----------
    notebook
        The notebook's file name without ``.ipynb``, e.g. ``"02_evaluation"``.
    namespace
        The notebook's ``globals()``, where the parameters cell (and Papermill's injected cell) put the values.
    directory
        Folder of the notebook when run interactively (default ``notebooks/``).
    display_width
        ``pandas`` display width for printed tables.

    Returns
    -------
    res, params
        The open :class:`~bijstand.report.results.Results` (``results/<run>/`` once ``res.close()`` runs) and the
        parameters as a dict (every declared parameter).

    Also selects Matplotlib's non-interactive ``Agg`` backend (figures are shown by returning them, and saved
    through ``res.figure``) and sets the pandas display width, so notebooks need no preamble of their own.
    """
    import matplotlib
    import pandas as pd

    matplotlib.use("Agg")
    pd.set_option("display.width", display_width)
    run = os.environ.get(RUN_ENV)
    if run:
        params = _pipeline_parameters(notebook, namespace)
    else:
        run = notebook
        params = _interactive_parameters(notebook, namespace, directory)
    res = Results.open(run, params=params, seed=params.get("seed"), source_notebook=notebook)
    return res, params
