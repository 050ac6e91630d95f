r"""Inference for few clusters: a wild cluster bootstrap test and randomisation inference over adoption dates.

With 22 areas, cohorts of one to three areas, and every area eventually treated, the normal approximation behind
analytic cluster-robust standard errors is poor: a few clusters carry most of the influence function, and the
cluster-robust variance is biased down (Cameron, Gelbach & Miller 2008; MacKinnon & Webb 2017). Two remedies:

* :func:`wild_bootstrap_test` — a wild (multiplier) bootstrap at the cluster level of the estimator's influence
  function, :math:`\hat\theta^*_b = n^{-1}\sum_c v_{cb} S_c` with :math:`S_c = \sum_{i\in c}\psi_i` and
  Rademacher or Webb six-point weights :math:`v`. The p-value compares :math:`|\hat\theta|` with the bootstrap
  distribution of :math:`|\hat\theta^*|` (or, ``studentized=True``, :math:`|t|` with :math:`|t^*|`, each draw
  with its own cluster-robust SE). With Rademacher weights this is a sign-flip test of the cluster scores, exact
  when they are symmetric and independent under the null; Webb's weights give more distinct draws with few
  clusters (Webb 2023).
* :func:`randomization_test` — randomisation inference for the sharp null of no effect in any area: permute the
  areas' adoption dates (the vector of first-treated periods) across areas, re-estimate, and locate the actual
  estimate in the permutation distribution. Valid in finite samples when adoption dates are exchangeable across
  areas, whatever the number of clusters.
"""

from __future__ import annotations

from collections.abc import Callable
from math import factorial

import numpy as np
import pandas as pd
from tqdm import tqdm

from bijstand.did.callaway_santanna import AggregateResult, ATTgtResult, att_gt, multiplier_weights


def cluster_scores(result: ATTgtResult, influence: np.ndarray) -> np.ndarray:
    """Sum an influence function within clusters (units are their own clusters when none were given)."""
    if result.clusters is None:
        return np.asarray(influence, float)
    return result.clusters.sums(np.asarray(influence, float)[:, None])[:, 0]


def wild_bootstrap_test(result: ATTgtResult, aggregate: AggregateResult, *, weights: str = "webb",
                        n_boot: int = 999, seed: int | None = None, null: float = 0.0,
                        studentized: bool = False) -> dict:
    """Wild cluster bootstrap p-value of :math:`H_0: \\theta = \\theta_0` for an aggregate's overall parameter.

    Returns ``{"p_value", "estimate", "weights", "n_boot", "n_clusters"}``.
    """
    scores = cluster_scores(result, aggregate.influence)
    n = result.n
    estimate = float(aggregate.overall["att"])
    rng = np.random.default_rng(seed)
    v = multiplier_weights(weights, (n_boot, scores.size), rng)
    draws = v @ scores / n
    if studentized:
        se = np.sqrt((scores ** 2).sum()) / n
        se_draws = np.sqrt(((v * scores) ** 2).sum(axis=1)) / n
        stat, boot_stats = abs(estimate - null) / se, np.abs(draws) / se_draws
    else:
        stat, boot_stats = abs(estimate - null), np.abs(draws)
    p_value = (1 + np.sum(boot_stats >= stat)) / (n_boot + 1)
    return {"p_value": float(p_value), "estimate": estimate, "weights": weights, "n_boot": n_boot,
            "n_clusters": int(scores.size)}


def _distinct_permutations(groups: np.ndarray) -> int:
    counts = pd.Series(groups).value_counts().to_numpy()
    total = factorial(len(groups))
    for c in counts:
        total //= factorial(int(c))
    return total


def randomization_test(data: pd.DataFrame, *, y: str, unit: str, time: str, group: str, n_perm: int = 999,
                       seed: int | None = None, statistic: Callable[[ATTgtResult], float] | None = None,
                       progress: bool = False, **att_gt_options) -> dict:
    """Randomisation-inference p-value for the sharp null of no effect, permuting adoption dates across units.

    Parameters
    ----------
    data, y, unit, time, group
        As for :func:`~bijstand.did.callaway_santanna.att_gt`; ``group`` is permuted across units.
    n_perm
        Random permutations (the identity is counted as one, so the smallest p-value is 1 / (n_perm + 1)).
    statistic
        Function of an :class:`ATTgtResult` giving the test statistic; default the simple aggregate ATT.
    att_gt_options
        Passed on to ``att_gt`` (e.g. ``control_group="notyet"``).

    Returns
    -------
    dict
        ``p_value``, ``estimate``, ``permuted`` (the statistics under permutation), ``n_distinct`` (number of
        distinct assignments).
    """
    statistic = statistic or (lambda res: float(res.aggregate("simple", n_boot=0).overall["att"]))
    att_gt_options = {**att_gt_options, "n_boot": 0}
    estimate = statistic(att_gt(data, y=y, unit=unit, time=time, group=group, **att_gt_options))
    unit_groups = data.drop_duplicates(unit).set_index(unit)[group]
    rng = np.random.default_rng(seed)
    codes = data[unit].map({u: i for i, u in enumerate(unit_groups.index)}).to_numpy()
    values = unit_groups.to_numpy()
    permuted = np.empty(n_perm)
    for b in tqdm(range(n_perm), desc="permutations", disable=not progress):
        shuffled = rng.permutation(values)
        permuted[b] = statistic(att_gt(data.assign(**{group: shuffled[codes]}), y=y, unit=unit, time=time,
                                       group=group, **att_gt_options))
    p_value = (1 + np.sum(np.abs(permuted) >= abs(estimate) - 1e-12)) / (n_perm + 1)
    return {"p_value": float(p_value), "estimate": estimate, "permuted": permuted,
            "n_distinct": _distinct_permutations(values)}
