"""Speed of the imputation estimator (:mod:`bijstand.did.imputation`) and the wild cluster bootstrap (:mod:`.wild`).

Run: ``.venv/bin/python benchmarks/bench_imputation.py`` (``--repeats N`` to change the number of timed runs).

Cases and targets (2-core machine):

1. 22 areas x 120 months, nine cohorts and never-treated areas: ``imputation`` static and with every horizon
   (milliseconds: < 0.05 s);
2. 20,000 units x 24 periods, six cohorts + never treated: ``imputation`` static and with every horizon (< 1 s);
3. 22 areas x 120 months (2,640 observations), 999 Webb draws, restricted bootstrap with the interval by test
   inversion: ``wild_bootstrap_twfe`` and ``wild_bootstrap_imputation`` (< 1 s).

Times are medians over the repeats after one warm-up run (the panels of ``bench_attgt.py``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

import numpy as np
import pandas as pd
from bench_attgt import cpu_model, median_seconds, simulated_panel, traced_peak_mib

from bijstand.did.imputation import imputation
from bijstand.did.wild import wild_bootstrap_imputation, wild_bootstrap_twfe

KEYS = dict(y="y", unit="unit", time="period", group="group")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, pandas {pd.__version__}")
    print(f"command: {sys.executable} {' '.join(sys.argv)}")

    small = simulated_panel(22, 120, [57, 59, 60, 61, 63, 65, 67, 69, 71], never_treated=True)
    big = simulated_panel(20_000, 24, [5, 8, 11, 14, 17, 20])
    small_result = imputation(small, **KEYS)

    cases = [
        ("22 x 120, static ATT", lambda: imputation(small, **KEYS), 0.05),
        ("22 x 120, every horizon", lambda: imputation(small, **KEYS, horizon=True), 0.05),
        ("20,000 x 24, static ATT", lambda: imputation(big, **KEYS), 1.0),
        ("20,000 x 24, every horizon", lambda: imputation(big, **KEYS, horizon=True), 1.0),
        ("22 x 120, WCR TWFE, 999 draws + CI",
         lambda: wild_bootstrap_twfe(small, **KEYS, n_boot=999, seed=1), 1.0),
        ("22 x 120, WCR imputation, 999 draws + CI",
         lambda: wild_bootstrap_imputation(small_result, n_boot=999, seed=1), 1.0),
    ]
    print(f"\nmedian of {args.repeats} runs ({int((small['group'] == 0).sum() / 120)} never-treated areas in the "
          f"small panel)")
    print(f"{'case':<44}{'seconds':>9}{'target':>8}{'peak MiB':>10}  ok")
    for name, fn, target in cases:
        seconds = median_seconds(fn, args.repeats)
        peak = traced_peak_mib(fn)
        print(f"{name:<44}{seconds:>9.3f}{target:>8.2f}{peak:>10.0f}  {'yes' if seconds < target else 'NO'}")


if __name__ == "__main__":
    main()
