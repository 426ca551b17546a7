"""`asgd bench --scale`: the cost per gradient of each protocol as the cluster grows, as the ratio to W = 10.

Each protocol runs GRADIENTS updates of one gradient (sync: GRADIENTS / W rounds of W; policy drop also consumes
the gradients it drops, most of them once W >> T) on nonconvex-logistic (d = 100, n = 2000), trace off, metrics at
k = 0 and K only, at W = 10, 100, 1,000 and 10,000 workers. The figure is the CPU time of `simulate` per gradient
(objective construction, per-worker streams and start-up included), the best of REPEATS interleaved repetitions;
the ratios to W = 10 are measured in the same run. Target: at most 2x from W = 10 to W = 1,000 for every protocol.
"""

from __future__ import annotations

import time
from typing import Any

GRADIENTS = 20_000
WORKERS = (10, 100, 1_000, 10_000)
REPEATS = 3
TARGET = 2.0  # at most this ratio from W = 10 to W = 1,000
QUICK = {"gradients": 200, "workers": (2, 4, 8, 16), "repeats": 1}
EXPONENTIAL = {"dist": "exponential", "mean": 1.0}

# (label, algorithm, staleness, timing); the scenario of each is `scale_scenario`
PROTOCOLS = [
    ("AsySG-con, no bound, closed form", "asysg-con", None, "auto"),
    ("AsySG-con, no bound, SimPy engine", "asysg-con", None, "simpy"),
    ("AsySG-con, bound 16, policy wait", "asysg-con", {"bound": 16, "policy": "wait"}, "auto"),
    ("AsySG-incon, bound 16, policy wait", "asysg-incon", {"bound": 16, "policy": "wait"}, "auto"),
    ("AsySG-con, bound 16, policy drop", "asysg-con", {"bound": 16, "policy": "drop"}, "auto"),
    ("sync", "sync", None, "auto"),
]


def scale_scenario(algorithm: str, staleness: dict | None, workers: int, gradients: int):
    """The quickstart's cluster (exponential compute, mean 1) with W workers, or scenarios/incon.toml's threads
    (shifted-exponential compute, uniform read time, step 1.0), running `gradients` updates of one gradient (sync: rounds of W)."""
    from scenarios import parse

    iterations = max(1, gradients // workers) if algorithm == "sync" else gradients
    data: dict[str, Any] = {
        "name": "bench-scale", "objective": {"name": "nonconvex-logistic"},
        "algorithm": {"name": algorithm, "iterations": iterations, "step": 0.01},
        "cluster": {"workers": workers, "compute": EXPONENTIAL},
        "record": {"trace": False, "every": iterations},
    }
    if algorithm == "asysg-incon":
        data["algorithm"]["step"] = 1.0
        data["cluster"]["compute"] = {"dist": "shifted-exponential", "shift": 0.5, "mean": 1.0}
        data["cluster"]["read"] = {"dist": "uniform", "low": 0.25, "high": 0.75}
    if staleness is not None:
        data["staleness"] = staleness
    return parse(data)


def seconds_per_gradient(scenario, timing: str) -> float:
    """CPU seconds of this process (a run is single-threaded) per gradient: on a shared machine, less disturbed
    by the other processes than wall time."""
    from sim import simulate

    started = time.process_time()
    result = simulate(scenario, timing=timing)
    return (time.process_time() - started) / result.summary["gradients"]


def measure_scale(quick: bool = False) -> list[tuple[str, ...]]:
    """One row per protocol: its label, microseconds per gradient at the smallest W, the ratio to it at each other
    W, the target and the verdict (at the third W: 1,000)."""
    gradients, workers, repeats = ((QUICK["gradients"], QUICK["workers"], QUICK["repeats"]) if quick
                                   else (GRADIENTS, WORKERS, REPEATS))
    cases = [(label, w, scale_scenario(algorithm, staleness, w, gradients), timing)
             for label, algorithm, staleness, timing in PROTOCOLS for w in workers]
    seconds_per_gradient(scale_scenario("asysg-con", None, 2, 100), "auto")  # warm-up: imports, caches
    best = {(label, w): float("inf") for label, w, _, _ in cases}
    for _ in range(repeats):
        for label, w, scenario, timing in cases:
            best[label, w] = min(best[label, w], seconds_per_gradient(scenario, timing))
    rows = []
    for label, *_ in PROTOCOLS:
        base = best[label, workers[0]]
        ratios = [best[label, w] / base for w in workers[1:]]
        verdict = "ok" if ratios[1] <= TARGET else "MISSED"
        rows.append((label, f"{base * 1e6:.3g} us", *(f"{r:.3g}x" for r in ratios), f"<= {TARGET:g}x", verdict))
    return rows


def format_scale(rows: list[tuple[str, ...]], quick: bool) -> str:
    import os
    import sys

    import numpy as np

    from sim.frontends.tables import table

    workers = QUICK["workers"] if quick else WORKERS
    gradients = QUICK["gradients"] if quick else GRADIENTS
    title = (f"asgd bench --scale{' --quick (sizes scaled down: figures not meaningful)' if quick else ''}: "
             f"{os.cpu_count()} cores (os.cpu_count()), Python {sys.version.split()[0]}, numpy {np.__version__}; "
             f"K={gradients} updates of one gradient per run (sync: {gradients} gradients), trace off; "
             "CPU time per gradient, best of "
             f"{QUICK['repeats'] if quick else REPEATS}")
    headers = ("protocol", f"W={workers[0]}", *(f"W={w} / W={workers[0]}" for w in workers[1:]),
               f"target (W={workers[2]})", "verdict")
    return title + "\n" + table(headers, rows, markdown=False)
