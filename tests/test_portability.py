"""The package runs where partners work: Windows, no make, no POSIX-only calls in ``src/``.

CBS's remote-access environment is Windows. ``os.rename`` onto an existing path, ``chmod``, ``fork``, POSIX-only
modules, shell pipelines and ``/tmp`` paths work on the Linux machines the tests run on and fail there, so they are
refused here statically.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

POSIX_ONLY_MODULES = {"fcntl", "pwd", "grp", "resource", "termios", "pty", "tty", "posix", "crypt"}
#: os.<name>(...) and signal.<name>(...)
POSIX_ONLY_CALLS = {
    "rename": "os.rename fails on Windows when the target exists: use os.replace (files) or shutil.move",
    "chmod": "permissions are not POSIX bits on Windows",
    "chown": "POSIX only",
    "fork": "POSIX only: use subprocess or multiprocessing's default start method",
    "getuid": "POSIX only", "geteuid": "POSIX only", "killpg": "POSIX only", "setsid": "POSIX only",
    "symlink": "needs developer mode or admin rights on Windows", "mkfifo": "POSIX only", "nice": "POSIX only",
    "alarm": "signal.alarm is POSIX only",
}
#: <any object>.<name>(...): pathlib methods with the same problems
POSIX_ONLY_METHODS = {"chmod": "permissions are not POSIX bits on Windows", "lchmod": "POSIX only",
                      "symlink_to": "needs developer mode or admin rights on Windows"}
POSIX_PATH_PREFIXES = ("/tmp", "/dev/", "/usr/", "/bin/", "/proc/")


def posix_only_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    where = path.relative_to(ROOT)
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            problems += [f"{where}:{node.lineno}: import {a.name} (POSIX only)" for a in node.names
                         if a.name.split(".")[0] in POSIX_ONLY_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in POSIX_ONLY_MODULES:
            problems.append(f"{where}:{node.lineno}: from {node.module} import ... (POSIX only)")
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            owner = getattr(getattr(node.func, "value", None), "id", None)
            if owner in {"os", "signal"} and name in POSIX_ONLY_CALLS:
                problems.append(f"{where}:{node.lineno}: {owner}.{name}(): {POSIX_ONLY_CALLS[name]}")
            elif isinstance(node.func, ast.Attribute) and name in POSIX_ONLY_METHODS:
                problems.append(f"{where}:{node.lineno}: .{name}(): {POSIX_ONLY_METHODS[name]}")
            if any(k.arg == "shell" and isinstance(k.value, ast.Constant) and k.value.value for k in node.keywords):
                problems.append(f"{where}:{node.lineno}: shell=True (cmd.exe is not bash): pass an argument list")
            if name in {"get_context", "set_start_method"} and node.args \
                    and isinstance(node.args[0], ast.Constant) and node.args[0].value in {"fork", "forkserver"}:
                problems.append(f"{where}:{node.lineno}: {name}({node.args[0].value!r}) does not exist on Windows")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and node.value.startswith(POSIX_PATH_PREFIXES) and "\n" not in node.value:
            problems.append(f"{where}:{node.lineno}: {node.value!r} is a POSIX path: use tempfile or pathlib")
    return problems


def test_no_posix_only_calls_in_the_package():
    problems = [p for path in sorted((ROOT / "src").rglob("*.py")) for p in posix_only_uses(path)]
    assert problems == []


def test_the_check_finds_what_it_is_meant_to_find(monkeypatch):
    bad = ROOT / "src" / "bijstand" / "_portability_probe.py"
    source = ("import fcntl\nimport os, subprocess\nos.rename('a', 'b')\nPath('x').chmod(0o644)\n"
              "subprocess.run('ls | wc', shell=True)\nTMP = '/tmp/x'\n"
              "import multiprocessing\nmultiprocessing.get_context('fork')\nframe.rename(columns={'a': 'b'})\n")
    monkeypatch.setattr(Path, "read_text", lambda self, encoding=None: source)
    found = posix_only_uses(bad)
    # line 9, pandas' DataFrame.rename, is not os.rename
    assert [line.split(": ", 1)[0].rsplit(":", 1)[1] for line in found] == ["1", "3", "4", "5", "6", "8"]


def test_windows_entry_points_exist():
    """Without make: `python -m bijstand reproduce|test` (no PATH setup, no shell script needed)."""
    assert (ROOT / "src" / "bijstand" / "__main__.py").is_file()
    from bijstand.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse has no public API
    assert {"reproduce", "test", "run", "plan", "list", "paper", "simulate"} <= set(commands)
