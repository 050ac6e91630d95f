"""Hand-run test of the offline install a partner does (README, "Running without make (Windows, offline)").

It downloads from PyPI, so it is not part of ``make test``. Run it on a machine with internet::

    .venv/bin/python tools/check_offline_install.py [--workdir DIR] [--extras honest] [--keep]

Steps, each timed:

1. build a wheelhouse for ``bijstand[extras]`` (default: the minimal install) with ``tools/build_wheelhouse.py``;
2. copy the project's tracked files (``git ls-files``: what a partner receives) to a fresh folder;
3. create a fresh virtual environment there with ``python -m venv .venv``;
4. install offline: ``pip install --no-index --find-links wheelhouse bijstand[extras]`` with every proxy pointing
   at a closed port, so any attempt to reach the internet fails; then ``pip check``;
5. run notebook 01 with its default (small) parameters: ``bijstand run 01 --params params/offline-check.yaml``,
   still without network, and check its results; check that a feature of a missing extra (the paper) fails with the
   command that installs it.

Prints the sizes (wheelhouse, environment) and times as a table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: No network and no pip configuration but the wheelhouse: proxies on a closed port, no index, no config files
#: (a machine-wide pip.conf may add find-links or indexes that would hide a wheel missing from the wheelhouse).
OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "http_proxy":
           "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": "",
           "PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull}


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def step(name: str, command: list, times: dict[str, float], **kwargs) -> subprocess.CompletedProcess:
    print(f"\n== {name}\n+ {' '.join(map(str, command))}", flush=True)
    started = time.perf_counter()
    done = subprocess.run([str(c) for c in command], check=True, **kwargs)
    times[name] = time.perf_counter() - started
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, help="where to build (default: a new temporary folder)")
    parser.add_argument("--extras", default="", help="extras to install (default: the minimal install)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--no-cache", action="store_true", help="download every wheel again")
    parser.add_argument("--wheelhouse", type=Path, help="use this wheelhouse instead of building one (skips step 1)")
    args = parser.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bijstand-offline-"))
    work.mkdir(parents=True, exist_ok=True)
    wheelhouse, project = args.wheelhouse or work / "wheelhouse", work / "project"
    for old in (project,) if args.wheelhouse else (wheelhouse, project):
        if old.exists():
            shutil.rmtree(old)
    times: dict[str, float] = {}
    target = f"bijstand[{args.extras}]" if args.extras else "bijstand"

    build = [sys.executable, ROOT / "tools" / "build_wheelhouse.py", wheelhouse]
    build += ["--extras", args.extras] if args.extras else []
    build += ["--no-cache"] if args.no_cache else []
    if not args.wheelhouse:
        step("1 build wheelhouse (online)", build, times)

    started = time.perf_counter()
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, project / name)
    times["2 copy the project (tracked files)"] = time.perf_counter() - started

    offline = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "BIJSTAND_"))} | OFFLINE
    for name in ("VIRTUAL_ENV", "PYTHONPATH"):
        offline.pop(name, None)
    step("3 python -m venv .venv", [sys.executable, "-m", "venv", project / ".venv"], times)
    scripts = project / ".venv" / ("Scripts" if os.name == "nt" else "bin")
    python = scripts / ("python.exe" if os.name == "nt" else "python")
    step("4 pip install --no-index (offline)",
         [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-index", "--find-links", wheelhouse,
          target], times, env=offline, cwd=project)
    step("4b pip check", [python, "-m", "pip", "check"], times, env=offline, cwd=project)
    absent = subprocess.run([python, "-c", "import importlib.util as u; print([m for m in ('moderndid', 'dask', "
                             "'typst', 'pypandoc', 'jupyterlab', 'pytest', 'sklearn') if u.find_spec(m)])"],
                            capture_output=True, text=True, check=True, env=offline).stdout.strip()
    print(f"packages of extras present: {absent}")

    params = project / "params" / "offline-check.yaml"
    params.write_text("notebooks:\n  01_data_overview: {}  # the notebook's own small defaults\n", encoding="utf-8")
    step("5 bijstand run 01 (offline)", [python, "-m", "bijstand", "run", "01", "--params", params, "--no-progress"],
         times, env=offline, cwd=project)
    manifest = json.loads((project / "results" / "01_data_overview" / "manifest.json").read_text(encoding="utf-8"))
    numbers = json.loads((project / "results" / "01_data_overview" / "numbers.json").read_text(encoding="utf-8"))
    print(f"results/01_data_overview: {len(numbers)} numbers, {len(manifest['figures'])} figures, "
          f"{len(manifest['tables'])} tables; parameters {manifest['parameters']}; "
          f"bijstand {manifest['packages']['bijstand']} from {manifest['params_file']}")
    paper = subprocess.run([python, "-m", "bijstand", "paper"], capture_output=True, text=True, env=offline,
                           cwd=project, check=False)
    print(f"bijstand paper without the paper extra: exit {paper.returncode}: {paper.stderr.strip().splitlines()[0]}")
    assert paper.returncode == 2 and 'pip install "bijstand[paper]"' in paper.stderr

    wheels = sorted(wheelhouse.glob("*.whl"))
    rows = [("wheelhouse", f"{len(wheels)} wheels, {size(wheelhouse) / 1e6:.0f} MB"),
            ("largest wheels", ", ".join(f"{p.name.split('-')[0]} {p.stat().st_size / 1e6:.0f} MB" for p in
                                         sorted(wheels, key=lambda p: -p.stat().st_size)[:5])),
            ("installed environment (.venv)", f"{size(project / '.venv') / 1e6:.0f} MB"),
            ("extras' packages present", absent)]
    rows += [(name, f"{seconds:.0f} s") for name, seconds in times.items()]
    print(f"\n| {target} offline install, Python {sys.version.split()[0]}, {sys.platform} | |\n|---|---|")
    print("\n".join(f"| {a} | {b} |" for a, b in rows))
    if args.keep or args.workdir:
        print(f"\nkept {work}")
    else:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
