"""AsySG-con's schedule in closed form where no worker ever waits: the SimPy engine's order of events, without SimPy.

Without a staleness bound and without server service time, the parameter server (sim/protocols/con.py) never delays a worker.
Worker w's n-th gradient is read at r_n = a_{n-1} + downlink_n (a_{-1} = 0) and arrives at a_n = r_n + compute_n +
uplink_n, each sum taken one delay at a time as SimPy's clock takes it, from the worker's own streams
(sim/cluster/workers.py). The server sums the arrivals M at a time in arrival order, and a read sees the updates the
arrivals up to its time formed: version = #{arrivals <= r} // M (a read at its worker's own arrival, when the
downlink takes no time, comes after it, as in the engine's worker loop).

Two events at one instant may go either way, and SimPy's event queue decides which comes first: the schedule raises
Tie and the caller runs the SimPy engine instead. tests/test_schedule.py checks the schedule against the engine,
bit for bit. The schedule is generated in rounds, each worker's gradients a generation at a time (_generate), so
its memory does not grow with K.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from scenarios.types import Scenario
from sim.cluster.workers import SampleStream, WorkerClock

TIMINGS = ("auto", "simpy")  # simulate's timing: a closed-form schedule where there is one, or always the SimPy engine
ROUND_GRADIENTS = 4096  # gradients per round: a worker short of its share (ROUND_GRADIENTS / W, at least 16) generates
MAX_CYCLES = 65536      # a worker's generation at most (a fast worker's share grows with its speed)


def ring_depth(workers: int, batch: int) -> int:
    """Iterates kept in a closed-form run's ring (closed_form.ring.Ring): 8 W / M + 2, at most 4096 (staleness is about
    W / M: with W exponential workers, M = 1, about 1 read in 4000 is older); an older read takes its iterate from the
    ring's spilled ones."""
    return min(8 * -(-workers // batch) + 2, 4096)


class Tie(Exception):
    """Two events at one instant: their order is the SimPy engine's to decide."""


def closed_form(scenario: Scenario) -> bool:
    """The scenario's schedule has a closed form: AsySG-con without a staleness bound (this module; with SVRG's
    epochs, sim/closed_form/epochs.py) or under policy "drop" (sim/closed_form/scan.py: also Rennala SGD and
    Ringmaster ASGD without cancel, whose cancels interrupt workers; not with SVRG, whose drops give places back to
    its gate), or AsySG-incon and SAPALM whose reads take no time, without a bound (sim/closed_form/incon.py); in
    every case without server time, without changing speeds (whose compute times depend on when a computation
    starts) and without failures or lost messages (sim/cluster/failures.py: the engine runs them). A regularizer,
    staleness-dependent steps and DC-ASGD's compensation change only the math (sim/closed_form/ring.py applies them
    per replicate)."""
    algorithm, bound = scenario.algorithm, scenario.staleness.bound
    estimator = algorithm.estimator.name
    if algorithm.protocol == "asysg-con":
        protocol = (not algorithm.cancel and estimator in ("sg", "svrg")
                    and (bound is None or scenario.staleness.policy == "drop" and estimator == "sg")
                    # an epoch's schedule is drawn whole (epochs.py): one longer than the run goes to the engine
                    and (estimator == "sg" or algorithm.estimator.epoch <= algorithm.iterations))
    else:
        protocol = (algorithm.protocol == "asysg-incon" and scenario.cluster.read.is_zero and bound is None
                    and estimator == "sg")
    return (protocol and scenario.cluster.server.is_zero
            and all(timing.speed is None and timing.failures is None and timing.loss == 0
                    for timing in scenario.cluster.timings))


@dataclass
class Block:
    """Updates first .. first + n - 1: row j of each (n, M, ...) array is update first + j's gradients, in the order
    they are summed."""

    first: int
    workers: np.ndarray    # (n, M)
    versions: np.ndarray   # (n, M) the version each gradient read
    t_read: np.ndarray     # (n, M)
    t_apply: np.ndarray    # (n,) when the update was formed: its last gradient's arrival
    samples: np.ndarray    # (n, M, minibatch)
    waiting: np.ndarray    # the versions read by gradients of later updates, known after this block (< W + M)
    dropped: Dropped | None = None  # policy drop (sim/closed_form/scan.py): the gradients dropped before its updates
    coordinates: list[np.ndarray] | None = None  # a shared-memory write's S_k per update (sim/closed_form/incon.py)
    idle: np.ndarray | None = None  # (n,) a recorded engine schedule's (sim/recorded.py): the idle worker-time when
    # each update was formed, at the recorded ones (nan at the others)

    def __len__(self) -> int:
        return len(self.t_apply)

    def consumed(self, row: int) -> int:
        """Gradients the server has consumed (applied or dropped) once update first + row is formed (Run.gradients)."""
        k = self.first + row
        M = self.versions.shape[1]
        if self.dropped is None:
            return (k + 1) * M
        return (k + 1) * M + self.dropped.earlier + int(np.searchsorted(self.dropped.update, k, side="right"))


@dataclass
class Dropped:
    """Gradients the server dropped (policy drop: staleness above the bound at their arrival), in the order it dropped
    them, each just before update `update` was formed (the trace's rows: update -1, the staleness at the drop,
    t_apply the drop's time)."""

    update: np.ndarray     # (D,) the update formed next after each drop
    workers: np.ndarray    # (D,)
    versions: np.ndarray   # (D,)
    staleness: np.ndarray  # (D,)
    t_read: np.ndarray     # (D,)
    t_drop: np.ndarray     # (D,) its arrival
    samples: np.ndarray    # (D, minibatch)
    earlier: int           # gradients dropped before the first of these

    def __len__(self) -> int:
        return len(self.update)

    def between(self, first: int, stop: int) -> "Dropped":
        """The drops before updates first .. stop - 1."""
        lo, hi = np.searchsorted(self.update, [first, stop]).tolist()
        return Dropped(self.update[lo:hi], self.workers[lo:hi], self.versions[lo:hi], self.staleness[lo:hi],
                       self.t_read[lo:hi], self.t_drop[lo:hi], self.samples[lo:hi], self.earlier + lo)


@dataclass
class _Gradients:
    """Gradients generated but not yet summed into an update (version -1: not read yet by the horizon)."""

    worker: np.ndarray
    read: np.ndarray
    arrive: np.ndarray
    version: np.ndarray
    samples: np.ndarray

    def __getitem__(self, index) -> "_Gradients":
        return _Gradients(self.worker[index], self.read[index], self.arrive[index], self.version[index],
                          self.samples[index])

    def __len__(self) -> int:
        return len(self.worker)

    @staticmethod
    def concat(parts: list["_Gradients"]) -> "_Gradients":
        return _Gradients(*(np.concatenate([getattr(p, name) for p in parts])
                            for name in ("worker", "read", "arrive", "version", "samples")))


class ConSchedule:
    """The blocks of updates 0 .. K-1 of an AsySG-con run whose scenario has a closed form (`closed_form`). With
    `computations` c, each gradient takes c computations one after another and c draws of samples (row j of a
    block's samples: its c * minibatch indices): an AsySG-incon thread's cycle (sim/closed_form/incon.py)."""

    def __init__(self, clocks: list[WorkerClock], samples: list[SampleStream], batch: int, iterations: int,
                 minibatch: int, computations: int = 1) -> None:
        self._clocks, self._samples = clocks, samples
        self._batch, self._iterations = batch, iterations
        self._minibatch, self._computations = minibatch * computations, computations
        self._base = max(16, -(-ROUND_GRADIENTS // len(clocks)))
        self._cycles = np.full(len(clocks), self._base)  # each worker's gradients per generation (see _generate)
        self._cycle_time = np.full(len(clocks), np.nan)  # each worker's mean cycle in its last generation
        self._downlink = np.array([clock.downlink is not None for clock in clocks])
        self._last = np.zeros(len(clocks))  # each worker's last generated arrival
        empty = np.empty(0)
        self._pending = _Gradients(np.empty(0, np.int64), empty, empty, np.empty(0, np.int64),
                                   np.empty((0, self._minibatch), np.int64))
        self._carry = self._pending  # arrived, but fewer than M: the next update's first gradients
        self._arrived = 0
        self._formed = 0

    def __iter__(self) -> Iterator[Block]:
        while self._formed < self._iterations:
            block = self._round()
            if len(block):
                yield block

    def _round(self) -> Block:
        """Take every arrival up to the next horizon (`_advance`) and the versions of the reads up to it."""
        pending, horizon, arriving = self._advance()
        arrivals = pending.arrive[arriving]
        reading = np.flatnonzero((pending.version < 0) & (pending.read <= horizon))
        seen = self._seen(pending.worker[reading], pending.read[reading], arrivals)
        pending.version[reading] = (self._arrived + seen) // self._batch
        gradients = _Gradients.concat([self._carry, pending[arriving]])
        self._pending = pending[pending.arrive > horizon]
        self._arrived += len(arrivals)
        return self._block(gradients)

    def _advance(self) -> tuple[_Gradients, float, np.ndarray]:
        """Generate the workers short of `cycles` gradients; return the pending gradients, the new horizon (the
        earliest of the workers' last generated arrivals: no arrival before it is still to be generated) and the
        indices of the pending gradients arriving up to it, in arrival order (Tie if two arrive at one instant)."""
        pending = self._pending
        short = np.flatnonzero(np.bincount(pending.worker, minlength=len(self._clocks)) < self._cycles)
        if len(short):
            pending = _Gradients.concat([pending, self._generate(short)])
        horizon = self._last.min()
        arriving = np.flatnonzero(pending.arrive <= horizon)
        arriving = arriving[np.argsort(pending.arrive[arriving], kind="stable")]
        arrivals = pending.arrive[arriving]
        if (arrivals[1:] == arrivals[:-1]).any():
            raise Tie("two gradients arrive at one instant")
        return pending, horizon, arriving

    def _seen(self, workers: np.ndarray, reads: np.ndarray, arrivals: np.ndarray) -> np.ndarray:
        """How many of this round's `arrivals` (sorted) each read comes after.

        A read without downlink happens at its worker's previous arrival: it comes after it (after this round's
        if it is later than the last horizon), and another arrival at its instant would be a tie the arrivals
        have shown already. A read after a downlink must share its instant with none of this round's arrivals.
        It needs no check against the earlier rounds' arrivals: they are all at or before the last horizon h,
        every read at or before h was taken in an earlier round, and a read of this round at h itself would be
        the first of a new generation, at _last[w] + a downlink draw of exactly 0.0 with _last[w] = h; the only
        arrival at h is then its own worker's (another would have been an arrival tie), which comes before the
        read in the engine too, and self._arrived already counts it.
        """
        after = np.searchsorted(arrivals, reads, side="right")
        downlink = self._downlink[workers]
        reads, previous = reads[downlink], after[downlink] - 1  # the last arrival at or before each read
        if (arrivals[previous[previous >= 0]] == reads[previous >= 0]).any():
            raise Tie("a read and an arrival at one instant")
        return after

    def _block(self, gradients: _Gradients) -> Block:
        """The complete updates among `gradients` (the carry, then this round's arrivals), up to K; the rest carries."""
        M = self._batch
        n = min(len(gradients) // M, self._iterations - self._formed)
        used, self._carry = gradients[:n * M], gradients[n * M:]
        first, self._formed = self._formed, self._formed + n
        waiting = (np.concatenate([self._carry.version, self._pending.version[self._pending.version >= 0]])
                   if self._formed < self._iterations else np.empty(0, np.int64))  # after update K-1, none will be
        return Block(first, used.worker.reshape(n, M), used.version.reshape(n, M), used.read.reshape(n, M),
                     used.arrive[M - 1::M].copy(), used.samples.reshape(n, M, -1), waiting)

    def _generate(self, workers: np.ndarray) -> _Gradients:
        """The next `cycles[w]` gradients of each worker w of `workers`: read and arrival times, accumulated delay by
        delay from its last arrival (downlink, compute, uplink: the events the engine's worker loop waits for), and
        samples. A worker faster than the median generates proportionally more next time (up to MAX_CYCLES), so
        that a round's generations span about the same time and the horizon advances by about as much.

        The workers whose generations round up to the same power of two are summed together: one cumsum along the
        rows of (start, downlink_1, compute_1, uplink_1, downlink_2, ...) (c computations in a row with
        `computations` c), 0 for a latency the worker does not have (t + 0.0 is t: the engine's clock, bit for bit)
        and after its last gradient."""
        counts = self._cycles[workers]
        offsets = np.concatenate(([0], np.cumsum(counts)))
        read, arrive = np.empty(offsets[-1]), np.empty(offsets[-1])
        samples = np.empty((offsets[-1], self._minibatch), np.int64)
        widths = np.left_shift(1, np.ceil(np.log2(counts)).astype(np.int64))
        c = self._computations
        stride = c + 2  # a gradient's delays: downlink, c computations, uplink
        for width in np.unique(widths).tolist():
            rows = np.flatnonzero(widths == width)
            steps = np.zeros((len(rows), 1 + stride * width))
            for line, row in zip(steps, rows.tolist()):
                w, count = int(workers[row]), int(counts[row])
                clock = self._clocks[w]
                line[0] = self._last[w]
                if clock.downlink is not None:
                    line[1:stride * count:stride] = clock.downlink.take(count)
                delays = line[1:stride * count + 1].reshape(count, stride)  # a view: row j is gradient j's
                delays[:, 1:c + 1] = clock.computes(count * c).reshape(count, c)
                if clock.uplink is not None:
                    line[stride:stride * count + 1:stride] = clock.uplink.take(count)
                samples[offsets[row]:offsets[row + 1]] = self._samples[w].take(count * c).reshape(count, -1)
            times = np.cumsum(steps, axis=1)[:, 1:].reshape(len(rows), width, stride)
            valid = np.arange(width) < counts[rows, None]
            into = (offsets[rows, None] + np.arange(width))[valid]
            read[into], arrive[into] = times[:, :, 0][valid], times[:, :, -1][valid]
        if (arrive == read).any():
            raise Tie("a gradient computed and pushed in no time arrives at its read's instant")
        last = arrive[offsets[1:] - 1]
        self._cycle_time[workers] = (last - self._last[workers]) / counts
        self._last[workers] = last
        generated = _Gradients(np.repeat(workers, counts), read, arrive, np.full(len(read), -1), samples)
        with np.errstate(divide="ignore", invalid="ignore"):
            speedup = np.nanmedian(self._cycle_time) / self._cycle_time
        self._cycles = (self._base * np.clip(np.nan_to_num(speedup, nan=1.0), 1, MAX_CYCLES // self._base)).astype(int)
        return generated
