"""Ringmaster ASGD with cancellation (Maranjyan, Tyurin, Richtarik 2025, Algorithm 1) on the parameter server.

The server is AsySG-con's with policy "drop" at bound R - 1 (a gradient of staleness >= R arriving is discarded),
and in addition a computation is stopped as soon as its staleness reaches R: after each update, every worker still
computing a gradient read at version v with (updates formed) - v >= R is interrupted (a SimPy interrupt). The
worker drops its computation, its compute time so far is lost, and it pulls the current iterate again. The
cancelled computation is counted (`Run.cancelled`, its time in `Run.cancelled_time`, one `evaluations` each) and
logged as an event of kind "cancel"; it is never applied nor traced. A run in which no computation reaches R
interrupts nothing and adds no SimPy event: it is the policy "drop" run (and, R above every staleness, AsySG-con).
"""

from __future__ import annotations

from collections import deque

import simpy

from sim.cluster.workers import SampleStream, WorkerClock
from sim.protocols.con import ParameterServer
from sim.run import Read, Run


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
                entry[1].interrupt("cancel")


def worker(env: simpy.Environment, index: int, clock: WorkerClock, samples: SampleStream, server: CancellingServer):
    """Pull, compute (unless cancelled: then pull again), push, forever."""
    downlink, uplink = clock.downlink, clock.uplink
    while True:
        if downlink is not None:
            yield env.timeout(downlink())
        read = server.read(index, samples())
        server.computes(read, env.active_process)
        try:
            yield env.timeout(clock.compute())
        except simpy.Interrupt:
            continue
        server.computed(read)
        if uplink is not None:
            yield env.timeout(uplink())
        server.push(read)


def start(env: simpy.Environment, run: Run, clocks: list[WorkerClock], samples: list[SampleStream], threshold: int,
          service) -> None:
    """The cancelling server and W workers on `run`."""
    server = CancellingServer(env, run, threshold, service)
    for index, (clock, stream) in enumerate(zip(clocks, samples)):
        env.process(worker(env, index, clock, stream, server))
