"""Synchronous minibatch SGD, the baseline: each round every worker pulls x_k, computes and pushes; the server
waits for all W gradients (a barrier), then applies one update of their sum (in arrival order) after its service
time. Staleness is always 0. With SVRG every epoch of `epoch` rounds begins with a snapshot round (the full pass's
simulated time, sim/protocols/epochs.full_pass_time)."""

from __future__ import annotations

import simpy

from sim.run import Read, Run
from sim.cluster.workers import SampleStream, WorkerClock


def worker_round(env: simpy.Environment, run: Run, index: int, clock: WorkerClock, samples: SampleStream,
                 arrived: list[Read]):
    if clock.downlink is not None:
        yield env.timeout(clock.downlink())
    read = run.read(index, env.now, samples())
    yield env.timeout(clock.compute())
    if clock.uplink is not None:
        yield env.timeout(clock.uplink())
    arrived.append(read)


def coordinator(env: simpy.Environment, run: Run, clocks: list[WorkerClock], samples: list[SampleStream], service,
                epoch: int | None, snapshot_time: float):
    while not run.finished:
        if epoch is not None and run.scheduled % epoch == 0:  # SVRG: a snapshot round (sim/protocols/epochs.py)
            yield env.timeout(snapshot_time)
        arrived: list[Read] = []
        yield env.all_of([env.process(worker_round(env, run, i, clock, stream, arrived))
                          for i, (clock, stream) in enumerate(zip(clocks, samples))])
        if service is not None:
            yield env.timeout(service())
        run.apply(arrived, env.now)


def start(env: simpy.Environment, run: Run, clocks: list[WorkerClock], samples: list[SampleStream], service,
          epoch: int | None = None, snapshot_time: float = 0.0) -> None:
    """The rounds on `run`; SVRG (`epoch` updates per snapshot) begins each epoch with a snapshot round."""
    env.process(coordinator(env, run, clocks, samples, service, epoch, snapshot_time))
