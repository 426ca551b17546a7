"""The SimPy engine's schedule recorded as closed-form Blocks (no SimPy here: sim.engine runs the engine on a recorder).

Timing never depends on the iterate's values, so one engine run of a seed decides, for every step, which gradients
(worker, version read, samples, times) form each update. `ScheduleRecorder` stands in for the Run before a protocol
(a parameter server, sim/protocols/con.py, sync.py, epochs.py; or AsySG-incon's shared memory whose reads take no
time, shared_memory.py): it counts versions and holds, and keeps the updates and drops the protocol forms, without
any math. Its `block` hands them over as a sim.closed_form.con.Block, which the ring (sim/closed_form/ring.py)
applies to the replicates of the seed in lockstep, as it applies a closed-form schedule: each replicate equal to
its single run bit for bit (tests/test_recorded.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scenarios.types import Scenario
from sim.closed_form.con import Block, Dropped
from sim.iterates import release_read
from sim.recording import EventLog, WorkTally
from sim.run import Read


class Holds:
    """IterateStore's holds without the iterates: version -> reads holding it."""

    def __init__(self) -> None:
        self.count: dict[int, int] = {}

    def hold(self, version: int) -> int:
        self.count[version] = self.count.get(version, 0) + 1
        return version

    def release(self, version: int) -> None:
        self.count[version] -= 1
        if not self.count[version]:
            del self.count[version]


class ScheduleRecorder:
    """The Run as the protocols see it on a cluster without events (read, apply or write, drop, scheduled, finished,
    the store's holds, work; nothing is lost), recording instead of computing: per update its gradients in the order
    they are summed and its time, per drop the gradient and when, and the idle worker-time when each recorded
    update (every `record.every`-th and the K-th) is formed."""

    def __init__(self, scenario: Scenario, objective) -> None:
        self.objective = objective
        self.iterations, self.minibatch = scenario.algorithm.iterations, scenario.algorithm.minibatch
        self.every = scenario.record.every
        staleness = scenario.staleness  # policy "drop": a read older than the bound is certain to be dropped
        self.drop_bound = staleness.bound if staleness.policy == "drop" else None
        self.work = WorkTally(scenario.cluster.workers)
        self.events = EventLog()  # what sim.engine._start hands the faults: a recorded cluster has none (stays empty)
        self.store = Holds()
        self.scheduled = 0      # updates formed
        self.finished = False   # K formed
        self.on_pending: Callable[[], None] = lambda: None
        # since the last block: (workers, versions, t_read, samples, time, idle, coordinates) per update
        self._updates: list[tuple] = []
        self._drops: list[tuple[int, Read, int, float]] = []  # (next update, read, staleness, time)
        self._dropped = 0  # drops handed over in earlier blocks
        self._first = 0    # the first update of the next block

    @property
    def pending_updates(self) -> int:
        """Updates formed since the last block (sim.engine runs the engine ahead by a chunk of them)."""
        return len(self._updates)

    def read(self, worker: int, now: float, samples: np.ndarray) -> Read:
        return Read(worker, self.store.hold(self.scheduled), now, samples)

    def apply(self, reads: list[Read], now: float) -> None:
        """A parameter server's update k = scheduled, formed at `now` from `reads`, in this order."""
        self._formed([r.worker for r in reads], [r.version for r in reads], [r.t_read for r in reads],
                     [r.samples for r in reads], now, None)
        for read in reads:
            self.store.release(read.version)

    def write(self, read, coordinates: np.ndarray, now: float) -> None:
        """AsySG-incon's update k = scheduled at `now`: the write of `read`'s M gradients (a read that took no time:
        version and start are its first) on `coordinates`."""
        M = len(read.samples)
        self._formed([read.worker] * M, [read.version] * M, [read.end] * M, read.samples, now, coordinates)
        release_read(self.store, read.first, len(read.landed_at))
        read.done = True

    def drop(self, read: Read, staleness: int, now: float) -> None:
        """A gradient discarded before update `scheduled` (none after the K-th: the run is over)."""
        if self.finished:
            return
        self._drops.append((self.scheduled, read, staleness, now))
        self.store.release(read.version)

    def block(self) -> Block:
        """The updates formed since the last block, with the drops before them and the idle worker-time at each
        (nan but at recorded updates); `waiting`: the versions of the reads still outstanding that a later update
        may sum (under policy "drop", none more than the bound below the next update: the server drops those, as
        sim/closed_form/scan.py leaves them out, so that the ring does not keep their iterates)."""
        updates, self._updates = self._updates, []
        first = self._first
        self._first += len(updates)
        workers, versions, t_read, samples, times, idle, coordinates = zip(*updates)
        waiting = np.array(sorted(self.store.count), np.int64)
        if self.drop_bound is not None:
            waiting = waiting[waiting >= self._first - self.drop_bound]
        return Block(first, np.array(workers, np.int64), np.array(versions, np.int64), np.array(t_read),
                     np.array(times), _samples([s for update in samples for s in update], self.minibatch).reshape(
                         len(updates), len(workers[0]), -1),
                     waiting, self._dropped_before(self._first),
                     None if coordinates[0] is None else list(coordinates), np.array(idle))

    def _formed(self, workers: list[int], versions: list[int], t_read: list[float], samples: list[np.ndarray],
                now: float, coordinates: np.ndarray | None) -> None:
        self.scheduled += 1
        self.finished = self.scheduled == self.iterations
        recorded = self.scheduled % self.every == 0 or self.finished
        self._updates.append((workers, versions, t_read, samples, now, self.work.idle(now) if recorded else np.nan,
                              coordinates))
        self.on_pending()

    def _dropped_before(self, stop: int) -> Dropped | None:
        """The drops before updates up to stop - 1 not handed over yet (None if the run has dropped nothing yet:
        Block.consumed then counts M per update)."""
        count = next((i for i, drop in enumerate(self._drops) if drop[0] >= stop), len(self._drops))
        drops, self._drops = self._drops[:count], self._drops[count:]
        earlier, self._dropped = self._dropped, self._dropped + count
        if not self._dropped:
            return None
        reads = [read for _, read, _, _ in drops]
        return Dropped(np.array([d[0] for d in drops], np.int64), np.array([r.worker for r in reads], np.int64),
                       np.array([r.version for r in reads], np.int64), np.array([d[2] for d in drops], np.int64),
                       np.array([r.t_read for r in reads], float), np.array([d[3] for d in drops], float),
                       _samples([r.samples for r in reads], self.minibatch), earlier)


def _samples(samples: list[np.ndarray], minibatch: int) -> np.ndarray:
    """The gradients' sample indices as rows, (len(samples), minibatch)."""
    return np.array(samples, np.int64).reshape(len(samples), minibatch)
