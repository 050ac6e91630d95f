"""Where the project's folders are: one place every layer may import (it imports nothing of the package)."""

from __future__ import annotations

from pathlib import Path


def project_root() -> Path:
    """The repository root: the first parent of the installed (editable) package holding ``pyproject.toml``.

    Falls back to the current directory for a non-editable install, where data and results folders are then
    looked for relative to where the user runs.
    """
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file():
            return parent
    return Path.cwd()
