"""Certifying a whole trace against its scenario and summary (`asgd replay`): every column that can be derived from
the others, the scenario or the protocol's rules is checked, and the first contradiction is bad input naming the
column and the row (0-based, as in trace.parquet).

What is checked, for every algorithm (K = algorithm.iterations, M = algorithm.batch, W = cluster.workers):
- `applied` is update >= 0; `update` is -1 (dropped) or an update 0..K-1; `worker` is one of 0..W-1;
- an applied row's `staleness` is update - read_version, at most staleness.bound; a dropped row exists only under
  staleness.policy = "drop" and is staler than the bound, read_version + staleness (the update then next) <= K;
- every update has M gradients, and the trace holds K updates (fewer only if summary.json says the run diverged);
- times are >= 0 (inf once the clock overflowed), t_read <= t_apply, the rows of one update share t_apply and
  updates never go back in time;
- sync: every update reads the current iterate (read_version = update) and has one gradient of each worker;
- asysg-incon: read_start <= t_read, a dropped read writes no coordinates, and read_version (b = min J(k)) and
  `missed` (|J(k)|) follow from landed_at and the coordinates each landed update wrote
  (sim/protocols/shared_memory.py);
- summary.json (if there): iterations, gradients, dropped, max_staleness and mean_staleness are the trace's.

Times themselves, the workers' order and the samples drawn are not derivable from the trace: `asgd replay --timing`
re-simulates the schedule and compares them bit for bit (sim.replay.replay_timing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from scenarios import Scenario
from scenarios.errors import ScenarioError
from sim.recording import StalenessCounter


def inconsistent(path: Path, problem: str) -> ScenarioError:
    """Bad input: a trace whose columns read fine but contradict each other, the scenario or the summary."""
    return ScenarioError("", str(path), f"is inconsistent: {problem}")


def _at(path: Path, column: str, rows: np.ndarray, problem) -> None:
    """Raise for the first of `rows` (indices into the trace) if there is one; `problem(row)` describes it."""
    if len(rows):
        row = int(rows[0])
        raise inconsistent(path, f"column {column!r}, row {row}: {problem(row)}")


def check_applied_and_workers(path: Path, table: pa.Table, scenario: Scenario) -> None:
    """The checks each row passes on its own, made before the applied rows are taken apart: `applied` is
    update >= 0 and `worker` one of the scenario's."""
    update, worker, applied = table["update"].to_numpy(), table["worker"].to_numpy(), table["applied"].to_numpy()
    W = scenario.cluster.workers
    _at(path, "applied", np.flatnonzero(applied != (update >= 0)),
        lambda r: f"{bool(applied[r])}, but update = {update[r]} (a row is applied iff its update is >= 0)")
    _at(path, "worker", np.flatnonzero((worker < 0) | (worker >= W)),
        lambda r: f"{worker[r]} is not a worker of the scenario's 0..{W - 1} (cluster.workers = {W})")


def check_trace(path: Path, table: pa.Table, scenario: Scenario, summary: dict[str, Any] | None) -> None:
    """Check every derivable column of the trace `table` (read from `path`) against `scenario` and `summary`
    (summary.json, or None), after check_applied_and_workers and replay's checks of the applied rows (update
    numbers, read versions, samples, incon reads); see the module docstring."""
    algorithm, bound, policy = scenario.algorithm, scenario.staleness.bound, scenario.staleness.policy
    K, M, W = algorithm.iterations, algorithm.batch, scenario.cluster.workers
    update, worker = table["update"].to_numpy(), table["worker"].to_numpy()
    version, staleness = table["read_version"].to_numpy(), table["staleness"].to_numpy().astype(np.int64)
    t_read, t_apply, applied = table["t_read"].to_numpy(), table["t_apply"].to_numpy(), table["applied"].to_numpy()
    dropped = ~applied

    _at(path, "update", np.flatnonzero((update < -1) | (update >= K)),
        lambda r: f"{update[r]} is neither an update 0..{K - 1} (algorithm.iterations = {K}) nor -1 (dropped)")
    _at(path, "read_version", np.flatnonzero(dropped & ((version < 0) | (version > K))),
        lambda r: f"{version[r]} is not a number of updates applied, 0..{K}")
    _at(path, "staleness", np.flatnonzero(applied & (staleness != update - version)),
        lambda r: f"{staleness[r]}, but update - read_version = {update[r]} - {version[r]} = {update[r] - version[r]}")
    if bound is not None:
        _at(path, "staleness", np.flatnonzero(applied & (staleness > bound)),
            lambda r: f"{staleness[r]} exceeds staleness.bound = {bound} in an applied row")
    if bound is None or policy != "drop":
        _at(path, "update", np.flatnonzero(dropped),
            lambda r: f"-1 (a dropped gradient), but the scenario drops none (staleness.policy = {policy!r}"
                      f"{'' if bound is not None else ', no staleness.bound'})")
    else:
        _at(path, "staleness", np.flatnonzero(dropped & (staleness <= bound)),
            lambda r: f"{staleness[r]} in a dropped row, but only gradients staler than staleness.bound = {bound} "
                      f"are dropped")
        _at(path, "staleness", np.flatnonzero(dropped & (version + staleness > K)),
            lambda r: f"{staleness[r]} in a dropped row: read_version + staleness = {version[r] + staleness[r]} is "
                      f"past the last update, {K}")
    _check_counts(path, update, applied, K, M, summary)
    _check_times(path, update, applied, t_read, t_apply)
    if algorithm.protocol == "sync":
        _check_sync(path, update, worker, version, W)
    if algorithm.protocol == "asysg-incon":
        _check_incon_reads(path, table, update, version, staleness, applied, t_read)
    if summary is not None:
        _check_summary(path, summary, update, staleness, applied)


def _check_counts(path: Path, update: np.ndarray, applied: np.ndarray, K: int, M: int,
                  summary: dict[str, Any] | None) -> None:
    """M gradients per update; K updates, or fewer in a run summary.json reports as diverged."""
    rows = np.flatnonzero(applied)
    updates = update[rows]
    counts = np.bincount(updates) if len(updates) else np.zeros(0, dtype=np.int64)
    firsts = rows[np.searchsorted(updates, np.arange(len(counts)))] if len(counts) else rows
    _at(path, "update", firsts[counts != M],
        lambda r: f"update {update[r]} has {counts[update[r]]} gradients, not algorithm.batch = {M}")
    diverged = summary is not None and summary.get("status") == "diverged"
    if len(counts) != K and not (diverged and len(counts) < K):
        last = rows[-1:] if len(rows) else np.zeros(1, dtype=np.int64)
        _at(path, "update", last, lambda r: f"the trace holds {len(counts)} updates, not algorithm.iterations = {K}"
                                            f"{'' if diverged else ' (summary.json does not report a diverged run)'}")


def _check_times(path: Path, update: np.ndarray, applied: np.ndarray, t_read: np.ndarray,
                 t_apply: np.ndarray) -> None:
    for column, times in (("t_read", t_read), ("t_apply", t_apply)):
        _at(path, column, np.flatnonzero(np.isnan(times) | (times < 0)),
            lambda r: f"{times[r]} is not a time (>= 0; inf only after the clock overflowed)")
    _at(path, "t_apply", np.flatnonzero(t_apply < t_read),
        lambda r: f"{t_apply[r]} is before the row's t_read, {t_read[r]}")
    rows = np.flatnonzero(applied)
    times = t_apply[rows]  # compared, not subtracted: inf - inf would be nan
    same = np.diff(update[rows]) == 0
    _at(path, "t_apply", rows[1:][same & (times[1:] != times[:-1])],
        lambda r: f"{t_apply[r]}, but the rows of update {update[r]} share one t_apply")
    _at(path, "t_apply", rows[1:][~same & (times[1:] < times[:-1])],
        lambda r: f"update {update[r]} at {t_apply[r]} is applied before the update preceding it")


def _check_sync(path: Path, update: np.ndarray, worker: np.ndarray, version: np.ndarray, W: int) -> None:
    """Each round reads x_k (a barrier) and sums one gradient of every worker."""
    _at(path, "read_version", np.flatnonzero(version != update),
        lambda r: f"{version[r]}, but sync reads the current iterate, x_{update[r]}")
    rounds = np.sort(worker.reshape(-1, W), axis=1)  # _check_counts: W rows per update, all applied
    wrong = np.flatnonzero((rounds != np.arange(W)).any(axis=1))
    _at(path, "worker", wrong * W, lambda r: f"update {update[r]} does not have one gradient of each worker 0..{W - 1}")


def _check_incon_reads(path: Path, table: pa.Table, update: np.ndarray, version: np.ndarray, staleness: np.ndarray,
                       applied: np.ndarray, t_read: np.ndarray) -> None:
    """AsySG-incon: a read missed update j landing while it read if some coordinate j wrote had been read already
    (min S_j < landed_at); b = the oldest such j (else first + len(landed_at)), |J(k)| = those missed during the
    read + k - (first + len(landed_at)) (every update after the read is missed), k the row's update (dropped: the
    update next then, read_version + staleness)."""
    read_start, first = table["read_start"].to_numpy(), table["start_version"].to_numpy()
    missed = table["missed"].to_numpy().astype(np.int64)
    _at(path, "read_start", np.flatnonzero(np.isnan(read_start) | (read_start < 0) | (read_start > t_read)),
        lambda r: f"{read_start[r]}, not a time in 0..t_read = {t_read[r]}")
    coordinates = table["coordinates"].combine_chunks()
    counts = np.diff(coordinates.offsets.to_numpy())
    _at(path, "coordinates", np.flatnonzero(~applied & (counts > 0)),
        lambda r: "a dropped read writes no coordinates, yet this row lists some")
    landed_column = table["landed_at"].combine_chunks()
    landed, offsets = landed_column.values.to_numpy().astype(np.int64), landed_column.offsets.to_numpy()
    landed = landed[offsets[0]:offsets[-1]]
    lengths = np.diff(offsets)
    row_of = np.repeat(np.arange(len(lengths)), lengths)
    landed_update = first[row_of] + (np.arange(len(landed)) - (offsets[:-1] - offsets[0])[row_of])
    rows = np.flatnonzero(applied)
    written = update[rows]
    starts = np.flatnonzero(np.diff(written, prepend=-1))  # the first row of each update (M rows share S_k)
    values, value_offsets = coordinates.values.to_numpy(), coordinates.offsets.to_numpy()
    lowest = np.array([values[value_offsets[r]:value_offsets[r + 1]].min() for r in rows[starts]], dtype=np.int64) \
        if len(starts) else np.zeros(0, dtype=np.int64)  # min S_j of update j (replay's checks: one coordinate or more)
    outside = np.flatnonzero((landed_update < 0) | (landed_update >= len(lowest)))
    _at(path, "landed_at", row_of[outside],
        lambda r: f"its read saw update {landed_update[outside[0]]} land, but the trace applies only "
                  f"{len(lowest)} updates")
    hit = lowest[landed_update] < landed
    missed_during = np.bincount(row_of[hit], minlength=len(lengths))
    oldest = np.full(len(lengths), np.iinfo(np.int64).max)
    np.minimum.at(oldest, row_of[hit], landed_update[hit])
    last = first + lengths
    b = np.where(missed_during > 0, oldest, last)
    _at(path, "read_version", np.flatnonzero(version != b),
        lambda r: f"{version[r]}, but its read (start_version {first[r]}, landed_at, and the coordinates the "
                  f"landed updates wrote) gives b = min J(k) = {b[r]}")
    k = np.where(applied, update, version + staleness)
    derived = missed_during + k - last
    _at(path, "missed", np.flatnonzero(missed != derived),
        lambda r: f"{missed[r]}, but its read missed {missed_during[r]} updates while it read and {k[r] - last[r]} "
                  f"after: |J(k)| = {derived[r]}")


def _check_summary(path: Path, summary: dict[str, Any], update: np.ndarray, staleness: np.ndarray,
                   applied: np.ndarray) -> None:
    """summary.json's counts are the trace's (mean_staleness computed as the run computes it)."""
    counter = StalenessCounter()
    counter.add_all(staleness[applied])
    derived = {"iterations": int(update.max()) + 1 if applied.any() else 0, "gradients": len(update),
               "dropped": int((~applied).sum()), "max_staleness": counter.max, "mean_staleness": counter.mean}
    columns = {"iterations": "update", "gradients": "update", "dropped": "update", "max_staleness": "staleness",
               "mean_staleness": "staleness"}
    for key, value in derived.items():
        if key in summary and summary[key] != value:
            raise inconsistent(path, f"column {columns[key]!r}: the trace gives {key} = {value!r}, but summary.json "
                                     f"says {summary[key]!r}")
