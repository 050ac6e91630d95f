"""One entry point for the register a notebook analyses: synthetic by default, a partner's by one parameter.

Every notebook has a parameter ``data_source``. ``"synthetic"`` (the default) loads the synthetic register for the
notebook's ``seed`` and ``scale`` from ``data/synthetic/`` (simulating and caching it when it is not there yet);
any other value is a folder holding a partner's register in the documented schema (``data/README.md``):
``spells.parquet`` or ``spells.csv`` and ``areas.csv`` or ``areas.parquet``. Partner files are validated first and
every problem is reported with file, column and row; a partner register has no ground truth.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
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
        Person spells and areas in the documented schema (``data/README.md``).
    panel
        Area x month panel (:func:`bijstand.data.panel.build_area_panel`).
    truth
        True effects (long table, see :mod:`bijstand.data.synthetic`) for synthetic data; ``None`` for partner data.
    params
        How the register was made: the simulator's parameters, or ``{"source": folder}`` for partner data.
    source
        Human-readable origin, printed by the notebooks.
    """

    spells: pd.DataFrame
    areas: pd.DataFrame
    panel: pd.DataFrame
    truth: pd.DataFrame | None
    params: dict
    source: str

    @property
    def is_synthetic(self) -> bool:
        """Whether true effects are known."""
        return self.truth is not None


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


def _find(folder: Path, stem: str) -> Path:
    for ext in (".parquet", ".csv"):
        if (folder / f"{stem}{ext}").is_file():
            return folder / f"{stem}{ext}"
    raise FileNotFoundError(
        f"partner data folder {folder} has no {stem}.parquet or {stem}.csv (see data/README.md for the schema)"
    )


def load_register(data_source: str = SYNTHETIC, *, seed: int = 20240101, scale: float = 1.0,
                  cache_dir: Path | None = None) -> Register:
    """Load the register a notebook analyses.

    Parameters
    ----------
    data_source
        ``"synthetic"`` or the path of a folder with a partner's ``spells`` and ``areas`` files.
    seed, scale
        Seed and size multiplier of the synthetic register (ignored for partner data).
    cache_dir
        Folder of cached synthetic registers (default :func:`default_cache_dir`).

    Raises
    ------
    bijstand.data.validate.DataValidationError
        When a partner file breaks the schema; the message lists file, column and row of every problem.
    """
    if data_source == SYNTHETIC:
        from bijstand.data.synthetic import read_register

        synthetic = read_register(write_synthetic(cache_dir, seed=seed, scale=scale))
        return Register(synthetic.spells, synthetic.areas, synthetic.panel, synthetic.truth, synthetic.params,
                        f"synthetic register (seed={seed}, scale={scale:g})")

    from bijstand.data.panel import build_area_panel
    from bijstand.data.validate import validate_partner_file

    folder = Path(data_source).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"data_source {data_source!r} is neither 'synthetic' nor an existing folder")
    areas = validate_partner_file(_find(folder, "areas"), kind="areas")
    spells = validate_partner_file(_find(folder, "spells"), kind="spells", known_areas=areas)
    panel = build_area_panel(spells, areas)
    return Register(spells, areas, panel, None, {"source": str(folder)}, f"partner register in {folder}")
