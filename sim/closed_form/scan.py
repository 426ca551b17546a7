"""The schedule of a dropping AsySG-con run (policy "drop", Rennala SGD, Ringmaster ASGD without cancel) in closed
form: one sequential pass over the merged arrivals, without SimPy.

Under policy "drop" with bound T and no server time (sim/protocols/con.py) no worker ever waits: its n-th gradient
is read at r_n = a_{n-1} + downlink_n and arrives at a_n = r_n + compute_n + uplink_n, the running sums of
ConSchedule (sim/closed_form/con.py), which generates them. The server, with k updates formed, drops an arriving
gradient of version v if k - v > T (its staleness k - v, at its arrival; the trace row has update -1), else queues
it, and the M-th queued forms update k (the queue is empty after every update, so no queued gradient is ever dropped
later). A read sees the updates formed by the arrivals up to its instant (a read at its worker's own arrival, when
the downlink takes no time, comes after it). Which arrivals count depends on the versions read before, so the pass
is sequential (`_scan`, one step per arrival); the rest is vectorized.

Ties are ConSchedule's: two arrivals at one instant, or a read after a downlink at an arrival's instant, raise Tie
and the caller runs the SimPy engine. tests/test_scan.py checks the schedule against the engine, bit for bit.
"""

from __future__ import annotations

import numpy as np

from sim.closed_form.con import Block, ConSchedule, Dropped, _Gradients
from sim.cluster.workers import SampleStream, WorkerClock


class DropSchedule(ConSchedule):
    """The blocks of updates 0 .. K-1 of an AsySG-con run under policy "drop" with bound T, each with the gradients
    dropped before its updates (Block.dropped)."""

    def __init__(self, clocks: list[WorkerClock], samples: list[SampleStream], batch: int, iterations: int,
                 minibatch: int, bound: int) -> None:
        super().__init__(clocks, samples, batch, iterations, minibatch)
        self._bound = bound
        empty = np.empty(0, np.int64)
        self._drops = Dropped(empty, empty, empty, empty, np.empty(0), np.empty(0), np.empty((0, minibatch), np.int64),
                              0)  # dropped after the last update formed: before the next one

    def _round(self) -> Block:
        """Scan the arrivals up to the next horizon (ConSchedule._advance): their versions, drops and updates; then
        the versions of the reads up to it that arrive later."""
        pending, horizon, arriving = self._advance()
        reading = np.flatnonzero((pending.version < 0) & (pending.read <= horizon))
        seen = self._seen(pending.worker[reading], pending.read[reading], pending.arrive[arriving])
        after = np.full(len(pending), -1)
        after[reading] = seen
        start = self._formed
        order = after[arriving]
        earlier = np.flatnonzero(order < 0)  # read in an earlier round: versions known
        lookup = order + len(earlier)
        lookup[earlier] = np.arange(len(earlier))
        formed = np.array(self._scan(pending.version[arriving[earlier]].tolist() + [start], lookup.tolist()), np.int64)
        formed_by = np.concatenate(([start], formed))  # updates formed by the first i arrivals of the round
        pending.version[reading] = formed_by[np.minimum(seen, len(formed))]  # (a read after update K: never used)
        scanned = arriving[:len(formed)]  # all of them, unless the pass stopped at update K
        before = formed_by[:-1]
        staleness = before - pending.version[scanned]
        drop = staleness > self._bound
        self._pending = pending[pending.arrive > horizon]
        self._drops = _concat_drops(self._drops, pending[scanned[drop]], before[drop], staleness[drop])
        return self._block(_Gradients.concat([self._carry, pending[scanned[~drop]]]))

    def _scan(self, versions: list[int], lookup: list[int]) -> list[int]:
        """The server's pass over a round's arrivals: arrival i read version versions[lookup[i]], where `versions`
        holds the versions read in earlier rounds, then the updates formed before the round, and grows by the
        updates formed after each arrival (a read after j of the round's arrivals looks up the entry j after that);
        returns the updates formed after each arrival, stopping at update K."""
        k, queued = self._formed, len(self._carry)
        M, T, K = self._batch, self._bound, self._iterations
        known = len(versions)
        for i in lookup:
            if k - versions[i] <= T:
                queued += 1
                if queued == M:
                    queued = 0
                    k += 1
                    if k == K:
                        versions.append(k)
                        break
            versions.append(k)
        return versions[known:]

    def _block(self, gradients: _Gradients) -> Block:
        """ConSchedule's block of the complete updates, with the drops before them; the rest of the drops carry, and
        the versions waiting exclude those of gradients sure to be dropped (staleness above T already)."""
        block = super()._block(gradients)
        end = block.first + len(block)
        drops = self._drops
        block.dropped, self._drops = drops.between(block.first, end), drops.between(end, self._iterations + 1)
        block.waiting = block.waiting[block.waiting >= end - self._bound]
        return block


def _concat_drops(carried: Dropped, gradients: _Gradients, update: np.ndarray, staleness: np.ndarray) -> Dropped:
    """The carried drops, then `gradients` dropped before updates `update` with `staleness`."""
    return Dropped(np.concatenate([carried.update, update]), np.concatenate([carried.workers, gradients.worker]),
                   np.concatenate([carried.versions, gradients.version]),
                   np.concatenate([carried.staleness, staleness]), np.concatenate([carried.t_read, gradients.read]),
                   np.concatenate([carried.t_drop, gradients.arrive]),
                   np.concatenate([carried.samples, gradients.samples]), carried.earlier)
