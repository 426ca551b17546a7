"""The validated, fully resolved scenario: what the engine reads. Built only by scenarios.load / scenarios.parse."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scenarios.distributions import Distribution


@dataclass(frozen=True)
class Speed:
    """A two-state speed (sim/cluster/speed.py): normal for exponential times of mean `normal`, slow for ones of mean
    `slow`, computations `slowdown` times slower while slow; `shared`: one process for the whole group (or cluster)."""

    normal: float
    slow: float
    slowdown: float
    shared: bool


@dataclass(frozen=True)
class Failures:
    """A worker that fails (sim/cluster/failures.py): up for times drawn from `uptime`, then down for times drawn from
    `downtime`, alternately; the work in flight when it goes down is lost."""

    uptime: Distribution
    downtime: Distribution


@dataclass(frozen=True)
class WorkerTiming:
    """One worker's latencies: compute time (times `slowdown`, and times `straggler_slowdown` with probability
    `straggler_probability`), downlink (server -> worker, the pull) and uplink (worker -> server, the push)."""

    compute: Distribution
    downlink: Distribution
    uplink: Distribution
    straggler_probability: float = 0.0
    straggler_slowdown: float = 1.0
    speed: Speed | None = None
    speed_unit: int = 0       # which speed process: the worker's own (its id) or a shared one (W + 1 + group, W)
    failures: Failures | None = None
    loss: float = 0.0         # probability that a pushed gradient is lost on the network


@dataclass(frozen=True)
class Cluster:
    workers: int
    timings: tuple[WorkerTiming, ...]   # one per worker, group overrides already applied
    server: Distribution                # service time of one update at the server (updates queue)
    read: Distribution                  # asysg-incon: time to read the whole shared vector


@dataclass(frozen=True)
class Step:
    """algorithm.step: policy "constant" (gamma_k = value), "corollary" (Corollary 2 of Lian et al.), "decay" (gamma_k =
    c / sqrt(k)), "staleness-aware" (value / staleness) or "delay-adaptive" (`rule` "mishchenko" | "koloskova", the
    latter with `concurrency`, None: cluster.workers): models/updates/steps.py."""

    policy: str
    value: float | None = None
    c: float | None = None
    rule: str | None = None
    concurrency: int | None = None


@dataclass(frozen=True)
class Estimator:
    """algorithm.estimator: "sg" (plain stochastic gradients) or "svrg" with `epoch` updates per snapshot."""

    name: str          # "sg" | "svrg"
    epoch: int | None  # svrg: updates per snapshot


@dataclass(frozen=True)
class Compensation:
    """algorithm.compensation (DC-ASGD, models/updates/compensation.py): lambda_0, and for DC-ASGD-a the mean
    square's `momentum` and `epsilon` (None: DC-ASGD-c, a constant lambda)."""

    lambda_: float
    momentum: float | None
    epsilon: float | None


@dataclass(frozen=True)
class Algorithm:
    name: str          # the preset: "asysg-con" | "asysg-incon" | "sync" | "sapalm" | "dc-asgd" | "rennala" | "ringmaster"
    batch: int         # M: stochastic gradients summed per update (sync: = workers)
    iterations: int    # K: updates applied
    step: Step
    minibatch: int     # samples per stochastic gradient (each G is a mean over this many indices)
    block: int         # asysg-incon: coordinates written per update
    protocol: str      # who computes what, when: "asysg-con" | "asysg-incon" | "sync"
    estimator: Estimator
    regularizer: dict[str, Any]   # {"name": "none" | "l1" | "mcp" | "box", **its parameters}
    blocks: int | None            # sapalm: contiguous blocks of coordinates, one written per update
    compensation: Compensation | None = None  # dc-asgd, or asysg-con with algorithm.compensation
    threshold: int | None = None  # ringmaster: R, gradients of staleness >= R are not applied
    cancel: bool = False          # ringmaster: computations reaching staleness R are stopped (Algorithm 1)


@dataclass(frozen=True)
class Staleness:
    bound: int | None  # T; None = unbounded, staleness only measured
    policy: str        # "wait" | "drop"


@dataclass(frozen=True)
class Record:
    every: int         # metrics every `every` updates (resolved from "auto")
    trace: bool        # keep the per-gradient trace


@dataclass(frozen=True)
class Scenario:
    name: str
    seed: int
    objective: dict[str, Any]     # {"name": ..., **params}, every parameter with its default filled in
    algorithm: Algorithm
    staleness: Staleness
    cluster: Cluster
    record: Record
    resolved: dict[str, Any] = field(repr=False, compare=False)  # the resolved scenario as TOML-ready tables

    @property
    def objective_params(self) -> dict[str, Any]:
        return {k: v for k, v in self.objective.items() if k != "name"}
