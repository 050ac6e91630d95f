"""One entry point for the register a notebook analyses: synthetic by default, a partner's by one parameter.

Every notebook has a parameter ``data_source``. ``"synthetic"`` (the default) loads the synthetic register for the
notebook's ``seed`` and ``scale`` from ``data/synthetic/`` (simulating and caching it when it is not there yet);
any other value is a folder holding a partner's delivery in the documented formats (``data/README.md``):

* ``spells`` + ``areas`` (the panel is built from the spells), or
* ``panel`` + ``areas`` (a panel-only delivery, for partners who can release aggregates only: the register then has
  no person spells, ``spells=None``),

each as ``<table>.csv``, ``.csv.gz`` or ``.parquet``. A relative folder is taken from the current working directory.
The delivery is validated as a whole first (:func:`bijstand.data.validate.validate_delivery`, the same check
``bijstand validate-data FOLDER`` runs) and every problem is reported with file, column and row; a partner register
has no ground truth.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bijstand.paths import project_root

SYNTHETIC = "synthetic"


def default_cache_dir() -> Path:
    """``$BIJSTAND_DATA_DIR`` if set, else ``<repo>/data/synthetic``."""
    env = os.environ.get("BIJSTAND_DATA_DIR")
    return Path(env) if env else project_root() / "data" / "synthetic"


@dataclass
class Register:
    """A register ready for analysis (same attributes as :class:`bijstand.data.synthetic.SyntheticRegister`).

    Attributes
    ----------
    spells, areas
        Person spells and areas in the documented schema (``data/README.md``); ``spells`` is ``None`` for a
        panel-only partner delivery (use :meth:`require_spells` where spells are needed).
    panel
        Area x month panel (:func:`bijstand.data.panel.build_area_panel`).
    truth
        True effects (long table, see :mod:`bijstand.data.synthetic`) for synthetic data; ``None`` for partner data.
    params
        How the register was made: the simulator's parameters, or for partner data
        ``{"source": absolute folder, "delivery": "spells" | "panel", "files": {table: file}}``.
    source
        Human-readable origin, printed by the notebooks.
    world_panels
        Synthetic data only: the area x month panel of each simulated world (``"without_cohort"``, ...), the same
        register without one intervention on common random numbers; empty for partner data.
    """

    spells: pd.DataFrame | None
    areas: pd.DataFrame
    panel: pd.DataFrame
    truth: pd.DataFrame | None
    params: dict
    source: str
    world_panels: dict = field(default_factory=dict)

    def panel_without(self, intervention: str) -> pd.DataFrame | None:
        """The panel of the world without ``intervention`` (the simulator's name), ``None`` for partner data."""
        if not self.is_synthetic:
            return None
        key = f"without_{intervention}"
        if key not in self.world_panels:
            raise KeyError(f"the synthetic register has no world {key!r}; it has {sorted(self.world_panels)}")
        return self.world_panels[key]

    @property
    def is_synthetic(self) -> bool:
        """Whether true effects are known."""
        return self.truth is not None

    @property
    def has_spells(self) -> bool:
        """Whether person spells are available (not for a panel-only partner delivery)."""
        return self.spells is not None

    def require_spells(self, purpose: str = "this analysis") -> pd.DataFrame:
        """The person spells, or a ``ValueError`` saying that ``purpose`` needs them (panel-only delivery)."""
        if self.spells is None:
            raise ValueError(f"{purpose} needs person spells, but {self.source} is a panel-only delivery (panel + "
                             "areas); deliver spells.csv (or .parquet) as well to run it")
        return self.spells

    @property
    def records_non_response(self) -> bool:
        """Whether the register records exits for non-response (any spell, or any panel month, has one).

        When it does not, such exits sit under ``enforcement`` and non-response is "not recorded", not zero.
        """
        if self.spells is not None and "exit_reason" in self.spells.columns:
            return bool((self.spells["exit_reason"] == "non_response").any())
        if "outflow_non_response" in self.panel.columns:
            return bool(self.panel["outflow_non_response"].fillna(0).gt(0).any())
        return False


def synthetic_folder(seed: int, scale: float, cache_dir: Path | None = None) -> Path:
    """Cache folder of the synthetic register with this seed and scale."""
    return (cache_dir or default_cache_dir()) / f"seed-{seed}_scale-{scale:g}"


def write_synthetic(cache_dir: Path | None = None, *, seed: int, scale: float) -> Path:
    """Simulate the synthetic register and write it atomically (a finished folder or none at all)."""
    from bijstand.data.synthetic import simulate_register

    folder = synthetic_folder(seed, scale, cache_dir)
    if (folder / "spells.parquet").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.with_name(folder.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    register = simulate_register(seed=seed, scale=scale)
    register.write(staging)
    os.replace(staging, folder)
    return folder


def resolve_data_source(data_source: str | os.PathLike) -> Path:
    """Absolute path of a partner folder; a relative path is taken from the current working directory.

    Raises
    ------
    FileNotFoundError
        If the folder does not exist (the message names the absolute path tried and the working directory).
    NotADirectoryError
        If the path is a file (e.g. ``spells.csv`` itself instead of its folder).
    """
    given = Path(data_source).expanduser()
    folder = Path(os.path.abspath(given))  # abspath, not resolve(): keeps mapped network drives as the user wrote them
    if not folder.exists():
        relative = ("" if given.is_absolute()
                    else f"; a relative data_source is taken from the current working directory, {Path.cwd()}")
        raise FileNotFoundError(f"data_source {str(data_source)!r} is neither 'synthetic' nor an existing folder: "
                                f"{folder} does not exist{relative}")
    if not folder.is_dir():
        raise NotADirectoryError(f"data_source {str(data_source)!r}: {folder} is a file; give the folder that holds "
                                 "the delivery (areas + spells, or areas + panel)")
    return folder


def load_register(data_source: str = SYNTHETIC, *, seed: int = 20240101, scale: float = 1.0,
                  cache_dir: Path | None = None) -> Register:
    """Load the register a notebook analyses.

    Parameters
    ----------
    data_source
        ``"synthetic"`` or the path of a folder with a partner's delivery: ``spells`` + ``areas`` files, or
        ``panel`` + ``areas`` files (panel-only: the returned register has ``spells=None``). A relative path is
        taken from the current working directory.
    seed, scale
        Seed and size multiplier of the synthetic register (ignored for partner data).
    cache_dir
        Folder of cached synthetic registers (default :func:`default_cache_dir`).

    Raises
    ------
    bijstand.data.validate.DataValidationError
        When the delivery breaks the formats; the message lists file, column and row of every problem of every file
        (a file that cannot be read at all: one line naming it).
    FileNotFoundError, NotADirectoryError
        When ``data_source`` is not an existing folder (the message names the absolute path tried).

    Warns
    -----
    bijstand.data.validate.DataValidationWarning
        For anything worth knowing in a valid delivery (extra columns, ignored ``first_treat_*`` panel columns).
    """
    if data_source == SYNTHETIC:
        from bijstand.data.synthetic import read_register

        synthetic = read_register(write_synthetic(cache_dir, seed=seed, scale=scale))
        return Register(synthetic.spells, synthetic.areas, synthetic.panel, synthetic.truth, synthetic.params,
                        f"synthetic register (seed={seed}, scale={scale:g})", synthetic.world_panels)

    from bijstand.data.validate import validate_delivery

    folder = resolve_data_source(data_source)
    delivery = validate_delivery(folder)
    params = {"source": str(folder), "delivery": delivery.kind,
              "files": {table: str(path) for table, path in delivery.files.items()}}
    if delivery.spells is None:
        return Register(None, delivery.areas, delivery.panel, None, params,
                        f"partner register in {folder} (panel-only delivery)")

    from bijstand.data.panel import build_area_panel

    panel = build_area_panel(delivery.spells, delivery.areas)
    return Register(delivery.spells, delivery.areas, panel, None, params, f"partner register in {folder}")
