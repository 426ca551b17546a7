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

Failures and lost messages (sim/cluster/failures.py): a gradient that never arrives is `lose`-d: its read released
and, under "wait", no longer outstanding, so deferred updates and waiting pulls go on.
"""

from __future__ import annotations

import heapq

import simpy

from sim.protocols.epochs import Admission
from sim.protocols.waiters import ALWAYS, Waiters
from sim.run import Read, Run
from sim.cluster.failures import Faults, start_workers
from sim.cluster.workers import SampleStream, WorkerClock


class ParameterServer:
    """Forms updates from arriving gradients under the staleness policy; `run` applies them. AsySG-incon's
    sim/protocols/shared_memory.SharedMemory stands in for the Run there: one read per update (batch 1), no service time.

    The cost of policy "wait" per event does not grow with W (but for heap operations, O(log W)): the outstanding
    gradients are feasible at all times (every read, update and version rise keeps them so), so a pull's check is
    a count (`can_read`) and an update's steps through the versions of the in-flight gradients, at most T + 1 and
    usually none (`_flight_feasible`); the M stalest queued gradients come from a heap keyed by (version, arrival),
    which orders them as a stable sort by version does; and an update resumes only the pulls that may go on, in
    the order SimPy resumed them all before (sim/protocols/waiters.py; tests/wait_oracle.py keeps the old way)."""

    def __init__(self, env: simpy.Environment, run: Run, batch: int, bound: int | None, policy: str, service) -> None:
        self.env = env
        self.run = run
        self.batch = batch
        self.wait = bound is not None and policy == "wait"
        self.drop = bound is not None and policy == "drop"
        self.bound = bound
        self.service = service
        self.queue: list = []   # arrived gradients: in arrival order, or (policy "wait") a heap of (version, arrival, read)
        self._arrivals = 0
        self._flying: dict[int, int] = {}  # policy "wait": version -> gradients read and not arrived (in flight)
        self._flying_total = 0
        self._oldest_flying = 0  # <= every version in flight (they only rise: a read gets the newest version)
        self.started = 0         # updates started (applied, or in service)
        self.busy = False
        self.waiters = Waiters(env, self.can_read)

    def can_read(self) -> bool:
        """Policy "wait": a read now keeps the outstanding gradients feasible. They are feasible, and the read would
        be the newest (its version the highest), so only its own deadline is new: sorted oldest first it comes after
        the n outstanding (i = n), and can enter update started + n // M at the earliest."""
        outstanding = len(self.queue) + self._flying_total
        return not self.wait or self.started + outstanding // self.batch - self.run.scheduled <= self.bound

    def read(self, worker: int, samples) -> Read:
        read = self.run.read(worker, self.env.now, samples)
        if self.wait:
            self._fly(read.version, 1)
        return read

    def version_rose(self, read: Read, before: int) -> None:
        """An in-flight read's version rose from `before` to read.version (AsySG-incon: its read ended); then serve."""
        if self.wait:
            self._fly(before, -1)
            self._fly(read.version, 1)
        self.serve()

    def push(self, read: Read) -> None:
        if self.wait:
            self._fly(read.version, -1)
            heapq.heappush(self.queue, (read.version, self._arrivals, read))
            self._arrivals += 1
            self.serve()
            return
        if self.drop and self.started - read.version > self.bound:
            self.run.drop(read, self.started - read.version, self.env.now)
            return
        self.queue.append(read)
        self.serve()

    def lose(self, read: Read) -> None:
        """A gradient read and never delivered (its worker failed, or the network lost it; AsySG-incon: a thread failed
        while its write was held back): its read is released and, under policy "wait", no longer outstanding, so an
        update deferred for it may start and the waiting pulls are resumed to check again (one that became
        admissible without an update goes on)."""
        if self.wait:
            queued = [entry for entry in self.queue if entry[2] is read]
            if queued:
                self.queue.remove(queued[0])
                heapq.heapify(self.queue)
            else:
                self._fly(read.version, -1)
        self.run.lose(read)
        if self.wait:
            self.serve()
            self.waiters.updated()

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
        self.waiters.updated()

    def next_update(self) -> simpy.Event:
        """An event that fires when the next update has been applied."""
        return self.waiters.wait(ALWAYS)

    def admission(self, after: Read | None = None) -> simpy.Event:
        """An event that fires at the first update after which a read may start (`can_read`) when its turn comes
        among the waiting pulls, and, with `after`, that read's gradient has been applied (`after.done`)."""
        return self.waiters.wait(after)

    def _take_batch(self) -> list[Read] | None:
        """The reads summed into update k = self.started, removed from the queue; None if it cannot start now."""
        k = self.started
        if self.wait:
            batch = [heapq.heappop(self.queue) for _ in range(self.batch)]
            if not self._flight_feasible(batch[-1][0], k + 1):
                for entry in batch:
                    heapq.heappush(self.queue, entry)
                return None
            return [read for _, _, read in batch]
        if self.drop:
            for read in [r for r in self.queue if k - r.version > self.bound]:
                self.queue.remove(read)
                self.run.drop(read, k - read.version, self.env.now)
        if len(self.queue) < self.batch:
            return None
        batch = self.queue[:self.batch]
        del self.queue[:self.batch]
        return batch

    def _flight_feasible(self, below: int, next_update: int) -> bool:
        """Whether the outstanding gradients, less the M stalest queued (the newest of them of version `below`), are
        feasible from update `next_update` on. Feasible (sorted oldest first, the i-th can enter update
        next_update + i // M within T) means: for every version x, the C(x) gradients of version <= x fit in the
        updates up to x + T, C(x) <= M (x + T + 1 - next_update). For x >= `below` that follows from the outstanding
        gradients being feasible from update next_update - 1 on (C(x) falls by M); below it, every queued gradient
        of version <= x is in the update, so C(x) counts in-flight gradients only, checked at their versions."""
        total = self._flying_total
        if not total:
            return True
        oldest = self._oldest_flying
        while oldest not in self._flying:
            oldest += 1
        self._oldest_flying = oldest
        slack = self.bound + 1 - next_update
        count = 0
        for version in range(oldest, below):
            if total <= self.batch * (version + slack):  # C(x) <= total: true from here on
                return True
            count += self._flying.get(version, 0)
            if count > self.batch * (version + slack):
                return False
        return True

    def _fly(self, version: int, change: int) -> None:
        count = self._flying.get(version, 0) + change
        if count:
            self._flying[version] = count
        else:
            del self._flying[version]
        self._flying_total += change


def worker(env: simpy.Environment, index: int, clock: WorkerClock, samples: SampleStream, server: ParameterServer,
           faults: Faults | None = None):
    """Pull, compute, push, forever; with `faults`, a lost gradient is given up (server.lose) and a failure waits
    for the recovery, then the worker pulls again."""
    downlink, uplink, wait = clock.downlink, clock.uplink, server.wait
    while True:
        read, computed = None, 0
        try:
            if downlink is not None:
                yield env.timeout(downlink())
            while wait and not server.can_read():
                yield server.admission()
            read = server.read(index, samples())
            yield env.timeout(clock.compute())
            computed = 1
            if uplink is not None:
                yield env.timeout(uplink())
            deliver(server, read, faults)
        except simpy.Interrupt:  # a failure (sim/cluster/failures.py)
            yield failed(server, read, computed, faults)


def deliver(server: ParameterServer, read: Read, faults: Faults | None) -> None:
    """Push the gradient of `read`, unless the network loses it (faults.lost): then it is given up (server.lose)."""
    if faults is not None and faults.lost(read.version, read.t_read):
        server.lose(read)
    else:
        server.push(read)


def failed(server: ParameterServer, read: Read | None, computed: int, faults: Faults) -> simpy.Event:
    """A failure interrupted the worker's work: the gradient of `read` (None: no read in progress), of which
    `computed` (0 or 1) had been computed, is lost (server.lose); the failure is recorded (faults.failed) and the
    event of the worker's recovery returned, to yield."""
    if read is None:
        return faults.failed()
    server.lose(read)
    return faults.failed(read.version, read.t_read, computed)


def start(env: simpy.Environment, run: Run, clocks: list[WorkerClock], samples: list[SampleStream], batch: int,
          bound: int | None, policy: str, service, epochs=None, faults: list[Faults | None] | None = None) -> None:
    """The server and W workers on `run`; `epochs(run)` (SVRG: sim/protocols/epochs.py) puts an EpochGate between them;
    `faults`: each worker's failures and lost messages (sim/cluster/failures.py), if any."""
    gate = epochs(run) if epochs is not None else None
    server = ParameterServer(env, gate if gate is not None else run, batch, bound, policy, service)
    admission = Admission(server, gate) if gate is not None else server
    start_workers(env, len(clocks), faults,
                  lambda index, fault: worker(env, index, clocks[index], samples[index], admission, fault))
