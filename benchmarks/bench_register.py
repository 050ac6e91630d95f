"""Benchmark: national-scale synthetic register (all CBS municipalities) and its aggregation to area panels.

Targets (2-core machine): simulate + DuckDB panel at national scale (about 0.5 million recipients, 120 months)
in < 60 s and < 4 GB peak memory; the area-level Monte Carlo simulator in < 50 ms for 22 areas x 120 months; one
person-level register for the cohort design (Amsterdam's 22 areas, scale 1, 2015-01 .. 2024-12, the worlds with and
without the cohort approach, no spells) in < 1 s (median of 5 after a first, cold call that reads the CBS files).

Each scale runs in a fresh subprocess so that its peak resident memory (``ru_maxrss``) is its own.

Usage::

    .venv/bin/python benchmarks/bench_register.py                 # scales 0.25, 0.5, 1
    .venv/bin/python benchmarks/bench_register.py --scales 0.1    # quick
    .venv/bin/python benchmarks/bench_register.py --cohort-only   # the cohort-design register only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

TARGET_SECONDS = 60.0
TARGET_PEAK_GB = 4.0
TARGET_AREA_MS = 50.0
TARGET_COHORT_S = 1.0
COHORT_DESIGN = {"scale": 1.0, "municipalities": ("GM0363",), "counterfactuals": ("cohort",), "record_spells": False}


def _machine() -> str:
    import duckdb
    import numpy
    import pandas

    memory = ""
    try:
        with open("/proc/meminfo") as handle:
            memory = f", {int(handle.readline().split()[1]) / 1024**2:.1f} GB RAM"
    except OSError:
        pass
    cpu = platform.processor() or platform.machine()
    return (f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs{memory}; Python "
            f"{platform.python_version()}, numpy {numpy.__version__}, pandas {pandas.__version__}, "
            f"duckdb {duckdb.__version__}")


def _one_scale(scale: float) -> dict:
    """Simulate the national register at ``scale`` and build its panel (runs in a child process)."""
    from bijstand.data.panel import build_area_panel
    from bijstand.data.synthetic import simulate_register

    t0 = time.perf_counter()
    register = simulate_register(scale=scale, comparison_municipalities="all")
    t1 = time.perf_counter()
    panel = build_area_panel(register.spells, register.areas)
    t2 = time.perf_counter()
    return {
        "scale": scale,
        "recipients_2015_01": int(panel.loc[panel["period"] == 1, "stock"].sum()),
        "persons": register.params["n_persons"],
        "spells": register.params["n_spells"],
        "areas": register.params["n_areas"],
        "simulate_s": t1 - t0,
        "duckdb_panel_s": t2 - t1,
        "total_s": t2 - t0,
        "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,  # ru_maxrss is KiB on Linux
    }


def _area_level(repeats: int = 30) -> tuple[float, float]:
    from bijstand.data.synthetic import simulate_area_panel

    simulate_area_panel(seed=0)  # warm-up: CBS cycle and steady state are cached per parameter set
    timings = []
    for seed in range(repeats):
        t0 = time.perf_counter()
        simulate_area_panel(seed=seed)
        timings.append(time.perf_counter() - t0)
    timings.sort()
    return 1000 * timings[len(timings) // 2], 1000 * timings[int(0.9 * len(timings))]


def _cohort_design(repeats: int = 5) -> dict:
    """Seconds per cohort-design register (:data:`COHORT_DESIGN`): the first (cold) call and the median of
    ``repeats`` further calls with other seeds (warm: CBS tables and the business cycle are cached in-process)."""
    from bijstand.data.synthetic import simulate_register

    t0 = time.perf_counter()
    simulate_register(seed=0, **COHORT_DESIGN)
    cold = time.perf_counter() - t0
    timings = []
    for seed in range(1, repeats + 1):
        t0 = time.perf_counter()
        simulate_register(seed=seed, **COHORT_DESIGN)
        timings.append(time.perf_counter() - t0)
    return {"cold_s": cold, "median_s": sorted(timings)[len(timings) // 2], "timings": timings}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    parser.add_argument("--cohort-only", action="store_true", help="time only the cohort-design register")
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(_one_scale(args.child)))
        return 0

    print(f"machine: {_machine()}")
    print(f"command: {sys.executable} {' '.join(sys.argv)}")
    cohort = _cohort_design()
    cohort_ok = cohort["median_s"] < TARGET_COHORT_S
    print(f"cohort-design register {COHORT_DESIGN}: median of 5 {cohort['median_s']:.3f} s "
          f"({', '.join(f'{t:.3f}' for t in cohort['timings'])}), first call {cohort['cold_s']:.3f} s "
          f"(target < {TARGET_COHORT_S:g} s): {'OK' if cohort_ok else 'MISSED'}")
    if args.cohort_only:
        return 0 if cohort_ok else 1
    print(f"{'scale':>6} {'recip.2015':>10} {'persons':>9} {'spells':>9} {'simulate':>9} {'panel':>7} "
          f"{'total':>7} {'peak GB':>8}")
    results = []
    for scale in args.scales:
        out = subprocess.run([sys.executable, __file__, "--child", str(scale)], check=True, capture_output=True,
                             text=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(r)
        print(f"{r['scale']:>6g} {r['recipients_2015_01']:>10,} {r['persons']:>9,} {r['spells']:>9,} "
              f"{r['simulate_s']:>8.1f}s {r['duckdb_panel_s']:>6.1f}s {r['total_s']:>6.1f}s {r['peak_gb']:>8.2f}")
    if len(results) > 1:
        first, last = results[0], results[-1]
        size = last["scale"] / first["scale"]
        print(f"growth x{size:g} in size: time x{last['total_s'] / first['total_s']:.2f}, "
              f"peak memory x{last['peak_gb'] / first['peak_gb']:.2f}")
    median_ms, p90_ms = _area_level()
    print(f"simulate_area_panel (22 areas x 120 months): median {median_ms:.1f} ms, p90 {p90_ms:.1f} ms "
          f"(target < {TARGET_AREA_MS:g} ms)")
    status = 0
    national = [r for r in results if r["scale"] == 1.0]
    if national:
        r = national[0]
        ok = r["total_s"] < TARGET_SECONDS and r["peak_gb"] < TARGET_PEAK_GB
        print(f"national scale: {r['total_s']:.1f} s (target < {TARGET_SECONDS:g}), {r['peak_gb']:.2f} GB "
              f"(target < {TARGET_PEAK_GB:g}): {'OK' if ok else 'MISSED'}")
        status = 0 if ok else 1
    return status if cohort_ok else 1


if __name__ == "__main__":
    sys.exit(main())
