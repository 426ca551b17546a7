"""`asgd bench`'s compare row: the runs of a compare, batched as `asgd compare` runs them (the steps and seeds of a
method in lockstep: sim.engine.simulate_replicates, through sim.frontends.executors.run_chunk), against the same
runs one by one (sim.frontends.executors.run_one), in this process.

The runs: the tuning runs of the quickstart's compare, METHODS x STEPS steps x SEEDS seeds (the default step grid
of sim.frontends.compare), each at the iterations given (the budget: sync runs 1/8 of them, each summing 8
gradients), with the tuning runs' metrics grid (compare.tuning_every). On the quickstart (a bound of 16, policy
"wait") every method runs on the SimPy engine: batched, once per seed on a recorder (sim/recorded.py), the steps
of that seed in lockstep on the ring.
"""

from __future__ import annotations

import time
from pathlib import Path

from sim.frontends.grid import Axis

METHODS = ("asysg-con", "asysg-incon", "sync", "svrg")
SEEDS = 4
QUICKSTART = Path(__file__).resolve().parents[2] / "scenarios" / "quickstart.toml"


def compare_tasks(iterations: int) -> list[tuple[str, str]]:
    """The (run id, scenario) tasks of the compare: each method's steps and seeds consecutive, as compare plans them."""
    from scenarios import load
    from scenarios.methods import BY_NAME
    from sim.frontends.compare import plan_runs, step_grid

    axes = [Axis("algorithm.iterations", (iterations,), (str(iterations),))]
    steps = step_grid(load(QUICKSTART, {"algorithm.iterations": iterations}), None)
    entries = plan_runs(QUICKSTART, [BY_NAME[name] for name in METHODS], axes, steps, 0, SEEDS)
    return [(entry.run_id, entry.scenario) for entry in entries]


def compare_speedup(iterations: int, repeats: int) -> tuple[float, int]:
    """(seconds one by one over seconds batched, best of `repeats` interleaved, and the number of runs)."""
    from sim.frontends.executors import chunked, run_chunk, run_one

    tasks = compare_tasks(iterations)
    run_chunk(compare_tasks(10)[:2])  # warm-up: imports, the objective
    single = batched = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for task in tasks:
            run_one(task)
        single = min(single, time.perf_counter() - started)
        started = time.perf_counter()
        for chunk in chunked(tasks, 1):
            run_chunk(chunk)
        batched = min(batched, time.perf_counter() - started)
    return single / batched, len(tasks)
