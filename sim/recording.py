"""What a run records: the per-gradient trace, staleness counts and the metrics of recorded iterates (no SimPy here).

The trace is kept in typed arrays (48 bytes per single-sample gradient), never as Python objects.
"""

from __future__ import annotations

from array import array

import numpy as np
import pyarrow as pa

from analysis.bounds import ergodic_average
from analysis.stats import count_percentile

PERCENTILES = (50, 90, 99)  # the staleness percentiles of a run's summary

TRACE_SCHEMA = pa.schema([
    ("update", pa.int64()),        # index k of the update the gradient was summed into; -1 if dropped
    ("worker", pa.int32()),
    ("read_version", pa.int64()),  # updates applied to the model the worker read
    ("staleness", pa.int32()),     # update - read_version (for a dropped gradient: at the time it was dropped)
    ("t_read", pa.float64()),
    ("t_apply", pa.float64()),     # when the update was applied (a dropped gradient: when it was dropped)
    ("applied", pa.bool_()),
    ("samples", pa.list_(pa.int64())),
])

# asysg-incon traces append these columns (con and sync traces are exactly TRACE_SCHEMA). The M rows of one update
# share its read. t_read is when the read ended, read_version the oldest update it missed (k if none: sim/protocols/shared_memory.py).
INCON_SCHEMA = pa.schema([
    ("read_start", pa.float64()),            # when the read began
    ("start_version", pa.int64()),           # updates applied when the read began
    ("landed_at", pa.list_(pa.int32())),     # per update start_version + n landing during the read: coordinates read by then
    ("coordinates", pa.list_(pa.int64())),   # the coordinates the update wrote (empty if dropped)
    ("missed", pa.int32()),                  # |J(k)|: updates the read missed on some coordinate (k: the update, or when dropped)
])


class TraceRecorder:
    """One row per stochastic gradient that reached the server, in the order the server handled them.

    Rows of one update appear in the order their gradients were summed, so the trace replays the run exactly.
    `applied` (update >= 0) and an applied row's `staleness` (update - read_version) are derived when the table is
    built; only a dropped row's staleness is kept apart.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._update, self._worker, self._read = array("q"), array("i"), array("q")
        self._t_read, self._t_apply = array("d"), array("d")
        self._samples, self._offsets = array("q"), array("i", [0])
        self._dropped_rows, self._dropped_staleness = array("q"), array("i")

    def add(self, update: int, worker: int, read_version: int, staleness: int, t_read: float, t_apply: float,
            applied: bool, samples: np.ndarray) -> None:
        if not self.enabled:
            return
        if not applied:
            self._dropped_rows.append(len(self._update))
            self._dropped_staleness.append(staleness)
        self._update.append(update)
        self._worker.append(worker)
        self._read.append(read_version)
        self._t_read.append(t_read)
        self._t_apply.append(t_apply)
        self._samples.frombytes(samples.tobytes())
        self._offsets.append(len(self._samples))

    def add_updates(self, first: int, workers: np.ndarray, versions: np.ndarray, t_read: np.ndarray,
                    t_apply: np.ndarray, samples: np.ndarray, dropped=None) -> None:
        """The applied rows of updates first, first + 1, ...: (n, M) workers, versions and t_read, (n,) t_apply and
        (n, M, minibatch) samples, row j being update first + j (sim/closed_form/con.Block); with `dropped`
        (sim/closed_form/con.Dropped), its rows too, each before the rows of the update formed after it."""
        if not self.enabled:
            return
        n, M = versions.shape
        update = np.repeat(np.arange(first, first + n, dtype=np.int64), M)
        columns = [update, workers.ravel(), versions.ravel(), t_read.ravel(), np.repeat(t_apply, M),
                   samples.reshape(n * M, -1)]
        if dropped is not None and len(dropped):
            columns = _interleave(columns, dropped, M)
            rows = len(self._update) + np.flatnonzero(columns[0] < 0)
            self._dropped_rows.frombytes(rows.astype(np.int64).tobytes())
            self._dropped_staleness.frombytes(dropped.staleness.astype(np.int32).tobytes())
        update, workers, versions, t_read, t_apply, samples = columns
        self._update.frombytes(update.tobytes())
        self._worker.frombytes(workers.astype(np.int32).tobytes())
        self._read.frombytes(versions.astype(np.int64).tobytes())
        self._t_read.frombytes(t_read.astype(np.float64).tobytes())
        self._t_apply.frombytes(t_apply.astype(np.float64).tobytes())
        self._samples.frombytes(samples.astype(np.int64).tobytes())
        _extend_offsets(self._offsets, np.full(len(update), samples.shape[1]))

    def table(self) -> pa.Table:
        update, read = _column(self._update, np.int64), _column(self._read, np.int64)
        staleness = np.subtract(update, read, out=np.empty(len(update), np.int32), casting="unsafe")  # no int64 copy
        staleness[_column(self._dropped_rows, np.int64)] = _column(self._dropped_staleness, np.int32)
        return pa.Table.from_arrays([
            pa.array(update),
            pa.array(_column(self._worker, np.int32)),
            pa.array(read),
            pa.array(staleness),
            pa.array(_column(self._t_read, np.float64)),
            pa.array(_column(self._t_apply, np.float64)),
            pa.array(update >= 0),
            _lists(self._offsets, self._samples, np.int64),
        ], schema=TRACE_SCHEMA)


def _interleave(columns: list[np.ndarray], dropped, M: int) -> list[np.ndarray]:
    """The rows of updates first, first + 1, ... (`columns`: update, worker, read version, t_read, t_apply, samples,
    M rows an update) with the dropped rows among them, in the server's order: a drop before update u comes after
    the rows of update u - 1 and before those of u."""
    first = columns[0][0]  # a block has at least one update (Run.record_updates)
    rows = len(columns[0]) + len(dropped)
    applied = np.arange(len(columns[0])) + np.searchsorted(dropped.update, columns[0], side="right")
    drops = np.arange(len(dropped)) + M * (dropped.update - first)
    out = []
    for column, values in zip(columns, (np.full(len(dropped), -1, np.int64), dropped.workers, dropped.versions,
                                        dropped.t_read, dropped.t_drop, dropped.samples)):
        merged = np.empty((rows, *column.shape[1:]), column.dtype)
        merged[applied], merged[drops] = column, values
        out.append(merged)
    return out


def _extend_offsets(offsets: array, sizes: np.ndarray) -> None:
    """Append the offsets of lists of `sizes` elements after the last."""
    ends = offsets[-1] + np.cumsum(sizes, dtype=np.int64)
    if len(ends) and ends[-1] > np.iinfo(np.int32).max:
        raise OverflowError("the trace holds more list elements than its int32 offsets can address")
    offsets.frombytes(ends.astype(np.int32).tobytes())


def _column(values: array, dtype) -> np.ndarray:
    """A typed array's values as a numpy array (no copy)."""
    return np.frombuffer(values, dtype=dtype) if len(values) else np.empty(0, dtype=dtype)


def _lists(offsets: array, values: array, dtype) -> pa.ListArray:
    return pa.ListArray.from_arrays(pa.array(_column(offsets, np.int32)), pa.array(_column(values, dtype)))


class InconTraceRecorder(TraceRecorder):
    """The asysg-incon trace: TRACE_SCHEMA's columns, then INCON_SCHEMA's."""

    def __init__(self, enabled: bool) -> None:
        super().__init__(enabled)
        self._read_start, self._start_version, self._missed = array("d"), array("q"), array("i")
        self._landed, self._landed_offsets = array("i"), array("i", [0])
        self._coordinates, self._coordinate_offsets = array("q"), array("i", [0])

    def add(self, update: int, worker: int, read_version: int, staleness: int, t_read: float, t_apply: float,
            applied: bool, samples: np.ndarray, *, read_start: float, start_version: int, landed_at: list[int],
            coordinates: np.ndarray, missed: int) -> None:
        if not self.enabled:
            return
        super().add(update, worker, read_version, staleness, t_read, t_apply, applied, samples)
        self._read_start.append(read_start)
        self._start_version.append(start_version)
        self._landed.extend(landed_at)
        self._landed_offsets.append(len(self._landed))
        self._coordinates.frombytes(np.asarray(coordinates, dtype=np.int64).tobytes())
        self._coordinate_offsets.append(len(self._coordinates))
        self._missed.append(missed)

    def add_read(self, read, update: int, k: int, now: float, coordinates: np.ndarray) -> None:
        """One row per gradient of an AsySG-incon read (sim/protocols/shared_memory.InconRead), entering update
        `update` (-1: dropped when update k was next) at `now` with the coordinates it writes."""
        missed = read.missed_during + k - read.last
        for samples in read.samples:
            self.add(update, read.worker, read.version, k - read.version, read.end, now, update >= 0, samples,
                     read_start=read.start, start_version=read.first, landed_at=read.landed_at,
                     coordinates=coordinates, missed=missed)

    def add_writes(self, first: int, versions: np.ndarray, t_read: np.ndarray, coordinates: list[np.ndarray]) -> None:
        """The INCON_SCHEMA columns of the rows `add_updates` just added, writes whose reads took no time
        (sim/closed_form/incon.py): read_start = t_read, start_version = read_version, no landed_at, missed =
        update - read_version, and coordinates[j] on each of update first + j's M rows."""
        if not self.enabled:
            return
        n, M = versions.shape
        self._read_start.frombytes(t_read.astype(np.float64).tobytes())
        self._start_version.frombytes(versions.astype(np.int64).tobytes())
        _extend_offsets(self._landed_offsets, np.zeros(n * M, np.int64))
        rows = [written for written in coordinates for _ in range(M)]
        if rows:
            self._coordinates.frombytes(np.concatenate(rows).astype(np.int64).tobytes())
        _extend_offsets(self._coordinate_offsets, np.array([len(written) for written in rows], np.int64))
        missed = np.arange(first, first + n)[:, None] - versions
        self._missed.frombytes(missed.astype(np.int32).tobytes())

    def table(self) -> pa.Table:
        return pa.Table.from_arrays([
            *super().table().columns,
            pa.array(_column(self._read_start, np.float64)),
            pa.array(_column(self._start_version, np.int64)),
            _lists(self._landed_offsets, self._landed, np.int32),
            _lists(self._coordinate_offsets, self._coordinates, np.int64),
            pa.array(_column(self._missed, np.int32)),
        ], schema=pa.schema([*TRACE_SCHEMA, *INCON_SCHEMA]))


class StalenessCounter:
    """Counts applied gradients by staleness, and dropped ones; kept even when the trace is off."""

    def __init__(self) -> None:
        self.counts: list[int] = []
        self.dropped = 0

    def add(self, staleness: int) -> None:
        try:
            self.counts[staleness] += 1
        except IndexError:
            self.counts.extend([0] * (staleness + 1 - len(self.counts)))
            self.counts[staleness] += 1

    def add_all(self, staleness: np.ndarray) -> None:
        """add() each of an array of stalenesses."""
        counts = np.bincount(staleness.ravel())
        if len(counts) > len(self.counts):
            self.counts.extend([0] * (len(counts) - len(self.counts)))
        for s in np.flatnonzero(counts).tolist():
            self.counts[s] += int(counts[s])

    @property
    def applied(self) -> int:
        return sum(self.counts)

    @property
    def max(self) -> int:
        return len(self.counts) - 1 if self.counts else 0

    @property
    def mean(self) -> float:
        total = self.applied
        return sum(s * c for s, c in enumerate(self.counts)) / total if total else 0.0

    def percentiles(self) -> dict[str, int | None]:
        """staleness_p50, _p90, _p99 of the applied gradients (analysis.stats.count_percentile; None if none)."""
        return {f"staleness_p{q}": count_percentile(self.counts, q) for q in PERCENTILES}


def staleness_table(counts: list[int]) -> pa.Table:
    """StalenessCounter.counts as a table: columns staleness (0, 1, ...) and count (int64 both)."""
    return pa.table({"staleness": pa.array(np.arange(len(counts)), pa.int64()), "count": pa.array(counts, pa.int64())})


class MetricsRecorder:
    """f(x_k), ||grad f(x_k)||^2 (exact), the step gamma_k of the update from x_k, the stationarity measure (the
    squared gradient mapping at gamma_k; ||grad f(x_k)||^2 itself without a regularizer) and the objective f + h,
    at k = 0, every, 2*every, ... and at the last update."""

    def __init__(self, algorithm, every: int) -> None:
        self.algorithm = algorithm
        self.objective = algorithm.objective
        self.every = every
        self.gamma = algorithm.gamma
        self.rows: list[tuple[int, float, int, float, float, float, float, float]] = []

    def record(self, update: int, time: float, gradients: int, x: np.ndarray) -> float:
        """Record x_update; returns its loss."""
        loss, gradient = self.objective.value_and_grad(x)
        loss, norm_sq, gamma = float(loss), float(gradient @ gradient), float(self.gamma(update))
        stationarity = self.algorithm.stationarity(x, gradient, norm_sq, gamma)
        self.rows.append((update, time, gradients, loss, norm_sq, gamma, stationarity,
                          loss + self.algorithm.penalty(x)))
        return loss

    def ergodic_grad_norm_sq(self, iterations: int, weighted: bool = False, column: int = 4) -> float:
        """(1/K) sum_{k<K} ||grad f(x_k)||^2, or with `weighted` Theorem 1's sum_k gamma_k ||grad f(x_k)||^2 / sum_k gamma_k,
        estimated over the recorded k < K (all of them when every = 1); `column` 6 averages the stationarity measure."""
        rows = [row for row in self.rows if row[0] < iterations]
        return ergodic_average([row[column] for row in rows], [row[5] for row in rows] if weighted else None)

    def table(self) -> pa.Table:
        columns = list(zip(*self.rows)) if self.rows else [[]] * 8
        return pa.table({
            "update": pa.array(columns[0], pa.int64()),
            "time": pa.array(columns[1], pa.float64()),
            "gradients": pa.array(columns[2], pa.int64()),
            "loss": pa.array(columns[3], pa.float64()),
            "grad_norm_sq": pa.array(columns[4], pa.float64()),
            "step": pa.array(columns[5], pa.float64()),  # gamma_k of the update from x_k
            "stationarity": pa.array(columns[6], pa.float64()),  # ||G_gamma_k(x_k)||^2 (= grad_norm_sq if h = 0)
            "objective": pa.array(columns[7], pa.float64()),     # f(x_k) + h(x_k)
        })


class WorkTally:
    """Each worker's idle time: the gaps between the spans of work it was given (a pull, a shared-memory read, a
    computation, a push; a snapshot round of SVRG for every worker), up to the end of the run.

    The protocols start a span when they draw its duration (`start`, the instant the worker begins it), a failure or
    a cancel cuts the span in progress short (`cut`); a worker is idle whenever it is in no span: waiting for a
    pull to be admitted (policy "wait"), for the barrier (sync), to write (asysg-incon), or down after a failure.
    So idle worker-time = W x T - (worker-time in spans, up to T), T the time of the last update; the work that was
    discarded, cancelled or lost was busy time, counted apart (dropped_time, cancelled_time, lost_worker_time)."""

    def __init__(self, workers: int) -> None:
        self._end = [0.0] * workers   # when each worker's latest span ends (or ended)
        self._idle = [0.0] * workers  # each worker's gaps so far
        self.gapless = False          # closed-form schedules without waits (sim/engine._schedule): nothing tallied

    def start(self, worker: int, now: float, duration: float) -> None:
        """Worker `worker` begins a span of `duration` at `now`."""
        end = self._end[worker]
        if now > end:
            self._idle[worker] += now - end
        self._end[worker] = max(end, now + duration)  # max: a snapshot round may start while a pull is in flight

    def everyone(self, now: float, duration: float) -> None:
        """A snapshot round (SVRG): every worker is busy computing its share of the full pass for `duration`."""
        for worker in range(len(self._end)):
            self.start(worker, now, duration)

    def cut(self, worker: int, now: float) -> None:
        """The worker's span in progress stops at `now` (a failure, a cancel)."""
        self._end[worker] = min(self._end[worker], now)

    def idle(self, until: float) -> float:
        """The workers' idle time in [0, until]: their gaps, and each one's time from its last span's end on."""
        if self.gapless:
            return 0.0
        return sum(idle + (until - end if end < until else 0.0) for idle, end in zip(self._idle, self._end))


EVENT_SCHEMA = pa.schema([
    ("time", pa.float64()),
    ("worker", pa.int32()),
    ("kind", pa.string()),          # failure, recovery, loss, slow, normal, cancel (Ringmaster, sim/protocols/cancel.py)
    ("read_version", pa.int64()),   # failure, loss, cancel: the version the lost gradient read (-1: none in progress)
    ("lost_time", pa.float64()),    # failure, loss, cancel: worker time spent on the lost work
])


class EventLog:
    """A run's events that are no gradient of the trace (events.parquet): failures and recoveries, lost messages,
    speed switches, cancelled computations."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, int, str, int, float]] = []
        self.computed_lost = 0  # lost gradients whose computation had finished (spent evaluations: sim.engine)

    def add(self, time: float, worker: int, kind: str, read_version: int = -1, lost_time: float = 0.0) -> None:
        self.rows.append((time, worker, kind, read_version, lost_time))

    def counts(self) -> dict[str, float]:
        """Summary fields: the cluster's events by kind and the worker time its failures and losses cost (a
        cancel's is the run's cancelled_time)."""
        kinds = [row[2] for row in self.rows]
        return {"failures": kinds.count("failure"), "lost_messages": kinds.count("loss"),
                "speed_switches": kinds.count("slow") + kinds.count("normal"),
                "lost_worker_time": sum(row[4] if row[2] in ("failure", "loss") else 0.0 for row in self.rows)}

    def table(self) -> pa.Table:
        """The events in time order (a stable sort: events of one instant keep the order they happened in)."""
        rows = sorted(self.rows, key=lambda row: row[0])
        columns = list(zip(*rows)) if rows else [[]] * 5
        return pa.Table.from_arrays([pa.array(column, field.type) for column, field in zip(columns, EVENT_SCHEMA)],
                                    schema=EVENT_SCHEMA)
