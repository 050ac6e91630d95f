"""Soft against hard, like for like: the same outcome, population and window length, and a test of the difference.

Amsterdam's soft outreach and Rotterdam's counter-performance are evaluated in different cities, years and
populations. A like-for-like comparison fixes

* the outcome: durable outflow to work (exits to work not followed by a return within 12 months) per 100
  recipients of the population, per month;
* the population: recipients on benefit for at least ``min_duration_months`` (the counter-performance's target
  group) in both cities;
* the window: the same number of months from each roll-out's first start (and the same pre-period length);

and tests :math:`H_0: \\theta_{\\text{soft}} = \\theta_{\\text{hard}}` with

.. math::

    t = \\frac{\\hat\\theta_{\\text{soft}} - \\hat\\theta_{\\text{hard}}}
             {\\sqrt{\\widehat{se}^2_{\\text{soft}} + \\widehat{se}^2_{\\text{hard}}}}
    \\sim t(\\min(G_{\\text{soft}}, G_{\\text{hard}}) - 1),

the two estimates being independent (different cities). The degrees of freedom follow the smaller number of
clusters (7 borough teams against 42 neighbourhoods): the test is only as good as the 7-cluster standard error,
whose measured size the simulation study reports (:func:`comparison_simulation`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from bijstand.study.evaluate import EstimateRecord


@dataclass(frozen=True)
class Difference:
    """Soft minus hard, with its test."""

    outcome: str
    population: str
    months: int
    soft: EstimateRecord
    hard: EstimateRecord
    estimate: float
    se: float
    dof: int
    p_value: float
    ci_lower: float
    ci_upper: float
    truth: float

    def as_row(self) -> dict:
        return {"outcome": self.outcome, "population": self.population, "months": self.months,
                "soft": self.soft.estimate, "soft_se": self.soft.se, "soft_clusters": self.soft.n_clusters,
                "hard": self.hard.estimate, "hard_se": self.hard.se, "hard_clusters": self.hard.n_clusters,
                "difference": self.estimate, "se": self.se, "dof": self.dof, "p_value": self.p_value,
                "ci_lower": self.ci_lower, "ci_upper": self.ci_upper, "truth": self.truth}


def difference(soft: EstimateRecord, hard: EstimateRecord, *, months: int, population: str,
               alpha: float = 0.05) -> Difference:
    """Test soft = hard for two independent estimates of the same outcome (module docstring)."""
    if soft.outcome != hard.outcome or soft.estimator != hard.estimator:
        raise ValueError("difference: compare the same outcome with the same estimator "
                         f"(got {soft.outcome}/{soft.estimator} against {hard.outcome}/{hard.estimator})")
    estimate = soft.estimate - hard.estimate
    se = float(np.hypot(soft.se, hard.se))
    dof = int(min(soft.n_clusters, hard.n_clusters) - 1)
    crit = float(stats.t.ppf(1 - alpha / 2, dof))
    p_value = float(2 * stats.t.sf(abs(estimate / se), dof)) if se > 0 else float("nan")
    truth = soft.truth - hard.truth
    return Difference(soft.outcome, population, months, soft, hard, float(estimate), se, dof, p_value,
                      float(estimate - crit * se), float(estimate + crit * se), float(truth))


def same_length_window(start: str, first_start: pd.Timestamp, months: int) -> tuple[str, str]:
    """A window from ``start`` to ``months`` months after the first roll-out start (inclusive), as YYYY-MM."""
    end = pd.Timestamp(first_start) + pd.DateOffset(months=months - 1)
    return start, end.strftime("%Y-%m")
