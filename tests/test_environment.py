"""environment.yml, pyproject.toml and requirements.lock must describe the same package set."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI names
CONDA_TO_PYPI = {"python-duckdb": "duckdb"}
# extras whose name is the package they bring (conda lists that package separately)
EXTRAS_THAT_ARE_PACKAGES = {"distributed"}


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs.extend(extra)
    out = {}
    for text in reqs:
        req = Requirement(text)
        spec = str(req.specifier)
        out[canonicalize_name(req.name)] = spec
        for extra in req.extras & EXTRAS_THAT_ARE_PACKAGES:  # dask[distributed] brings 'distributed'
            out[canonicalize_name(extra)] = spec
    return out


def environment_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
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


def test_environment_yml_matches_pyproject():
    expected = pyproject_requirements()
    found = environment_requirements()
    assert sorted(set(expected) - set(found)) == [], "in pyproject.toml but not environment.yml"
    assert sorted(set(found) - set(expected)) == [], "in environment.yml but not pyproject.toml"
    differing = {name: (expected[name], found[name]) for name in expected if expected[name] != found[name]}
    assert differing == {}, f"lower bounds differ (pyproject, environment.yml): {differing}"


def test_environment_yml_pins_python_312():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.12" in env["dependencies"]


def test_lock_file_satisfies_pyproject_bounds():
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = Version(version)
    problems = []
    for name, spec in pyproject_requirements().items():
        if name not in pins:
            problems.append(f"{name} is not pinned in requirements.lock")
        elif spec and not Requirement(f"{name}{spec}").specifier.contains(pins[name], prereleases=True):
            problems.append(f"{name}=={pins[name]} violates {spec}")
    assert problems == []
