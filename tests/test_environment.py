"""Declared = used: pyproject.toml, environment.yml, requirements.lock and the imports describe one package set.

* environment.yml lists what pyproject.toml declares (the minimal install and every extra), with the same bounds;
  requirements.lock pins every one of them and nothing that ``bijstand[all]`` does not need.
* Every declared package is imported somewhere in ``src/`` or ``tests/`` (or, for the few tools that are run rather
  than imported, invoked where :data:`RUN_NOT_IMPORTED` says); every third-party import in ``src/`` is declared in
  the minimal install or an extra, and every one in ``tests/`` is declared somewhere.
* ``src/`` imports an extra's package only inside a function, under ``extra_required("<that extra>")``, so the
  minimal install fails with the command that installs the extra (checked statically, and for each extra by hiding
  its package).
"""

from __future__ import annotations

import ast
import functools
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from bijstand.extras import MissingExtraError

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
SELF = canonicalize_name(PROJECT["name"])
# conda-forge names that differ from PyPI names
CONDA_TO_PYPI = {"python-duckdb": "duckdb", "jupyter_client": "jupyter-client"}
# extras whose name is the package they bring (conda lists that package separately)
EXTRAS_THAT_ARE_PACKAGES = {"distributed"}
#: Declared packages that are run, not imported: where they are run, and the text that runs them.
RUN_NOT_IMPORTED = {
    "ipykernel": ("src/bijstand/pipeline.py", "ipykernel_launcher"),  # the kernel papermill starts
    "nbval": ("src/bijstand/pipeline.py", "--nbval-lax"),  # pytest plugin of `bijstand test`
    "jupyterlab": ("Makefile", "jupyter lab"),  # `make lab`
}
#: Declared for a test another branch adds (the lead merges them); delete an entry once that test is merged:
#: test_pending_packages_are_not_used_yet fails as a reminder.
PENDING = {
}


def _requirements(texts: list[str]) -> dict[str, str]:
    out = {}
    for text in texts:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        if name == SELF:  # bijstand[honest,...]: an extra that includes other extras
            continue
        out[name] = str(req.specifier)
        for extra in req.extras & EXTRAS_THAT_ARE_PACKAGES:  # dask[distributed] brings 'distributed'
            out[canonicalize_name(extra)] = str(req.specifier)
    return out


def core_requirements() -> dict[str, str]:
    return _requirements(PROJECT["dependencies"])


def extra_requirements() -> dict[str, dict[str, str]]:
    return {extra: _requirements(reqs) for extra, reqs in PROJECT["optional-dependencies"].items()}


def pyproject_requirements() -> dict[str, str]:
    out = core_requirements()
    for reqs in extra_requirements().values():
        out |= reqs
    return out


def declared_names(requirements: list[str]) -> set[str]:
    """Packages the requirements name, plus those their extras bring (moderndid[didhonest] brings cvxpy)."""
    names = set()
    for text in requirements:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        if name == SELF:
            continue
        names.add(name)
        for sub in metadata.requires(req.name) or []:
            sub_req = Requirement(sub)
            if sub_req.marker and not sub_req.marker.evaluate({"extra": ""}) \
                    and any(sub_req.marker.evaluate({"extra": e}) for e in req.extras):
                names.add(canonicalize_name(sub_req.name))
    return names


def environment_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    out = {}
    for item in env["dependencies"]:
        entries = item["pip"] if isinstance(item, dict) else [item]
        for text in entries:
            if text == "pip" or text.startswith("python="):
                continue
            req = Requirement(text)
            name = CONDA_TO_PYPI.get(req.name, req.name)
            out[canonicalize_name(name)] = str(req.specifier)
    return out


def lock_pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = Version(version)
    return pins


def test_environment_yml_matches_pyproject():
    expected = pyproject_requirements()
    found = environment_requirements()
    assert sorted(set(expected) - set(found)) == [], "in pyproject.toml but not environment.yml"
    assert sorted(set(found) - set(expected)) == [], "in environment.yml but not pyproject.toml"
    differing = {name: (expected[name], found[name]) for name in expected if expected[name] != found[name]}
    assert differing == {}, f"lower bounds differ (pyproject, environment.yml): {differing}"


def test_environment_yml_pins_python_312():
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    assert "python=3.12" in env["dependencies"]


def test_lock_file_satisfies_pyproject_bounds():
    pins = lock_pins()
    problems = []
    for name, spec in pyproject_requirements().items():
        if name not in pins:
            problems.append(f"{name} is not pinned in requirements.lock")
        elif spec and not Requirement(f"{name}{spec}").specifier.contains(pins[name], prereleases=True):
            problems.append(f"{name}=={pins[name]} violates {spec}")
    assert problems == []


def test_every_extra_is_in_all_and_dev_brings_what_the_tests_import():
    extras = PROJECT["optional-dependencies"]
    included = {e for text in extras["all"] for e in Requirement(text).extras}
    assert included == set(extras) - {"all"}
    assert {e for text in extras["dev"] for e in Requirement(text).extras} == {"honest", "dask", "paper", "cbs"}


def test_lock_pins_nothing_that_bijstand_all_does_not_need():
    """Every pinned package is a dependency (on this platform) of the minimal install or an extra: a package left
    behind by a removed dependency (csdid brought twine, keyring, plotnine, ...) must leave the lock too."""
    installed = {canonicalize_name(d.metadata["Name"]): d for d in metadata.distributions()}
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [Requirement(r) for r in PROJECT["dependencies"]]
    todo += [Requirement(r) for reqs in PROJECT["optional-dependencies"].values() for r in reqs]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name == SELF or (name, frozenset(req.extras)) in seen:
            continue
        seen.add((name, frozenset(req.extras)))
        for text in installed[name].requires or []:
            sub = Requirement(text)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in {"", *req.extras}):
                todo.append(sub)
    assert sorted(set(lock_pins()) - {name for name, _ in seen}) == []


# ----------------------------------------------------------------------------------- imports

@functools.cache
def _imports(folder: str) -> list[tuple[str, Path, int, list[ast.AST]]]:
    """Third-party top-level modules imported under ``folder``: (module, file, line, enclosing nodes).

    ``pytest.importorskip("x")`` and ``importlib.import_module("x")`` count as imports of ``x``.
    """
    found = []

    def visit(node: ast.AST, path: Path, stack: list[ast.AST]) -> None:
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in {"importorskip", "import_module"} and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            modules = [node.args[0].value]
        for module in modules:
            top = module.split(".")[0]
            if top not in sys.stdlib_module_names and top not in {"bijstand", "__future__"}:
                found.append((top, path, node.lineno, list(stack)))
        for child in ast.iter_child_nodes(node):
            visit(child, path, [*stack, node])

    for path in sorted((ROOT / folder).rglob("*.py")):
        visit(ast.parse(path.read_text(encoding="utf-8")), path.relative_to(ROOT), [])
    return found


@functools.cache
def _module_owners() -> dict[str, list[str]]:
    return metadata.packages_distributions()  # scans every installed package: once


def _distribution(module: str) -> str | None:
    dists = _module_owners().get(module)
    return canonicalize_name(dists[0]) if dists else None


def test_every_third_party_import_is_declared():
    core = declared_names(PROJECT["dependencies"])
    extras = PROJECT["optional-dependencies"]
    dev = declared_names(extras["dev"])
    declared = core | {name for reqs in extras.values() for name in declared_names(reqs)}
    problems = []
    for folder, allowed in (("src", declared - dev), ("tests", declared)):
        for module, path, line, _ in _imports(folder):
            dist = _distribution(module)
            if dist is None:
                problems.append(f"{path}:{line}: {module} is imported but no installed package provides it")
            elif dist not in allowed:
                problems.append(f"{path}:{line}: {module} ({dist}) is not declared in pyproject.toml"
                                + (" (the dev extra is for tests only)" if dist in dev else ""))
    assert problems == []
    assert core  # the minimal install is not empty


def test_every_declared_package_is_used():
    imported = {_distribution(module) for folder in ("src", "tests") for module, *_ in _imports(folder)}
    unused = []
    for name in sorted(pyproject_requirements()):
        if name in imported or name in PENDING:
            continue
        if name in RUN_NOT_IMPORTED:
            file, text = RUN_NOT_IMPORTED[name]
            if text in (ROOT / file).read_text(encoding="utf-8"):
                continue
        unused.append(name)
    # dask[distributed]: 'distributed' is used through `from dask.distributed import ...`
    assert [n for n in unused if n not in EXTRAS_THAT_ARE_PACKAGES or "dask" not in imported] == []


def test_pending_packages_are_not_used_yet():
    imported = {_distribution(module) for folder in ("src", "tests") for module, *_ in _imports(folder)}
    used_now = {name: where for name, where in PENDING.items() if name in imported}
    assert used_now == {}, "now imported: delete these entries from PENDING in tests/test_environment.py"


def _extra_named(stack: list[ast.AST]) -> set[str]:
    """Extras named by the ``with extra_required("...")`` blocks around an import."""
    named = set()
    for node in stack:
        if isinstance(node, ast.With):
            for item in node.items:
                call = item.context_expr
                if isinstance(call, ast.Call) and getattr(call.func, "id", getattr(call.func, "attr", "")) \
                        == "extra_required" and call.args and isinstance(call.args[0], ast.Constant):
                    named.add(call.args[0].value)
    return named


def test_src_imports_an_extra_only_lazily_under_extra_required():
    core = declared_names(PROJECT["dependencies"])
    extra_of: dict[str, set[str]] = {}
    for extra, reqs in PROJECT["optional-dependencies"].items():
        for name in declared_names(reqs):
            extra_of.setdefault(name, set()).add(extra)
    problems = []
    for module, path, line, stack in _imports("src"):
        dist = _distribution(module)
        if dist in core or dist is None:
            continue
        in_function = any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in stack)
        if not in_function:
            problems.append(f"{path}:{line}: {module} belongs to extra {sorted(extra_of[dist])} and is imported "
                            f"at module level: import it inside the function that needs it")
        elif not _extra_named(stack) & extra_of[dist]:
            problems.append(f"{path}:{line}: import {module} inside "
                            f"`with extra_required({sorted(extra_of[dist])[0]!r}, ...)`")
    assert problems == []


def _hidden(monkeypatch, *modules: str) -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in modules:
            monkeypatch.delitem(sys.modules, name)
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)  # `import name` now raises ModuleNotFoundError


def test_a_missing_extra_names_the_command_that_installs_it(monkeypatch, tmp_path):
    from bijstand.data import cbs
    from bijstand.did import honest, montecarlo
    from bijstand.report import paper

    cases = [
        ("honest", ("moderndid",), honest._moderndid),
        ("dask", ("dask", "distributed"), lambda: montecarlo._run_dask([1], None, "tcp://127.0.0.1:1", False)),
        ("paper", ("typst",), lambda: paper.build_paper(tmp_path, tmp_path / "p.yaml", tmp_path / "out")),
        ("cbs", ("requests",), lambda: cbs.fetch_cbs_pages("83450NED")),
    ]
    for extra, modules, call in cases:
        with monkeypatch.context() as patch:
            _hidden(patch, *modules)
            with pytest.raises(MissingExtraError, match=rf'pip install "bijstand\[{extra}\]"') as err:
                call()
            assert err.value.extra == extra
    assert not (tmp_path / "out").exists()
