"""The state of one simulated run, shared by every algorithm's engine: iterates, step sizes and recording.

No SimPy here: the engines (sim/protocols/con.py, sim/protocols/sync.py) decide *when* reads and updates happen and call
`read`, `apply` and `drop`; this module does the math and the bookkeeping (AsySG-incon's shared memory,
sim/protocols/shared_memory.py, applies its own writes and calls `updated`).

Timing never depends on the iterate's values, so the math may lag behind the engine. A run is eager (its
updates are applied as the engine forms them) or deferred (batched replicates, sim/engine.simulate_batch: the
engine forms updates ahead and they wait in `pending`, with the drops between them, until `apply_updates` applies
update k of several replicates together). Both give the same run, bit for bit.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from models.base import Objective
from models.updates import (ESTIMATORS, STALENESS_RULES, Algorithm, DelayCompensation, LockstepSVRG, corollary_step,
                            staleness_rule, step_schedule)
from scenarios.algorithms import build_regularizer
from scenarios.errors import ScenarioError
from scenarios.types import Scenario, Step
from sim.closed_form.con import Block
from sim.iterates import IterateStore, apply_con_update, apply_con_updates, apply_incon_update
from sim.recording import EventLog, InconTraceRecorder, MetricsRecorder, StalenessCounter, TraceRecorder, WorkTally


@dataclass(slots=True)
class Read:
    """A worker's read of model version `version` at time `t_read`, and the samples its gradient will use."""

    worker: int
    version: int
    t_read: float
    samples: np.ndarray


def resolve_step(step: Step, objective: Objective, batch: int, iterations: int, minibatch: int) -> Step:
    """The step policy with the corollary policy resolved to its constant: Step("constant", value=gamma)."""
    if step.policy == "corollary":
        try:
            return Step("constant", value=corollary_step(objective, batch, iterations, minibatch))
        except ValueError as error:
            raise ScenarioError("algorithm.step", {"policy": "corollary"}, f"{error}: choose a constant or decay step") from None
    return step


def build_algorithm(scenario: Scenario, objective: Objective) -> tuple[Algorithm, Step]:
    """The run's update math (models/updates: its step schedule, estimator and regularizer) and its resolved step
    policy. A corollary step that MCP's prox cannot take (concavity <= gamma) is bad input."""
    algorithm = scenario.algorithm
    step = resolve_step(algorithm.step, objective, algorithm.batch, algorithm.iterations, algorithm.minibatch)
    gamma = step_schedule(step.policy, step.value, step.c)
    regularizer = build_regularizer(algorithm.regularizer)
    if (why := regularizer.check_step(gamma(0))) is not None:
        raise ScenarioError("algorithm.step", {"policy": algorithm.step.policy}, f"{why} (algorithm.regularizer.concavity)")
    estimator = algorithm.estimator
    parts = (objective,) if estimator.epoch is None else (objective, estimator.epoch)
    compensation = algorithm.compensation
    dc = None if compensation is None else DelayCompensation(compensation.lambda_, compensation.momentum,
                                                             compensation.epsilon)
    return Algorithm(objective, gamma, ESTIMATORS[estimator.name](*parts), regularizer,
                     stale_step(step, objective, scenario.cluster.workers), dc), step


def stale_step(step: Step, objective: Objective, workers: int) -> Callable[[int], float] | None:
    """The staleness -> step function of a staleness-dependent policy (models.updates.STALENESS_RULES; Koloskova's
    concurrency defaults to the number of workers), None for the others. A delay-adaptive rule needs the objective's
    stated smoothness L: finite and > 0."""
    rule = staleness_rule(step.policy, step.rule)
    if rule is None:
        return None
    if step.policy == "delay-adaptive" and not (0 < objective.smoothness < math.inf):
        raise ScenarioError("algorithm.step.rule", rule, f"the delay-adaptive rules need the objective's smoothness L "
                            f"finite and > 0 (this objective states {objective.smoothness})")
    concurrency = step.concurrency if step.concurrency is not None else workers
    return STALENESS_RULES[rule](step.value, objective.smoothness, concurrency)


class Run:
    """Iterates, step schedule, trace, staleness counts and metrics of one run. `scheduled` counts the updates the
    engine has formed (the version a read sees), `store.version` those applied; `done` once K updates are applied or
    the iterate diverged (a non-finite loss or gradient at a recorded iterate)."""

    def __init__(self, scenario: Scenario, objective: Objective, on_progress: Callable[[int], None] | None = None,
                 deferred: bool = False) -> None:
        algorithm = scenario.algorithm
        self.objective = objective
        self.iterations = algorithm.iterations
        self.algorithm, self.step = build_algorithm(scenario, objective)
        self.gamma = self.algorithm.gamma
        self.store = IterateStore(objective.x0)
        self.trace = (InconTraceRecorder if algorithm.protocol == "asysg-incon" else TraceRecorder)(scenario.record.trace)
        self.staleness = StalenessCounter()
        self.events = EventLog()
        self.speeds: list[tuple[int, object]] = []  # (worker, its SpeedProcess): sim.engine._speeds
        self.metrics = MetricsRecorder(self.algorithm, scenario.record.every)
        self.on_progress = on_progress
        self.on_finish: Callable[[], None] = lambda: None
        self.deferred = deferred
        self.pending: deque[tuple] = deque()  # deferred: (reads, now) updates, (read, staleness, now) drops and (read,)
        # losses (sim/cluster/failures.py), in order
        self.pending_updates = 0
        self.on_pending: Callable[[], None] = lambda: None  # deferred: called after each update the engine forms
        self.scheduled = 0      # updates formed by the engine
        self.finished = False   # the engine forms no more updates: K formed, or the run is done
        self.gradients = 0      # gradients the server has consumed (applied or dropped)
        self.dropped_time = 0.0  # worker-time the dropped gradients took, each from its read to its drop
        self.cancelled = 0       # computations stopped (Ringmaster with cancel), never applied nor traced
        self.cancelled_time = 0.0  # worker-time they took, each from its read to its cancel
        self.sim_time = 0.0     # time of the last update
        self.work = WorkTally(scenario.cluster.workers)  # the workers' spans of work: their idle time (idle_time)
        self.idle_at: deque[float] = deque()  # deferred: the idle time when each recorded update was formed
        self._idle = 0.0                      # deferred: the idle time at the last recorded update applied
        self.done = False
        self.diverged = False
        self.f_x0 = self.metrics.record(0, 0.0, 0, self.store.current)

    def read(self, worker: int, now: float, samples: np.ndarray) -> Read:
        """A worker reads the model (version `scheduled`): it is held until the gradient is applied or dropped."""
        return Read(worker, self.store.hold(self.scheduled), now, samples)

    def apply(self, reads: list[Read], now: float) -> None:
        """The engine forms update k = scheduled at `now`: the sum of the gradients of `reads`, in this order."""
        self.formed(now)
        if not self.deferred:  # apply_updates([self], ...) without its batching overhead: the single-run hot path
            apply_con_update(self.store, self.algorithm, [r.version for r in reads], [r.samples for r in reads])
            self.applied(reads, now)
            return
        self.pending.append((reads, now))
        self.pending_updates += 1
        self.on_pending()

    def formed(self, now: float) -> None:
        """The engine formed update k = scheduled at `now` (the K-th finishes the run's engine). A deferred run's engine
        runs ahead of its math, which may find it diverged at a recorded update: its idle time then is kept."""
        self.scheduled += 1
        self.finished = self.finished or self.scheduled == self.iterations
        if self.deferred and (self.scheduled % self.metrics.every == 0 or self.scheduled == self.iterations):
            self.idle_at.append(self.work.idle(now))

    def write(self, read, coordinates: np.ndarray, now: float) -> None:
        """AsySG-incon's update k = scheduled at `now` (sim/protocols/shared_memory.py): the write of the M gradients
        at the inconsistent read `read` on `coordinates` (iterates.apply_incon_update), recorded."""
        k = self.store.version
        self.formed(now)
        apply_incon_update(self.store, self.algorithm, read.first, read.landed_at, read.samples, coordinates)
        self.trace.add_read(read, k, k, now, coordinates)
        for _ in read.samples:
            self.staleness.add(k - read.version)
        self.gradients += len(read.samples)
        read.done = True
        self.updated(self.store.version, self.store.current, now)

    def idle_time(self) -> float:
        """The workers' idle worker-time up to the last update (sim.recording.WorkTally)."""
        return self._idle if self.deferred else self.work.idle(self.sim_time)

    def drop(self, read: Read, staleness: int, now: float) -> None:
        """Discard a gradient staler than the bound (none after the K-th update: the run is over)."""
        if self.finished:
            return
        if self.deferred:
            self.pending.append((read, staleness, now))
        else:
            self._dropped(read, staleness, now)

    def lose(self, read: Read) -> None:
        """A gradient that never reached the server (its worker failed, or the network lost it): its read's hold is
        released (deferred: in order with the updates and drops, once the updates before it are applied); it is in
        no count and no trace row."""
        if self.deferred:
            self.pending.append((read,))
        else:
            self.store.release(read.version)

    def cancel(self, read: Read, now: float) -> None:
        """A computation was stopped at `now` (sim/protocols/cancel.py): its read is released, its time lost."""
        self.store.release(read.version)
        self.work.cut(read.worker, now)
        self.cancelled += 1
        self.cancelled_time += now - read.t_read
        self.events.add(now, read.worker, "cancel", read.version, now - read.t_read)

    def next_update(self) -> tuple[list[Read], float]:
        """Deferred: record the pending drops and release the losses up to the next pending update, and return that
        update."""
        while True:
            item = self.pending.popleft()
            if len(item) == 2:
                self.pending_updates -= 1
                return item
            if len(item) == 1:
                self.store.release(item[0].version)
            else:
                self._dropped(*item)

    def record_updates(self, block: Block) -> None:
        """Record the updates of a closed-form schedule's block (sim/closed_form/con.py), and the gradients dropped before
        them (sim/closed_form/scan.py), applied elsewhere (apply_schedules, which calls `updated` at the recorded ones,
        the last included, with `gradients` set from Block.consumed)."""
        n = len(block)
        if n == 0:
            return
        dropped = block.dropped
        self.trace.add_updates(block.first, block.workers, block.versions, block.t_read, block.t_apply, block.samples,
                               dropped)
        if block.coordinates is not None:  # shared-memory writes (sim/closed_form/incon.py)
            self.trace.add_writes(block.first, block.versions, block.t_read, block.coordinates)
        self.staleness.add_all(np.arange(block.first, block.first + n)[:, None] - block.versions)
        self.scheduled = block.first + n
        if dropped is not None and len(dropped):  # as _dropped would count them, one at a time (cumsum: in order)
            self.staleness.dropped += len(dropped)
            self.dropped_time = float(np.cumsum(np.concatenate(([self.dropped_time],
                                                                dropped.t_drop - dropped.t_read)))[-1])

    def settle(self, x: np.ndarray, version: int) -> None:
        """The run ended at x = x_version, its iterates having been kept elsewhere (apply_schedules' Ring)."""
        self.store = IterateStore(x, version)
        self.finished = True

    def _dropped(self, read: Read, staleness: int, now: float) -> None:
        self.store.release(read.version)
        self.trace.add(-1, read.worker, read.version, staleness, read.t_read, now, False, read.samples)
        self.staleness.dropped += 1
        self.dropped_time += now - read.t_read
        self.gradients += 1

    def applied(self, reads: list[Read], now: float) -> None:
        """Record update k = store.version - 1, just applied at `now` from the gradients of `reads`."""
        k = self.store.version - 1
        if self.trace.enabled:
            for r in reads:
                self.trace.add(k, r.worker, r.version, k - r.version, r.t_read, now, True, r.samples)
        for r in reads:
            self.staleness.add(k - r.version)
        self.gradients += len(reads)
        self.updated(self.store.version, self.store.current, now)

    def updated(self, k: int, x: np.ndarray, now: float) -> None:
        """Update k - 1 was applied at `now`, giving x = x_k: record its metrics if due, report progress, finish after
        K updates or on divergence."""
        self.sim_time = now
        if k % self.metrics.every == 0 or k == self.iterations:
            if self.deferred:
                self._idle = self.idle_at.popleft()
            loss = self.metrics.record(k, now, self.gradients, x)
            self.diverged = not (math.isfinite(loss) and math.isfinite(self.metrics.rows[-1][4]))
            if self.on_progress is not None:
                self.on_progress(k)
        if k == self.iterations or self.diverged:
            self.done = self.finished = True
            self.on_finish()


def lockstep(runs: list[Run]) -> Algorithm:
    """The update math of replicates stepped together (sim.engine.simulate_replicates): the first run's, with, when
    their steps differ, gamma_k as an (R, 1) column of each run's own gamma_k, so that row r is scaled by replicate r's
    step: x + (-gamma_r) d elementwise, the same IEEE operations as the run alone (models.updates.sgd_step), and
    SVRG's estimators stacked, each replicate with its own snapshot (models.updates.LockstepSVRG). Different steps
    only for plain updates (no regularizer, staleness-dependent step or compensation: the ring updates each of those
    replicates with its own Algorithm, sim/closed_form/ring.py)."""
    first = runs[0].algorithm
    if len(runs) == 1:
        return first
    svrg = first.epoch is not None
    estimator = LockstepSVRG([run.algorithm.estimator for run in runs]) if svrg else first.estimator
    if all(run.step == runs[0].step for run in runs):
        return first if not svrg else Algorithm(first.objective, first.gamma, estimator, first.regularizer,
                                                first.stale_step, first.compensation)
    if first.regularizer is not None or first.compensation is not None or first.stale_step is not None:
        raise ValueError("replicates with different steps step in lockstep only with plain updates")
    gammas = [run.gamma for run in runs]
    return Algorithm(first.objective, lambda k: np.array([[gamma(k)] for gamma in gammas]), estimator)


def apply_updates(runs: list[Run], updates: list[tuple[list[Read], float]]) -> None:
    """Apply update k of each run (all at version k; updates[i] = (reads, now) of runs[i]), the gradient math of
    all runs as one batch (iterates.apply_con_updates), then record each."""
    gradients = [read for reads, _ in updates for read in reads]
    apply_con_updates([run.store for run in runs], lockstep(runs), [r.version for r in gradients],
                      [r.samples for r in gradients])
    for run, (reads, now) in zip(runs, updates):
        run.applied(reads, now)
