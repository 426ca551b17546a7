"""simulate(scenario, seed) -> Result: one run of the scenario's algorithm on its simulated cluster;
simulate_batch(scenario, seeds) -> [Result]: the same runs for several seeds, their gradient math batched."""

from __future__ import annotations

import functools
import gc
import itertools
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import simpy

from analysis.bounds import bound_summary
from models.updates import ESTIMATORS, STALENESS_POLICIES, step_sizes
from models import one_blas_thread
from scenarios import build_objective, parse
from scenarios.algorithms import dropping_bound
from scenarios.types import Scenario
from sim.protocols import cancel, con, incon, sync
from sim.recording import WorkTally, staleness_table
from sim.closed_form.ring import apply_schedules
from sim.recorded import ScheduleRecorder
from sim.run import Run, apply_updates
from sim.closed_form.con import TIMINGS, Block, ConSchedule, closed_form, ring_depth
from sim.closed_form.epochs import EpochSchedule
from sim.closed_form.incon import incon_schedule
from sim.closed_form.scan import DropSchedule
from sim.cluster.failures import start_faults
from sim.cluster.speed import SpeedProcess, modulated, switches_until
from sim.cluster.workers import RepeatedClock, SampleStream, WorkerClock, service_clock, tallied, write_streams
from sim.protocols.epochs import EpochGate, full_pass_time


@dataclass
class Result:
    """A finished run: `summary` (dict), `metrics`, `trace` and `staleness` (DataFrames) and the final iterate."""

    scenario: Scenario
    summary: dict[str, Any]
    x_final: np.ndarray
    metrics_table: pa.Table = field(repr=False)
    trace_table: pa.Table = field(repr=False)
    staleness_counts: list[int] = field(repr=False)
    events_table: pa.Table = field(repr=False)

    @cached_property
    def events(self) -> pd.DataFrame:
        """The cluster's events (failures, recoveries, lost messages, speed switches): sim.recording.EVENT_SCHEMA."""
        return self.events_table.to_pandas()

    @cached_property
    def metrics(self) -> pd.DataFrame:
        return self.metrics_table.to_pandas()

    @cached_property
    def trace(self) -> pd.DataFrame:
        return self.trace_table.to_pandas()

    @cached_property
    def staleness(self) -> pd.DataFrame:
        """Applied gradients by staleness: columns staleness, count."""
        return staleness_table(self.staleness_counts).to_pandas()


CHUNK = 256  # simulate_batch: updates a replicate's engine may form ahead of the math


def simulate(scenario: Scenario, seed: int | None = None, progress: Callable[[int], None] | None = None,
             timing: str = "auto") -> Result:
    """Simulate `scenario` with `seed` (default: the scenario's); `progress(k)` is called as updates complete.

    timing "auto" takes the schedule in closed form where it has one (sim/closed_form/con.py: AsySG-con without a
    bound or server time; scan.py: under policy "drop"; epochs.py: SVRG's epochs; incon.py: shared memory whose
    reads take no time, without a bound), else runs the SimPy engine; "simpy" always runs the engine. Both give the
    same run, bit for bit. A closed-form run that meets two events at one instant goes on the engine from the start
    (its wall time counts both; progress goes on from the highest update reported).
    """
    _check_timing(timing)
    with _collector_skips_older_objects():
        return _simulate(scenario, seed, progress, timing)


def _simulate(scenario: Scenario, seed: int | None, progress: Callable[[int], None] | None, timing: str) -> Result:
    scenario = _with_seed(scenario, seed)
    objective = build_objective(scenario)
    started = time.perf_counter()
    if timing == "auto" and closed_form(scenario):
        run = Run(scenario, objective, progress)
        with np.errstate(all="ignore"), one_blas_thread():
            tied = apply_schedules([run], [_schedule(scenario, objective, run.work)], _depth(scenario))
        if not tied:
            return _result(scenario, run, time.perf_counter() - started)
        progress = _beyond(progress, run.metrics.rows[-1][0]) if progress is not None else None
    run = Run(scenario, objective, progress)
    env = simpy.Environment()
    finished = env.event()
    run.on_finish = finished.succeed
    _start(env, run, scenario, objective)
    with np.errstate(all="ignore"), one_blas_thread():
        env.run(until=finished)
    return _result(scenario, run, time.perf_counter() - started)


def simulate_batch(scenario: Scenario, seeds: list[int], timing: str = "auto") -> list[Result]:
    """[simulate(scenario, seed, timing=timing) for seed in seeds], bit for bit, with the replicates' gradient math
    vectorized (simulate_replicates). `wall_seconds` of each result is the batch's wall time over its size."""
    return simulate_replicates([_with_seed(scenario, seed) for seed in seeds], timing)


def simulate_replicates(scenarios: list[Scenario], timing: str = "auto") -> list[Result]:
    """[simulate(s, timing=timing) for s in scenarios], bit for bit, their math vectorized: the scenarios must be
    equal but for their seed and, without a regularizer, their constant step (same_but_seed_and_step). Timing never
    depends on the iterate's values, so the replicates of one seed share one schedule: a closed form's (see
    `simulate`) or the SimPy engine's, recorded from one protocol run (sim/recorded.py); on it every replicate steps
    in lockstep on the ring (sim/closed_form/ring.py), each row with its own gamma_k (sim.run.lockstep) and SVRG's
    own snapshot. A cluster with events (failures, lost messages, changing speeds: each run logs its own) runs an
    engine per replicate ahead of the math by up to CHUNK updates (deferred Run), update k of every replicate
    applied at once (run.apply_updates). Ringmaster's cancels, shared memory whose reads take time, that drops or
    runs SVRG, SVRG with a step per gradient, and SVRG or DC-ASGD (per-run state) on such clusters run one replicate
    at a time; DC-ASGD's replicates share their schedule but each updates itself (sim/closed_form/ring.Ring.step).
    """
    _check_timing(timing)
    with _collector_skips_older_objects():
        return _simulate_batch(scenarios, timing)


def same_but_seed_and_step(resolved: dict[str, Any]) -> dict[str, Any]:
    """A resolved scenario without what replicates batched by simulate_replicates may differ in: the seed and, for a
    constant step without a regularizer, the step's value (sim.run.lockstep's condition; DC-ASGD's replicates each
    update themselves on the ring: sim/closed_form/ring.py)."""
    resolved = {key: value for key, value in resolved.items() if key != "seed"}
    algorithm = resolved.get("algorithm", {})
    step, regularizer = algorithm.get("step"), algorithm.get("regularizer", {"name": "none"})
    if isinstance(step, dict) and step.get("policy") == "constant" and regularizer.get("name") == "none":
        resolved["algorithm"] = {**algorithm, "step": {"policy": "constant"}}
    return resolved


def _simulate_batch(scenarios: list[Scenario], timing: str) -> list[Result]:
    if len(scenarios) < 2:
        return [_simulate(s, None, None, timing) for s in scenarios]
    scenario, algorithm = scenarios[0], scenarios[0].algorithm
    closed = timing == "auto" and closed_form(scenario)
    recorded = not closed and _recordable(scenario)
    svrg = algorithm.estimator.epoch is not None
    if (algorithm.cancel
            or not (closed or recorded) and (algorithm.protocol == "asysg-incon" or svrg
                                             or algorithm.compensation is not None)
            or svrg and algorithm.step.policy in STALENESS_POLICIES):
        # Ringmaster's cancels (released at once); shared memory (eager runs), SVRG's snapshots and DC-ASGD's state
        # step together on the ring only (SVRG with one step per gradient not at all): one replicate at a time
        return [_simulate(s, None, None, timing) for s in scenarios]
    objective = build_objective(scenario)
    started = time.perf_counter()
    if recorded:
        return _apply_recorded(scenarios, objective, started)
    if closed:
        runs = [Run(s, objective) for s in scenarios]
        with np.errstate(all="ignore"), one_blas_thread():
            tied = apply_schedules(runs, [_schedule(s, objective, run.work) for s, run in zip(scenarios, runs)],
                                   _depth(scenario))
        wall = (time.perf_counter() - started) / len(runs)
        results = [_result(s, run, wall) if i not in tied else None for i, (s, run) in enumerate(zip(scenarios, runs))]
        for i, result in zip(tied, _simulate_batch([scenarios[i] for i in tied], "simpy")):
            results[i] = result
        return results
    # a cluster with events (sim/cluster), which each run logs: an engine per replicate, its math deferred
    runs = [Run(s, objective, deferred=True) for s in scenarios]
    envs: list[simpy.Environment | None] = [simpy.Environment() for _ in runs]
    for env, run, replicate in zip(envs, runs, scenarios):
        _start(env, run, replicate, objective)
    results: dict[int, Result] = {}
    with np.errstate(all="ignore"), one_blas_thread():
        active = list(range(len(runs)))
        while active:
            for i in active:
                if runs[i].pending_updates == 0:
                    _run_ahead(envs[i], runs[i])
            apply_updates([runs[i] for i in active], [runs[i].next_update() for i in active])
            for i in [i for i in active if runs[i].done]:  # a finished replicate's engine and iterates go now
                results[i] = _result(scenarios[i], runs[i], 0.0)
                runs[i] = envs[i] = None
            active = [i for i in active if i not in results]
    wall = (time.perf_counter() - started) / len(runs)
    for result in results.values():
        result.summary["wall_seconds"] = wall
    return [results[i] for i in range(len(runs))]


def _recordable(scenario: Scenario) -> bool:
    """The engine's schedule of the scenario can be recorded as Blocks for the ring (sim/recorded.py): a parameter
    server (AsySG-con, SVRG's epochs included, or sync) or AsySG-incon's shared memory
    whose reads take no time (without SVRG, or drops, whose rows would need the read's columns), without Ringmaster's
    cancels, on a cluster without events."""
    algorithm, staleness = scenario.algorithm, scenario.staleness
    shared_memory = algorithm.protocol == "asysg-incon"  # writes only, of reads taking no time (Block.coordinates)
    return (not algorithm.cancel and not _has_events(scenario)
            and (not shared_memory or scenario.cluster.read.is_zero and algorithm.estimator.epoch is None
                 and (staleness.bound is None or staleness.policy == "wait")))


def _apply_recorded(scenarios: list[Scenario], objective, started: float) -> list[Result]:
    """The replicates in lockstep on the ring (sim/closed_form/ring.apply_schedules), on their seeds' recorded
    schedules (_shared_schedules)."""
    runs = [Run(s, objective, deferred=True) for s in scenarios]  # deferred: idle times come with the blocks
    with np.errstate(all="ignore"), one_blas_thread():
        apply_schedules(runs, _shared_schedules(scenarios, objective), _depth(scenarios[0]))
    wall = (time.perf_counter() - started) / len(runs)
    return [_result(s, run, wall) for s, run in zip(scenarios, runs)]


def _shared_schedules(scenarios: list[Scenario], objective) -> list[Iterator[Block]]:
    """Each replicate's schedule: its seed's, recorded from one engine run (_recorded) and shared by the replicates
    of that seed (itertools.tee: only the list holds them, so a finished run's is let go, apply_schedules)."""
    by_seed: dict[int, list[int]] = {}
    for i, replicate in enumerate(scenarios):
        by_seed.setdefault(replicate.seed, []).append(i)
    schedules: list[Iterator[Block]] = [iter(())] * len(scenarios)
    for members in by_seed.values():
        for i, schedule in zip(members, itertools.tee(_recorded(scenarios[members[0]], objective), len(members))):
            schedules[i] = schedule
    return schedules


def _recorded(scenario: Scenario, objective) -> Iterator[Block]:
    """The SimPy engine's schedule of `scenario` as Blocks of at least CHUNK updates (the last: the rest), from one
    protocol run on a ScheduleRecorder (sim/recorded.py: no math)."""
    recorder = ScheduleRecorder(scenario, objective)
    env = simpy.Environment()
    _start(env, recorder, scenario, objective)
    while not recorder.finished:
        _run_ahead(env, recorder)
        yield recorder.block()


def _has_events(scenario: Scenario) -> bool:
    """The cluster has failures, lost messages or changing speeds, whose events each run logs (events.parquet)."""
    return any(t.failures is not None or t.loss > 0 or t.speed is not None for t in scenario.cluster.timings)


@contextmanager
def _collector_skips_older_objects():
    """During a run, Python's cyclic garbage collector leaves alone the objects that existed before it (gc.freeze,
    undone after): its full collections then scan the run's objects, not every object of every module imported,
    which cost a run of 1,000 workers more time than its gradients (README, Scaling with the cluster)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _beyond(progress: Callable[[int], None], reported: int) -> Callable[[int], None]:
    """`progress` for updates after `reported` only."""
    def report(k: int) -> None:
        if k > reported:
            progress(k)
    return report


def _check_timing(timing: str) -> None:
    if timing not in TIMINGS:
        raise ValueError(f"timing must be one of {TIMINGS}, not {timing!r}")


def _with_seed(scenario: Scenario, seed: int | None) -> Scenario:
    """The scenario with `seed` (the result's scenario is the one that ran)."""
    return scenario if seed is None or seed == scenario.seed else parse({**scenario.resolved, "seed": seed})


def _start(env: simpy.Environment, run: Run, scenario: Scenario, objective) -> None:
    """Start the processes of the scenario's protocol on `run`, each worker with its own streams (SVRG: inner
    gradients cost two evaluations, and epochs begin with snapshot rounds, sim/protocols/epochs.py)."""
    seed, cluster, algorithm = scenario.seed, scenario.cluster, scenario.algorithm
    clocks, samples = _worker_streams(scenario, objective)
    service = service_clock(cluster.server, seed)
    epoch, epochs = algorithm.estimator.epoch, None
    if epoch is not None:
        clocks, snapshot_time = _epoch_streams(scenario, objective, clocks)
        per_read = algorithm.batch if algorithm.protocol == "asysg-incon" else 1
        epochs = functools.partial(EpochGate, env, epoch=epoch, batch=algorithm.batch, gradients_per_read=per_read,
                                   snapshot_time=snapshot_time, work=run.work)
    _speeds(env, run, scenario, clocks)
    _tally(env, run.work, clocks)
    faults = start_faults(env, run.events, run.work, cluster.timings, seed)
    faults = faults if any(fault is not None for fault in faults) else None
    if algorithm.protocol == "sync":
        sync.start(env, run, clocks, samples, service, epoch, snapshot_time if epoch is not None else 0.0, faults)
    elif algorithm.cancel:
        cancel.start(env, run, clocks, samples, algorithm.threshold, service, faults)
    elif algorithm.protocol == "asysg-con":
        con.start(env, run, clocks, samples, algorithm.batch, scenario.staleness.bound, scenario.staleness.policy,
                  service, epochs, faults)
    else:
        incon.start(env, run, scenario, clocks, samples, seed, epochs, faults)


def _speeds(env: simpy.Environment, run: Run, scenario: Scenario, clocks: list[WorkerClock]) -> None:
    """Workers with a two-state speed compute under their speed process (sim/cluster/speed.py), one per worker or
    one shared by a group; the run keeps them for the events of its switches."""
    processes: dict[int, SpeedProcess] = {}
    for worker, (timing, clock) in enumerate(zip(scenario.cluster.timings, clocks)):
        if timing.speed is not None:
            if timing.speed_unit not in processes:
                processes[timing.speed_unit] = SpeedProcess(timing.speed, scenario.seed, timing.speed_unit)
            clock.compute = modulated(clock.compute, processes[timing.speed_unit], lambda: env.now)
            run.speeds.append((worker, processes[timing.speed_unit]))


def _tally(env: simpy.Environment, work: WorkTally, clocks: list[WorkerClock]) -> None:
    """Every pull, computation and push a worker's clock draws starts its span in `work` (idle_worker_time)."""
    for worker, clock in enumerate(clocks):
        for name in ("downlink", "compute", "uplink"):
            if (draw := getattr(clock, name)) is not None:
                setattr(clock, name, tallied(draw, work, worker, lambda: env.now))


def _schedule(scenario: Scenario, objective, work: WorkTally) -> Iterator[Block]:
    """The closed-form schedule of an AsySG-con scenario (sim/closed_form/con.py; under policy "drop",
    sim/closed_form/scan.py; with SVRG's epochs, epochs.py), or of a shared-memory one (sim/closed_form/incon.py),
    from the same streams as the engine's; `work`: the run's idle time, which SVRG's epochs tally (the workers wait
    at the gate) and which is 0 elsewhere (each worker pulls again the instant it pushed)."""
    algorithm, bound, epoch = scenario.algorithm, scenario.staleness.bound, scenario.algorithm.estimator.epoch
    clocks, samples = _worker_streams(scenario, objective)
    sizes = (algorithm.batch, algorithm.iterations, algorithm.minibatch)
    if epoch is not None:
        clocks, snapshot_time = _epoch_streams(scenario, objective, clocks)
        return iter(EpochSchedule(clocks, samples, *sizes, epoch, snapshot_time, work))
    work.gapless = True
    if algorithm.protocol == "asysg-incon":
        writes = write_streams(objective.dim, algorithm.block, algorithm.blocks, scenario.seed, scenario.cluster.workers)
        return incon_schedule(clocks, samples, writes, *sizes)
    return iter(ConSchedule(clocks, samples, *sizes) if bound is None else DropSchedule(clocks, samples, *sizes, bound))


def _depth(scenario: Scenario) -> int:
    """The ring's depth: a shared-memory update is one thread's write (the server's batch 1)."""
    batch = scenario.algorithm.batch if scenario.algorithm.protocol == "asysg-con" else 1
    return ring_depth(scenario.cluster.workers, batch)


def _epoch_streams(scenario: Scenario, objective, clocks: list[WorkerClock]) -> tuple[list[RepeatedClock], float]:
    """SVRG's clocks (an inner gradient costs its estimator's evaluations of G: workers.RepeatedClock) and the time of
    its snapshot rounds (sim/protocols/epochs.full_pass_time), for the engine and the closed form alike."""
    algorithm = scenario.algorithm
    evaluations = ESTIMATORS[algorithm.estimator.name].evaluations
    return ([RepeatedClock(clock, evaluations) for clock in clocks],
            full_pass_time(scenario.cluster.timings, objective.n_samples, algorithm.minibatch))


def _worker_streams(scenario: Scenario, objective) -> tuple[list[WorkerClock], list[SampleStream]]:
    """Each worker's clock and sample stream (sim/cluster/workers.py)."""
    seed, cluster, algorithm = scenario.seed, scenario.cluster, scenario.algorithm
    clocks = [WorkerClock(timing, seed, i) for i, timing in enumerate(cluster.timings)]
    samples = [SampleStream(objective, algorithm.minibatch, seed, i) for i in range(cluster.workers)]
    return clocks, samples


def _run_ahead(env: simpy.Environment, run: Run) -> None:
    """Run a deferred run's engine until it has formed CHUNK more updates, or all K."""
    paused = env.event()

    def on_pending() -> None:
        if not paused.triggered and (run.pending_updates >= CHUNK or run.finished):
            paused.succeed()

    run.on_pending = on_pending
    env.run(until=paused)


def _result(scenario: Scenario, run: Run, wall_seconds: float) -> Result:
    for worker, process in run.speeds:
        for instant, kind in switches_until(process, run.sim_time):
            run.events.add(instant, worker, kind)
    summary = _summary(scenario, run, wall_seconds)
    return Result(scenario, summary, run.store.current, run.metrics.table(), run.trace.table(), run.staleness.counts,
                  run.events.table())


def _summary(scenario: Scenario, run: Run, wall_seconds: float) -> dict[str, Any]:
    algorithm, objective = scenario.algorithm, run.objective
    last = run.metrics.rows[-1]
    iterations = run.store.version
    return {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "status": "diverged" if run.diverged else "ok" if np.isfinite(run.sim_time) else "overflow",  # the clock
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
        "idle_worker_time": run.idle_time(),  # W x sim_time less the workers' spans of work (sim.recording.WorkTally)
        "updates_per_time": iterations / run.sim_time if run.sim_time > 0 else None,
        "final_loss": last[3],
        "final_grad_norm_sq": last[4],
        "ergodic_grad_norm_sq": run.metrics.ergodic_grad_norm_sq(iterations),
        "final_stationarity": last[6],
        "ergodic_stationarity": run.metrics.ergodic_grad_norm_sq(iterations, column=6),
        "final_objective": last[7],
        "evaluations": _evaluations(scenario, run, iterations),
        "estimator": algorithm.estimator.name,
        "epoch": algorithm.estimator.epoch,
        "regularizer": dict(algorithm.regularizer),
        "blocks": algorithm.blocks,
        "weighted_ergodic_grad_norm_sq": run.metrics.ergodic_grad_norm_sq(iterations, weighted=True),
        "metrics_every": run.metrics.every,
        "max_staleness": run.staleness.max,
        "mean_staleness": run.staleness.mean,
        **run.staleness.percentiles(),
        **run.events.counts(),
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
        **({} if algorithm.compensation is None else {"compensation": scenario.resolved["algorithm"]["compensation"]}),
        **({} if dropping_bound(algorithm) is None else {"threshold": algorithm.threshold, "cancel": algorithm.cancel,
                                                         "dropped_time": run.dropped_time, "cancelled": run.cancelled,
                                                         "cancelled_time": run.cancelled_time}),
    }


def _evaluations(scenario: Scenario, run: Run, iterations: int) -> int:
    """Sample-gradient evaluations spent (a stochastic gradient of minibatch b counts b): each gradient the server
    consumed, dropped ones included, each lost one whose computation had finished (sim/cluster/failures.py) and each
    computation cancelled (Ringmaster), times its estimator's evaluations of G, plus n per SVRG snapshot round (one
    at each of the versions 0, epoch, 2 epoch, ... below the updates applied)."""
    algorithm = scenario.algorithm
    spent = ((run.gradients + run.events.computed_lost + run.cancelled) * run.algorithm.estimator.evaluations
             * algorithm.minibatch)
    if algorithm.estimator.epoch is not None:
        spent += math.ceil(max(iterations, 1) / algorithm.estimator.epoch) * run.objective.n_samples
    return spent


def _bounds(scenario: Scenario, run: Run, iterations: int) -> dict[str, Any]:
    """The run's bound fields (analysis.bounds.bound_summary) with T = its measured maximum staleness; none for
    SVRG, proximal steps and SAPALM (no bound implemented: docs/checks.md). The steps go
    as the constant gamma or as a function computing any block of them: O(1) or O(CHUNK + T) memory, not O(K)."""
    algorithm, objective, T = scenario.algorithm, run.objective, run.staleness.max
    policy, value, c = run.step.policy, run.step.value, run.step.c
    gammas = value if policy != "decay" else (lambda start, stop: step_sizes(policy, value, c, stop - start, start))
    plain = (algorithm.estimator.name == "sg" and algorithm.regularizer["name"] == "none"  # the paper's algorithms
             and policy not in STALENESS_POLICIES and algorithm.compensation is None)
    return bound_summary(algorithm.name if plain else None, algorithm.step.policy, gammas, iterations, T,
                         objective.smoothness, algorithm.batch, objective.variance / algorithm.minibatch,
                         run.f_x0 - objective.f_star)
