"""Wall time of the Monte Carlo study (issue: simulation study) and how it scales with Dask workers.

Run: ``.venv/bin/python benchmarks/bench_montecarlo.py`` (6 to 9 minutes on the 2-core machine, by load);
``--n-reps 100 --dask-reps 40`` for a quick look. Target: 500 replications with all estimators and inference
methods (CS analytic, wild cluster bootstrap with 199 Webb draws, randomisation inference with 199 permutations;
TWFE; Sun–Abraham) in under 10 minutes on 2 cores, for the effect design and again for the placebo design.

Prints the machine, the command, the cost of one replication split by step (one process, one BLAS thread),
the wall time of each study on joblib with 2 workers, and the wall time of the same replications on a local Dask
cluster with 1 and 2 worker processes.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from bijstand.did.montecarlo import ESTIMATORS, Design, simulate_design, simulation_study, summarise, summary_table

SEED = 20240101


def machine() -> str:
    cpu = platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    return f"{cpu}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, numpy {np.__version__}"


def load() -> str:
    # timings on a shared machine mean little without the load other processes put on it
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def step_costs(design: Design, n: int = 10) -> dict[str, float]:
    """Median seconds per replication of simulation and of each estimator (with all its inference)."""
    times: dict[str, list[float]] = {"simulate": [], **{name: [] for name in design.estimators}}
    with threadpool_limits(limits=1):
        simulate_design(0, design)  # warm-up: the simulator caches its steady state
        for seed in range(n):
            start = time.perf_counter()
            data, _ = simulate_design(seed, design)
            times["simulate"].append(time.perf_counter() - start)
            for name in design.estimators:
                start = time.perf_counter()
                ESTIMATORS[name](data, design=design, seed=seed)
                times[name].append(time.perf_counter() - start)
    return {step: statistics.median(values) for step, values in times.items()}


def timed_study(n_reps: int, design: Design, **backend) -> tuple[float, object]:
    start = time.perf_counter()
    reps = simulation_study(n_reps, seed=SEED, design=design, progress=False, **backend)
    return time.perf_counter() - start, reps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-reps", type=int, default=500, help="replications of each joblib study")
    parser.add_argument("--dask-reps", type=int, default=100, help="replications of each Dask scaling run")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    print(f"at start: {load()}")

    effect = Design()
    placebo = effect.placebo()
    costs = step_costs(effect)
    print(f"one replication, one process (median of 10), n_boot={effect.n_boot}, n_perm={effect.n_perm}:")
    for step, seconds in costs.items():
        print(f"  {step:<10} {1000 * seconds:8.1f} ms")
    print(f"  {'total':<10} {1000 * sum(costs.values()):8.1f} ms")

    total, studies = 0.0, []
    for design in (effect, placebo):
        print(f"before the {design.name} study: {load()}")
        seconds, reps = timed_study(args.n_reps, design, n_jobs=2)
        total += seconds
        studies.append(reps)
        print(f"joblib, 2 workers: {args.n_reps} replications of the {design.name} design in {seconds:.1f} s "
              f"({1000 * seconds / args.n_reps:.0f} ms per replication)")
    print(f"joblib, 2 workers: both designs, {2 * args.n_reps} replications in {total:.1f} s "
          f"(target for {args.n_reps} replications with all estimators: < 600 s)")
    # the same seed and design as notebook 06, so with --n-reps 500 this is the paper's table
    summary = summarise(pd.concat(studies, ignore_index=True))
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(summary_table(summary).round(3).to_string(index=False))
        print(summary[["design", "estimator", "inference", "bias", "bias_mcse", "coverage", "coverage_mcse",
                       "rejection_rate", "rejection_mcse"]].round(4).to_string(index=False))

    from dask.distributed import LocalCluster

    walls = {}
    for workers in (1, 2):
        print(f"before the Dask run with {workers} worker(s): {load()}")
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            simulation_study(2 * workers, seed=SEED + 1, design=effect, scheduler_address=cluster.scheduler_address,
                             progress=False)  # warm-up: workers import bijstand and fill the simulator's cache
            walls[workers], _ = timed_study(args.dask_reps, effect, scheduler_address=cluster.scheduler_address)
        print(f"dask LocalCluster, {workers} worker(s) x 1 thread: {args.dask_reps} replications in "
              f"{walls[workers]:.1f} s ({1000 * walls[workers] / args.dask_reps:.0f} ms per replication)")
    print(f"dask speed-up 1 -> 2 workers: {walls[1] / walls[2]:.2f}x")


if __name__ == "__main__":
    main()
