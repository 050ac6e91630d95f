"""Optional dependencies ("extras") and the error a user sees when one is missing.

The minimal install (``pip install bijstand``) holds what the data, the estimators and the notebooks need. Other
features need an extra declared in ``pyproject.toml``:

=========  ==========================================================  =============================
extra      what needs it                                               packages
=========  ==========================================================  =============================
honest     HonestDiD sensitivity (:mod:`bijstand.did.honest`)           moderndid[didhonest]
dask       simulation study on a Dask cluster (``scheduler_address``)   dask[distributed]
paper      the working paper (:mod:`bijstand.report.paper`)             pypandoc-binary, typst, ...
cbs        refreshing the vendored CBS tables online                   requests
lab        JupyterLab                                                  jupyterlab
dev        the tests (``bijstand test``)                               pytest, nbval, oracles
=========  ==========================================================  =============================

Code that needs an extra imports it inside the function that uses it, under :func:`extra_required`, so that a
missing package fails with the command that installs it instead of a bare ``ModuleNotFoundError``::

    with extra_required("dask", "the simulation study on a Dask cluster"):
        from dask.distributed import Client

``tests/test_environment.py`` checks that every import of an extra's package in ``src/`` is written this way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""

    def __init__(self, extra: str, purpose: str = "", module: str | None = None) -> None:
        self.extra = extra
        what = purpose or "this feature"
        missing = f" ({module} is not installed)" if module else ""
        super().__init__(
            f"{what} needs the optional dependencies of bijstand[{extra}]{missing}. Install them with\n"
            f'    python -m pip install "bijstand[{extra}]"\n'
            f"or, offline, from a wheelhouse built with that extra:\n"
            f'    python -m pip install --no-index --find-links wheelhouse "bijstand[{extra}]"\n'
            f"(README, 'Running without make')",
            name=module,
        )


@contextmanager
def extra_required(extra: str, purpose: str = "") -> Iterator[None]:
    """Turn an ``ImportError`` inside the block into a :class:`MissingExtraError` naming ``extra``.

    Parameters
    ----------
    extra
        Name of the extra in ``pyproject.toml`` (``"honest"``, ``"dask"``, ``"paper"``, ``"cbs"``, ``"dev"``).
    purpose
        What needs it, for the message ("HonestDiD sensitivity analysis").
    """
    try:
        yield
    except MissingExtraError:
        raise
    except ImportError as err:
        raise MissingExtraError(extra, purpose, err.name) from err
