"""simulate(scenario, seed) -> Result: one run of the scenario's algorithm on its simulated cluster."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import simpy

from analysis.bounds import bound_summary
from models.updates import step_sizes
from models import one_blas_thread
from scenarios import build_objective, parse
from scenarios.types import Scenario
from sim import con, incon, sync
from sim.run import Run
from sim.workers import SampleStream, WorkerClock, service_clock


@dataclass
class Result:
    """A finished run: `summary` (dict), `metrics`, `trace` and `staleness` (DataFrames) and the final iterate."""

    scenario: Scenario
    summary: dict[str, Any]
    x_final: np.ndarray
    metrics_table: pa.Table = field(repr=False)
    trace_table: pa.Table = field(repr=False)
    staleness_counts: list[int] = field(repr=False)

    @cached_property
    def metrics(self) -> pd.DataFrame:
        return self.metrics_table.to_pandas()

    @cached_property
    def trace(self) -> pd.DataFrame:
        return self.trace_table.to_pandas()

    @cached_property
    def staleness(self) -> pd.DataFrame:
        """Applied gradients by staleness: columns staleness, count."""
        return pd.DataFrame({"staleness": np.arange(len(self.staleness_counts)), "count": self.staleness_counts})


def simulate(scenario: Scenario, seed: int | None = None, progress: Callable[[int], None] | None = None) -> Result:
    """Simulate `scenario` with `seed` (default: the scenario's); `progress(k)` is called as updates complete."""
    if seed is not None and seed != scenario.seed:
        scenario = parse({**scenario.resolved, "seed": seed})  # the result's scenario is the one that ran
    seed = scenario.seed
    objective = build_objective(scenario)
    started = time.perf_counter()
    run = Run(scenario, objective, progress)
    env = simpy.Environment()
    finished = env.event()
    run.on_finish = finished.succeed
    cluster, algorithm = scenario.cluster, scenario.algorithm
    clocks = [WorkerClock(timing, seed, i) for i, timing in enumerate(cluster.timings)]
    samples = [SampleStream(objective, algorithm.minibatch, seed, i) for i in range(cluster.workers)]
    service = service_clock(cluster.server, seed)
    if algorithm.name == "sync":
        sync.start(env, run, clocks, samples, service)
    elif algorithm.name == "asysg-con":
        con.start(env, run, clocks, samples, algorithm.batch, scenario.staleness.bound, scenario.staleness.policy, service)
    elif algorithm.name == "asysg-incon":
        incon.start(env, run, scenario, clocks, samples, seed)
    else:
        raise NotImplementedError(f"algorithm {algorithm.name!r} is not implemented yet")
    with np.errstate(all="ignore"), one_blas_thread():
        env.run(until=finished)
    summary = _summary(scenario, seed, run, time.perf_counter() - started)
    return Result(scenario, summary, run.store.current, run.metrics.table(), run.trace.table(), run.staleness.counts)


def _summary(scenario: Scenario, seed: int, run: Run, wall_seconds: float) -> dict[str, Any]:
    algorithm, objective = scenario.algorithm, run.objective
    last = run.metrics.rows[-1]
    iterations = run.store.version
    return {
        "scenario": scenario.name,
        "seed": seed,
        "status": "diverged" if run.diverged else "ok",
        "algorithm": algorithm.name,
        "objective": scenario.objective["name"],
        "workers": scenario.cluster.workers,
        "batch": algorithm.batch,
        "minibatch": algorithm.minibatch,
        "staleness_bound": scenario.staleness.bound,
        "staleness_policy": scenario.staleness.policy,
        "iterations": iterations,
        "planned_iterations": algorithm.iterations,  # K of the scenario (iterations is less if the run diverged)
        "gradients": run.gradients,
        "dropped": run.staleness.dropped,
        "sim_time": run.sim_time,
        "updates_per_time": iterations / run.sim_time if run.sim_time > 0 else None,
        "final_loss": last[3],
        "final_grad_norm_sq": last[4],
        "ergodic_grad_norm_sq": run.metrics.ergodic_grad_norm_sq(iterations),
        "weighted_ergodic_grad_norm_sq": run.metrics.ergodic_grad_norm_sq(iterations, weighted=True),
        "metrics_every": run.metrics.every,
        "max_staleness": run.staleness.max,
        "mean_staleness": run.staleness.mean,
        "step_policy": algorithm.step.policy,
        "step_first": run.gamma(0),
        "step_value": run.step.value,   # the constant gamma (the corollary policy's, resolved), else None
        "step_c": run.step.c,           # the decay policy's c, else None
        "f_x0": run.f_x0,
        "smoothness": objective.smoothness,
        "variance": objective.variance,
        "f_star": objective.f_star,
        "constant_kinds": dict(objective.constant_kinds),
        "dim": objective.dim,
        "wall_seconds": wall_seconds,
        **_bounds(scenario, run, iterations),
    }


def _bounds(scenario: Scenario, run: Run, iterations: int) -> dict[str, Any]:
    """The run's bound fields (analysis.bounds.bound_summary) with T = its measured maximum staleness. The steps go
    as the constant gamma or as a function computing any block of them: O(1) or O(CHUNK + T) memory, not O(K)."""
    algorithm, objective, T = scenario.algorithm, run.objective, run.staleness.max
    policy, value, c = run.step.policy, run.step.value, run.step.c
    gammas = value if policy != "decay" else (lambda start, stop: step_sizes(policy, value, c, stop - start, start))
    return bound_summary(algorithm.name, algorithm.step.policy, gammas, iterations, T, objective.smoothness,
                         algorithm.batch, objective.variance / algorithm.minibatch, run.f_x0 - objective.f_star)
