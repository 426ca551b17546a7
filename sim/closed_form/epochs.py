"""SVRG's epochs on AsySG-con (sim/protocols/epochs.py's EpochGate, no staleness bound, no server time) in closed
form, without SimPy: one block of updates per epoch.

Epoch j opens at O_j (O_0 = 0 + S, O_{j+1} = E_j + S: S the snapshot round's `full_pass_time`, E_j the time of
the epoch's last update) and admits exactly C = epoch * M reads. A worker's next read is ready after its downlink;
one ready before O_j waits for the gate and reads at O_j; from its first read of the epoch on its times are running
sums of its own draws (compute: the two evaluations of an inner gradient, workers.RepeatedClock), as in
ConSchedule (sim/closed_form/con.py). The C earliest reads of the epoch (in time) are admitted; a worker whose next
read is ready after the C-th waits for the next epoch (its downlink already taken). The admitted gradients all
arrive before the epoch's last update, which the C-th arrival forms (the epochs drain), and the reads see the
updates formed by the arrivals up to their instant, M arrivals an update, as in ConSchedule.

Ties go to the SimPy engine (Tie), where their order could matter: the C-th and the next read at one instant (more
readers than places at the gate's opening included), a worker ready at O_j itself, two arrivals at one instant, a
read after a downlink at an arrival's instant. Memory: one epoch's gradients (C) and each worker's drawn-ahead draws.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sim.closed_form.con import Block, Tie
from sim.cluster.workers import RepeatedClock, SampleStream
from sim.recording import WorkTally

REFILL = 256  # draws a worker takes from its streams at least, when its buffers run short


class _Buffer:
    """A worker's draws taken from its streams and not yet used, in stream order: compute, uplink, the downlink
    before each next read, samples (0.0 for a latency the worker does not have: t + 0.0 is t)."""

    def __init__(self, clock: RepeatedClock, samples: SampleStream, minibatch: int) -> None:
        self.clock, self.samples = clock, samples
        self.compute, self.uplink, self.downlink = np.empty(0), np.empty(0), np.empty(0)
        self.drawn = np.empty((0, minibatch), np.int64)

    def ensure(self, count: int) -> None:
        """At least `count` draws of each kind in the buffer."""
        more = count - len(self.compute)
        if more <= 0:
            return
        more = max(more, REFILL)
        clock = self.clock
        self.compute = np.concatenate([self.compute, clock.computes(more)])
        self.uplink = np.concatenate([self.uplink, clock.uplink.take(more) if clock.uplink is not None
                                      else np.zeros(more)])
        self.downlink = np.concatenate([self.downlink, clock.downlink.take(more) if clock.downlink is not None
                                        else np.zeros(more)])
        self.drawn = np.concatenate([self.drawn, self.samples.take(more)])

    def times(self, start: float, count: int) -> np.ndarray:
        """From a read at `start`: (count + 1, 3) rows read, computed, arrived, the last row's read the next one's."""
        self.ensure(count)
        steps = np.empty(3 * count + 1)
        steps[0] = start
        steps[1::3], steps[2::3], steps[3::3] = self.compute[:count], self.uplink[:count], self.downlink[:count]
        return np.concatenate([np.cumsum(steps), [np.nan, np.nan]]).reshape(count + 1, 3)

    def use(self, count: int) -> None:
        self.compute, self.uplink = self.compute[count:], self.uplink[count:]
        self.downlink, self.drawn = self.downlink[count:], self.drawn[count:]


class EpochSchedule:
    """The blocks of updates 0 .. K-1 of an AsySG-con run with SVRG's epochs, one block an epoch."""

    def __init__(self, clocks: list[RepeatedClock], samples: list[SampleStream], batch: int, iterations: int,
                 minibatch: int, epoch: int, snapshot_time: float, work: WorkTally) -> None:
        self._buffers = [_Buffer(clock, stream, minibatch) for clock, stream in zip(clocks, samples)]
        self._work = work
        self._downlink = np.array([clock.downlink is not None for clock in clocks])
        self._batch, self._iterations, self._epoch, self._snapshot = batch, iterations, epoch, snapshot_time
        # each worker's first read is ready after its first downlink, from time 0
        self._ready = np.array([0.0 + clock.downlink() if clock.downlink is not None else 0.0 for clock in clocks])
        work.everyone(0.0, snapshot_time)  # the first snapshot round, and each worker's first downlink
        for worker, ready in enumerate(self._ready.tolist()):
            work.start(worker, 0.0, ready)
        self._expect = np.full(len(clocks), -(-epoch * batch // len(clocks)))  # reads per epoch, a guess

    def __iter__(self) -> Iterator[Block]:
        opening, first = 0.0 + self._snapshot, 0
        while first < self._iterations:
            block = self._epoch_block(opening, first)
            yield block
            opening, first = float(block.t_apply[-1]) + self._snapshot, first + len(block)
            if first < self._iterations:
                self._work.everyone(float(block.t_apply[-1]), self._snapshot)

    def _epoch_block(self, opening: float, first: int) -> Block:
        """The epoch opening at `opening` with updates first, ...: its reads, arrivals and updates (up to K)."""
        M, capacity = self._batch, self._epoch * self._batch
        if (self._ready == opening).any():
            raise Tie("a worker is ready to read at the gate's opening")
        waited = self._ready < opening
        starts = np.where(waited, opening, self._ready)
        counts = np.maximum(self._expect, 1)
        while True:
            rows = [buffer.times(start, count) for buffer, start, count in zip(self._buffers, starts.tolist(),
                                                                               counts.tolist())]
            if any((r[:-1, 2] == r[:-1, 0]).any() for r in rows):  # (else a worker's times might never pass the cut)
                raise Tie("a gradient computed and pushed in no time arrives at its read's instant")
            reads = np.sort(np.concatenate([r[:, 0] for r in rows]))
            if len(reads) > capacity:
                cut = reads[capacity - 1]
                short = np.array([r[-1, 0] <= cut for r in rows])
                if not short.any():
                    break
            else:
                short = np.ones(len(rows), bool)
            counts = np.where(short, 2 * counts, counts)
        if reads[capacity] == cut:
            raise Tie("the gate's last place and another read at one instant")
        admitted = [int(np.searchsorted(r[:, 0], cut, side="right")) for r in rows]
        self._expect = np.array(admitted) + 4
        workers = np.repeat(np.arange(len(rows)), admitted)
        read = np.concatenate([r[:n, 0] for r, n in zip(rows, admitted)])
        arrive = np.concatenate([r[:n, 2] for r, n in zip(rows, admitted)])
        samples = np.concatenate([b.drawn[:n] for b, n in zip(self._buffers, admitted)])
        for w, (buffer, r, n) in enumerate(zip(self._buffers, rows, admitted)):
            if n:
                self._tally(w, r[:n + 1], buffer, n)
                self._ready[w] = r[n, 0]
                buffer.use(n)
        order = np.argsort(arrive, kind="stable")
        workers, read, arrive, samples = workers[order], read[order], arrive[order], samples[order]
        if (arrive[1:] == arrive[:-1]).any() or (arrive == read).any():
            raise Tie("two gradients arrive at one instant")
        position = np.concatenate([np.arange(n) for n in admitted])[order]  # the read's place in its worker's epoch
        after = np.searchsorted(arrive, read, side="right")
        downlink_read = self._downlink[workers] | (position == 0)  # not right at its worker's own arrival
        if np.isin(read[downlink_read], arrive).any():
            raise Tie("a read and an arrival at one instant")
        updates = min(self._epoch, self._iterations - first)
        used = updates * M
        versions = first + after[:used] // M
        return Block(first, workers[:used].reshape(updates, M), versions.reshape(updates, M),
                     read[:used].reshape(updates, M), arrive[M - 1:used:M].copy(),
                     samples[:used].reshape(updates, M, -1), np.empty(0, np.int64))

    def _tally(self, worker: int, rows: np.ndarray, buffer: _Buffer, n: int) -> None:
        """The worker's spans of its n reads of the epoch (rows: read, computed, arrived; row n's read ends the
        downlink after the last), in the order the engine starts them (sim.recording.WorkTally): each computation
        at its read, its push when computed, the next pull at its arrival (a latency the worker does not have is
        0.0 here and starts no span in the engine: a span of 0 at its predecessor's end changes nothing)."""
        start = self._work.start
        for (read, computed, arrived), compute, uplink, downlink in zip(
                rows[:n].tolist(), buffer.compute[:n].tolist(), buffer.uplink[:n].tolist(),
                buffer.downlink[:n].tolist()):
            start(worker, read, compute)
            start(worker, computed, uplink)
            start(worker, arrived, downlink)
