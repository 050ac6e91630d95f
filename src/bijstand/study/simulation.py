"""Simulation study on the notebooks' own data-generating process (Morris, White & Crowther 2019).

Aims
    Measure, for each intervention x outcome x estimator the paper reports, how far the estimates fall from their
    truth and how often their intervals and tests are right, in the design and at the scale the paper uses; and
    what happens when an identifying assumption fails.
Data-generating process
    Each replication simulates a complete synthetic register (:func:`bijstand.data.synthetic.simulate_register`:
    persons, spells, exits by reason, re-entries) with its own seed, in two worlds on common random numbers: with
    all interventions, and without the one evaluated. The area x month panels are counted from the persons, as the
    notebooks' panels are. Optionally the world deviates from an assumption (:data:`SCENARIOS`).
Estimands
    Each estimator's own estimand on the effect world, computed by applying the estimator to the true effects
    (:mod:`bijstand.study.panels`); in the *placebo* world (the same register without the intervention) every
    truth is zero.
Methods
    :func:`bijstand.study.evaluate.estimate_outcome` — exactly what notebook ``02_evaluation`` runs.
Performance measures (:func:`summarise`)
    bias with its Monte Carlo SE, RMSE, mean SE / SD of the estimates, coverage of the 95% interval (with its Monte
    Carlo SE), rejection rate of H0: no effect — power in the effect world, size in the placebo world — for the
    analytic t(G-1) test, the restricted wild cluster bootstrap and randomisation inference where run.

Replications are independent given their seeds (``numpy.random.SeedSequence(seed).spawn``), so serial, joblib and
Dask runs give identical results (tested); :func:`run_study` shows a progress bar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bijstand.study.evaluate import ESTIMATORS, estimate_outcome
from bijstand.study.interventions import Intervention, load_intervention
from bijstand.study.panels import DesignError, design_panel

#: Worlds in which an identifying assumption fails (cohort approach); see :class:`bijstand.data.synthetic.Deviations`.
SCENARIOS: dict[str, dict] = {
    "parallel_trends": {},
    "trends_by_rollout_order": {"trend_by_order": 0.05},
    "selection_on_gains": {"selection_on_gains": True},
    "spillover_to_not_yet_treated": {"spillover": 0.5},
    "covid_shock_by_area": {"covid_by_area": 0.3},
    "anticipation_one_month": {"anticipation_months": 1},
}
SCENARIO_LABELS = {
    "parallel_trends": "assumptions hold",
    "trends_by_rollout_order": "trends differ with roll-out order",
    "selection_on_gains": "areas chosen for their expected gains",
    "spillover_to_not_yet_treated": "spill-overs to not-yet-treated areas",
    "covid_shock_by_area": "COVID-19 shock differs by area",
    "anticipation_one_month": "anticipation (effect from one month before the start)",
}

RESULT_COLUMNS = ("rep", "seed", "world", "scenario", "outcome", "estimator", "estimate", "se", "ci_lower",
                  "ci_upper", "p_value", "p_value_wild", "ci_lower_wild", "ci_upper_wild", "p_value_randomization",
                  "critical_value", "truth", "n_clusters")


@dataclass(frozen=True)
class StudyDesign:
    """What one replication simulates and estimates.

    Parameters
    ----------
    intervention
        Bundled intervention name or path (:func:`bijstand.study.interventions.load_intervention`).
    outcomes
        Panel outcomes to estimate (default: the intervention's).
    estimators
        Estimators (:data:`bijstand.study.evaluate.ESTIMATORS`).
    design
        ``"notyet"`` or ``"never"``.
    scale
        Size of each simulated register (1 = real size).
    n_boot, n_perm
        Wild-bootstrap and randomisation draws per replication (0 = analytic inference only).
    scenario
        Key of :data:`SCENARIOS`.
    alpha
        One minus the confidence level.
    """

    intervention: str
    outcomes: tuple[str, ...] | None = None
    estimators: tuple[str, ...] = ESTIMATORS
    design: str = "notyet"
    scale: float = 1.0
    n_boot: int = 0
    n_perm: int = 0
    scenario: str = "parallel_trends"
    alpha: float = 0.05
    min_persons: int = 10

    def __post_init__(self):
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {sorted(SCENARIOS)}, got {self.scenario!r}")
        if not self.scale > 0:
            raise ValueError(f"scale must be positive, got {self.scale!r}")

    def resolved(self) -> Intervention:
        return load_intervention(self.intervention)


def replication_seeds(seed: int, n_reps: int) -> list[int]:
    """Independent seeds for ``n_reps`` replications (same ``seed`` -> same list)."""
    children = np.random.SeedSequence(seed).spawn(n_reps)
    return [int(child.generate_state(1, dtype=np.uint32)[0]) for child in children]


def simulate_worlds(intervention: Intervention, *, seed: int, scale: float, design: str = "notyet",
                    scenario: str = "parallel_trends"):
    """One synthetic register in the worlds with and without ``intervention``: ``(panel, without, areas)``.

    Only the municipalities the design needs are simulated (its own, plus the never-treated comparison
    municipalities for ``design="never"``); spells are not kept.
    """
    from bijstand.data import synthetic

    if intervention.synthetic is None:
        raise ValueError(f"{intervention.name}: no synthetic counterpart (key 'synthetic' of its description)")
    municipalities = (intervention.municipality,) + (intervention.never_treated if design == "never" else ())
    options = {}
    if SCENARIOS[scenario]:
        options["deviations"] = synthetic.Deviations(**SCENARIOS[scenario])
    register = synthetic.simulate_register(seed=seed, scale=scale, municipalities=municipalities,
                                           counterfactuals=(intervention.synthetic,), record_spells=False,
                                           **options)
    return (register.world_panels["all"], register.world_panels[f"without_{intervention.synthetic}"],
            register.areas)


def run_replication(design: StudyDesign, seed: int, rep: int = 0) -> pd.DataFrame:
    """Simulate one register and estimate every outcome in the effect and the placebo world.

    Returns one row per world x outcome x estimator (:data:`RESULT_COLUMNS`); an outcome or estimator that cannot
    be estimated in this replication gives a row with NaN estimate (counted in :func:`summarise`).
    """
    intervention = design.resolved()
    outcomes = design.outcomes or intervention.outcomes
    panel, without, areas = simulate_worlds(intervention, seed=seed, scale=design.scale, design=design.design,
                                            scenario=design.scenario)
    rows = []
    for world, observed, counterfactual in (("effect", panel, without), ("placebo", without, without)):
        try:
            dp = design_panel(observed, areas, intervention, design=design.design, without=counterfactual,
                              outcomes=tuple(outcomes), min_persons=design.min_persons)
        except DesignError:
            continue
        for outcome in outcomes:
            if outcome not in dp.data.columns:
                continue
            result = estimate_outcome(dp, outcome, estimators=design.estimators, alpha=design.alpha,
                                      n_boot=design.n_boot, n_perm=design.n_perm, seed=seed)
            done = {r.estimator for r in result.records}
            for record in result.records:
                row = {k: getattr(record, k) for k in RESULT_COLUMNS if hasattr(record, k)}
                rows.append(row | {"world": world, "outcome": outcome})
            for estimator in design.estimators:
                if estimator not in done:
                    rows.append({"world": world, "outcome": outcome, "estimator": estimator})
    frame = pd.DataFrame(rows, columns=[c for c in RESULT_COLUMNS])
    frame["rep"], frame["seed"], frame["scenario"] = rep, seed, design.scenario
    return frame


def _replication_task(design: StudyDesign, seed: int, rep: int) -> pd.DataFrame:
    import threadpoolctl

    # one BLAS thread per worker: the workers already use every core
    with threadpoolctl.threadpool_limits(1):
        return run_replication(design, seed, rep)


def run_study(design: StudyDesign, n_reps: int, *, seed: int, n_jobs: int = 1, backend: str = "joblib",
              scheduler_address: str | None = None, progress: bool = True) -> pd.DataFrame:
    """Run ``n_reps`` replications; the result does not depend on ``n_jobs`` or ``backend`` (module docstring).

    Parameters
    ----------
    design
        What each replication simulates and estimates.
    n_reps, seed
        Number of replications and the seed their seeds derive from.
    n_jobs
        Worker processes for ``backend="joblib"`` (1 = serial in this process).
    backend
        ``"joblib"`` or ``"dask"`` (a ``distributed`` cluster at ``scheduler_address``, or a LocalCluster with
        ``n_jobs`` workers when no address is given; needs the ``dask`` extra).
    progress
        Show a progress bar (tqdm).
    """
    from tqdm.auto import tqdm

    if n_reps < 1:
        raise ValueError(f"n_reps must be at least 1, got {n_reps!r}")
    if backend not in ("joblib", "dask"):
        raise ValueError(f"backend must be 'joblib' or 'dask', got {backend!r}")
    seeds = replication_seeds(seed, n_reps)
    label = f"{design.intervention} · {design.scenario}"
    if backend == "dask":
        from bijstand.extras import extra_required

        distributed = extra_required("dask", "distributed")
        cluster = None
        if scheduler_address is None:
            cluster = distributed.LocalCluster(n_workers=n_jobs, threads_per_worker=1, processes=True,
                                               dashboard_address=None)
        client = distributed.Client(scheduler_address or cluster)
        try:
            futures = client.map(_replication_task, [design] * n_reps, seeds, range(n_reps), pure=False)
            frames = [f.result() for f in tqdm(futures, desc=label, disable=not progress)]
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    elif n_jobs == 1:
        frames = [run_replication(design, s, r) for r, s in tqdm(list(enumerate(seeds)), desc=label,
                                                                  disable=not progress)]
    else:
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=n_jobs, return_as="generator")
        tasks = (delayed(_replication_task)(design, s, r) for r, s in enumerate(seeds))
        frames = list(tqdm(parallel(tasks), total=n_reps, desc=label, disable=not progress))
    reps = pd.concat(frames, ignore_index=True)
    return reps.sort_values(["scenario", "rep", "world", "outcome", "estimator"], kind="stable").reset_index(drop=True)


def _rejects(p: pd.Series, alpha: float) -> pd.Series:
    return (p < alpha).where(p.notna())


def summarise(reps: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """Performance of each scenario x world x outcome x estimator with Monte Carlo standard errors.

    Columns: ``n_reps`` (replications with an estimate), ``n_failed``, ``truth`` (mean), ``bias`` and
    ``bias_mcse`` (:math:`\\mathrm{SD}(\\hat\\theta-\\theta)/\\sqrt{n}`), ``rmse``, ``se_over_sd`` (mean SE / SD of
    the estimates), ``coverage`` and ``coverage_mcse`` (:math:`\\sqrt{p(1-p)/n}`), ``reject_analytic``,
    ``reject_wild``, ``reject_randomization`` (share of p-values below ``alpha``; power in the effect world, size in
    the placebo world; NaN where the method was not run) and ``reject_mcse`` for the analytic rate.
    """
    rows = []
    keys = ["scenario", "world", "outcome", "estimator"]
    for key, group in reps.groupby(keys, sort=True):
        ok = group[group["estimate"].notna()]
        n = len(ok)
        error = ok["estimate"] - ok["truth"]
        covered = (ok["ci_lower"] <= ok["truth"]) & (ok["truth"] <= ok["ci_upper"])
        reject = _rejects(ok["p_value"], alpha)
        sd = ok["estimate"].std(ddof=1) if n > 1 else np.nan
        row = dict(zip(keys, key))
        row.update({
            "n_reps": n, "n_failed": int(len(group) - n), "truth": ok["truth"].mean(),
            "bias": error.mean(), "bias_mcse": error.std(ddof=1) / math.sqrt(n) if n > 1 else np.nan,
            "rmse": math.sqrt((error ** 2).mean()) if n else np.nan,
            "se_over_sd": ok["se"].mean() / sd if n > 1 and sd > 0 else np.nan,
            "coverage": covered.mean() if n else np.nan,
            "coverage_mcse": math.sqrt(covered.mean() * (1 - covered.mean()) / n) if n else np.nan,
            "reject_analytic": reject.mean() if n else np.nan,
            "reject_mcse": math.sqrt(reject.mean() * (1 - reject.mean()) / n) if n else np.nan,
            "reject_wild": _rejects(ok["p_value_wild"], alpha).mean() if ok["p_value_wild"].notna().any() else np.nan,
            "reject_randomization": (_rejects(ok["p_value_randomization"], alpha).mean()
                                     if ok["p_value_randomization"].notna().any() else np.nan),
        })
        rows.append(row)
    return pd.DataFrame(rows)


#: Largest measured size (placebo rejection rate) at which a method's p-values and intervals count as evidence.
MAX_SIZE = 0.10


def validity(summary: pd.DataFrame, *, max_size: float = MAX_SIZE) -> pd.DataFrame:
    """Per scenario x outcome x estimator: coverage and power (effect world) beside size (placebo world).

    ``valid_<method>`` says whether that method's measured size is at most ``max_size`` (the rule by which the
    notebooks and the paper report a method as evidence or not).
    """
    keys = ["scenario", "outcome", "estimator"]
    effect = summary[summary["world"] == "effect"].set_index(keys)
    placebo = summary[summary["world"] == "placebo"].set_index(keys)
    out = pd.DataFrame({
        "n_reps": effect["n_reps"], "truth": effect["truth"], "bias": effect["bias"],
        "bias_mcse": effect["bias_mcse"], "rmse": effect["rmse"], "se_over_sd": effect["se_over_sd"],
        "coverage": effect["coverage"], "coverage_mcse": effect["coverage_mcse"],
        "power_analytic": effect["reject_analytic"], "power_wild": effect["reject_wild"],
        "power_randomization": effect["reject_randomization"],
        "size_analytic": placebo["reject_analytic"], "size_wild": placebo["reject_wild"],
        "size_randomization": placebo["reject_randomization"],
    })
    for method in ("analytic", "wild", "randomization"):
        size = out[f"size_{method}"]
        out[f"valid_{method}"] = (size <= max_size).where(size.notna())
    return out.reset_index()
