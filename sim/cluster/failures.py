"""Workers that fail and messages that are lost (SimPy), each worker from its own streams.

Failures (cluster.failures): a worker is up for a time drawn from `uptime` (Purpose.UPTIME), then down for one drawn
from `downtime` (Purpose.DOWNTIME), and so on, from time 0 (an alternating renewal process: in the long run it is up
a fraction E[uptime] / (E[uptime] + E[downtime]) of the time). Going down interrupts the process doing the worker's
work (a SimPy interrupt): the pull, computation or message in flight is lost, its read released (the protocol's
`lose`) and nothing of it applied; the worker waits for its recovery and then pulls the current model.

Lost messages (cluster.loss = p): each pushed gradient is lost with probability p (one uniform draw per push from
Purpose.LOSS); the worker notices after its uplink time, its read is released and it pulls again.

Events (sim/recording.EventLog): "failure" (read_version of the lost gradient, -1 when no read was in progress, and
lost_time, the worker time since that read), "recovery", "loss" (likewise). Lost gradients never reach the trace;
those whose computation had finished (every lost message; a failure during the uplink, or in shared memory while
the write waited) count in the run's evaluations (EventLog.computed_lost).
"""

from __future__ import annotations

import simpy

from scenarios.types import WorkerTiming
from sim.cluster.streams import Draws, Purpose, stream
from sim.cluster.workers import duration_draws
from sim.recording import EventLog, WorkTally


class Faults:
    """Worker `index`'s failures and lost messages. The protocol sets `work` to the process doing the worker's work
    (the one a failure interrupts, cutting its span short in `tally`); while the worker is down, `recovery` is the
    event of its coming back."""

    def __init__(self, env: simpy.Environment, events: EventLog, tally: WorkTally, timing: WorkerTiming, seed: int,
                 index: int) -> None:
        self.env, self.events, self.tally, self.index = env, events, tally, index
        self.work: simpy.Process | None = None
        self.recovery: simpy.Event | None = None
        self._probability = timing.loss
        self._losses = (Draws(lambda rng, size: rng.random(size), stream(seed, Purpose.LOSS, index))
                        if timing.loss > 0 else None)
        if timing.failures is not None:
            uptime = duration_draws(timing.failures.uptime, seed, Purpose.UPTIME, index) or (lambda: 0.0)
            downtime = duration_draws(timing.failures.downtime, seed, Purpose.DOWNTIME, index) or (lambda: 0.0)
            env.process(self._alternate(uptime, downtime))

    def lost(self, read_version: int, since: float) -> bool:
        """Whether the gradient just pushed (read at version `read_version` at time `since`) is lost on the network;
        a loss is recorded."""
        if self._losses is None or self._losses() >= self._probability:
            return False
        self.events.add(self.env.now, self.index, "loss", read_version, self.env.now - since)
        self.events.computed_lost += 1
        return True

    def failed(self, read_version: int = -1, since: float | None = None, computed: int = 0) -> simpy.Event:
        """The worker's work was interrupted by a failure, losing the gradient read at version `read_version` at time
        `since` (-1: none), of which `computed` gradients had been computed: record it, and return the event of the
        worker's recovery (to yield)."""
        now = self.env.now
        self.events.add(now, self.index, "failure", read_version, 0.0 if since is None else now - since)
        self.events.computed_lost += computed
        return self.recovery

    def _alternate(self, uptime, downtime):
        """Up, down, up, ...: going down interrupts the worker's work (which records the failure), or records it
        here when the worker has no work in progress (sync, between rounds)."""
        env = self.env
        while True:
            yield env.timeout(uptime())
            self.recovery = env.event()
            if self.work is not None and self.work.is_alive:
                self.tally.cut(self.index, env.now)
                self.work.interrupt()
            else:
                self.failed()
            yield env.timeout(downtime())
            self.events.add(env.now, self.index, "recovery")
            recovery, self.recovery = self.recovery, None
            recovery.succeed()


def start_faults(env: simpy.Environment, events: EventLog, tally: WorkTally, timings: tuple[WorkerTiming, ...],
                 seed: int) -> list[Faults | None]:
    """Each worker's Faults, None for a worker that neither fails nor loses messages (no process, no draw)."""
    return [Faults(env, events, tally, timing, seed, index) if timing.failures is not None or timing.loss > 0 else None
            for index, timing in enumerate(timings)]



def start_workers(env: simpy.Environment, count: int, faults: list[Faults | None] | None, work) -> None:
    """Start `count` worker processes in order, worker i's being work(i, its Faults or None); a failure of worker i
    interrupts its process (Faults.work)."""
    for index in range(count):
        fault = faults[index] if faults is not None else None
        process = env.process(work(index, fault))
        if fault is not None:
            fault.work = process
