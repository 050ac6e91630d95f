"""Speed and memory of Callaway–Sant'Anna ``att_gt`` + dynamic aggregation (:mod:`bijstand.did.attgt`).

Run: ``.venv/bin/python benchmarks/bench_attgt.py`` (``--repeats N`` to change the number of timed runs).

Cases and targets (2-core machine):

1. 20,000 units x 24 periods, six cohorts + never treated, unconditional doubly robust, ``att_gt`` +
   ``aggregate("dynamic")``, analytic SEs: < 0.3 s and < 1 GB peak (R did 2.5.1: 1.33 s; fastest Python
   package measured: 0.87 s).
2. 22 areas x 120 months, nine cohorts, every area eventually treated (not-yet-treated controls), ``att_gt`` +
   ``aggregate("dynamic")`` each with 999 multiplier-bootstrap draws: < 0.5 s.

Times are medians over the repeats after one warm-up run; memory is the peak traced by ``tracemalloc`` during one
run (numpy allocations included) and the process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import time
import tracemalloc

import numpy as np
import pandas as pd

from bijstand.did.attgt import att_gt


def simulated_panel(n_units: int, n_periods: int, cohorts: list[int], *, never_treated: bool = True,
                    seed: int = 1) -> pd.DataFrame:
    """Long balanced panel with unit effects, a trend and a dynamic effect of 0.5 + 0.05 per period treated."""
    rng = np.random.default_rng(seed)
    choices = np.array([0, *cohorts]) if never_treated else np.array(cohorts)
    groups = rng.choice(choices, size=n_units)
    unit = np.repeat(np.arange(n_units), n_periods)
    period = np.tile(np.arange(1, n_periods + 1), n_units)
    g = np.repeat(groups, n_periods)
    effect = np.where((g > 0) & (period >= g), 0.5 + 0.05 * (period - g), 0.0)
    y = rng.normal(size=n_units).repeat(n_periods) + 0.1 * period + effect + rng.normal(size=unit.size)
    return pd.DataFrame({"unit": unit, "period": period, "group": g, "y": y})


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up (imports, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def traced_peak_mib(fn) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, pandas {pd.__version__}")
    print(f"command: {sys.executable} {' '.join(sys.argv)}")

    big = simulated_panel(20_000, 24, [5, 8, 11, 14, 17, 20])

    def run_big():
        res = att_gt(big, y="y", unit="unit", time="period", group="group", control_group="never", method="dr")
        return res.aggregate("dynamic")

    small = simulated_panel(22, 120, [57, 59, 60, 61, 63, 65, 67, 69, 71], never_treated=False)

    def run_small():
        res = att_gt(small, y="y", unit="unit", time="period", group="group", control_group="notyet",
                     n_boot=999, seed=1)
        return res.aggregate("dynamic", n_boot=999, seed=2)

    rows = [
        ("20,000 units x 24 periods, analytic", median_seconds(run_big, args.repeats), traced_peak_mib(run_big),
         0.3),
        ("22 areas x 120 months, 999 draws", median_seconds(run_small, args.repeats), traced_peak_mib(run_small),
         0.5),
    ]
    print(f"\natt_gt + aggregate('dynamic'), median of {args.repeats} runs")
    print(f"{'case':<40}{'seconds':>9}{'target':>8}{'peak MiB':>10}  ok")
    for name, seconds, peak, target in rows:
        print(f"{name:<40}{seconds:>9.3f}{target:>8.1f}{peak:>10.0f}  {'yes' if seconds < target else 'NO'}")
    maxrss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    print(f"max resident set size of this process: {maxrss_mib:.0f} MiB (target < 1024)")


if __name__ == "__main__":
    main()
