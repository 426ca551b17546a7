"""Synchronous minibatch SGD, the baseline: each round every worker pulls x_k, computes and pushes; the server
waits for all W gradients (a barrier), then applies one update of their sum (in arrival order) after its service
time. Staleness is always 0. With SVRG every epoch of `epoch` rounds begins with a snapshot round (the full pass's
simulated time, sim/protocols/epochs.full_pass_time). A worker that fails or loses its gradient (sim/cluster/failures.py)
computes it again, after its recovery: the round waits for it."""

from __future__ import annotations

import simpy

from sim.run import Read, Run
from sim.cluster.failures import Faults
from sim.cluster.workers import SampleStream, WorkerClock


def worker_round(env: simpy.Environment, run: Run, index: int, clock: WorkerClock, samples: SampleStream,
                 arrived: list[Read], faults: Faults | None = None):
    """Pull, compute, push one gradient; with `faults`, again until one arrives (a worker down waits to recover)."""
    while True:
        read, computed = None, 0
        try:
            if faults is not None and faults.recovery is not None:  # down when the round began
                yield faults.recovery
            if clock.downlink is not None:
                yield env.timeout(clock.downlink())
            read = run.read(index, env.now, samples())
            yield env.timeout(clock.compute())
            computed = 1
            if clock.uplink is not None:
                yield env.timeout(clock.uplink())
            if faults is not None and faults.lost(read.version, read.t_read):
                run.lose(read)
                continue
            arrived.append(read)
            return
        except simpy.Interrupt:  # a failure
            if read is not None:
                run.lose(read)
            yield faults.failed(read.version, read.t_read, computed) if read is not None else faults.failed()


def coordinator(env: simpy.Environment, run: Run, clocks: list[WorkerClock], samples: list[SampleStream], service,
                epoch: int | None, snapshot_time: float, faults: list[Faults | None]):
    while not run.finished:
        if epoch is not None and run.scheduled % epoch == 0:  # SVRG: a snapshot round (sim/protocols/epochs.py)
            run.work.everyone(env.now, snapshot_time)
            yield env.timeout(snapshot_time)
        arrived: list[Read] = []
        rounds = [env.process(worker_round(env, run, i, clock, stream, arrived, fault))
                  for i, (clock, stream, fault) in enumerate(zip(clocks, samples, faults))]
        for process, fault in zip(rounds, faults):
            if fault is not None:
                fault.work = process
        yield env.all_of(rounds)
        if service is not None:
            yield env.timeout(service())
        run.apply(arrived, env.now)


def start(env: simpy.Environment, run: Run, clocks: list[WorkerClock], samples: list[SampleStream], service,
          epoch: int | None = None, snapshot_time: float = 0.0, faults: list[Faults | None] | None = None) -> None:
    """The rounds on `run`; SVRG (`epoch` updates per snapshot) begins each epoch with a snapshot round; `faults`:
    each worker's failures and lost messages (sim/cluster/failures.py), if any."""
    faults = faults if faults is not None else [None] * len(clocks)
    env.process(coordinator(env, run, clocks, samples, service, epoch, snapshot_time, faults))
