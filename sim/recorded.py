"""The SimPy engine's schedule recorded as closed-form Blocks (no SimPy here: sim.engine runs the engine on a recorder).

Timing never depends on the iterate's values, so one engine run of a seed decides, for every step, which gradients
(worker, version read, samples, times) form each update. `ScheduleRecorder` stands in for the Run before a protocol
(sim/protocols/con.py, sync.py, epochs.py): it counts versions and holds, and keeps the updates and drops the
protocol forms, without any math. Its `block` hands them over as a sim.closed_form.con.Block, which the ring
(sim/closed_form/ring.py) applies to the replicates of the seed in lockstep, as it applies a closed-form schedule:
each replicate equal to its single run bit for bit (tests/test_recorded.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scenarios.types import Scenario
from sim.closed_form.con import Block, Dropped
from sim.recording import EventLog, WorkTally
from sim.run import Read


class ScheduleRecorder:
    """The Run as the protocols see it (read, apply, drop, lose, scheduled, finished, work), recording instead of
    computing: per update its reads in the order they are summed and its time, per drop the gradient and when, and
    the idle worker-time when each recorded update (every `record.every`-th and the K-th) is formed."""

    def __init__(self, scenario: Scenario, objective) -> None:
        self.objective = objective
        self.iterations, self.minibatch = scenario.algorithm.iterations, scenario.algorithm.minibatch
        self.every = scenario.record.every
        self.work = WorkTally(scenario.cluster.workers)
        self.events = EventLog()  # only clusters without events are recorded (sim.engine): stays empty
        self.speeds: list = []
        self.scheduled = 0      # updates formed
        self.finished = False   # K formed
        self.done = False
        self.on_pending: Callable[[], None] = lambda: None
        self._holds: dict[int, int] = {}  # version -> reads of it not yet summed, dropped or lost
        self._updates: list[tuple[list[Read], float, float]] = []  # (reads, time, idle) since the last block
        self._drops: list[tuple[int, Read, int, float]] = []      # (next update, read, staleness, time)
        self._dropped = 0  # drops handed over in earlier blocks
        self._first = 0    # the first update of the next block

    @property
    def pending_updates(self) -> int:
        """Updates formed since the last block (sim.engine runs the engine ahead by a chunk of them)."""
        return len(self._updates)

    def read(self, worker: int, now: float, samples: np.ndarray) -> Read:
        self._hold(self.scheduled, 1)
        return Read(worker, self.scheduled, now, samples)

    def apply(self, reads: list[Read], now: float) -> None:
        """Update k = scheduled is formed at `now` from `reads`, in this order."""
        self.scheduled += 1
        self.finished = self.scheduled == self.iterations
        recorded = self.scheduled % self.every == 0 or self.finished
        self._updates.append((reads, now, self.work.idle(now) if recorded else np.nan))
        for read in reads:
            self._hold(read.version, -1)
        self.on_pending()

    def drop(self, read: Read, staleness: int, now: float) -> None:
        """A gradient discarded before update `scheduled` (none after the K-th: the run is over)."""
        if self.finished:
            return
        self._drops.append((self.scheduled, read, staleness, now))
        self._hold(read.version, -1)

    def lose(self, read: Read) -> None:
        self._hold(read.version, -1)

    def block(self) -> Block:
        """The updates formed since the last block, with the drops before them and the idle worker-time at each
        (nan but at recorded updates); `waiting`: the versions of the reads still outstanding."""
        updates, self._updates = self._updates, []
        first, n = self._first, len(updates)
        self._first += n
        gradients = [read for reads, _, _ in updates for read in reads]
        shape = (n, len(gradients) // n)
        return Block(first, np.array([r.worker for r in gradients], np.int64).reshape(shape),
                     np.array([r.version for r in gradients], np.int64).reshape(shape),
                     np.array([r.t_read for r in gradients]).reshape(shape), np.array([now for _, now, _ in updates]),
                     _samples([r.samples for r in gradients], self.minibatch).reshape(*shape, -1),
                     np.array(sorted(self._holds), np.int64), self._dropped_before(self._first),
                     idle=np.array([idle for _, _, idle in updates]))

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

    def _hold(self, version: int, change: int) -> None:
        count = self._holds.get(version, 0) + change
        if count:
            self._holds[version] = count
        else:
            del self._holds[version]


def _samples(samples: list[np.ndarray], minibatch: int) -> np.ndarray:
    """The gradients' sample indices as rows, (len(samples), minibatch)."""
    return np.array(samples, np.int64).reshape(len(samples), minibatch)
