"""AsySG-incon and SAPALM in closed form when reads take no time: AsySG-con's schedule with a thread's cycle as one
gradient.

With cluster.read = 0 a read is instantaneous and consistent (sim/protocols/shared_memory.py): it reads x_first,
its version is b = first, nothing lands during it (landed_at is empty) and its delay is k - b = missed. Without a
staleness bound, SVRG's epochs or the cluster's events, a thread (sim/protocols/incon.py) reads in the same step as
its own previous write (at 0 first), draws its M gradients' samples there (`[samples() for _ in range(M)]`),
computes them one after another (t + c_1 + c_2 + ...: one delay at a time, as SimPy's clock) and writes; the write
is update k = the writes before it, and a read sees every write up to its instant, its own included. That is
ConSchedule (sim/closed_form/con.py) without network, one update per arrival (the server's batch 1), each
"gradient" a cycle of M computations and M sample draws, and the same ties: two writes at one instant, or a cycle
taking no time, raise Tie for the SimPy engine to decide.

Update k writes the coordinates S_k its thread draws from its own stream when it writes
(sim/cluster/workers.write_streams); the blocks draw them update by update, which is each thread's write order.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sim.closed_form.con import Block, ConSchedule
from sim.cluster.workers import BlockStream, CoordinateStream, SampleStream, WorkerClock


def incon_schedule(clocks: list[WorkerClock], samples: list[SampleStream], writes: list[CoordinateStream | BlockStream],
                   batch: int, iterations: int, minibatch: int) -> Iterator[Block]:
    """The blocks of updates 0 .. K-1 of a shared-memory run with reads that take no time, each update's M gradients
    as M columns that share its thread, read version and read time (the trace's rows, sim/closed_form/ring.py's
    points), and its coordinates S_k."""
    for block in ConSchedule(clocks, samples, 1, iterations, minibatch, computations=batch):
        n = len(block)
        coordinates = [writes[w]() for w in block.workers[:, 0].tolist()]
        yield Block(block.first, np.repeat(block.workers, batch, 1), np.repeat(block.versions, batch, 1),
                    np.repeat(block.t_read, batch, 1), block.t_apply, block.samples.reshape(n, batch, minibatch),
                    block.waiting, coordinates=coordinates)
