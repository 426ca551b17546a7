"""The state of one simulated run, shared by every algorithm's engine: iterates, step sizes and recording.

No SimPy here: the engines (sim/con.py, sim/sync.py) decide *when* reads and updates happen and call
`read`, `apply` and `drop`; this module does the math and the bookkeeping (AsySG-incon's shared memory,
sim/shared_memory.py, applies its own writes and calls `updated`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from models.base import Objective
from models.updates import corollary_step, step_schedule
from scenarios.errors import ScenarioError
from scenarios.types import Scenario, Step
from sim.iterates import IterateStore, apply_con_update
from sim.recording import InconTraceRecorder, MetricsRecorder, StalenessCounter, TraceRecorder


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


def make_step(step: Step, objective: Objective, batch: int, iterations: int, minibatch: int) -> Callable[[int], float]:
    """gamma_k for the scenario's step policy (the corollary policy resolves to its constant)."""
    resolved = resolve_step(step, objective, batch, iterations, minibatch)
    return step_schedule(resolved.policy, resolved.value, resolved.c)


class Run:
    """Iterates, step schedule, trace, staleness counts and metrics of one run; `finished` once K updates are applied
    or the iterate diverged (a non-finite loss or gradient at a recorded iterate)."""

    def __init__(self, scenario: Scenario, objective: Objective, on_progress: Callable[[int], None] | None = None) -> None:
        algorithm = scenario.algorithm
        self.objective = objective
        self.iterations = algorithm.iterations
        self.step = resolve_step(algorithm.step, objective, algorithm.batch, algorithm.iterations, algorithm.minibatch)
        self.gamma = step_schedule(self.step.policy, self.step.value, self.step.c)
        self.store = IterateStore(objective.x0)
        self.trace = (InconTraceRecorder if algorithm.name == "asysg-incon" else TraceRecorder)(scenario.record.trace)
        self.staleness = StalenessCounter()
        self.metrics = MetricsRecorder(objective, scenario.record.every, self.gamma)
        self.on_progress = on_progress
        self.on_finish: Callable[[], None] = lambda: None
        self.gradients = 0      # gradients the server has consumed (applied or dropped)
        self.sim_time = 0.0     # time of the last update
        self.finished = False
        self.diverged = False
        self.f_x0 = self.metrics.record(0, 0.0, 0, self.store.current)

    def read(self, worker: int, now: float, samples: np.ndarray) -> Read:
        """A worker reads the current model: it is held until the gradient is applied or dropped."""
        return Read(worker, self.store.hold(), now, samples)

    def apply(self, reads: list[Read], now: float) -> None:
        """Update k = sum of the gradients of `reads` (in this order) applied at time `now`."""
        k = self.store.version
        apply_con_update(self.store, self.objective, [r.version for r in reads], [r.samples for r in reads], self.gamma(k))
        for r in reads:
            self.trace.add(k, r.worker, r.version, k - r.version, r.t_read, now, True, r.samples)
            self.staleness.add(k - r.version)
        self.gradients += len(reads)
        self.updated(now)

    def drop(self, read: Read, staleness: int, now: float) -> None:
        """Discard a gradient staler than the bound."""
        self.store.release(read.version)
        self.trace.add(-1, read.worker, read.version, staleness, read.t_read, now, False, read.samples)
        self.staleness.dropped += 1
        self.gradients += 1

    def updated(self, now: float) -> None:
        """An update was applied at `now`: record the new iterate's metrics if due, report progress, finish after K
        updates or on divergence."""
        k = self.store.version
        self.sim_time = now
        if k % self.metrics.every == 0 or k == self.iterations:
            loss = self.metrics.record(k, now, self.gradients, self.store.current)
            self.diverged = not (math.isfinite(loss) and math.isfinite(self.metrics.rows[-1][4]))
            if self.on_progress is not None:
                self.on_progress(k)
        if k == self.iterations or self.diverged:
            self.finished = True
            self.on_finish()
