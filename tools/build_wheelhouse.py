"""Build a wheelhouse: every wheel an offline machine needs to install bijstand, at the locked versions.

Run it on a machine WITH internet that has the same operating system and Python version (3.12) as the offline
machine (for CBS remote access: a Windows PC with Python 3.12), from the project folder::

    python tools/build_wheelhouse.py wheelhouse                    # minimal install: data, estimators, notebooks
    python tools/build_wheelhouse.py wheelhouse --extras honest    # + HonestDiD (notebook 02)
    python tools/build_wheelhouse.py wheelhouse --extras all       # everything make venv installs

Carry the folder ``wheelhouse/`` (and the project folder) to the offline machine and install there with::

    python -m venv .venv
    .venv\\Scripts\\python -m pip install --no-index --find-links wheelhouse "bijstand[honest]"   (Windows)
    .venv/bin/python -m pip install --no-index --find-links wheelhouse "bijstand[honest]"       (Linux, macOS)

What it does: ``pip wheel --no-deps .`` (the bijstand wheel), then ``pip wheel`` of the dependencies that
``pyproject.toml`` declares for the chosen extras, constrained to the versions of ``requirements.lock`` (packages
published only as source are built into wheels here, so the offline machine needs no compiler), then an offline
dry-run install from the folder to prove it is complete. It uses nothing but Python's standard library and pip, so
bijstand need not be installed to run it. Wheels are specific to the operating system and Python version of the
machine that builds them: a wheelhouse built on Linux does not install on Windows.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import sysconfig
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def requirements(extras: list[str], pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The requirements of ``bijstand[extras]`` from pyproject.toml, with extras that include extras expanded."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    optional = project["optional-dependencies"]
    name = project["name"]
    chosen, todo = [], list(extras)
    while todo:
        extra = todo.pop(0)
        if extra in chosen:
            continue
        if extra not in optional:
            raise SystemExit(f"unknown extra {extra!r}; pyproject.toml declares: {', '.join(optional)}")
        chosen.append(extra)
    reqs = list(project["dependencies"])
    for extra in chosen:
        for req in optional[extra]:
            if req.split("[", 1)[0].strip().lower() == name:  # bijstand[honest,...]: include those extras
                todo = [e.strip() for e in req.split("[", 1)[1].split("]", 1)[0].split(",")]
                reqs.extend(r for r in requirements(todo, pyproject) if r not in reqs)
            elif req not in reqs:
                reqs.append(req)
    return reqs


def pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def build(folder: Path, extras: list[str], lock: Path, no_cache: bool = False) -> Path:
    """Fill ``folder`` with the wheels of ``bijstand[extras]``; return the bijstand wheel."""
    folder.mkdir(parents=True, exist_ok=True)
    cache = ["--no-cache-dir"] if no_cache else []
    pip("wheel", *cache, "--no-deps", "--wheel-dir", str(folder), str(ROOT))
    wheel = max(folder.glob("bijstand-*.whl"), key=lambda p: p.stat().st_mtime)
    with tempfile.TemporaryDirectory() as tmp:
        reqs = Path(tmp) / "requirements.txt"
        reqs.write_text("\n".join(requirements(extras)) + "\n", encoding="utf-8")
        pip("wheel", *cache, "--wheel-dir", str(folder), "-r", str(reqs), "-c", str(lock))
    return wheel


def check(folder: Path, extras: list[str]) -> None:
    """Resolve ``bijstand[extras]`` from the folder alone, as the offline machine will (pip >= 22.2)."""
    target = f"bijstand[{','.join(extras)}]" if extras else "bijstand"
    pip("install", "--dry-run", "--ignore-installed", "--no-index", "--find-links", str(folder), target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", default="wheelhouse", type=Path)
    parser.add_argument("--extras", default="", help="comma-separated extras (honest, dask, paper, cbs, lab, dev, "
                                                     "all); default: the minimal install")
    parser.add_argument("--lock", type=Path, default=ROOT / "requirements.lock")
    parser.add_argument("--no-cache", action="store_true", help="download everything again (pip --no-cache-dir)")
    args = parser.parse_args(argv)
    extras = [e.strip() for e in args.extras.split(",") if e.strip()]
    if sys.version_info[:2] != (3, 12):
        print(f"warning: this is Python {platform.python_version()}; the wheels will only install on "
              f"Python {sys.version_info[0]}.{sys.version_info[1]}", file=sys.stderr)
    started = time.perf_counter()
    wheel = build(args.folder, extras, args.lock, args.no_cache)
    check(args.folder, extras)
    wheels = sorted(args.folder.glob("*.whl"))
    size = sum(p.stat().st_size for p in wheels)
    target = f"bijstand[{','.join(extras)}]" if extras else "bijstand"
    note = args.folder / "WHEELHOUSE.txt"
    note.write_text(
        f"Wheels for {target} {wheel.name.split('-')[1]}, built for Python {platform.python_version()} on "
        f"{sysconfig.get_platform()} (install only on the same OS and Python version).\n"
        f"{len(wheels)} wheels, {size / 1e6:.0f} MB, versions from requirements.lock.\n\n"
        f"Install offline, in the project folder:\n"
        f"    python -m venv .venv\n"
        f"    .venv\\Scripts\\python -m pip install --no-index --find-links {args.folder.name} \"{target}\""
        f"    (Windows)\n"
        f"    .venv/bin/python -m pip install --no-index --find-links {args.folder.name} \"{target}\""
        f"    (Linux, macOS)\n", encoding="utf-8")
    print(f"\n{args.folder}: {len(wheels)} wheels, {size / 1e6:.0f} MB for {target} "
          f"({sysconfig.get_platform()}, Python {platform.python_version()}) in {time.perf_counter() - started:.0f} s"
          f"\n{note.read_text(encoding='utf-8')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
