"""Goodman-Bacon (2021) decomposition of the static TWFE DiD coefficient.

In a balanced panel with an absorbing binary treatment, the static TWFE coefficient
(:func:`bijstand.did.twfe.twfe_static`) is a weighted average of every 2x2 DiD between two timing
groups (Goodman-Bacon 2021, Theorem 1):

.. math::

    \\hat\\beta^{DD} = \\sum_{k} s_{kU}\\hat\\beta_{kU}
        + \\sum_{k}\\sum_{l > k}\\left[s^k_{kl}\\hat\\beta^k_{kl} + s^l_{kl}\\hat\\beta^l_{kl}\\right],
    \\qquad \\sum s = 1,

where ``k`` is treated before ``l``, ``U`` is never treated, :math:`\\hat\\beta^k_{kl}` uses the
later group ``l`` as control before ``l`` is treated, and :math:`\\hat\\beta^l_{kl}` uses the
already-treated ``k`` as control after it was treated (the "forbidden" comparison). The weights
(eq. 10e-g) are

.. math::

    s_{kU} &= \\frac{(n_k + n_U)^2\\, n_{kU}(1-n_{kU})\\, \\bar D_k(1-\\bar D_k)}{\\hat V^D}, \\\\
    s^k_{kl} &= \\frac{((n_k+n_l)(1-\\bar D_l))^2\\, n_{kl}(1-n_{kl})\\,
                \\frac{\\bar D_k-\\bar D_l}{1-\\bar D_l}\\frac{1-\\bar D_k}{1-\\bar D_l}}{\\hat V^D}, \\\\
    s^l_{kl} &= \\frac{((n_k+n_l)\\bar D_k)^2\\, n_{kl}(1-n_{kl})\\,
                \\frac{\\bar D_l}{\\bar D_k}\\frac{\\bar D_k-\\bar D_l}{\\bar D_k}}{\\hat V^D},

with :math:`n_k` the share of units in group ``k``, :math:`n_{kl} = n_k/(n_k+n_l)`,
:math:`\\bar D_k` the share of periods in which ``k`` is treated and :math:`\\hat V^D` the variance of
the two-way demeaned treatment indicator.

Always-treated units (first treated in or before the first period) have :math:`\\bar D = 1`; the unit
effect absorbs their treatment, so they act exactly like never-treated units. They are kept as their
own group, which contributes only "Later vs Always Treated" comparisons (as in R ``bacondecomp``);
the identity above holds with them.

The comparison types carry R ``bacondecomp``'s labels ("Treated vs Untreated" for never-treated controls).
R computes each weight from the observation counts and treatment shares of the 2x2 subsample and rescales
the weights to sum to one; the closed forms above are the same numbers. ``tests/test_bacon.py`` checks every
2x2 estimate and weight and the summary by type against ``bacondecomp`` 0.1.3 on ``mpdta`` to 1e-10, and the
identity (weights sum to one and reproduce the TWFE coefficient) on simulated panels.

Written here because no maintained Python implementation is available to the project: the only
PyPI candidate found (``pybacondecomp`` 0.1.0, a single release) is not in the lock file, and R
``bacondecomp`` is not callable from the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bijstand.did.results import Effect, ResultMixin, format_table, glance_frame, summary_text
from bijstand.did.twfe import _require_columns, _validate_panel

TYPE_TREATED_VS_UNTREATED = "Treated vs Untreated"
TYPE_EARLIER_VS_LATER = "Earlier vs Later Treated"
TYPE_LATER_VS_EARLIER = "Later vs Earlier Treated"
TYPE_LATER_VS_ALWAYS = "Later vs Always Treated"


@dataclass(frozen=True)
class BaconDecomposition(ResultMixin):
    """Result of :func:`bacon_decomposition`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per 2x2 comparison with positive weight: ``type, treated, control, estimate, weight``.
        ``treated``/``control`` are the first-treated periods of the groups in those roles
        (0 = never treated, R's ``Inf``; always-treated units keep their own first-treated value). A
        decomposition of a point estimate: there are no standard errors, so no inference columns.
    overall : Effect
        The static TWFE coefficient (computed directly by the within estimator), without inference
        (``se`` and the interval are NaN).
    by_type : pandas.DataFrame
        Per comparison type: ``type, estimate`` (weighted mean of its 2x2 estimates), ``weight`` (sum) and
        ``n_comparisons`` (R ``bacon_summary()``).
    n_units, n_periods : int
    """

    table: pd.DataFrame
    overall: Effect
    by_type: pd.DataFrame
    n_units: int = 0
    n_periods: int = 0

    def summary(self) -> str:
        """Printable summary (R ``bacon_summary()`` and the 2x2 comparisons)."""
        header = [("Estimator", "Goodman-Bacon (2021) decomposition of the static TWFE coefficient"),
                  ("TWFE coefficient", f"{self.overall.estimate:.6g}"), ("Units", self.n_units),
                  ("Periods", self.n_periods), ("Comparisons", len(self.table))]
        text = summary_text(title="Goodman-Bacon decomposition", header=header, table=self.by_type,
                            table_label="By comparison type", stars=None)
        return text + "\n\n2x2 comparisons:\n" + format_table(self.table, stars=None)

    def glance(self) -> pd.DataFrame:
        """One row: estimator, twfe estimate, n_units, n_periods, n_comparisons, weight of forbidden comparisons."""
        forbidden = self.table["type"].isin([TYPE_LATER_VS_EARLIER, TYPE_LATER_VS_ALWAYS])
        return glance_frame(estimator="bacon_decomposition", estimate=self.overall.estimate, n_units=self.n_units,
                            n_periods=self.n_periods, n_comparisons=len(self.table),
                            weight_already_treated_controls=float(self.table.loc[forbidden, "weight"].sum()))


def bacon_decomposition(data: pd.DataFrame, *, y: str, unit: str, time: str, group: str) -> BaconDecomposition:
    """Decompose the static TWFE DiD coefficient into 2x2 comparisons (Goodman-Bacon 2021).

    Parameters
    ----------
    data : pandas.DataFrame
        Balanced long panel, one row per unit and time.
    y, unit, time, group : str
        Outcome, unit id, integer period and first-treated period (0 = never treated; a value after
        the last period also counts as never treated within the window).

    Returns
    -------
    BaconDecomposition

    Raises
    ------
    ValueError
        If the panel is unbalanced (the decomposition is exact only for balanced panels) or has no
        treatment variation.
    """
    _require_columns(data, {"y": y, "unit": unit, "time": time, "group": group})
    _validate_panel(data, y=y, unit=unit, time=time, group=group)
    wide = data.pivot(index=unit, columns=time, values=y).sort_index(axis=1)
    if wide.isna().any().any():
        raise ValueError(f"the panel is unbalanced: some ({unit!r}, {time!r}) rows are missing")
    periods = wide.columns.to_numpy()
    n_units, n_periods = wide.shape
    first_treat = data.groupby(unit)[group].first().reindex(wide.index).to_numpy()
    # Timing group of each unit: never treated (inside the window) -> +inf, always treated -> first period.
    timing = np.where((first_treat == 0) | (first_treat > periods[-1]), np.inf,
                      np.maximum(first_treat, periods[0]))
    treated = periods[None, :] >= timing[:, None]
    outcome = wide.to_numpy(dtype=float)

    demeaned = treated - treated.mean(axis=1, keepdims=True) - treated.mean(axis=0, keepdims=True) + treated.mean()
    variance_d = float((demeaned**2).mean())
    if variance_d <= 1e-14:
        raise ValueError(f"column {group!r} gives no treatment variation after unit and time effects")
    twfe_coef = float((demeaned * outcome).sum() / (demeaned**2).sum())

    groups = np.unique(timing)
    share = {g: float(np.mean(timing == g)) for g in groups}
    treated_share = {g: float(np.mean(periods >= g)) for g in groups}
    label = {g: (0 if np.isinf(g) else first_treat[timing == g][0]) for g in groups}
    always = {g for g in groups if treated_share[g] == 1.0}

    def mean_outcome(g: float, window: np.ndarray) -> float:
        return float(outcome[timing == g][:, window].mean())

    def did(treated_group: float, control_group: float, before: np.ndarray, after: np.ndarray) -> float:
        return (mean_outcome(treated_group, after) - mean_outcome(treated_group, before)) - (
            mean_outcome(control_group, after) - mean_outcome(control_group, before)
        )

    rows = []
    for i, early in enumerate(groups):
        for late in groups[i + 1:]:
            n_pair = share[early] + share[late]
            pair_share = share[early] / n_pair
            d_early, d_late = treated_share[early], treated_share[late]
            pre_early = periods < early
            mid = (periods >= early) & (periods < late)
            post_late = periods >= late
            # Early group treated, late group (not yet treated, or never) as control.
            if d_late < 1 and 0 < d_early < 1:
                weight = ((n_pair * (1 - d_late)) ** 2 * pair_share * (1 - pair_share)
                          * (d_early - d_late) / (1 - d_late) * (1 - d_early) / (1 - d_late)) / variance_d
                kind = TYPE_TREATED_VS_UNTREATED if np.isinf(late) else TYPE_EARLIER_VS_LATER
                estimate = did(early, late, pre_early, mid)
                rows.append((kind, label[early], label[late], estimate, weight))
            # Late group treated, early group (already treated) as control.
            if np.isfinite(late) and d_late > 0 and d_early > 0:
                weight = ((n_pair * d_early) ** 2 * pair_share * (1 - pair_share)
                          * d_late / d_early * (d_early - d_late) / d_early) / variance_d
                kind = TYPE_LATER_VS_ALWAYS if early in always else TYPE_LATER_VS_EARLIER
                estimate = did(late, early, mid, post_late)
                rows.append((kind, label[late], label[early], estimate, weight))

    table = pd.DataFrame(rows, columns=["type", "treated", "control", "estimate", "weight"])
    table = table.loc[table["weight"] > 0].reset_index(drop=True)
    by_type = (
        table.assign(weighted=table["estimate"] * table["weight"])
        .groupby("type", sort=True)
        .agg(weight=("weight", "sum"), weighted=("weighted", "sum"), n_comparisons=("weight", "size"))
    )
    by_type["estimate"] = by_type["weighted"] / by_type["weight"]
    by_type = by_type[["estimate", "weight", "n_comparisons"]].reset_index()
    overall = Effect(estimate=twfe_coef, se=np.nan, statistic=np.nan, p_value=np.nan, ci_lower=np.nan,
                     ci_upper=np.nan, crit_value=np.nan, dof=None, alpha=np.nan, n_clusters=None,
                     inference="none (decomposition of the point estimate)")
    return BaconDecomposition(table=table, overall=overall, by_type=by_type, n_units=n_units,
                              n_periods=n_periods)
