"""AsySG-con on a simulated parameter-server cluster (SimPy processes).

Worker loop: pull (downlink latency; the version read is fixed when the pull completes), compute a stochastic
gradient (compute time), push (uplink latency), and pull again. The server sums M arriving gradients into one
update, each update taking the server's service time (updates queue while the server is busy).

Staleness bound T, policy "wait": the server keeps every outstanding gradient (read, not yet applied) able to meet
the bound. Sorted oldest first, the i-th outstanding gradient can enter update k + i // M at the earliest, so the set
is feasible when k + i // M - v_i <= T for all i (earliest-deadline-first is optimal for these unit jobs). An update
takes the M stalest queued gradients and is deferred while it would leave an infeasible remainder (an in-flight
gradient must arrive first); a pull is answered only if its gradient keeps the set feasible, else it waits for the
next update. Nothing is dropped, every staleness is <= T, and any W, M, T work (T = 0 with W > M serializes).
Policy "drop": a gradient whose staleness would exceed T is discarded (at arrival, or when the update is formed)
and counted; its worker pulls again.
"""

from __future__ import annotations

import simpy

from sim.protocols.epochs import Admission
from sim.run import Read, Run
from sim.cluster.workers import SampleStream, WorkerClock


class ParameterServer:
    """Forms updates from arriving gradients under the staleness policy; `run` applies them. AsySG-incon's
    sim/shared_memory.SharedMemory stands in for the Run there: one read per update (batch 1), no service time."""

    def __init__(self, env: simpy.Environment, run: Run, batch: int, bound: int | None, policy: str, service) -> None:
        self.env = env
        self.run = run
        self.batch = batch
        self.wait = bound is not None and policy == "wait"
        self.drop = bound is not None and policy == "drop"
        self.bound = bound
        self.service = service
        self.in_flight: dict[int, Read] = {}  # policy "wait": worker -> its read, until the gradient arrives
        self.queue: list[Read] = []           # arrived gradients, in arrival order
        self.started = 0                      # updates started (applied, or in service)
        self.busy = False
        self.updated: simpy.Event | None = None  # fires at the next update, for pulls that wait

    def can_read(self) -> bool:
        """Policy "wait": a read now keeps the outstanding gradients feasible."""
        return not self.wait or self._feasible([*self._outstanding(), self.run.scheduled], self.started)

    def read(self, worker: int, samples) -> Read:
        read = self.run.read(worker, self.env.now, samples)
        if self.wait:
            self.in_flight[worker] = read
        return read

    def push(self, read: Read) -> None:
        if self.wait:
            del self.in_flight[read.worker]
        if self.drop and self.started - read.version > self.bound:
            self.run.drop(read, self.started - read.version, self.env.now)
            return
        self.queue.append(read)
        self.serve()

    def serve(self) -> None:
        """Start every update that can start now (also after a read's version rose: AsySG-incon)."""
        while not self.busy and not self.run.finished and (self.drop or len(self.queue) >= self.batch):
            batch = self._take_batch()
            if batch is None:
                return
            self.started += 1
            if self.service is None:
                self._apply(batch)
            else:
                self.busy = True
                self.env.timeout(self.service()).callbacks.append(lambda _, batch=batch: self._finish(batch))

    def _finish(self, batch: list[Read]) -> None:
        self.busy = False
        self._apply(batch)
        self.serve()

    def _apply(self, batch: list[Read]) -> None:
        self.run.apply(batch, self.env.now)
        if self.updated is not None:
            self.updated.succeed()
            self.updated = None

    def next_update(self) -> simpy.Event:
        """An event that fires when the next update has been applied."""
        if self.updated is None:
            self.updated = self.env.event()
        return self.updated

    def _take_batch(self) -> list[Read] | None:
        """The reads summed into update k = self.started, removed from the queue; None if it cannot start now."""
        k = self.started
        if self.drop:
            for read in [r for r in self.queue if k - r.version > self.bound]:
                self.queue.remove(read)
                self.run.drop(read, k - read.version, self.env.now)
        if len(self.queue) < self.batch:
            return None
        if not self.wait:
            batch = self.queue[:self.batch]
            del self.queue[:self.batch]
            return batch
        stalest = sorted(self.queue, key=lambda r: r.version)  # stable: ties keep arrival order
        batch, rest = stalest[:self.batch], stalest[self.batch:]
        if not self._feasible([*(r.version for r in rest), *(r.version for r in self.in_flight.values())], k + 1):
            if not self.in_flight:
                raise RuntimeError("policy 'wait' lost feasibility: no gradient in flight can restore it")
            return None
        self.queue = [r for r in self.queue if not any(r is b for b in batch)]
        return batch

    def _outstanding(self):
        yield from (r.version for r in self.queue)
        yield from (r.version for r in self.in_flight.values())

    def _feasible(self, versions: list[int], next_update: int) -> bool:
        """Sorted oldest first, the i-th gradient can enter update next_update + i // M within the bound T."""
        if not versions or next_update + (len(versions) - 1) // self.batch - min(versions) <= self.bound:
            return True
        return all(next_update + i // self.batch - v <= self.bound for i, v in enumerate(sorted(versions)))


def worker(env: simpy.Environment, index: int, clock: WorkerClock, samples: SampleStream, server: ParameterServer):
    """Pull, compute, push, forever."""
    downlink, uplink, wait = clock.downlink, clock.uplink, server.wait
    while True:
        if downlink is not None:
            yield env.timeout(downlink())
        while wait and not server.can_read():
            yield server.next_update()
        read = server.read(index, samples())
        yield env.timeout(clock.compute())
        if uplink is not None:
            yield env.timeout(uplink())
        server.push(read)


def start(env: simpy.Environment, run: Run, clocks: list[WorkerClock], samples: list[SampleStream], batch: int,
          bound: int | None, policy: str, service, epochs=None) -> None:
    """The server and W workers on `run`; `epochs(run)` (SVRG: sim/protocols/epochs.py) puts an EpochGate between them."""
    gate = epochs(run) if epochs is not None else None
    server = ParameterServer(env, gate if gate is not None else run, batch, bound, policy, service)
    admission = Admission(server, gate) if gate is not None else server
    for index, (clock, stream) in enumerate(zip(clocks, samples)):
        env.process(worker(env, index, clock, stream, admission))
