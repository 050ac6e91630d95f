"""Interventions are data: a parameter file describes what was done where and when, and the study runs it.

An intervention description (``params/interventions/<name>.yaml``, or any YAML file a partner writes) names

``name``, ``label``
    identifier (file names, result keys) and the words used in tables and text;
``municipality``
    CBS code (``GM....``) of the municipality whose areas carry the intervention;
``start_column``
    the column of the areas file holding each area's first month of the intervention (empty = not treated);
``assignment``
    the level at which start dates were assigned: ``area`` or a grouping column of the areas file (e.g.
    ``borough``); standard errors, bootstraps and randomisation inference cluster at this level;
``window``
    ``{start: YYYY-MM, end: YYYY-MM}``, the estimation window; areas starting after its end are controls;
``outcomes``
    panel columns to estimate (rates per 100 recipients, see :mod:`bijstand.data.panel`);
``target`` (optional)
    ``{min_duration_months: k, label: ...}``: the people the intervention addressed; with ``k > 0`` the
    evaluation also runs on recipients whose current spell has lasted at least ``k`` months;
``never_treated`` (optional)
    CBS codes of municipalities whose areas serve as never-treated comparison areas in a second design;
``pre_covid_end`` (optional)
    last month of a second window that ends before COVID-19;
``synthetic`` (optional)
    the synthetic register's name for this intervention (``cohort``, ``counter``, ``outreach``): on synthetic
    data its world without the intervention gives the true effect.

The three interventions of the seeds are three such files; :func:`load_intervention` reads a bundled name or a
path, and refuses unknown keys, missing keys and values of the wrong kind with the file and key named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from bijstand.paths import project_root

#: Folder of the bundled intervention descriptions.
INTERVENTIONS_DIR = Path("params") / "interventions"

_MONTH = re.compile(r"^\d{4}-\d{2}$")
_REQUIRED = ("name", "label", "municipality", "start_column", "assignment", "window", "outcomes")
_OPTIONAL = ("target", "never_treated", "pre_covid_end", "synthetic")


class InterventionError(ValueError):
    """An intervention description that cannot be used (the message names the file and key)."""


@dataclass(frozen=True)
class TargetPopulation:
    """The people an intervention addressed: recipients whose current spell has lasted ``min_duration_months``."""

    min_duration_months: int = 0
    label: str = "all recipients"

    @property
    def is_everyone(self) -> bool:
        """Whether the target is the whole caseload."""
        return self.min_duration_months == 0


@dataclass(frozen=True)
class Intervention:
    """One intervention: where, when, at which level it was assigned, and what to estimate (module docstring)."""

    name: str
    label: str
    municipality: str
    start_column: str
    assignment: str
    window_start: str
    window_end: str
    outcomes: tuple[str, ...]
    target: TargetPopulation = field(default_factory=TargetPopulation)
    never_treated: tuple[str, ...] = ()
    pre_covid_end: str | None = None
    synthetic: str | None = None
    source: str = ""

    @property
    def cluster(self) -> str:
        """Panel column to cluster on: the level of assignment."""
        return self.assignment

    def describe(self) -> str:
        """One line for notebooks and logs."""
        return (f"{self.label} ({self.name}): municipality {self.municipality}, start dates in "
                f"'{self.start_column}', assigned by {self.assignment}, window {self.window_start} to "
                f"{self.window_end}")


def _fail(source: str, message: str) -> InterventionError:
    return InterventionError(f"{source}: {message}")


def _month(value: Any, source: str, key: str) -> str:
    text = value.strftime("%Y-%m") if hasattr(value, "strftime") else str(value)
    if not _MONTH.match(text):
        raise _fail(source, f"{key} must be a month YYYY-MM, got {value!r}")
    month = int(text[5:7])
    if not 1 <= month <= 12:
        raise _fail(source, f"{key}: {text} is not a month that exists")
    return text


def intervention_from_dict(spec: dict, *, source: str = "<dict>") -> Intervention:
    """Build an :class:`Intervention` from a parsed description, checking every key (see module docstring)."""
    if not isinstance(spec, dict):
        raise _fail(source, "an intervention description is a mapping of keys to values")
    unknown = sorted(set(spec) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise _fail(source, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(_REQUIRED + _OPTIONAL)}")
    missing = [key for key in _REQUIRED if key not in spec]
    if missing:
        raise _fail(source, f"missing key(s) {', '.join(missing)}")
    for key in ("name", "label", "municipality", "start_column", "assignment"):
        if not isinstance(spec[key], str) or not spec[key].strip():
            raise _fail(source, f"{key} must be a non-empty text, got {spec[key]!r}")
    if not re.match(r"^[a-z0-9_]+$", spec["name"]):
        raise _fail(source, f"name must be lower-case letters, digits and underscores, got {spec['name']!r}")
    if not spec["start_column"].endswith("_start"):
        raise _fail(source, f"start_column must name an areas-file column ending in _start, "
                            f"got {spec['start_column']!r}")
    window = spec["window"]
    if not isinstance(window, dict) or set(window) != {"start", "end"}:
        raise _fail(source, f"window must be {{start: YYYY-MM, end: YYYY-MM}}, got {window!r}")
    start, end = _month(window["start"], source, "window.start"), _month(window["end"], source, "window.end")
    if end <= start:
        raise _fail(source, f"window ends ({end}) before or when it starts ({start})")
    outcomes = spec["outcomes"]
    if not isinstance(outcomes, list) or not outcomes or not all(isinstance(o, str) for o in outcomes):
        raise _fail(source, f"outcomes must be a non-empty list of panel columns, got {outcomes!r}")
    target = spec.get("target") or {}
    if not isinstance(target, dict) or set(target) - {"min_duration_months", "label"}:
        raise _fail(source, f"target must be {{min_duration_months: int, label: text}}, got {target!r}")
    months = target.get("min_duration_months", 0)
    if not isinstance(months, int) or isinstance(months, bool) or not 0 <= months <= 600:
        raise _fail(source, f"target.min_duration_months must be an integer in [0, 600], got {months!r}")
    never = spec.get("never_treated") or []
    if not isinstance(never, list) or not all(isinstance(c, str) and c.startswith("GM") for c in never):
        raise _fail(source, f"never_treated must be a list of CBS codes GM...., got {never!r}")
    if spec["municipality"] in never:
        raise _fail(source, f"never_treated must not contain the intervention's own municipality "
                            f"{spec['municipality']}")
    pre_covid = spec.get("pre_covid_end")
    if pre_covid is not None:
        pre_covid = _month(pre_covid, source, "pre_covid_end")
        if not start < pre_covid < end:
            raise _fail(source, f"pre_covid_end {pre_covid} must lie inside the window {start} to {end}")
    synthetic = spec.get("synthetic")
    if synthetic is not None and synthetic not in ("cohort", "counter", "outreach"):
        raise _fail(source, f"synthetic must be one of cohort, counter, outreach, got {synthetic!r}")
    return Intervention(
        name=spec["name"], label=spec["label"], municipality=spec["municipality"],
        start_column=spec["start_column"], assignment=spec["assignment"], window_start=start, window_end=end,
        outcomes=tuple(outcomes),
        target=TargetPopulation(months, str(target.get("label", "all recipients" if months == 0
                                                         else f"recipients on benefit {months}+ months"))),
        never_treated=tuple(never), pre_covid_end=pre_covid, synthetic=synthetic, source=source)


def bundled_interventions() -> tuple[str, ...]:
    """Names of the intervention descriptions shipped in ``params/interventions/``."""
    return tuple(sorted(p.stem for p in (project_root() / INTERVENTIONS_DIR).glob("*.yaml")))


def load_intervention(name_or_path: str | Path) -> Intervention:
    """Read an intervention description: a bundled name (``"cohort_approach"``) or a path to a YAML file."""
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith((".yaml", ".yml")) or path.exists()):
        path = project_root() / INTERVENTIONS_DIR / f"{text}.yaml"
        if not path.exists():
            raise InterventionError(f"unknown intervention {text!r}: not a file, and not one of the bundled "
                                    f"descriptions ({', '.join(bundled_interventions())})")
    if not path.exists():
        raise InterventionError(f"{path}: intervention description not found")
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise InterventionError(f"{path}: not valid YAML ({err})") from None
    return intervention_from_dict(spec, source=str(path))


def check_against_areas(intervention: Intervention, areas: pd.DataFrame, *, source: str = "areas",
                        never_treated: bool = False) -> None:
    """Refuse an intervention that the areas file cannot carry, naming the column or value that is missing.

    ``never_treated=True`` also requires the areas of its never-treated comparison municipalities.
    """
    codes = set(areas["municipality"].astype(str))
    if intervention.municipality not in codes:
        raise InterventionError(f"{intervention.source}: municipality {intervention.municipality} has no areas in "
                                f"{source} (municipalities there: {', '.join(sorted(codes))})")
    if intervention.start_column not in areas.columns:
        starts = [c for c in areas.columns if str(c).endswith("_start")]
        raise InterventionError(f"{intervention.source}: start_column '{intervention.start_column}' is not a "
                                f"column of {source} (start columns there: {', '.join(starts) or 'none'})")
    if intervention.assignment != "area" and intervention.assignment not in areas.columns:
        raise InterventionError(f"{intervention.source}: assignment '{intervention.assignment}' is neither 'area' "
                                f"nor a column of {source}")
    missing = sorted(set(intervention.never_treated) - codes) if never_treated else []
    if missing:
        raise InterventionError(f"{intervention.source}: never_treated municipalities {', '.join(missing)} have no "
                                f"areas in {source}")
