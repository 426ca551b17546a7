"""Today's staleness admission before issue 16, kept as a test oracle (never imported by sim/).

The parameter server, AsySG-con worker and AsySG-incon thread exactly as at commit 79d4c1a: every waiting pull is
woken at every update and rescans the outstanding reads (`_outstanding`, `_feasible`). Within `with use_oracle():`
sim.protocols.con.start and sim.protocols.incon.start run these instead, so that tests compare the flat-cost
admission of sim/protocols/con.py with it on the same scenario, bit for bit.
"""

from __future__ import annotations

from contextlib import contextmanager
from unittest.mock import patch

import simpy

from scenarios.types import Scenario
from sim.cluster.workers import CoordinateStream, SampleStream, WorkerClock, read_clock
from sim.protocols.shared_memory import SharedMemory
from sim.run import Read, Run


class OracleServer:
    """sim/protocols/con.py's ParameterServer at 79d4c1a."""

    def __init__(self, env: simpy.Environment, run: Run, batch: int, bound: int | None, policy: str, service) -> None:
        self.env = env
        self.run = run
        self.batch = batch
        self.wait = bound is not None and policy == "wait"
        self.drop = bound is not None and policy == "drop"
        self.bound = bound
        self.service = service
        self.in_flight: dict[int, Read] = {}
        self.queue: list[Read] = []
        self.started = 0
        self.busy = False
        self.updated: simpy.Event | None = None

    def can_read(self) -> bool:
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
        if self.updated is None:
            self.updated = self.env.event()
        return self.updated

    def _take_batch(self) -> list[Read] | None:
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
        stalest = sorted(self.queue, key=lambda r: r.version)
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
        if not versions or next_update + (len(versions) - 1) // self.batch - min(versions) <= self.bound:
            return True
        return all(next_update + i // self.batch - v <= self.bound for i, v in enumerate(sorted(versions)))


def oracle_worker(env: simpy.Environment, index: int, clock: WorkerClock, samples: SampleStream, server: OracleServer):
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


def start_con(env: simpy.Environment, run: Run, clocks: list[WorkerClock], samples: list[SampleStream], batch: int,
              bound: int | None, policy: str, service, epochs=None, faults=None) -> None:
    assert epochs is None, "the oracle predates SVRG's epochs"
    assert faults is None, "the oracle predates failures and lost messages"
    server = OracleServer(env, run, batch, bound, policy, service)
    for index, (clock, stream) in enumerate(zip(clocks, samples)):
        env.process(oracle_worker(env, index, clock, stream, server))


def oracle_thread(env: simpy.Environment, index: int, clock: WorkerClock, samples: SampleStream, batch: int,
                  memory: SharedMemory, server: OracleServer):
    while True:
        while not server.can_read():
            yield server.next_update()
        read = server.read(index, [samples() for _ in range(batch)])
        if read.end > read.start:
            yield env.timeout(read.duration)
        memory.end_read(read)
        server.serve()
        for _ in range(batch):
            yield env.timeout(clock.compute())
        server.push(read)
        while not read.done:
            yield server.next_update()


def start_incon(env: simpy.Environment, run: Run, scenario: Scenario, clocks: list[WorkerClock],
                samples: list[SampleStream], seed: int, epochs=None, faults=None) -> None:
    assert epochs is None, "the oracle predates SVRG's epochs"
    assert faults is None, "the oracle predates failures and lost messages"
    dim = run.objective.dim
    cluster, algorithm = scenario.cluster, scenario.algorithm
    memory = SharedMemory(run, [read_clock(cluster.read, seed, i) for i in range(cluster.workers)],
                          [CoordinateStream(dim, algorithm.block, seed, i) for i in range(cluster.workers)])
    server = OracleServer(env, memory, 1, scenario.staleness.bound, scenario.staleness.policy, None)
    for index, (clock, stream) in enumerate(zip(clocks, samples)):
        env.process(oracle_thread(env, index, clock, stream, algorithm.batch, memory, server))


@contextmanager
def use_oracle():
    """Within the block, every simulation runs the oracle's admission (sim.protocols' start functions replaced)."""
    from sim.protocols import con, incon

    with patch.object(con, "start", start_con), patch.object(incon, "start", start_incon):
        yield
