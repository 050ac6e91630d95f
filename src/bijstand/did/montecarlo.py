r"""Monte Carlo study of the DiD estimators and of their inference with 22 clusters.

Every replication draws a new area panel from the synthetic register's data-generating process
(:func:`bijstand.data.synthetic.simulate_area_panel`: Amsterdam's 22 cohort areas and roll-out schedule, the
business cycle and COVID-19 shock, heterogeneous effects that build up over time), estimates the effect of the
cohort approach on ``outflow_work_rate`` with every registered estimator and inference method, and compares each
estimate with the replication's own true effect.

Estimand
--------
The target is Callaway & Sant'Anna's simple ATT with not-yet-treated controls, computed from the simulator's
true :math:`ATT(g,t)` over exactly the cells R's ``did::aggte(type = "simple")`` averages,

.. math::

    \theta = \frac{\sum_{(g,t) \in \mathcal{C}} n_g\, ATT(g,t)}{\sum_{(g,t) \in \mathcal{C}} n_g},
    \qquad \mathcal{C} = \{(g,t): g \in \mathcal{G}\setminus\{g_{\max}\},\; g \le t < g_{\max}\},

with :math:`n_g` the number of areas in cohort :math:`g` (:func:`target_cells`). Because the window
2018-09 .. 2021-08 ends after the last cohort (2020-11) starts, every area is eventually treated: there are no
never-treated areas, the last cohort serves as the control group of last resort, and periods from its start on
carry no comparison (R ``did`` and Sun & Abraham 2021 drop them). TWFE and Sun–Abraham are judged against the same
:math:`\theta`: it is the effect a policy reader asks for, so TWFE's distance from it is its bias under staggered,
heterogeneous effects. (Sun–Abraham's post-treatment average weights cohort-event cells by their observations,
:math:`n_g` per cell, over the same cells, so it targets :math:`\theta` exactly.)

Why the Amsterdam-only design and not extra never-treated comparison areas: it is the design of notebook 02 and of
the paper, and the one whose inference is hard (22 clusters, cohorts of one to three areas). A never-treated design
can be studied with ``Design(n_areas=..., schedule=...)`` (0 = never treated).

Inference methods (rows of the result)
--------------------------------------
``cs/analytic``
    Influence-function SE clustered by area, normal interval.
``cs/wild_webb``
    Unrestricted wild score bootstrap (WCU) of the influence function with Webb's six-point weights, studentized
    (:func:`bijstand.did.bootstrap.wild_bootstrap_test`); the interval is the inverted test,
    :math:`\{\theta_0: p(\theta_0) > \alpha\}`, so coverage and rejection use one test.
``cs/randomization``
    Randomisation inference permuting adoption dates across areas
    (:func:`bijstand.did.randomization.randomization_test`). It tests the *sharp* null of no effect in any area,
    which has no confidence interval for :math:`\theta`; its rejection rate under the placebo design
    (:meth:`Design.placebo`) is its size, under the effect design its power.
``twfe/clustered``, ``sunab/clustered``
    CR1 clustered SE with fixest's small-sample factor and :math:`t_{G-1}` intervals.

Reproducibility
---------------
Replication :math:`r` uses the seed of the :math:`r`-th child of ``numpy.random.SeedSequence(seed)``
(:func:`replication_seeds`), whichever backend runs it and in whatever order, so a study gives identical numbers
on joblib with any ``n_jobs`` and on a Dask cluster with any number of workers, and the first :math:`k`
replications of a larger study are the :math:`k` replications of a smaller one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from bijstand.data.synthetic import Effects, simulate_area_panel
from bijstand.did.attgt import att_gt
from bijstand.did.bootstrap import wild_bootstrap_test
from bijstand.did.compare import intervention_panel, true_simple
from bijstand.did.randomization import randomization_test
from bijstand.did.sunab import sun_abraham
from bijstand.did.twfe import twfe_static

#: Columns of one replication's rows, in order (see :func:`run_replication`).
REPLICATION_COLUMNS = ("design", "replication", "seed", "estimator", "inference", "estimate", "se", "ci_lower",
                       "ci_upper", "p_value", "truth", "covered", "rejects_zero", "seconds")

#: Readable names for tables and figures.
ESTIMATOR_LABELS = {"cs": "Callaway–Sant'Anna", "twfe": "TWFE", "sunab": "Sun–Abraham"}
INFERENCE_LABELS = {"analytic": "analytic, clustered", "wild_webb": "wild score bootstrap (unrestricted), Webb",
                    "randomization": "randomisation inference", "clustered": "clustered CR1, t(G-1)"}

UNIT, TIME, GROUP = "area", "period", "group"


@dataclass(frozen=True)
class Design:
    """One simulation design: data-generating process, estimation window and what is estimated.

    Attributes
    ----------
    name
        Label carried into every result row (``"effect"``, ``"placebo"``).
    outcome
        Panel column estimated (rates are per 100 recipients per month).
    start, end
        Estimation window (``"YYYY-MM"``); areas first treated after ``end`` count as never treated.
    effects
        True effects of :class:`bijstand.data.synthetic.Effects` (``Effects.none()`` for a placebo).
    n_areas, area_size, schedule
        Passed to :func:`~bijstand.data.synthetic.simulate_area_panel` (default: Amsterdam's 22 areas and
        schedule). ``schedule`` is a tuple of first-treated periods (0 = never treated).
    estimators
        Names in :data:`ESTIMATORS`, run in this order.
    n_boot
        Wild-bootstrap draws for ``cs/wild_webb`` (0 = skip).
    n_perm
        Permutations for ``cs/randomization`` (0 = skip).
    alpha
        Level of tests; intervals have coverage :math:`1 - \\alpha`.
    """

    name: str = "effect"
    outcome: str = "outflow_work_rate"
    start: str = "2018-09"
    end: str = "2021-08"
    effects: Effects = field(default_factory=Effects)
    n_areas: int = 22
    area_size: int = 1500
    schedule: tuple[int, ...] | None = None
    estimators: tuple[str, ...] = ("cs", "twfe", "sunab")
    n_boot: int = 199
    n_perm: int = 199
    alpha: float = 0.05

    def __post_init__(self):
        if not 0 < self.alpha < 1:
            raise ValueError(f"Design.alpha must lie in (0, 1), got {self.alpha}")
        if self.n_boot < 0 or self.n_perm < 0:
            raise ValueError(f"Design.n_boot and Design.n_perm must be >= 0, got {self.n_boot}, {self.n_perm}")

    def placebo(self, **changes) -> Design:
        """The same design without any intervention effect (the truth is exactly 0): size of every test."""
        return replace(self, **{"name": "placebo", "effects": Effects.none(), **changes})


# ----------------------------------------------------------------------------------------------------------------
# Estimator registry
# ----------------------------------------------------------------------------------------------------------------

#: An estimator takes the estimation panel (columns ``area, period, group`` and the outcome), the design and an
#: integer seed for its own randomness (bootstrap, permutations) and returns ``{inference: result}`` where each
#: result is a dict with ``estimate, se, ci_lower, ci_upper`` and optionally ``p_value`` (of :math:`H_0: 0`).
EstimatorFunction = Callable[..., dict[str, dict[str, float]]]

#: name -> estimator function; extend with :func:`register_estimator`.
ESTIMATORS: dict[str, EstimatorFunction] = {}


def register_estimator(name: str) -> Callable[[EstimatorFunction], EstimatorFunction]:
    """Decorator adding an estimator function to :data:`ESTIMATORS` under ``name``.

    Functions registered at import time of an importable module also run on Dask workers, which import the
    module when they unpickle the task; a function registered in a notebook only runs with joblib.
    """
    def decorate(function: EstimatorFunction) -> EstimatorFunction:
        ESTIMATORS[name] = function
        return function
    return decorate


def _interval(estimate: float, se: float, critical: float, p_value: float) -> dict[str, float]:
    return {"estimate": float(estimate), "se": float(se), "ci_lower": float(estimate - critical * se),
            "ci_upper": float(estimate + critical * se), "p_value": float(p_value)}


def _invert_test(p_value: Callable[[float], float], estimate: float, scale: float, alpha: float,
                 *, rel_tol: float = 1e-7) -> tuple[float, float]:
    """Confidence interval :math:`\\{\\theta_0 : p(\\theta_0) > \\alpha\\}` of a test, by bisection on each side.

    Assumes :math:`p` falls (weakly) as :math:`\\theta_0` moves away from ``estimate`` on either side, as it does for
    the wild bootstrap test. ``scale`` (an SE) sets the first bracket and the tolerance.
    """
    scale = scale if np.isfinite(scale) and scale > 0 else max(abs(estimate), 1.0)
    bounds = []
    for direction in (-1.0, 1.0):
        inside, outside = 0.0, scale
        for _ in range(60):  # widen until the test rejects
            if p_value(estimate + direction * outside) <= alpha:
                break
            inside, outside = outside, 2.0 * outside
        else:
            bounds.append(direction * np.inf)
            continue
        while outside - inside > rel_tol * scale:
            middle = 0.5 * (inside + outside)
            if p_value(estimate + direction * middle) > alpha:
                inside = middle
            else:
                outside = middle
        bounds.append(estimate + direction * inside)
    return bounds[0], bounds[1]


@register_estimator("cs")
def callaway_santanna(data: pd.DataFrame, *, design: Design, seed: int) -> dict[str, dict[str, float]]:
    """Callaway–Sant'Anna simple ATT (doubly robust, not-yet-treated controls, clustered by area).

    Without covariates the doubly robust 2×2 equals the outcome-regression one (difference of mean changes).
    Inference: ``analytic`` (normal interval), ``wild_webb`` (inverted unrestricted wild score bootstrap test, when
    ``design.n_boot``; its ``se`` is the implied one, half the interval's width over :math:`z_{1-\alpha/2}`),
    ``randomization`` (p-value only, when ``design.n_perm``).
    """
    boot_seed, perm_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(2, np.uint64))

    options = {"y": design.outcome, "unit": UNIT, "time": TIME, "group": GROUP, "control_group": "notyet",
               "method": "dr"}
    fit = att_gt(data, **options, cluster=UNIT, alpha=design.alpha)
    simple = fit.aggregate("simple")
    overall = simple.overall
    att, se = overall.estimate, overall.se
    z = overall.crit_value
    out = {"analytic": _interval(att, se, z, overall.p_value)}
    if design.n_boot:
        def wild_p(null: float) -> float:
            # the same seed for every null: one set of bootstrap draws, so the interval inverts one test
            return wild_bootstrap_test(simple, null=null, n_boot=design.n_boot, seed=boot_seed, multiplier="webb",
                                       studentize=True).p_value

        lower, upper = _invert_test(wild_p, att, se, design.alpha)
        out["wild_webb"] = {"estimate": att, "se": (upper - lower) / (2 * z), "ci_lower": lower,
                            "ci_upper": upper, "p_value": wild_p(0.0)}
    if design.n_perm:
        ri = randomization_test(fit, statistic="simple", n_perm=design.n_perm, seed=perm_seed)
        out["randomization"] = {"estimate": att, "se": np.nan, "ci_lower": np.nan, "ci_upper": np.nan,
                                "p_value": ri.p_value}
    return out


@register_estimator("twfe")
def two_way_fixed_effects(data: pd.DataFrame, *, design: Design, seed: int) -> dict[str, dict[str, float]]:
    """Static TWFE coefficient on :math:`D_{it} = 1\\{t \\ge G_i\\}`, fixest CR1 SEs clustered by area."""
    overall = twfe_static(data, y=design.outcome, unit=UNIT, time=TIME, group=GROUP, cluster=UNIT,
                          convention="fixest", critical="t", alpha=design.alpha).overall
    return {"clustered": {"estimate": overall.estimate, "se": overall.se, "ci_lower": overall.ci_lower,
                          "ci_upper": overall.ci_upper, "p_value": overall.p_value}}


@register_estimator("sunab")
def sun_abraham_att(data: pd.DataFrame, *, design: Design, seed: int) -> dict[str, dict[str, float]]:
    """Sun–Abraham interaction-weighted post-treatment ATT, fixest CR1 SEs clustered by area, :math:`t_{G-1}`."""
    overall = sun_abraham(data, y=design.outcome, unit=UNIT, time=TIME, group=GROUP, cluster=UNIT, critical="t",
                          alpha=design.alpha).overall       # fixest's t(G - 1)
    return {"clustered": _interval(overall.estimate, overall.se, overall.crit_value, overall.p_value)}


# ----------------------------------------------------------------------------------------------------------------
# One replication
# ----------------------------------------------------------------------------------------------------------------

def target_cells(data: pd.DataFrame, *, unit: str = UNIT, time: str = TIME, group: str = GROUP) -> pd.DataFrame:
    """The post-treatment (group, time) cells of CS's simple ATT with not-yet-treated controls, as R ``did``.

    Groups first treated after the last period are never treated; groups treated in the first period have no
    pre-period and are dropped. Without never-treated units the last cohort becomes the control group: it and the
    periods from its start on are dropped. Returns ``group, time`` for :math:`g \\le t`.
    """
    times = np.sort(data[time].unique())
    unit_groups = data.groupby(unit)[group].first().to_numpy()
    unit_groups = np.where(unit_groups > times[-1], 0, unit_groups)
    unit_groups = unit_groups[(unit_groups == 0) | (unit_groups > times[0])]
    groups = np.unique(unit_groups[unit_groups > 0])
    if not (unit_groups == 0).any():
        last = groups.max()
        groups, times = groups[groups != last], times[times < last]
    cells = [(g, t) for g in groups for t in times if t >= g]
    return pd.DataFrame(cells, columns=["group", "time"], dtype="int64")


def replication_seeds(seed: int, n_reps: int) -> list[int]:
    """Seed of each replication: the first word of the :math:`r`-th child of ``SeedSequence(seed)``."""
    if n_reps < 1:
        raise ValueError(f"n_reps must be at least 1, got {n_reps}")
    return [int(child.generate_state(1, np.uint64)[0]) for child in np.random.SeedSequence(seed).spawn(n_reps)]


def simulate_design(seed: int, design: Design) -> tuple[pd.DataFrame, float]:
    """Draw one estimation panel of ``design`` and its true simple ATT (:func:`target_cells` of that panel)."""
    panel, truth = simulate_area_panel(seed=seed, n_areas=design.n_areas, effects=design.effects,
                                       area_size=design.area_size,
                                       schedule=None if design.schedule is None else np.asarray(design.schedule))
    data = intervention_panel(panel, "cohort", start=design.start, end=design.end)
    data = data[[UNIT, TIME, GROUP, design.outcome]]
    return data, true_simple(truth, "cohort", design.outcome, target_cells(data))


def _check_estimators(design: Design) -> None:
    unknown = [name for name in design.estimators if name not in ESTIMATORS]
    if unknown:
        raise ValueError(f"Design.estimators: unknown estimator(s) {unknown}; registered: {sorted(ESTIMATORS)}")


def run_replication(seed: int, *, design: Design | None = None, replication: int = 0) -> pd.DataFrame:
    """Simulate one panel and estimate it with every estimator of ``design``.

    Parameters
    ----------
    seed
        Replication seed; the panel uses the first and the estimators' randomness the second word of
        ``SeedSequence(seed)``, so bootstrap draws are independent of the simulated data.
    design
        Default :class:`Design` ().
    replication
        Index stored in the rows.

    Returns
    -------
    DataFrame
        One row per estimator and inference method, columns :data:`REPLICATION_COLUMNS`: ``truth`` is the true
        simple ATT of this panel, ``covered`` whether the interval contains it (missing for tests without an
        interval), ``rejects_zero`` whether the test of :math:`H_0: 0` rejects at ``alpha`` (``p_value <= alpha``,
        or 0 outside the interval when there is no p-value; missing with neither), ``seconds`` the
        estimator's wall time (the only column that is not reproducible).
    """
    from threadpoolctl import threadpool_limits

    design = Design() if design is None else design
    _check_estimators(design)
    sim_seed, estimator_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(2, np.uint64))
    # One BLAS thread: measured on the 2-core machine, OpenBLAS with 2 threads made linearmodels' lstsq in
    # Sun-Abraham 6x slower (1.5 s against 0.24 s), and parallelism comes from running replications side by side.
    with threadpool_limits(limits=1):
        data, truth = simulate_design(sim_seed, design)
        rows = []
        for name in design.estimators:
            started = time.perf_counter()
            results = ESTIMATORS[name](data, design=design, seed=estimator_seed)
            seconds = time.perf_counter() - started
            for inference, result in results.items():
                lower, upper = result["ci_lower"], result["ci_upper"]
                has_interval = np.isfinite(lower) and np.isfinite(upper)
                p_value = result.get("p_value", np.nan)
                if np.isfinite(p_value):
                    rejects = bool(p_value <= design.alpha)
                else:
                    rejects = not (lower <= 0.0 <= upper) if has_interval else pd.NA
                rows.append({"design": design.name, "replication": replication, "seed": seed, "estimator": name,
                             "inference": inference, "estimate": result["estimate"], "se": result["se"],
                             "ci_lower": lower, "ci_upper": upper, "p_value": p_value, "truth": truth,
                             "covered": (lower <= truth <= upper) if has_interval else pd.NA,
                             "rejects_zero": rejects, "seconds": seconds})
    out = pd.DataFrame(rows, columns=list(REPLICATION_COLUMNS))
    return out.astype({"replication": "int64", "seed": "uint64", "covered": "boolean", "rejects_zero": "boolean"})


# ----------------------------------------------------------------------------------------------------------------
# The study
# ----------------------------------------------------------------------------------------------------------------

def _run_joblib(seeds, design, n_jobs, progress):
    from joblib import Parallel, delayed
    from tqdm import tqdm

    tasks = (delayed(run_replication)(s, design=design, replication=r) for r, s in enumerate(seeds))
    # return_as="generator" yields results in submission order as they finish, so the bar moves while it runs
    results = Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
    return list(tqdm(results, total=len(seeds), desc=f"replications ({design.name})", disable=not progress))


def _replication_task(seed: int, replication: int, *, design: Design) -> pd.DataFrame:
    # Client.map maps positional arguments only; run_replication takes the replication index by keyword
    return run_replication(seed, design=design, replication=replication)


def _run_dask(seeds, design, scheduler_address, progress):
    from tqdm import tqdm

    from bijstand.extras import extra_required

    with extra_required("dask", "the simulation study on a Dask scheduler (scheduler_address)"):
        from dask.distributed import Client, as_completed

    with Client(scheduler_address, set_as_default=False) as client:
        futures = client.map(_replication_task, seeds, range(len(seeds)), design=design,
                             key=[f"montecarlo-{design.name}-{r}-{s}" for r, s in enumerate(seeds)], pure=False)
        finished = as_completed(futures, loop=client.loop)
        for _ in tqdm(finished, total=len(futures), desc=f"replications ({design.name})", disable=not progress):
            pass
        return client.gather(futures)  # in submission order, whatever the order of completion


def simulation_study(n_reps: int, *, seed: int, design: Design | None = None, n_jobs: int = 2,
                     scheduler_address: str | None = None, progress: bool = True) -> pd.DataFrame:
    """Run ``n_reps`` replications of ``design`` on joblib (default) or on a Dask cluster.

    Parameters
    ----------
    n_reps
        Number of replications.
    seed
        Master seed; replication seeds are :func:`replication_seeds` ``(seed, n_reps)``.
    design
        Default :class:`Design` ().
    n_jobs
        joblib worker processes (``1`` runs in this process); ignored with a scheduler.
    scheduler_address
        Address of a Dask scheduler (e.g. ``"tcp://127.0.0.1:8786"`` or ``LocalCluster().scheduler_address``);
        ``None`` or ``""`` uses joblib. Workers must be able to import ``bijstand``.
    progress
        Show a tqdm progress bar.

    Returns
    -------
    DataFrame
        The rows of :func:`run_replication` for every replication, ordered by replication. Identical (except
        ``seconds``) for any backend and number of workers.
    """
    design = Design() if design is None else design
    _check_estimators(design)
    seeds = replication_seeds(seed, n_reps)
    if scheduler_address:
        frames = _run_dask(seeds, design, scheduler_address, progress)
    else:
        frames = _run_joblib(seeds, design, n_jobs, progress)
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------------------------------------------
# Summaries
# ----------------------------------------------------------------------------------------------------------------

def summarise(reps: pd.DataFrame) -> pd.DataFrame:
    """Bias, RMSE, coverage and rejection rates per design, estimator and inference method.

    With :math:`e_r = \\hat\\theta_r - \\theta_r` over :math:`R` replications:

    * ``truth`` = :math:`\\bar\\theta`, ``mean_estimate`` = :math:`\\bar{\\hat\\theta}`;
    * ``bias`` = :math:`\\bar e`, ``bias_mcse`` = :math:`s_e/\\sqrt R`,
      ``bias_pct`` = :math:`100\\,\\bar e/\\bar\\theta` (missing when :math:`\\bar\\theta = 0`, as in a placebo design);
    * ``rmse`` = :math:`\\sqrt{\\overline{e^2}}`; ``sd_estimate`` = :math:`s_{\\hat\\theta}`; ``mean_se``;
    * ``coverage`` = share of intervals containing :math:`\\theta_r` (over rows with an interval),
      ``coverage_mcse`` = :math:`\\sqrt{c(1-c)/R_c}`;
    * ``rejection_rate`` = share rejecting :math:`H_0: \\theta = 0` (size under a placebo, power otherwise; over
      rows with a test), ``rejection_mcse`` likewise; ``n_reps``.

    Rows keep the order of first appearance in ``reps``.
    """
    required = ["estimator", "inference", "estimate", "truth", "se", "covered", "rejects_zero"]
    missing = [c for c in required if c not in reps.columns]
    if missing:
        raise ValueError(f"summarise: reps is missing column(s) {missing}")
    keys = (["design"] if "design" in reps.columns else []) + ["estimator", "inference"]
    frame = reps.assign(error=reps["estimate"] - reps["truth"],
                        covered=reps["covered"].astype("Float64"),
                        rejects_zero=reps["rejects_zero"].astype("Float64"))
    rows = []
    for key, g in frame.groupby(keys, sort=False):
        n = len(g)
        truth = float(g["truth"].mean())
        bias = float(g["error"].mean())
        covered = g["covered"].dropna().to_numpy(float)
        coverage = float(covered.mean()) if covered.size else np.nan
        rejects = g["rejects_zero"].dropna().to_numpy(float)
        rejection = float(rejects.mean()) if rejects.size else np.nan
        rows.append({
            **dict(zip(keys, key, strict=True)),
            "truth": truth,
            "mean_estimate": float(g["estimate"].mean()),
            "bias": bias,
            "bias_mcse": float(g["error"].std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan,
            "bias_pct": 100.0 * bias / truth if truth != 0 else np.nan,
            "rmse": float(np.sqrt((g["error"] ** 2).mean())),
            "sd_estimate": float(g["estimate"].std(ddof=1)) if n > 1 else np.nan,
            "mean_se": float(g["se"].mean()),
            "coverage": coverage,
            "coverage_mcse": float(np.sqrt(coverage * (1 - coverage) / covered.size)) if covered.size else np.nan,
            "rejection_rate": rejection,
            "rejection_mcse": float(np.sqrt(rejection * (1 - rejection) / rejects.size)) if rejects.size else np.nan,
            "n_reps": n,
        })
    return pd.DataFrame(rows)


def summary_table(summary: pd.DataFrame, *, effect: str = "effect", placebo: str = "placebo") -> pd.DataFrame:
    """Readable table for the paper: one row per estimator and inference method of the ``effect`` design.

    Columns: estimator, inference, true ATT, mean estimate, bias %, RMSE, mean SE, SD of estimates, coverage %,
    rejections of 0 in % under the effect design (power) and, when ``summary`` has a ``placebo`` design, under the
    placebo (size); replications.
    """
    if "design" not in summary.columns or effect not in set(summary["design"]):
        raise ValueError(f"summary_table: summary has no rows with design == {effect!r}")
    main = summary[summary["design"] == effect]
    table = pd.DataFrame({
        "Estimator": main["estimator"].map(ESTIMATOR_LABELS).fillna(main["estimator"]),
        "Inference": main["inference"].map(INFERENCE_LABELS).fillna(main["inference"]),
        "True ATT": main["truth"], "Mean estimate": main["mean_estimate"], "Bias %": main["bias_pct"],
        "RMSE": main["rmse"], "Mean SE": main["mean_se"], "SD of estimates": main["sd_estimate"],
        "Coverage %": 100 * main["coverage"], "Power %": 100 * main["rejection_rate"],
    })
    if placebo in set(summary["design"]):
        size = summary[summary["design"] == placebo].set_index(["estimator", "inference"])["rejection_rate"]
        index = pd.MultiIndex.from_frame(main[["estimator", "inference"]])
        table["Size % (placebo)"] = 100 * size.reindex(index).to_numpy()
    table["Replications"] = main["n_reps"].to_numpy()
    return table.reset_index(drop=True)


def bias_figure(reps: pd.DataFrame, *, design: str = "effect", width: float = 6.3, height: float = 3.2):
    """Box plots of :math:`\\hat\\theta_r - \\theta_r` per estimator (first inference row of each), with a zero line.

    Returns a :class:`matplotlib.figure.Figure` (not attached to pyplot, so nothing accumulates in notebooks).
    """
    from matplotlib.figure import Figure

    rows = reps[reps["design"] == design] if "design" in reps.columns else reps
    if rows.empty:
        raise ValueError(f"bias_figure: reps has no rows with design == {design!r}")
    first = rows.groupby("estimator", sort=False)["inference"].transform("first") == rows["inference"]
    rows = rows[first]
    names = list(dict.fromkeys(rows["estimator"]))
    errors = [(rows.loc[rows["estimator"] == name, "estimate"] - rows.loc[rows["estimator"] == name, "truth"])
              .to_numpy() for name in names]
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    ax.axvline(0.0, color="0.3", linewidth=1, linestyle="--", zorder=0)
    ax.boxplot(errors, orientation="horizontal", widths=0.5, showmeans=True,
               meanprops={"marker": "D", "markerfacecolor": "white", "markeredgecolor": "black", "markersize": 5})
    ax.set_yticks(range(1, len(names) + 1), [ESTIMATOR_LABELS.get(n, n) for n in names], fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel("estimate minus true ATT, outflows to work per 100 recipients per month", fontsize=9)
    ax.tick_params(axis="x", labelsize=9)
    ax.set_title(f"{len(errors[0])} replications; diamond = mean, dashed line = no bias", fontsize=9)
    return fig
