"""Tables and figures of the evaluation and the simulation study, in the words a reader of the paper expects.

Every table here is built from :class:`bijstand.study.evaluate.EstimateRecord` rows or from the simulation study's
summaries; notebooks only call these functions. On partner data (no truth) no truth column, legend or word
appears: a column is added only when its values exist.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bijstand.study.evaluate import ESTIMATOR_LABELS, EstimateRecord, records_frame

#: Readable names of the outcomes (panel columns; rates per 100 recipients per month unless stated).
OUTCOME_LABELS = {
    "outflow_rate": "all outflow",
    "outflow_work_rate": "outflow to work",
    "outflow_work_durable_12m_rate": "durable outflow to work (no return within 12 months)",
    "outflow_work_return_12m_rate": "outflow to work followed by a return within 12 months",
    "outflow_enforcement_rate": "outflow through enforcement",
    "outflow_non_response_rate": "outflow through non-response",
    "outflow_other_rate": "other outflow",
    "reinflow_12m_share": "re-inflow within 12 months (% of inflow)",
}
DESIGN_LABELS = {"notyet": "not-yet-treated controls", "never": "never-treated comparison municipalities"}
SCENARIO_ORDER = ("parallel_trends", "trends_by_rollout_order", "selection_on_gains",
                  "spillover_to_not_yet_treated", "covid_shock_by_area", "anticipation_one_month")


def outcome_label(outcome: str) -> str:
    """Readable name of a panel outcome (the column name when unknown)."""
    return OUTCOME_LABELS.get(outcome, outcome.replace("_", " "))


def estimates_table(records: list[EstimateRecord], *, validity: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per outcome and estimator: estimate, SE, interval, p-values, truth and simulated validity.

    ``validity`` (from :func:`bijstand.study.simulation.validity`, the parallel-trends scenario) adds the
    simulated coverage, power and size of each estimator on each outcome and ``evidence``: whether the analytic
    test's measured size is at most 10% (otherwise the estimate is shown but not read as evidence).
    """
    frame = records_frame(records)
    if frame.empty:
        return pd.DataFrame()
    out = pd.DataFrame({
        "outcome": frame["outcome"].map(outcome_label),
        "estimator": frame["estimator"].map(ESTIMATOR_LABELS),
        "estimate": frame["estimate"], "se": frame["se"],
        "ci_lower": frame["ci_lower"], "ci_upper": frame["ci_upper"],
        "p_value": frame["p_value"],
    })
    if frame["p_value_wild"].notna().any():
        out["p_value_wild"] = frame["p_value_wild"]
    if frame["p_value_randomization"].notna().any():
        out["p_value_randomization"] = frame["p_value_randomization"]
    out["clusters"] = frame["n_clusters"]
    if frame["truth"].notna().any():
        out["truth"] = frame["truth"]
        out["covered"] = [(lo <= t <= hi) if np.isfinite(t) else None
                          for lo, t, hi in zip(frame["ci_lower"], frame["truth"], frame["ci_upper"])]
    if validity is not None and not validity.empty:
        keyed = validity.set_index(["outcome", "estimator"])
        index = pd.MultiIndex.from_frame(frame[["outcome", "estimator"]])
        for column, name in (("coverage", "sim_coverage"), ("power_analytic", "sim_power"),
                             ("size_analytic", "sim_size")):
            out[name] = keyed[column].reindex(index).to_numpy()
        out["evidence"] = keyed["valid_analytic"].reindex(index).to_numpy()
    return out


def cohort_table(cohorts: pd.DataFrame) -> pd.DataFrame:
    """Cohorts with their size, and how many have 1-3 clusters (few-cluster cohorts)."""
    out = cohorts.rename(columns={"month": "first month", "areas": "areas", "clusters": "clusters"})
    return out.drop(columns=["group"])


def performance_table(summary: pd.DataFrame, *, scenario: str = "parallel_trends") -> pd.DataFrame:
    """The simulation study's performance measures for one scenario, effect world beside placebo size."""
    from bijstand.study.simulation import validity

    valid = validity(summary)
    valid = valid[valid["scenario"] == scenario]
    out = pd.DataFrame({
        "outcome": valid["outcome"].map(outcome_label), "estimator": valid["estimator"].map(ESTIMATOR_LABELS),
        "replications": valid["n_reps"], "truth": valid["truth"], "bias": valid["bias"],
        "bias_mcse": valid["bias_mcse"], "rmse": valid["rmse"], "se_over_sd": valid["se_over_sd"],
        "coverage": valid["coverage"], "power": valid["power_analytic"], "size": valid["size_analytic"],
    })
    for method in ("wild", "randomization"):
        if valid[f"size_{method}"].notna().any():
            out[f"power_{method}"] = valid[f"power_{method}"]
            out[f"size_{method}"] = valid[f"size_{method}"]
    return out.reset_index(drop=True)


def broken_assumptions_table(summary: pd.DataFrame, *, outcome: str) -> pd.DataFrame:
    """Bias and coverage of each estimator in each scenario for one outcome (rows scenario x estimator)."""
    from bijstand.study.simulation import SCENARIO_LABELS

    effect = summary[(summary["world"] == "effect") & (summary["outcome"] == outcome)]
    order = {s: k for k, s in enumerate(SCENARIO_ORDER)}
    effect = effect.assign(_order=effect["scenario"].map(order)).sort_values(["_order", "estimator"])
    return pd.DataFrame({
        "scenario": effect["scenario"].map(SCENARIO_LABELS), "estimator": effect["estimator"].map(ESTIMATOR_LABELS),
        "truth": effect["truth"].to_numpy(), "bias": effect["bias"].to_numpy(),
        "bias_mcse": effect["bias_mcse"].to_numpy(), "coverage": effect["coverage"].to_numpy(),
        "reject": effect["reject_analytic"].to_numpy(),
    }).reset_index(drop=True)


def error_plot(reps: pd.DataFrame, *, outcome: str, title: str | None = None) -> Figure:
    """Estimate minus truth per estimator (box plots), effect and placebo worlds; zero line = unbiased."""
    from bijstand.report.plots import _new_axes

    data = reps[(reps["outcome"] == outcome) & reps["estimate"].notna()].copy()
    data["error"] = data["estimate"] - data["truth"]
    estimators = [e for e in ESTIMATOR_LABELS if e in set(data["estimator"])]
    fig, ax = _new_axes(6.3, 3.0)
    positions, values, labels = [], [], []
    for k, estimator in enumerate(estimators):
        for j, world in enumerate(("effect", "placebo")):
            sel = data[(data["estimator"] == estimator) & (data["world"] == world)]["error"].to_numpy()
            if sel.size:
                positions.append(k * 3 + j)
                values.append(sel)
                labels.append(f"{ESTIMATOR_LABELS[estimator]}\n{world}")
    ax.boxplot(values, positions=positions, widths=0.7, showfliers=False)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(positions, labels, fontsize=7)
    ax.set_ylabel("estimate − truth")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def power_plot(curve: pd.DataFrame, *, title: str | None = None, target: float = 0.8) -> Figure:
    """Power against effect size, one line per estimator x inference method; dotted line at ``target``."""
    from bijstand.report.plots import _new_axes

    fig, ax = _new_axes(6.3, 3.2)
    for (estimator, method), group in curve.groupby(["estimator", "method"], sort=True):
        label = f"{ESTIMATOR_LABELS.get(estimator, estimator)} ({'t(G−1)' if method == 'analytic' else 'WCR'})"
        ax.plot(group["effect"], group["power"], marker="o", markersize=3, label=label,
                linestyle="-" if method == "analytic" else "--")
    ax.axhline(target, color="grey", linestyle=":", linewidth=0.8)
    ax.set_xlabel("effect (per 100 recipients per month)")
    ax.set_ylabel("power")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, frameon=False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def outcome_key(outcome: str) -> str:
    """Short key of an outcome for result names: ``outflow_work_rate`` -> ``work``."""
    if outcome == "reinflow_12m_share":
        return "reinflow"
    key = outcome.removeprefix("outflow_").removesuffix("_rate")
    return "all" if key == "outflow" else key


def estimate_methods(record: EstimateRecord, *, data_source: str):
    """The method records of one estimate: its analytic interval, and its bootstrap or randomisation test if run."""
    from bijstand.report.methods import MethodRecord

    aggregation = "simple" if record.estimator in ("callaway_santanna", "imputation", "sun_abraham") else None
    common = {"control_group": record.control_group, "aggregation": aggregation, "cells": record.estimand,
              "window": record.window, "cluster": record.cluster, "n_clusters": record.n_clusters,
              "data_source": data_source}
    out = [MethodRecord(record.estimator, inference="analytic_t", critical_value=record.critical_value, **common)]
    if np.isfinite(record.p_value_wild):
        out.append(MethodRecord(record.estimator, inference="wild_restricted", n_draws=record.n_draws,
                                multiplier="webb", **common))
    if np.isfinite(record.p_value_randomization):
        out.append(MethodRecord(record.estimator, inference="randomization", n_draws=record.n_draws, **common))
    return out


def record_estimates(res, records: list[EstimateRecord], *, data_source: str, prefix: str = "") -> None:
    """Record every estimate, its SE and p-values (and truth on synthetic data) as numbers the paper may quote.

    Keys: ``<prefix><outcome key>_<estimator>`` with suffixes ``_se``, ``_p``, ``_p_wild``, ``_p_ri``, ``_truth``.
    """
    disclosure = "synthetic" if data_source == "synthetic" else "estimates"
    for record in records:
        key = f"{prefix}{outcome_key(record.outcome)}_{record.estimator}"
        methods = estimate_methods(record, data_source=data_source)
        label = f"{ESTIMATOR_LABELS[record.estimator]}, {outcome_label(record.outcome)}, {record.design} design"
        res.number(key, record.estimate, digits=3, label=label, method=methods[0], disclosure=disclosure)
        res.number(f"{key}_se", record.se, digits=3, label=f"its standard error ({label})", method=methods[0],
                   disclosure=disclosure)
        res.number(f"{key}_p", record.p_value, digits=3, label=f"its t(G-1) p-value ({label})", method=methods[0],
                   disclosure=disclosure)
        for extra in methods[1:]:
            suffix, value = (("_p_wild", record.p_value_wild) if extra.inference == "wild_restricted"
                             else ("_p_ri", record.p_value_randomization))
            res.number(key + suffix, value, digits=3, label=f"{extra.inference} p-value ({label})", method=extra,
                       disclosure=disclosure)
        if np.isfinite(record.truth):
            from bijstand.report.methods import MethodRecord

            res.number(f"{key}_truth", record.truth, digits=3, label=f"true value of its estimand ({label})",
                       method=MethodRecord("truth", data_source=data_source), disclosure="synthetic")


def event_truth_frame(event) -> pd.DataFrame | None:
    """The true dynamic effect in the plot's format (``event_time, att``), or ``None`` on partner data."""
    return None if event.truth is None else event.truth
