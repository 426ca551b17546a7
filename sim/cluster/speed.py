"""Speeds that change: a two-state (normal / slow) speed process per worker, or one shared by a group that slows
down together (a rack, a switch). No SimPy here: a process is a function of time drawn from its own stream.

The process starts normal at time 0 and alternates: normal for an exponential time of mean `speed.normal`, slow for
one of mean `speed.slow`, and so on (an alternating renewal process: in the long run it is slow a fraction
slow / (slow + normal) of the time). A computation of base duration w started at t works at rate 1 while normal and
1 / slowdown while slow, so it ends at the first t' with integral_t^t' rate = w.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

from scenarios.types import Speed
from sim.cluster.streams import Draws, Purpose, stream


class SpeedProcess:
    """The switching times of one speed process (drawn lazily, as far as computations reach)."""

    def __init__(self, speed: Speed, seed: int, unit: int) -> None:
        self.speed = speed
        self._holding = Draws(lambda rng, size: rng.standard_exponential(size), stream(seed, Purpose.SPEED, unit))
        self.switches: list[float] = []  # the k-th switch (0-based) enters the slow state for even k, normal for odd

    def _extend_past(self, t: float) -> None:
        """Draw switches until the last one is after t."""
        last = self.switches[-1] if self.switches else 0.0
        while last <= t:
            mean = self.speed.normal if len(self.switches) % 2 == 0 else self.speed.slow
            last = last + mean * self._holding()
            self.switches.append(last)

    def finish(self, start: float, work: float) -> float:
        """When a computation of base duration `work` started at `start` ends."""
        self._extend_past(start)
        i = bisect.bisect_right(self.switches, start)  # switches[i] is the end of the segment holding `start`
        t, remaining = start, work
        while True:
            slowdown = self.speed.slowdown if i % 2 == 1 else 1.0
            end = self.switches[i]
            if (end - t) >= remaining * slowdown:
                return t + remaining * slowdown
            remaining -= (end - t) / slowdown
            t = end
            i += 1
            if i == len(self.switches):
                self._extend_past(t)

    def slow_intervals(self, until: float) -> list[tuple[float, float]]:
        """The (start, end) of each slow period that begins before `until` (the end may lie beyond it)."""
        self._extend_past(until)
        pairs = zip(self.switches[0::2], self.switches[1::2])
        return [(a, b) for a, b in pairs if a < until]


def modulated(compute: Callable[[], float], process: SpeedProcess, clock_of: Callable[[], float]) -> Callable[[], float]:
    """A worker's compute-time draw under `process`: the base draw stretched by the slow periods it meets, starting
    at clock_of() (the simulated now)."""
    def draw() -> float:
        now = clock_of()
        return process.finish(now, compute()) - now
    return draw


def switches_until(process: SpeedProcess, until: float) -> list[tuple[float, str]]:
    """The process's switches up to `until`: (time, "slow" or "normal", the state it enters)."""
    process._extend_past(until)
    return [(t, "slow" if k % 2 == 0 else "normal") for k, t in enumerate(process.switches) if t <= until]
