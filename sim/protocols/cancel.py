"""Ringmaster ASGD with cancellation (Maranjyan, Tyurin, Richtarik 2025, Algorithm 1) on the parameter server.

The server is AsySG-con's with policy "drop" at bound R - 1 (a gradient of staleness >= R arriving is discarded),
and in addition a computation is stopped as soon as its staleness reaches R: after each update, every worker still
computing a gradient read at version v with (updates formed) - v >= R is interrupted (a SimPy interrupt). The
worker drops its computation, its compute time so far is lost, and it pulls the current iterate again. The
cancelled computation is counted (`Run.cancelled`, its time in `Run.cancelled_time`, one `evaluations` each) and
logged as an event of kind "cancel"; it is never applied nor traced. A run in which no computation reaches R
interrupts nothing and adds no SimPy event: it is the policy "drop" run (and, R above every staleness, AsySG-con).

Failures and lost messages (sim/cluster/failures.py) are AsySG-con's (con.deliver, con.failed): a failure (an
interrupt without a cause) loses the worker's read, and a computation it interrupts is no longer cancellable (the
server's `lose` takes it out of `computing`); a worker that is down computes nothing, so it is never cancelled. A
cancel and a failure of one worker at one instant: SimPy delivers an interrupt before any other event of its
instant, and runs the events of one instant in the order they were scheduled, so whichever of the update and the
failure comes first there wins, deterministically. The failure first: the computation is lost to it (a "failure"
event) and the update cancels nothing. The update first: the computation is cancelled (a "cancel" event), the worker
pulls again at once, and the failure then takes that new pull (a "failure" event: the new read, lost_time 0, or
read_version -1 during a downlink). No update, hence no cancel, can come between a failure and its delivery.
"""

from __future__ import annotations

from collections import deque

import simpy

from sim.cluster.failures import Faults, start_workers
from sim.cluster.workers import SampleStream, WorkerClock
from sim.protocols.con import ParameterServer, deliver, failed
from sim.run import Read, Run

CANCEL = "cancel"  # the cause of a cancelling interrupt (a failure's has none)


class CancellingServer(ParameterServer):
    """ParameterServer (policy "drop", bound R - 1) that also interrupts the computations reaching staleness R."""

    def __init__(self, env: simpy.Environment, run: Run, threshold: int, service) -> None:
        super().__init__(env, run, 1, threshold - 1, "drop", service)
        self.threshold = threshold
        self.computing: dict[int, tuple[Read, simpy.Process]] = {}  # worker -> its computation
        self.started_at: deque[Read] = deque()  # computations in the order they began (versions non-decreasing)

    def computes(self, read: Read, process: simpy.Process) -> None:
        self.computing[read.worker] = (read, process)
        self.started_at.append(read)

    def computed(self, read: Read) -> None:
        del self.computing[read.worker]

    def lose(self, read: Read) -> None:
        """A gradient never delivered (sim/cluster/failures.py); one a failure interrupted while it was computed is
        no longer cancellable."""
        self.computing.pop(read.worker, None)
        super().lose(read)

    def _apply(self, batch: list[Read]) -> None:
        super()._apply(batch)
        if self.run.finished:  # the K-th update: the run is over, nothing is cancelled
            return
        oldest = self.run.scheduled - self.threshold  # a computation read at a version <= oldest has reached R
        while self.started_at and self.started_at[0].version <= oldest:
            read = self.started_at.popleft()
            entry = self.computing.get(read.worker)
            if entry is not None and entry[0] is read:
                del self.computing[read.worker]
                self.run.cancel(read, self.env.now)
                entry[1].interrupt(CANCEL)


def worker(env: simpy.Environment, index: int, clock: WorkerClock, samples: SampleStream, server: CancellingServer,
           faults: Faults | None = None):
    """Pull, compute (unless cancelled: then pull again), push, forever; with `faults`, a lost gradient is given up
    and a failure waits for the recovery, as on AsySG-con."""
    downlink, uplink = clock.downlink, clock.uplink
    while True:
        read, computed = None, 0
        try:
            if downlink is not None:
                yield env.timeout(downlink())
            read = server.read(index, samples())
            server.computes(read, env.active_process)
            yield env.timeout(clock.compute())
            server.computed(read)
            computed = 1
            if uplink is not None:
                yield env.timeout(uplink())
            deliver(server, read, faults)
        except simpy.Interrupt as interrupt:
            if interrupt.cause != CANCEL:  # a failure
                yield failed(server, read, computed, faults)


def start(env: simpy.Environment, run: Run, clocks: list[WorkerClock], samples: list[SampleStream], threshold: int,
          service, faults: list[Faults | None] | None = None) -> None:
    """The cancelling server and W workers on `run`; `faults`: each worker's failures and lost messages, if any."""
    server = CancellingServer(env, run, threshold, service)
    start_workers(env, len(clocks), faults,
                  lambda index, fault: worker(env, index, clocks[index], samples[index], server, fault))
