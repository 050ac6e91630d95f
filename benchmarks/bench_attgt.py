"""Speed and memory of Callaway–Sant'Anna ``att_gt`` + dynamic aggregation (issue: estimators).

Run: ``.venv/bin/python benchmarks/bench_attgt.py``. Targets on a 2-core machine:
20,000 units x 24 periods, six cohorts + never treated, analytic SEs: < 0.3 s and < 1 GB;
22 areas x 120 months with 999 bootstrap draws: < 0.5 s. R did 2.5.1 takes 1.33 s on the first.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import sys
import time
import tracemalloc

import numpy as np
import pandas as pd

from bijstand.did.callaway_santanna import att_gt


def panel(n_units: int, n_periods: int, cohorts: list[int], seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    groups = rng.choice(np.array([0, *cohorts]), size=n_units)
    unit = np.repeat(np.arange(n_units), n_periods)
    period = np.tile(np.arange(1, n_periods + 1), n_units)
    g = np.repeat(groups, n_periods)
    effect = np.where((g > 0) & (period >= g), 0.5 + 0.05 * (period - g), 0.0)
    y = rng.normal(size=n_units).repeat(n_periods) + 0.1 * period + effect + rng.normal(size=unit.size)
    return pd.DataFrame({"unit": unit, "period": period, "group": g, "y": y})


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    print(f"machine: {cpu}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, numpy {np.__version__}")
    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")

    big = panel(20_000, 24, [5, 8, 11, 14, 17, 20])

    def run_big():
        res = att_gt(big, y="y", unit="unit", time="period", group="group", control_group="never")
        return res.aggregate("dynamic")

    run_big()  # warm-up
    seconds, _ = timed(run_big, 5)
    tracemalloc.start()
    run_big()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"20,000 units x 24 periods, att_gt + dynamic, analytic: median {seconds:.3f} s, "
          f"peak traced {peak / 2**20:.0f} MiB (target < 0.3 s, < 1 GB)")

    small = panel(22, 120, [57, 59, 60, 61, 63, 65, 67, 69, 71])

    def run_small():
        res = att_gt(small, y="y", unit="unit", time="period", group="group", control_group="notyet",
                     n_boot=999, seed=1)
        return res.aggregate("dynamic", n_boot=999, seed=2)

    run_small()
    seconds, _ = timed(run_small, 5)
    print(f"22 areas x 120 months, att_gt + dynamic, 999 bootstrap draws: median {seconds:.3f} s (target < 0.5 s)")
    print(f"max resident memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
