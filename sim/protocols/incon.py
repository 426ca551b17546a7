"""AsySG-incon on one machine (SimPy processes): W threads share x in memory and update it without locks.

Thread loop: read x coordinate by coordinate (a read time), compute the M stochastic gradients of an update at what
it read, one after another (compute times, stragglers included), write the coordinates S_k of their sum, read again.
The read convention, the writes, J(k) and the delay are in sim/protocols/shared_memory.py. The staleness policy is AsySG-con's
ParameterServer (sim/protocols/con.py) with one read per update and no service time: "wait" holds back a read, or a finished
thread's write, while it would let an outstanding read exceed T (so a thread may wait to write); "drop" discards a
read's M gradients when their delay would exceed T, and the thread reads again. Threads share memory: there is no
network and no server, so cluster.downlink, cluster.uplink and cluster.server must be 0.
"""

from __future__ import annotations

import simpy

from scenarios.types import Scenario
from sim.cluster.failures import Faults, start_workers
from sim.protocols.con import ParameterServer
from sim.run import Run
from sim.protocols.shared_memory import SharedMemory
from sim.cluster.workers import SampleStream, WorkerClock, read_clock, write_streams
from sim.protocols.epochs import Admission


def thread(env: simpy.Environment, index: int, clock: WorkerClock, samples: SampleStream, batch: int,
           memory: SharedMemory, server: ParameterServer, faults: Faults | None = None):
    """Read, compute M gradients, write; forever. With `faults`, a failure loses the read in progress (server.lose:
    also a write held back by "wait"), and the thread reads again after its recovery."""
    while True:
        read, computed = None, 0
        try:
            while not server.can_read():
                yield server.admission()
            read = server.read(index, [samples() for _ in range(batch)])
            if read.end > read.start:
                yield env.timeout(read.duration)
            memory.end_read(read)
            server.version_rose(read, read.first)  # from `first` to b: a write held back by "wait" may go now
            for _ in range(batch):
                yield env.timeout(clock.compute())
                computed += 1
            server.push(read)
            while not read.done:
                yield server.admission(after=read)
        except simpy.Interrupt:  # a failure (sim/cluster/failures.py)
            if read is not None and not read.done:
                server.lose(read)
                yield faults.failed(read.version, read.start, computed)
            else:
                yield faults.failed()


def start(env: simpy.Environment, run: Run, scenario: Scenario, clocks: list[WorkerClock], samples: list[SampleStream],
          seed: int, epochs=None, faults: list[Faults | None] | None = None) -> None:
    """W threads on `run`'s shared x; each has its own compute, read-time, sample and coordinate streams (SAPALM:
    block streams). `epochs(memory)` (SVRG: sim/protocols/epochs.py) puts an EpochGate between memory and server;
    `faults`: each thread's failures (sim/cluster/failures.py), if any."""
    cluster, algorithm = scenario.cluster, scenario.algorithm
    writes = write_streams(run.objective.dim, algorithm.block, algorithm.blocks, seed, cluster.workers)
    memory = SharedMemory(run, [read_clock(cluster.read, seed, i) for i in range(cluster.workers)], writes)
    gate = epochs(memory) if epochs is not None else None
    server = ParameterServer(env, gate if gate is not None else memory, 1, scenario.staleness.bound,
                             scenario.staleness.policy, None)
    admission = Admission(server, gate) if gate is not None else server
    start_workers(env, len(clocks), faults, lambda index, fault: thread(env, index, clocks[index], samples[index],
                                                                        algorithm.batch, memory, admission, fault))
