"""Power curves and minimum detectable effects of a staggered roll-out design.

Power at effect :math:`\\delta` is measured by shifting the placebo replications of the simulation study: for a
linear estimator, adding a constant effect :math:`\\delta` to every treated area-month moves the estimate by exactly
:math:`\\delta` and leaves its standard error unchanged, and moves a restricted wild cluster bootstrap interval
obtained by test inversion by exactly :math:`\\delta` as well. Hence, with :math:`\\hat\\theta_{0r}` the placebo
estimate of replication :math:`r`,

.. math::

    \\text{power}(\\delta) = \\frac1R\\sum_r 1\\{|\\hat\\theta_{0r} + \\delta| > c_r\\,\\widehat{se}_r\\}
    \\quad\\text{(analytic } t(G-1)),\\qquad
    \\frac1R\\sum_r 1\\{0 \\notin [l_r + \\delta, u_r + \\delta]\\} \\quad\\text{(wild bootstrap)}.

This is exact for a *constant* additive effect; an effect that grows over time or differs between areas has the
same power for the same average only approximately. Randomisation inference is not shift-equivariant (its sharp
null changes with the data), so its power is reported at the simulated effect only (:func:`bijstand.study.
simulation.validity`). The minimum detectable effect is the smallest :math:`\\delta > 0` with power at least 80%.

:func:`plan_power` answers the planning question of a municipality: with *these* areas, sizes and start months,
what effect could the evaluation detect? It simulates placebo registers of those areas with the synthetic
data-generating process and applies the same shift.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

METHODS = ("analytic", "wild")


def power_curve(reps: pd.DataFrame, effects, *, alpha: float = 0.05) -> pd.DataFrame:
    """Power by effect size from the placebo rows of :func:`bijstand.study.simulation.run_study`.

    Returns ``outcome, estimator, method, effect, power, n_reps`` (method ``analytic`` or ``wild``; ``wild`` only
    where the bootstrap was run).
    """
    placebo = reps[(reps["world"] == "placebo") & reps["estimate"].notna()]
    if placebo.empty:
        raise ValueError("power_curve: no placebo replications with an estimate")
    effects = np.asarray(effects, dtype=float)
    rows = []
    for (outcome, estimator), group in placebo.groupby(["outcome", "estimator"], sort=True):
        estimate = group["estimate"].to_numpy()[:, None] + effects[None, :]
        half_width = (group["critical_value"] * group["se"]).to_numpy()[:, None]
        curves = {"analytic": (np.abs(estimate) > half_width).mean(axis=0)}
        if group["ci_lower_wild"].notna().all():
            lower = group["ci_lower_wild"].to_numpy()[:, None] + effects[None, :]
            upper = group["ci_upper_wild"].to_numpy()[:, None] + effects[None, :]
            curves["wild"] = ((lower > 0) | (upper < 0)).mean(axis=0)
        for method, power in curves.items():
            rows.append(pd.DataFrame({"outcome": outcome, "estimator": estimator, "method": method,
                                      "effect": effects, "power": power, "n_reps": len(group)}))
    return pd.concat(rows, ignore_index=True)


def minimum_detectable_effect(curve: pd.DataFrame, *, power: float = 0.8) -> pd.DataFrame:
    """Smallest effect on the grid with at least ``power``, per outcome x estimator x method (NaN if none).

    Linear interpolation between the two grid points around the crossing.
    """
    rows = []
    for key, group in curve[curve["effect"] > 0].groupby(["outcome", "estimator", "method"], sort=True):
        group = group.sort_values("effect")
        x, y = group["effect"].to_numpy(), group["power"].to_numpy()
        above = np.flatnonzero(y >= power)
        if above.size == 0:
            mde = np.nan
        elif above[0] == 0:
            mde = x[0]
        else:
            k = above[0]
            mde = x[k - 1] + (power - y[k - 1]) * (x[k] - x[k - 1]) / (y[k] - y[k - 1])
        rows.append(dict(zip(["outcome", "estimator", "method"], key)) | {"mde": float(mde), "power": power})
    return pd.DataFrame(rows)


def plan_power(areas: pd.DataFrame, *, municipality: str, start_column: str = "planned_start",
               assignment: str = "area", window: tuple[str, str], outcome: str = "outflow_work_rate",
               effects=(0.05, 0.1, 0.2, 0.3, 0.5), n_reps: int = 50, seed: int = 1, n_jobs: int = 1,
               estimators: tuple[str, ...] = ("callaway_santanna", "imputation"), progress: bool = False
               ) -> pd.DataFrame:
    """Power of a planned roll-out with a municipality's own areas, sizes and start months.

    Parameters
    ----------
    areas
        One row per area: ``area``, ``recipients`` (caseload), ``start_column`` (planned first month, empty =
        never) and, if ``assignment`` is not ``"area"``, the assignment column.
    municipality
        CBS code of the municipality; its CBS outflow profile sets the baseline hazards (the national profile when
        the code is not in the CBS table).
    window
        ``(first, last)`` month of the planned evaluation.
    outcome, effects, estimators
        Outcome (rate per 100 recipients), effect sizes on its scale, estimators.
    n_reps, seed, n_jobs
        Placebo replications, their seed, worker processes.

    Returns
    -------
    DataFrame
        ``outcome, estimator, method, effect, power, n_reps`` (:func:`power_curve`) with ``attrs["mde"]`` the
        minimum detectable effects (:func:`minimum_detectable_effect`).
    """
    from joblib import Parallel, delayed

    from bijstand.study.interventions import intervention_from_dict

    for column in ("area", "recipients", start_column):
        if column not in areas.columns:
            raise ValueError(f"plan_power: areas has no column {column!r}")
    spec = {"name": "planned", "label": "planned roll-out", "municipality": municipality,
            "start_column": start_column if start_column.endswith("_start") else "planned_start",
            "assignment": assignment, "window": {"start": window[0], "end": window[1]}, "outcomes": [outcome]}
    intervention = intervention_from_dict(spec, source="plan_power")
    frame = areas.rename(columns={start_column: intervention.start_column})
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(n_reps)]
    if n_jobs == 1:
        frames = [_placebo_replication(frame, intervention, s, estimators) for s in seeds]
    else:
        frames = Parallel(n_jobs=n_jobs)(delayed(_placebo_replication)(frame, intervention, s, estimators)
                                         for s in seeds)
    reps = pd.concat(frames, ignore_index=True)
    curve = power_curve(reps.assign(world="placebo"), effects)
    curve.attrs["mde"] = minimum_detectable_effect(curve)
    return curve


def _placebo_replication(areas: pd.DataFrame, intervention, seed: int, estimators) -> pd.DataFrame:
    from bijstand.data.synthetic import simulate_custom_areas
    from bijstand.study.evaluate import estimate_outcome, records_frame
    from bijstand.study.panels import design_panel

    panel, full_areas = simulate_custom_areas(areas, municipality=intervention.municipality, seed=seed,
                                              start=intervention.window_start, end=intervention.window_end)
    design = design_panel(panel, full_areas, intervention)
    result = estimate_outcome(design, intervention.outcomes[0], estimators=estimators)
    return records_frame(result.records)
