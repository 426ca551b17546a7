"""Each worker's own random streams: its latencies (compute with stragglers, downlink, uplink, or an asysg-incon
thread's read time), its samples and the coordinates its writes change."""

from __future__ import annotations

import numpy as np

from models.base import Objective
from scenarios.types import WorkerTiming
from scenarios.distributions import Distribution
from sim.cluster.streams import Draws, Purpose, stream


def _draws(dist: Distribution, seed: int, purpose: Purpose, index: int) -> Draws | None:
    """Draws from `dist` on stream (purpose, index); None when every draw is 0 (the engine then skips the event)."""
    return None if dist.is_zero else Draws(dist.sampler(index), stream(seed, purpose, index))


class WorkerClock:
    """Latencies of worker `index`, each from its own stream: a computation takes compute * straggler_slowdown
    with probability straggler_probability, compute otherwise."""

    def __init__(self, timing: WorkerTiming, seed: int, index: int) -> None:
        self.downlink = _draws(timing.downlink, seed, Purpose.DOWNLINK, index)
        self.uplink = _draws(timing.uplink, seed, Purpose.UPLINK, index)
        self._compute = _draws(timing.compute, seed, Purpose.COMPUTE, index)
        self._straggles = (Draws(lambda rng, size: rng.random(size), stream(seed, Purpose.STRAGGLER, index))
                           if timing.straggler_probability > 0 else None)
        self._probability = timing.straggler_probability
        self._slowdown = timing.straggler_slowdown
        if self._straggles is None:  # the hot path: one call per computation
            self.compute = self._compute if self._compute is not None else (lambda: 0.0)

    def compute(self) -> float:
        """The next computation's time."""
        t = self._compute() if self._compute is not None else 0.0
        if self._straggles is not None and self._straggles() < self._probability:
            t *= self._slowdown
        return t

    def computes(self, count: int) -> np.ndarray:
        """The next `count` computation times as an array: the values `count` calls of `compute` would return."""
        t = self._compute.take(count) if self._compute is not None else np.zeros(count)
        if self._straggles is not None:
            t = np.where(self._straggles.take(count) < self._probability, t * self._slowdown, t)
        return t


def read_clock(read: Distribution, seed: int, index: int) -> Draws | None:
    """Durations of asysg-incon thread `index`'s reads of the shared vector; None when they are all 0."""
    return _draws(read, seed, Purpose.READ, index)


def service_clock(server: Distribution, seed: int) -> Draws | None:
    """Service times of the parameter server's updates; None when they are all 0."""
    return _draws(server, seed, Purpose.SERVER, 0)


class SampleStream:
    """The sample indices xi of worker `index`'s successive gradients, `minibatch` at a time, from its own stream
    (drawn BLOCK gradients' worth at a time)."""

    BLOCK = 1024

    def __init__(self, objective: Objective, minibatch: int, seed: int, index: int) -> None:
        self._minibatch = minibatch
        self._draws = Draws(objective.sample, stream(seed, Purpose.SAMPLES, index), self.BLOCK * minibatch)

    def __call__(self) -> np.ndarray:
        return self._draws.take(self._minibatch)

    def take(self, count: int) -> np.ndarray:
        """The samples of the next `count` gradients, shape (count, minibatch): what `count` calls would return."""
        return self._draws.take(count * self._minibatch).reshape(count, self._minibatch)


class CoordinateStream:
    """The coordinates S_k of asysg-incon thread `index`'s successive writes: `block` distinct ones, uniform on
    0..dim-1, the n-th write taking the n-th `rng.choice(dim, size=block, replace=False)` of
    rng = stream(seed, Purpose.COORDINATES, index)."""

    def __init__(self, dim: int, block: int, seed: int, index: int) -> None:
        self._dim = dim
        self._block = block
        self._rng = stream(seed, Purpose.COORDINATES, index)

    def __call__(self) -> np.ndarray:
        return self._rng.choice(self._dim, size=self._block, replace=False)
