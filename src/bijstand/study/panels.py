"""The estimation panel of one design of one intervention, and the true effect on it.

A *design* fixes which areas and months enter and which areas serve as controls:

``notyet``
    the intervention's own municipality; areas not yet treated (including those starting after the window) are
    the controls (Callaway & Sant'Anna's ``"notyettreated"``). Identifies effects only while some area is still
    untreated, i.e. within the roll-out.
``never``
    the intervention's areas plus every area of the ``never_treated`` municipalities, which are the only
    controls (``"nevertreated"``); areas of the own municipality that start after the window are dropped. It
    identifies effects beyond the roll-out, under the assumption that the comparison municipalities would have
    moved in parallel with the treated areas.

The estimation panel holds ``group`` (first treated period inside the window, 0 = control), ``cluster`` (the
level of assignment) and, on synthetic data, one column ``true_effect__<outcome>`` per outcome: the effect
:math:`\\tau_{at} = Y_{at}^{\\text{all}} - Y_{at}^{\\text{without}}` in treated area-months (0 elsewhere), from
the same register simulated with and without the intervention on common random numbers. Every estimator used
here is linear in the outcome with weights that do not depend on it, so the estimator applied to that column is
the true value of *its own* estimand, over its own cells with its own weights (:mod:`bijstand.study.truth`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bijstand.data.periods import month_to_period
from bijstand.study.interventions import Intervention, check_against_areas

DESIGNS = ("notyet", "never")
TRUE_PREFIX = "true_effect__"


class DesignError(ValueError):
    """A design that cannot be estimated, with the reason (raised before any estimator runs)."""


@dataclass
class DesignPanel:
    """An estimation panel and what it rests on."""

    data: pd.DataFrame
    intervention: Intervention
    design: str
    window_start: str
    window_end: str
    control_group: str
    dropped_small_areas: tuple[str, ...] = ()
    min_persons: int = 10

    @property
    def n_treated_areas(self) -> int:
        return int(self.data.loc[self.data["group"] > 0, "area"].nunique())

    @property
    def n_control_areas(self) -> int:
        return int(self.data.loc[self.data["group"] == 0, "area"].nunique())

    @property
    def n_clusters(self) -> int:
        return int(self.data["cluster"].nunique())

    def cohorts(self) -> pd.DataFrame:
        """Cohorts (first treated month) with their number of areas and clusters: ``group, month, areas, clusters``."""
        first = self.data.drop_duplicates("area")
        treated = first[first["group"] > 0]
        out = (treated.groupby("group").agg(areas=("area", "nunique"), clusters=("cluster", "nunique"))
               .reset_index())
        from bijstand.data.periods import period_to_month

        out.insert(1, "month", pd.Series(period_to_month(out["group"].to_numpy())).dt.strftime("%Y-%m"))
        return out

    def describe(self) -> str:
        """One sentence: what enters this design."""
        first = self.data.drop_duplicates("area")
        n_groups = int(first.loc[first["group"] > 0, "group"].nunique())
        control = ("not-yet-treated areas" if self.control_group == "notyet"
                   else "never-treated areas of " + ", ".join(self.intervention.never_treated))
        text = (f"{self.n_treated_areas} treated areas in {n_groups} cohorts, {self.n_control_areas} areas "
                f"never treated in the window; controls: {control}; {self.window_start} to {self.window_end}; "
                f"clustered by {self.intervention.assignment} ({self.n_clusters} clusters)")
        if self.dropped_small_areas:
            text += (f"; {len(self.dropped_small_areas)} area(s) with fewer than {self.min_persons} recipients in "
                     f"some month left out (disclosure): {', '.join(self.dropped_small_areas)}")
        return text


def _start_periods(areas: pd.DataFrame, column: str) -> pd.Series:
    starts = pd.to_datetime(areas[column])
    periods = pd.Series(month_to_period(starts), index=areas.index)
    return periods.fillna(0).astype(np.int64)


def design_panel(panel: pd.DataFrame, areas: pd.DataFrame, intervention: Intervention, *,
                 design: str = "notyet", window_end: str | None = None, min_persons: int = 10,
                 without: pd.DataFrame | None = None, outcomes: tuple[str, ...] | None = None) -> DesignPanel:
    """Select the areas and months of one design and add ``group``, ``cluster`` and the true effects.

    Parameters
    ----------
    panel
        Area x month panel (:mod:`bijstand.data.panel` contract) of the observed world.
    areas
        Areas file with the intervention's ``start_column`` (and its ``assignment`` column if not ``area``).
    intervention
        The intervention description.
    design
        ``"notyet"`` or ``"never"`` (module docstring).
    window_end
        Last month, instead of the intervention's (e.g. its ``pre_covid_end``).
    min_persons
        Disclosure threshold: an area with fewer recipients than this in any month of the window is left out
        (and named in :meth:`DesignPanel.describe`), so that no estimate rests on a group of fewer persons.
    without
        Synthetic data only: the same panel in the world without the intervention (common random numbers);
        adds ``true_effect__<outcome>`` for each of ``outcomes`` (default: the intervention's).

    Raises
    ------
    DesignError
        When the design cannot be estimated: no treated area, no control area, or every treated area starting in
        the first month of the window.
    """
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}, got {design!r}")
    check_against_areas(intervention, areas, never_treated=design == "never")
    end = window_end or intervention.window_end
    first, last = month_to_period(pd.Timestamp(intervention.window_start)), month_to_period(pd.Timestamp(end))
    municipalities = [intervention.municipality]
    if design == "never":
        if not intervention.never_treated:
            raise DesignError(f"{intervention.name}: the 'never' design needs never_treated municipalities in the "
                              "intervention description")
        municipalities += list(intervention.never_treated)
    area_info = areas[areas["municipality"].isin(municipalities)].copy()
    start = _start_periods(area_info, intervention.start_column)
    own = area_info["municipality"] == intervention.municipality
    start = start.where(own, 0)
    group = start.where((start > 0) & (start <= last), 0)
    if design == "never":
        keep = ~own | (group > 0)  # own areas that start after the window are neither treated nor never treated
        area_info, group = area_info[keep], group[keep]
        own = own[keep]
    if intervention.assignment == "area":
        cluster = area_info["area"].astype(str)
    else:  # comparison areas, and areas without a value, are clusters of their own
        level = area_info[intervention.assignment].fillna("").astype(str)
        cluster = level.where(own & (level != ""), area_info["area"].astype(str))
    info = pd.DataFrame({"municipality": area_info["municipality"].to_numpy(), "area": area_info["area"].to_numpy(),
                         "group": group.to_numpy(np.int64), "cluster": cluster.astype(str).to_numpy()})
    data = panel[(panel["period"] >= first) & (panel["period"] <= last)]
    data = data.merge(info, on=["municipality", "area"], how="inner", validate="many_to_one")
    small = data.groupby("area")["stock"].min()
    dropped = tuple(sorted(small.index[small < min_persons].astype(str)))
    if dropped:
        data = data[~data["area"].isin(dropped)]
    if without is not None:
        outcomes = intervention.outcomes if outcomes is None else outcomes
        keys = ["municipality", "area", "period"]
        present = [o for o in outcomes if o in data.columns and o in without.columns]
        other = without[keys + present].rename(columns={o: f"{o}__without" for o in present})
        data = data.merge(other, on=keys, how="left", validate="one_to_one")
        treated_now = ((data["group"] > 0) & (data["period"] >= data["group"])).to_numpy()
        for outcome in present:
            effect = data[outcome].to_numpy(float) - data[f"{outcome}__without"].to_numpy(float)
            data[TRUE_PREFIX + outcome] = np.where(treated_now, effect, 0.0)
        data = data.drop(columns=[f"{o}__without" for o in present])
    data = data.sort_values(["municipality", "area", "period"], kind="stable").reset_index(drop=True)
    out = DesignPanel(data=data, intervention=intervention, design=design, window_start=intervention.window_start,
                      window_end=end, control_group=design, dropped_small_areas=dropped, min_persons=min_persons)
    _check_estimable(out)
    return out


def _check_estimable(design: DesignPanel) -> None:
    data, name = design.data, f"{design.intervention.name} ({design.design} design, {design.window_start} to " \
                              f"{design.window_end})"
    if data.empty:
        raise DesignError(f"{name}: no area-months in the window")
    groups = data.drop_duplicates("area")["group"]
    if not (groups > 0).any():
        raise DesignError(f"{name}: no area starts the intervention inside the window")
    first = data["period"].min()
    if not (groups[groups > 0] > first).any():
        raise DesignError(f"{name}: every treated area starts in the first month of the window, so no area has a "
                          "month before treatment to compare with")
    if design.design == "never" and not (groups == 0).any():
        raise DesignError(f"{name}: no never-treated area")
    if design.design == "notyet" and groups.nunique() < 2:
        raise DesignError(f"{name}: all areas start in the same month and none is untreated in the window, so "
                          "there is no not-yet-treated control")
