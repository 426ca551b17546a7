"""AsySG-incon's shared memory (no SimPy here): threads read x coordinate by coordinate while others write to it.

Reads. A read begins at time s from x_first (first = updates applied by then) and ends at e = s + D, D drawn per
read from cluster.read on the thread's Purpose.READ stream. Coordinate i (0-based, of d) is read at
    t_i = min(e, s + (e - s) * ((i + 1) / d))        (read_time; the last one at e),
and a write that lands at time tau after the read began is seen by coordinate i iff tau < t_i (a write and the read
of its coordinate at the same instant: the read goes first). A read taking no time (D = 0) reads x_first: consistent.

Writes. Update k is the write of one thread: it changes the coordinates S_k (algorithm.block distinct ones, uniform,
drawn when it writes from the thread's CoordinateStream; S_k = {i_k} for block = 1, the paper's case) at
one instant, each coordinate atomically, without locks:
    x_{k+1} = x_k - gamma_k [sum_{m=1..M} G(xhat_k; xi_{k,m})]_{S_k},
its M = algorithm.batch gradients all evaluated at the thread's one read xhat_k (xhat_{k,m} = xhat_k, a special case
of the paper's model), computed one after another.

J(k) and the delay. The read of update k missed update j < k if it missed j's write on some coordinate of S_j: j
landed during the read after that coordinate was read, or after the read ended. So, per coordinate,
xhat_k = x_k - sum_{j in J(k)} (x_{j+1} - x_j) restricted to the coordinates missed (all of S_j unless a block write
landed in the middle of the read; for block = 1 exactly the paper's formula), and xhat_k is built from the values
read (iterates.torn_read), never by subtracting. The read's version b = min J(k) (k if J(k) is empty) is fixed
when the read ends, since every later update is missed: the oldest update missed during the read, else the number
applied by its end. xhat_k contains every update before b; the delay, the trace's `staleness`, is tau_k = k - b,
so J(k) is in {k - tau_k, ..., k - 1} and a bound T keeps it in {k - T, ..., k - 1}. With block = 1 the read was
consistent (xhat_k = x_b) iff J(k) = {b, ..., k - 1}, i.e. |J(k)| (the trace's `missed`) = tau_k; with block > 1 it
may also have seen only part of a write.

Policies. sim/protocols/con.py's ParameterServer drives this class (read, apply, drop) with one read per update and no
service time, so "wait" and "drop" mean what they mean for AsySG-con; while a read is in progress its version is
taken as `first` (its b is not known before it ends, and b >= first).

Trace. One row per gradient, the M rows of a read sharing its columns: read_version = b, staleness = tau_k,
t_read = e, and recording.INCON_SCHEMA's read_start = s, start_version = first, landed_at (update first + n landed
when landed_at[n] coordinates had been read: all `asgd replay` needs to rebuild xhat_k from the iterates),
coordinates = S_k and missed = |J(k)|. A dropped read's rows have update -1, no coordinates, and k the next update.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from sim.iterates import release_read
from sim.run import Run
from sim.cluster.streams import Draws
from sim.cluster.workers import CoordinateStream

NO_COORDINATES = np.empty(0, dtype=np.int64)


@dataclass(slots=True, eq=False)
class InconRead:
    """Thread `worker`'s read over [start, start + duration] that began at x_first, and its M gradients' samples."""

    worker: int
    first: int
    start: float
    duration: float
    samples: list[np.ndarray]
    version: int                                          # first while reading, then b (the module docstring)
    landed_at: list[int] = field(default_factory=list)   # update first + n landed with landed_at[n] coordinates read
    missed_during: int = 0                                # updates landing during the read it missed somewhere
    oldest_missed: int | None = None
    done: bool = False                                    # written or dropped

    @property
    def end(self) -> float:
        return self.start + self.duration

    @property
    def last(self) -> int:
        """Updates applied when the read ended (once it has)."""
        return self.first + len(self.landed_at)


def read_time(start: float, end: float, dim: int, i: int) -> float:
    """t_i: when a read over [start, end] of a dim-vector reads coordinate i (0-based)."""
    return min(end, start + (end - start) * ((i + 1) / dim))


def coordinates_read(start: float, end: float, dim: int, now: float) -> int:
    """#{i : t_i <= now}: the coordinates (0, 1, ...) a read over [start, end] has taken by `now`."""
    return bisect.bisect_right(range(dim), now, key=lambda i: read_time(start, end, dim, i))


class SharedMemory:
    """The shared x of one AsySG-incon run: the reads in progress and the writes. `run` holds the versions the reads
    need (run.store) and computes and records each write (run.write): a Run, or sim/recorded.py's recorder, which
    only records it."""

    def __init__(self, run: Run, read_clocks: list[Draws | None], coordinates: list[CoordinateStream]) -> None:
        self.run = run
        self.store = run.store
        self._read_clocks = read_clocks
        self._coordinates = coordinates
        self._reading: list[InconRead] = []

    @property
    def finished(self) -> bool:
        return self.run.finished

    @property
    def scheduled(self) -> int:
        """Updates formed (AsySG-incon runs are eager: also the updates applied)."""
        return self.run.scheduled

    def read(self, worker: int, now: float, samples: list[np.ndarray]) -> InconRead:
        """Thread `worker` begins a read at `now`; it holds every version current while it reads."""
        clock = self._read_clocks[worker]
        first = self.store.hold(self.run.scheduled)
        read = InconRead(worker, first, now, clock() if clock is not None else 0.0, samples, first)
        self.run.work.start(worker, now, read.duration)  # the read's span (sim.recording.WorkTally)
        if read.end > now:
            self._reading.append(read)
        return read

    def end_read(self, read: InconRead) -> None:
        """The read is complete: its version becomes b."""
        if read in self._reading:
            self._reading.remove(read)
        read.version = read.oldest_missed if read.oldest_missed is not None else read.last

    def apply(self, reads: list[InconRead], now: float) -> None:
        """Update k at `now`: the write of the one read in `reads` (the staleness policy's batch is one read) on the
        coordinates its thread draws now; the run computes and records it (Run.write), then the reads in progress
        see it land."""
        (read,) = reads
        k = self.run.scheduled
        coordinates = self._coordinates[read.worker]()
        self.run.write(read, coordinates, now)
        self._land(k, coordinates, now)

    def drop(self, read: InconRead, staleness: int, now: float) -> None:
        """Discard the read's M gradients: entering update version + staleness, they would exceed the bound (none
        after the K-th update: the run is over)."""
        if self.run.finished:
            return
        release_read(self.store, read.first, len(read.landed_at))
        self.run.trace.add_read(read, -1, read.version + staleness, now, NO_COORDINATES)
        self.run.staleness.dropped += len(read.samples)
        self.run.gradients += len(read.samples)
        read.done = True

    def lose(self, read: InconRead) -> None:
        """A thread failed (sim/cluster/failures.py) while reading, computing or waiting to write: its read ends
        unwritten, releasing what it held; nothing is recorded in the trace."""
        if read in self._reading:
            self._reading.remove(read)
        release_read(self.store, read.first, len(read.landed_at))
        read.done = True

    def _land(self, k: int, coordinates: np.ndarray, now: float) -> None:
        """Update k landed at `now`: each read in progress sees it on the coordinates it has not read yet."""
        lowest = int(coordinates.min())
        dim = self.run.objective.dim
        for read in self._reading:
            position = coordinates_read(read.start, read.end, dim, now)
            read.landed_at.append(position)
            self.store.hold(self.run.scheduled)
            if lowest < position:
                read.missed_during += 1
                if read.oldest_missed is None:
                    read.oldest_missed = k
