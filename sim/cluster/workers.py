"""Each worker's own random streams: its latencies (compute with stragglers, downlink, uplink, or an asysg-incon
thread's read time), its samples and the coordinates its writes change."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from models.base import Objective
from scenarios.types import WorkerTiming
from scenarios.distributions import Distribution
from sim.cluster.streams import Draws, Purpose, stream
from sim.recording import WorkTally


def duration_draws(dist: Distribution, seed: int, purpose: Purpose, index: int) -> Draws | None:
    """Draws from `dist` on stream (purpose, index); None when every draw is 0 (the engine then skips the event)."""
    if dist.is_zero:
        return None
    sequence = dist.sequence(index)
    return Draws(dist.draw, stream(seed, purpose, index)) if sequence is None else Cycle(sequence)


class Cycle:
    """Draws' interface over a fixed sequence replayed in order, cycling (a trace distribution: no randomness)."""

    def __init__(self, values: np.ndarray) -> None:
        self._values, self._list, self._next = values, values.tolist(), 0

    def __call__(self) -> float:
        value = self._list[self._next]
        self._next = (self._next + 1) % len(self._list)
        return value

    def take(self, count: int) -> np.ndarray:
        """The next `count` values as an array: the values `count` calls would return."""
        rows = (self._next + np.arange(count)) % len(self._values)
        self._next = (self._next + count) % len(self._values)
        return self._values[rows]


class WorkerClock:
    """Latencies of worker `index`, each from its own stream: a computation takes compute * straggler_slowdown
    with probability straggler_probability, compute otherwise."""

    def __init__(self, timing: WorkerTiming, seed: int, index: int) -> None:
        self.downlink = duration_draws(timing.downlink, seed, Purpose.DOWNLINK, index)
        self.uplink = duration_draws(timing.uplink, seed, Purpose.UPLINK, index)
        self._compute = duration_draws(timing.compute, seed, Purpose.COMPUTE, index)
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


def tallied(draw: Callable[[], float], work: WorkTally, worker: int, now: Callable[[], float]) -> Callable[[], float]:
    """`draw` that also starts the worker's span of the drawn duration in `work` (sim.recording.WorkTally): the
    protocols wait out each duration the instant they draw it."""
    def timed() -> float:
        duration = draw()
        work.start(worker, now(), duration)
        return duration
    return timed


class RepeatedClock:
    """A worker's clock for computations that evaluate G `times` times (SVRG's inner gradient: G(x_read; xi) and
    G(x~; xi)): one computation takes the sum of `times` successive draws of `clock.compute`, in draw order."""

    def __init__(self, clock: WorkerClock, times: int) -> None:
        self.downlink, self.uplink = clock.downlink, clock.uplink
        self._clock, self._times = clock, times

    def compute(self) -> float:
        t = self._clock.compute()
        for _ in range(self._times - 1):
            t += self._clock.compute()
        return t

    def computes(self, count: int) -> np.ndarray:
        """The next `count` computation times as an array: the values `count` calls of `compute` would return (each
        the same left-to-right sum of its `times` draws)."""
        draws = self._clock.computes(count * self._times).reshape(count, self._times)
        t = draws[:, 0].copy()
        for i in range(1, self._times):
            t += draws[:, i]
        return t


def read_clock(read: Distribution, seed: int, index: int) -> Draws | None:
    """Durations of asysg-incon thread `index`'s reads of the shared vector; None when they are all 0."""
    return duration_draws(read, seed, Purpose.READ, index)


def service_clock(server: Distribution, seed: int) -> Draws | None:
    """Service times of the parameter server's updates; None when they are all 0."""
    return duration_draws(server, seed, Purpose.SERVER, 0)


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
    rng = stream(seed, Purpose.COORDINATES, index). For block = 1 that draw is `rng.integers(dim)` (numpy draws both
    with one bounded 64-bit Lemire draw, Floyd's algorithm taking a single step; tests/test_algorithms.py checks
    the equality), which costs a fifth of the time."""

    def __init__(self, dim: int, block: int, seed: int, index: int) -> None:
        self._dim = dim
        self._block = block
        self._rng = stream(seed, Purpose.COORDINATES, index)

    def __call__(self) -> np.ndarray:
        if self._block == 1:
            return np.array([self.index()], dtype=np.int64)
        return self._rng.choice(self._dim, size=self._block, replace=False)

    def index(self) -> int:
        """The next single coordinate (block = 1): what the next call would write, as an int."""
        return int(self._rng.integers(self._dim))


class BlockStream:
    """SAPALM's writes: the coordinates 0..dim-1 in `blocks` contiguous blocks (block j = [j dim // blocks,
    (j + 1) dim // blocks)), each write one block drawn uniformly as CoordinateStream(blocks, 1, seed, index)
    draws a coordinate, so singleton blocks (blocks = dim) write exactly AsySG-incon's block-1 coordinates."""

    def __init__(self, dim: int, blocks: int, seed: int, index: int) -> None:
        self._draw = CoordinateStream(blocks, 1, seed, index)
        bounds = [j * dim // blocks for j in range(blocks + 1)]
        self._blocks = [np.arange(bounds[j], bounds[j + 1]) for j in range(blocks)]

    def __call__(self) -> np.ndarray:
        return self._blocks[self._draw.index()]


def write_streams(dim: int, block: int, blocks: int | None, seed: int, workers: int) -> list[CoordinateStream | BlockStream]:
    """Each asysg-incon thread's coordinate stream (SAPALM, `blocks` given: its block stream)."""
    return [BlockStream(dim, blocks, seed, i) if blocks is not None else CoordinateStream(dim, block, seed, i)
            for i in range(workers)]
