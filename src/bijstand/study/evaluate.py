"""Estimate one outcome of one design with every estimator, record how each number was made, beside its truth.

Estimators and their estimands (all on the design's area x month panel, ``group`` = first treated month):

``callaway_santanna``
    Callaway & Sant'Anna (2021) without covariates (``did::att_gt``; with no covariates the doubly robust,
    regression and IPW estimators coincide, so this is a plain DiD per cell), aggregated to the simple ATT
    :math:`\\sum_{(g,t): t\\ge g} n_g\\,ATT(g,t)/\\sum n_g` over the post-treatment cells in the window, weights
    the cohorts' numbers of areas (R ``aggte(type = "simple")``).
``imputation``
    Borusyak, Jaravel & Spiess (2024): the mean over treated area-months of :math:`Y_{at} - \\hat Y_{at}(0)`,
    with :math:`\\hat Y(0)` from unit and period effects fitted on untreated area-months (equal weights).
``sun_abraham``
    Sun & Abraham (2021) interaction-weighted estimator, overall post-treatment ATT with fixest's weights (cells
    weighted by their number of observations); the control cohort is the never-treated or last-treated cohort.
``twfe``
    The static two-way fixed-effects coefficient: a variance-weighted average of the cells' effects whose weights
    may be negative under staggered, heterogeneous effects (Goodman-Bacon 2021). Its truth here is the same
    regression applied to the true effects, i.e. *its own* estimand, not the policy ATT.

Inference (the level of assignment is the cluster; ``G`` clusters):

``analytic_t``
    clustered standard errors with the :math:`t(G-1)` critical value, for every estimator;
``wild_restricted``
    restricted wild cluster bootstrap (WCR, Webb weights; test-inversion interval) for TWFE and imputation;
``randomization``
    randomisation inference for Callaway–Sant'Anna, permuting start dates across clusters, with the studentised
    statistic :math:`\\hat\\theta/\\widehat{se}`.

The true value of each estimate is the same estimator applied to the design's ``true_effect__<outcome>`` column
(:mod:`bijstand.study.panels`), exact because every estimator is linear in the outcome.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from bijstand.did.results import critical_value
from bijstand.study.panels import TRUE_PREFIX, DesignPanel

Estimator = Literal["callaway_santanna", "imputation", "sun_abraham", "twfe"]
ESTIMATORS: tuple[str, ...] = ("callaway_santanna", "imputation", "sun_abraham", "twfe")
ESTIMATOR_LABELS = {"callaway_santanna": "Callaway–Sant'Anna", "imputation": "Imputation (BJS)",
                    "sun_abraham": "Sun–Abraham", "twfe": "TWFE"}
ESTIMANDS = {
    "callaway_santanna": "simple ATT: post-treatment ATT(g,t) in the window, weighted by cohort size",
    "imputation": "ATT: mean effect over treated area-months in the window, equal weights",
    "sun_abraham": "ATT: post-treatment cohort x event-time effects, weighted by observations",
    "twfe": "static TWFE coefficient: regression-weighted average of cell effects (own estimand)",
}
INFERENCE_LABELS = {"analytic_t": "analytic, t(G-1)", "wild_restricted": "restricted wild cluster bootstrap (Webb)",
                    "randomization": "randomisation inference (studentised)"}


@dataclass(frozen=True)
class EstimateRecord:
    """One estimate with the full record of how it was made (estimator, design, cells, clusters, inference)."""

    intervention: str
    design: str
    population: str
    outcome: str
    estimator: str
    estimand: str
    window: str
    control_group: str
    covariates: str
    cluster: str
    n_clusters: int
    n_treated_areas: int
    n_control_areas: int
    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    p_value: float
    critical_value: float
    dof: int
    inference: str = "analytic_t"
    p_value_wild: float = float("nan")
    ci_lower_wild: float = float("nan")
    ci_upper_wild: float = float("nan")
    p_value_randomization: float = float("nan")
    truth: float = float("nan")
    n_draws: int = 0
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def covers_truth(self) -> bool | None:
        """Whether the analytic interval covers the truth (``None`` without a truth)."""
        return bool(self.ci_lower <= self.truth <= self.ci_upper) if np.isfinite(self.truth) else None

    def as_dict(self) -> dict:
        out = asdict(self)
        out.pop("extra")
        return out

    def method_record(self) -> dict:
        """The provenance record of this number for the results files (:mod:`bijstand.report.methods`)."""
        inference = ["analytic_t"]
        if np.isfinite(self.p_value_wild):
            inference.append("wild_restricted")
        if np.isfinite(self.p_value_randomization):
            inference.append("randomization")
        return {"estimator": self.estimator, "control_group": self.control_group, "covariates": self.covariates,
                "aggregation": self.estimand, "window": self.window, "cluster": self.cluster,
                "n_clusters": self.n_clusters, "inference": inference, "critical_value": self.critical_value,
                "n_draws": self.n_draws}


def _balanced(data: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Areas observed in every month of the window for ``columns`` (the estimators need a balanced panel)."""
    data = data.dropna(subset=columns)
    complete = data.groupby("area")["period"].transform("size") == data["period"].nunique()
    return data[complete]


def _point(estimator: str, data: pd.DataFrame, y: str, control_group: str, *, cluster: str | None = None,
           alpha: float = 0.05, pretrends: bool = False):
    """Run one estimator; returns its result object (``.overall`` an :class:`~bijstand.did.results.Effect`)."""
    from bijstand.did import att_gt, imputation, sun_abraham, twfe_static

    common = {"y": y, "unit": "area", "time": "period", "group": "group"}
    if estimator == "callaway_santanna":
        return att_gt(data, **common, control_group=control_group, cluster=cluster, critical="t", alpha=alpha)
    if estimator == "imputation":
        # Treated area-months in periods without any untreated area (after the last cohort started) cannot be
        # imputed; they are left out with a warning that estimate_outcome records in the estimand.
        return imputation(data, **common, cluster=cluster, critical="t", alpha=alpha, unidentified="drop",
                          pretrends=True if pretrends else None)
    if estimator == "sun_abraham":
        return sun_abraham(data, **common, cluster=cluster, critical="t", alpha=alpha)
    if estimator == "twfe":
        return twfe_static(data, **common, cluster=cluster, critical="t", alpha=alpha)
    raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")


def _overall(estimator: str, result):
    if estimator == "callaway_santanna":
        return result.aggregate("simple", n_boot=0).overall
    return result.overall


@dataclass
class OutcomeEstimates:
    """Every estimator's record for one outcome of one design, plus the objects the notebooks plot."""

    outcome: str
    records: list[EstimateRecord]
    results: dict
    skipped: dict


def estimate_outcome(design: DesignPanel, outcome: str, *, estimators: tuple[str, ...] = ESTIMATORS,
                     population: str = "all", alpha: float = 0.05, n_boot: int = 0, n_perm: int = 0,
                     seed: int = 0, pretrends: bool = False) -> OutcomeEstimates:
    """Estimate ``outcome`` on a design with each estimator, with its inference, record and truth.

    Parameters
    ----------
    design
        From :func:`bijstand.study.panels.design_panel`; carries ``true_effect__<outcome>`` on synthetic data.
    estimators
        Subset of :data:`ESTIMATORS`.
    n_boot
        Restricted wild cluster bootstrap draws for TWFE and imputation (0 = none).
    n_perm
        Randomisation-inference draws for Callaway–Sant'Anna (0 = none; enumerated when fewer assignments exist).
    pretrends
        Also run the imputation estimator's pre-trend test (:attr:`OutcomeEstimates.results` ``"pretrends"``).

    Returns
    -------
    OutcomeEstimates
        One :class:`EstimateRecord` per estimator that could be estimated; ``skipped`` maps the others to why.
    """
    from bijstand.did import randomization_test, wild_bootstrap_imputation, wild_bootstrap_twfe

    truth_column = TRUE_PREFIX + outcome
    has_truth = truth_column in design.data.columns
    columns = [outcome] + ([truth_column] if has_truth else [])
    data = _balanced(design.data, columns)
    records, results, skipped = [], {}, {}
    if data.empty or not (data["group"] > 0).any() or data["area"].nunique() < 3:
        reason = (f"{outcome} is not observed in every month of the window in enough areas (too few persons per "
                  "area for a rate or share)")
        return OutcomeEstimates(outcome, [], {}, {e: reason for e in estimators})
    n_treated = int(data.loc[data["group"] > 0, "area"].nunique())
    n_control = int(data.loc[data["group"] == 0, "area"].nunique())
    n_clusters = int(data["cluster"].nunique())
    dof = n_clusters - 1
    crit = critical_value(alpha, dof)
    window = f"{design.window_start} to {design.window_end}"
    for estimator in estimators:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = _point(estimator, data, outcome, design.control_group, cluster="cluster", alpha=alpha,
                                pretrends=pretrends and estimator == "imputation")
        except ValueError as err:  # e.g. no control cohort left for Sun-Abraham
            skipped[estimator] = str(err)
            continue
        effect = _overall(estimator, result)
        if not effect.se > 1e-9:
            skipped[estimator] = (f"its clustered standard error is zero: with {n_clusters} clusters each cohort "
                                  "is a cluster of its own, so the cohort-specific coefficients leave no "
                                  "within-cluster variation")
            continue
        estimand = ESTIMANDS[estimator]
        notes = [str(w.message) for w in caught if "cannot be imputed" in str(w.message)
                 or "dropped" in str(w.message)]
        if estimator == "imputation" and notes:
            estimand += "; treated area-months in periods without an untreated area are left out"
        truth = float("nan")
        if has_truth:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                truth = float(_overall(estimator, _point(estimator, data, truth_column,
                                                         design.control_group)).estimate)
        wild_p = wild_lo = wild_hi = float("nan")
        ri_p = float("nan")
        draws = 0
        if n_boot and estimator in ("twfe", "imputation"):
            if estimator == "twfe":
                wild = wild_bootstrap_twfe(data, y=outcome, unit="area", time="period", group="group",
                                           cluster="cluster", bootstrap="restricted", n_boot=n_boot, seed=seed,
                                           alpha=alpha)
            else:
                wild = wild_bootstrap_imputation(result, n_boot=n_boot, seed=seed, alpha=alpha)
            wild_p, wild_lo, wild_hi = wild.overall.p_value, wild.overall.ci_lower, wild.overall.ci_upper
            draws = n_boot
        if n_perm and estimator == "callaway_santanna":
            ri = randomization_test(result, statistic="simple", studentize=True, n_perm=n_perm, seed=seed,
                                    alpha=alpha)
            ri_p = ri.p_value
            draws = n_perm
        records.append(EstimateRecord(
            intervention=design.intervention.name, design=design.design, population=population, outcome=outcome,
            estimator=estimator, estimand=estimand, window=window, control_group=design.control_group,
            covariates="none", cluster=design.intervention.assignment, n_clusters=n_clusters,
            n_treated_areas=n_treated, n_control_areas=n_control, estimate=float(effect.estimate),
            se=float(effect.se), ci_lower=float(effect.estimate - crit * effect.se),
            ci_upper=float(effect.estimate + crit * effect.se), p_value=float(effect.p_value),
            critical_value=float(crit), dof=dof, p_value_wild=float(wild_p), ci_lower_wild=float(wild_lo),
            ci_upper_wild=float(wild_hi), p_value_randomization=float(ri_p), truth=truth, n_draws=draws,
            extra={"notes": notes}))
        results[estimator] = result
    return OutcomeEstimates(outcome, records, results, skipped)


def records_frame(records: list[EstimateRecord]) -> pd.DataFrame:
    """Records as a tidy DataFrame (one row per estimate, every provenance field a column)."""
    return pd.DataFrame([r.as_dict() for r in records])


@dataclass
class EventStudy:
    """Callaway–Sant'Anna event study of one outcome with a universal base period (the month before the start).

    Attributes
    ----------
    table
        ``event_time, estimate, se, ci_lower, ci_upper, ucb_lower, ucb_upper`` (pointwise intervals and the
        uniform sup-t band of the multiplier bootstrap), relative to event time -1.
    truth
        ``event_time, att``: the same aggregation applied to the true effects (synthetic data), else ``None``.
    result
        The :class:`~bijstand.did.aggte.AggregateResult` (input of HonestDiD).
    cells
        Which cells enter, in words.
    """

    outcome: str
    table: pd.DataFrame
    truth: pd.DataFrame | None
    result: object
    cells: str
    n_clusters: int


def event_study(design: DesignPanel, outcome: str, *, min_e: int = -6, max_e: int = 6, n_boot: int = 199,
                seed: int = 0, alpha: float = 0.05) -> EventStudy:
    """Dynamic ATT :math:`\\theta(e) = \\sum_g w_g ATT(g, g+e)` for :math:`e \\in [` ``min_e``, ``max_e`` :math:`]`.

    Weights :math:`w_g` are the cohorts' shares of areas among cohorts observed at event time :math:`e` (R
    ``aggte(type = "dynamic")``); pre-treatment estimates use the universal base period, as HonestDiD requires.
    """
    from bijstand.did import att_gt

    truth_column = TRUE_PREFIX + outcome
    has_truth = truth_column in design.data.columns
    data = _balanced(design.data, [outcome] + ([truth_column] if has_truth else []))
    common = {"unit": "area", "time": "period", "group": "group", "control_group": design.control_group,
              "base_period": "universal"}
    result = att_gt(data, y=outcome, cluster="cluster", alpha=alpha, **common)
    dynamic = result.aggregate("dynamic", min_e=min_e, max_e=max_e, n_boot=n_boot, seed=seed)
    truth = None
    if has_truth:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            true_dynamic = att_gt(data, y=truth_column, **common).aggregate("dynamic", min_e=min_e, max_e=max_e,
                                                                             n_boot=0)
        truth = true_dynamic.table[["event_time", "estimate"]].rename(columns={"estimate": "att"})
    return EventStudy(outcome, dynamic.table, truth, dynamic, f"event times {min_e} to {max_e}",
                      int(data["cluster"].nunique()))


@dataclass
class HonestAverage:
    """Rambachan–Roth relative-magnitude robust confidence sets for the average effect over event times 0..``post``."""

    table: pd.DataFrame
    breakdown: float
    breakdown_text: str
    post: int


def honest_average(event: EventStudy, *, mbar=(0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0), alpha: float = 0.05,
                   search_max: float = 10.0) -> HonestAverage:
    """Robust sets for :math:`\\bar\\theta = \\frac{1}{E+1}\\sum_{e=0}^{E}\\theta(e)` under
    :math:`\\Delta^{RM}(\\bar M)` and the breakdown value: the smallest :math:`\\bar M` whose set includes 0 (0 when
    the conventional interval already includes it; NaN when above ``search_max``)."""
    from bijstand.did import honest_from_event_study

    honest = honest_from_event_study(event.result, l_vec="average", reference=-1, method="relative_magnitude",
                                     mbar=list(mbar), alpha=alpha)
    breakdown = honest.breakdown(search_max=search_max)
    value = float(breakdown.value) if np.isfinite(breakdown.value) else float("nan")
    post = int(event.table["event_time"].max())
    return HonestAverage(honest.table, value, str(breakdown), post)


def pretrend_test(design: DesignPanel, outcome: str, *, leads: int = 6, alpha: float = 0.05) -> dict:
    """Borusyak–Jaravel–Spiess pre-trend test: joint Wald test that the coefficients of event times -``leads``
    to -1, added to the regression on untreated area-months, are zero (:math:`F(q, G-1)`).

    Returns ``statistic, df_num, df_denom, p_value, leads``.
    """
    from bijstand.did import imputation

    data = _balanced(design.data, [outcome])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = imputation(data, y=outcome, unit="area", time="period", group="group", cluster="cluster",
                            critical="t", alpha=alpha, unidentified="drop", pretrends=list(range(-leads, 0)))
    test = result.pretrends
    return {"statistic": float(test.statistic), "df_num": int(test.df_num), "df_denom": int(test.df_denom),
            "p_value": float(test.p_value), "leads": leads}


def bacon(design: DesignPanel, outcome: str):
    """Goodman-Bacon decomposition of the static TWFE coefficient on ``outcome`` (every area observed)."""
    from bijstand.did import bacon_decomposition

    data = _balanced(design.data, [outcome])
    return bacon_decomposition(data, y=outcome, unit="area", time="period", group="group")
