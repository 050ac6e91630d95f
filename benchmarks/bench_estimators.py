"""Time per call of every estimator and inference method one simulation-study replication runs, per outcome.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/bench_estimators.py`` (``--repeats N`` timed runs,
``--blas-threads N`` BLAS threads, default 1 as in the study's worker processes; ``--replication`` also times one
whole :func:`bijstand.study.simulation.run_replication` of the cohort approach at scale 1, 99 draws each).

The calls are those of :func:`bijstand.study.evaluate.estimate_outcome` on a 22-area x 72-month panel with nine
cohorts and every area eventually treated (not-yet-treated controls, clusters = areas):

* ``sun_abraham``, ``twfe_static``, ``att_gt`` + ``aggregate("simple")``, ``imputation`` (analytic, t(G-1));
* ``wild_bootstrap_twfe`` and ``wild_bootstrap_imputation`` (restricted, Webb, 99 draws, interval by inversion);
* ``randomization_test`` of the simple ATT, studentised, 99 permutations.

Target (2-core machine): each call < 0.1 s. Times are medians over the repeats after one warm-up run. To compare
with an earlier commit, run the same command with ``PYTHONPATH`` pointing at that commit's ``src`` (e.g. from
``git archive <commit> src | tar -x -C /tmp/base``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings

import numpy as np
import pandas as pd
import threadpoolctl
from bench_attgt import cpu_model, median_seconds, simulated_panel

import bijstand
from bijstand.did import (
    att_gt, imputation, randomization_test, sun_abraham, twfe_static, wild_bootstrap_imputation,
    wild_bootstrap_twfe,
)

COHORTS = [30, 33, 36, 39, 42, 45, 48, 51, 54]
KEYS = dict(y="y", unit="unit", time="period", group="group")


def study_panel(n_units: int = 22, n_periods: int = 72) -> pd.DataFrame:
    """The simulated panel with an area cluster column (one area per unit, as in the study)."""
    panel = simulated_panel(n_units, n_periods, COHORTS, never_treated=False)
    return panel.assign(cluster="area" + panel["unit"].astype(str))


def cases(panel: pd.DataFrame) -> list[tuple[str, object]]:
    common = dict(**KEYS, cluster="cluster", critical="t")
    cs = att_gt(panel, **common, control_group="notyet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imp = imputation(panel, **common, unidentified="drop")
    return [
        ("sun_abraham", lambda: sun_abraham(panel, **common)),
        ("twfe_static", lambda: twfe_static(panel, **common)),
        ("att_gt + aggregate('simple')",
         lambda: att_gt(panel, **common, control_group="notyet").aggregate("simple", n_boot=0)),
        ("imputation", lambda: imputation(panel, **common, unidentified="drop")),
        ("wild_bootstrap_twfe, 99 draws + CI",
         lambda: wild_bootstrap_twfe(panel, **KEYS, cluster="cluster", n_boot=99, seed=1)),
        ("wild_bootstrap_imputation, 99 draws + CI", lambda: wild_bootstrap_imputation(imp, n_boot=99, seed=1)),
        ("randomization_test, studentised, 99",
         lambda: randomization_test(cs, statistic="simple", studentize=True, n_perm=99, seed=1)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--blas-threads", type=int, default=1)
    parser.add_argument("--replication", action="store_true")
    args = parser.parse_args()

    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
          f"{platform.python_implementation()} {platform.python_version()}, load average {os.getloadavg()[0]:.1f}")
    print(f"numpy {np.__version__}, pandas {pd.__version__}, bijstand from {os.path.dirname(bijstand.__file__)}")
    print(f"command: {sys.executable} {' '.join(sys.argv)}")
    print(f"BLAS threads: {args.blas_threads}")

    panel = study_panel()
    with threadpoolctl.threadpool_limits(args.blas_threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        print(f"\n22 areas x 72 months, {len(COHORTS)} cohorts, median of {args.repeats} runs")
        print(f"{'call':<44}{'seconds':>9}{'target':>8}  ok")
        for name, fn in cases(panel):
            seconds = median_seconds(fn, args.repeats)
            print(f"{name:<44}{seconds:>9.4f}{0.1:>8.2f}  {'yes' if seconds < 0.1 else 'NO'}")
        if args.replication:
            from bijstand.study.simulation import StudyDesign, run_replication

            design = StudyDesign("cohort_approach", scale=1.0, n_boot=99, n_perm=99)
            run_replication(design, seed=1)  # warm-up
            start = time.perf_counter()
            run_replication(design, seed=2)
            print(f"\nrun_replication(cohort_approach, scale 1, n_boot=99, n_perm=99): "
                  f"{time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
