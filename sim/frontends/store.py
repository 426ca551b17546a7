"""The result store of a sweep directory: one file per run, written atomically, consolidated at the end.

    DIR/.runs/<run_id>.parquet          a finished run (status ok, diverged or overflow): its metrics, with its summary,
                                        staleness counts and resolved scenario in the file's metadata
    DIR/.runs/<run_id>.failed.parquet   a run that raised; it is run again when the sweep is rerun
    DIR/traces/<run_id>.parquet         its trace, for runs with record.trace = true (`asgd sweep --trace`)
    DIR/curves.parquet, staleness.parquet, runs.parquet, sweep.json
                                        the current grid's runs consolidated once every run is done: the three
                                        tables are written whole under temporary names, then sweep.json is
                                        removed, the tables renamed into place and sweep.json written last, so
                                        sweep.json marks a complete set and an earlier set stays until the new
                                        one is complete
    DIR/.plan.json                      the runs and grid cells of the last sweep started here, written before
                                        any run (asgd report reads it for a sweep stopped halfway)
    DIR/report.md, DIR/plots/*.png      the sweep's report (sim.frontends.report), after consolidation

Every file is written under a temporary name (".tmp-*") in its folder and renamed into place (os.replace), so
a reader sees a whole file or none. A sweep removes the temporaries a killed one left; a lock file keeps two
sweeps out of one directory. A finished run's file that cannot be read back (damaged on disk) is set aside as
<run_id>.parquet.damaged, with a message naming it, and its run is simulated again. A run id hashes
the result format, the code (`code_digest`: the source of the packages, so any change of it counts, released or
not) and the run's fully resolved scenario, so a result of another scenario, grid, seed or code never stands in
for a run.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from scenarios import ScenarioError
from scenarios.errors import WriteError
from sim.recording import staleness_table
from sim.frontends.provenance import CODE_VERSION, code_digest
from sim.frontends.rundir import LARGEST_PID, check_out_dir, flatten, json_ready

RESULT_FORMAT = 1
CONSOLIDATED = ("curves.parquet", "staleness.parquet", "runs.parquet", "sweep.json")
PLAN = ".plan.json"  # the runs of the last sweep started in the directory, with their grid cells
STATUSES = ("ok", "diverged", "overflow", "failed")  # a run's status: overflow = its clock went past the largest float
STORE_MARKER, STORE_KIND = ".lock", "an asgd sweep directory"  # what check_out_dir accepts as an earlier sweep
ROW_GROUP = 1 << 17  # rows of curves.parquet buffered before a row group is written
RUN_ID_LENGTH = 16   # hexadecimal digits


def run_id(scenario_toml: str) -> str:
    """The id of the run of this fully resolved scenario (TOML text, seed included) by this code."""
    text = f"asgd code {code_digest()} result format {RESULT_FORMAT}\n{scenario_toml}"
    return hashlib.sha256(text.encode()).hexdigest()[:RUN_ID_LENGTH]


class Outcome(NamedTuple):
    """What a worker sends back for one run: its status and encoded result, and its encoded trace (or None)."""

    run_id: str
    status: str
    result: bytes
    trace: bytes | None


@dataclass
class RunRecord:
    status: str              # ok | diverged | failed
    error: str | None        # failed: "ExceptionType: message"
    summary: dict[str, Any]  # summary.json of the run (empty if failed)
    staleness: list[int]     # applied gradients by staleness
    metrics: pa.Table        # the recorded metrics (no columns if failed)
    scenario: str            # the run's fully resolved scenario, TOML


def parquet_bytes(table: pa.Table) -> bytes:
    """`table` as Parquet with page checksums (CRC-32), so that a file damaged on disk is detected when read back."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, write_page_checksum=True)
    return sink.getvalue().to_pybytes()


def encode_result(result, scenario_toml: str) -> bytes:
    """A finished run (a sim.Result) as the bytes of its per-run file."""
    info = {"status": result.summary["status"], "error": None, "summary": result.summary,
            "staleness": result.staleness_counts, "scenario": scenario_toml}
    return _encode(result.metrics_table, info)


def encode_failure(error: BaseException, scenario_toml: str) -> bytes:
    """A run that raised `error` as the bytes of its per-run file."""
    info = {"status": "failed", "error": f"{type(error).__name__}: {error}", "summary": {}, "staleness": [],
            "scenario": scenario_toml}
    return _encode(pa.table({}), info)


def _encode(metrics: pa.Table, info: dict[str, Any]) -> bytes:
    return parquet_bytes(metrics.replace_schema_metadata({"asgd": json.dumps(json_ready(info))}))


def read_record(path: Path) -> RunRecord:
    return decode_record(path.read_bytes())


def decode_record(data: bytes) -> RunRecord:
    """An encoded result (a per-run file, an Outcome's `result`) as a RunRecord."""
    table = pq.read_table(pa.BufferReader(data), page_checksum_verification=True)
    info = json.loads(table.schema.metadata[b"asgd"])
    return RunRecord(info["status"], info["error"], info["summary"], info["staleness"],
                     table.replace_schema_metadata(None), info["scenario"])


def _temporary(path: Path, pid: int | None = None) -> Path:
    """A fresh temporary name beside `path` (".tmp-*", removed by the next sweep if left behind), of this process
    (or of `pid`)."""
    return path.with_name(f".tmp-{path.name}-{os.getpid() if pid is None else pid}-{secrets.token_hex(4)}")


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside `path`, renamed to `path` if the block succeeds and removed if it does not."""
    temporary = _temporary(path)
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _damaged(path: Path) -> Path:
    """Where a damaged file is set aside."""
    return path.with_name(f"{path.name}.damaged")


def write_atomic(path: Path, data: bytes) -> None:
    with replacing(path) as temporary:
        temporary.write_bytes(data)


def _read_trace(path: Path) -> None:
    pq.read_table(path, page_checksum_verification=True)


def _warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Store:
    """A sweep directory, locked while open: `with Store(out) as store: ...`. `warn` receives the one-line message
    about each damaged file set aside."""

    def __init__(self, out: Path, warn: Callable[[str], None] = _warn) -> None:
        self.out = out
        self.runs = out / ".runs"
        self.traces = out / "traces"
        self.warn = warn

    def finished(self, run_id: str) -> Path:
        return self.runs / f"{run_id}.parquet"

    def failed(self, run_id: str) -> Path:
        return self.runs / f"{run_id}.failed.parquet"

    def trace(self, run_id: str) -> Path:
        return self.traces / f"{run_id}.parquet"

    def written(self) -> list[Path]:
        """The longest paths this store writes (for check_out_dir): its files for a run id, with their temporary
        names of the largest PID and the names of damaged files set aside."""
        run = "0" * RUN_ID_LENGTH
        files = [self.out / STORE_MARKER, self.out / PLAN, *(self.out / name for name in CONSOLIDATED),
                 self.finished(run), self.failed(run), self.trace(run)]
        return [*files, *(_temporary(file, LARGEST_PID) for file in files), *map(_damaged, files)]

    def __enter__(self) -> Store:
        check_out_dir(self.out, STORE_MARKER, STORE_KIND, self.written())
        self.out.mkdir(parents=True, exist_ok=True)
        self._lock = (self.out / STORE_MARKER).open("a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise ScenarioError("--out", str(self.out), "another asgd sweep is writing to this folder") from None
        self.runs.mkdir(exist_ok=True)
        for folder in (self.out, self.runs, self.traces):
            for temporary in folder.glob(".tmp-*"):
                temporary.unlink()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.close()

    def write_plan(self, runs: list[tuple[str, int]], cells: dict[str, list[Any]], manifest: dict[str, Any]) -> None:
        """PLAN: the sweep's runs, grid cells and manifest, written before any run, so that a sweep stopped halfway
        can be reported on (asgd report)."""
        plan = {"manifest": manifest, "runs": [list(run) for run in runs], "cells": cells}
        write_atomic(self.out / PLAN, (json.dumps(json_ready(plan)) + "\n").encode())

    def plan(self) -> dict[str, Any]:
        """The PLAN of the last sweep started here."""
        return json.loads((self.out / PLAN).read_text())

    def done(self, run_id: str, trace: bool = False) -> bool:
        """The run finished (ok, diverged or overflow) in this or an earlier sweep: its file (and with `trace` its trace) is
        there and reads back. A file that does not is set aside (warning) and the run counts as not done."""
        path = self.finished(run_id)
        if not path.exists():
            return False
        checks = [(path, read_record)] + ([(self.trace(run_id), _read_trace)] if trace else [])
        for file, read in checks:
            try:
                read(file)
            except Exception as error:  # pyarrow, json and OS errors alike: the file is not what this code wrote
                self._set_aside(file, error)
                if file != path:
                    self._set_aside(path, None)
                return False
        return True

    def _set_aside(self, path: Path, error: BaseException | None) -> None:
        """Rename a damaged file to NAME.damaged (replacing an earlier one) and say so (`error`: why it is damaged;
        None for a run file set aside with its damaged trace, silently)."""
        aside = _damaged(path)
        if path.exists():
            os.replace(path, aside)
        if error is not None:
            reason = (str(error) or type(error).__name__).splitlines()[0]
            self.warn(f"asgd sweep: {path} is damaged ({type(error).__name__}: {reason}): set aside as {aside.name}; "
                      f"its run is simulated again")

    def put(self, outcome: Outcome) -> None:
        """Keep one run's outcome; its trace is written first, so a finished run always has it. A write that fails
        (a full disk) raises WriteError: the runs kept so far stay, for a rerun to resume from."""
        try:
            if outcome.trace is not None:
                self.traces.mkdir(exist_ok=True)
                write_atomic(self.trace(outcome.run_id), outcome.trace)
            failed = self.failed(outcome.run_id)
            write_atomic(failed if outcome.status == "failed" else self.finished(outcome.run_id), outcome.result)
            if outcome.status != "failed":
                failed.unlink(missing_ok=True)
        except OSError as error:
            raise WriteError(f"the result of run {outcome.run_id} could not be written to {self.runs} "
                             f"({error.strerror or error}): the runs finished before it are kept there; rerun the "
                             f"same command to resume") from None

    def record(self, run_id: str) -> RunRecord:
        path = self.finished(run_id)
        return read_record(path if path.exists() else self.failed(run_id))

    def consolidate(self, runs: list[tuple[str, int]], cells: dict[str, list[Any]],
                    manifest: dict[str, Any]) -> pa.Table:
        """Write curves, staleness and runs (one row per (run id, seed) of `runs`, with the grid columns `cells`
        aligned with it), then sweep.json (`manifest` and the counts by status); returns the runs table. The
        earlier consolidated files are replaced only once the new tables are written whole (module docstring); a
        write that fails raises WriteError and leaves them."""
        written = {name: _temporary(self.out / name) for name in CONSOLIDATED[:3]}
        try:
            with _RowGroups(written["curves.parquet"], _prefixed(pa.table({}), _front(runs, cells), 0)) as curves:
                table, staleness = self.tables(runs, cells, curves.write)
            pq.write_table(staleness, written["staleness.parquet"])
            pq.write_table(table, written["runs.parquet"])
            statuses = Counter(table["status"].to_pylist())
            manifest = {**manifest, "result_format": RESULT_FORMAT, "asgd": CODE_VERSION, "code": code_digest(),
                        "runs": len(runs), **{status: statuses[status] for status in STATUSES}}
            (self.out / "sweep.json").unlink(missing_ok=True)  # from here until it is written the set is not whole
            for name, temporary in written.items():
                os.replace(temporary, self.out / name)
            write_atomic(self.out / "sweep.json", (json.dumps(json_ready(manifest), indent=2) + "\n").encode())
        except OSError as error:
            raise WriteError(f"the consolidated results could not be written to {self.out} "
                             f"({error.strerror or error}): every run is kept in {self.runs}; rerun the same command "
                             f"to consolidate them") from None
        finally:
            for temporary in written.values():
                temporary.unlink(missing_ok=True)
        return table

    def tables(self, runs: list[tuple[str, int]], cells: dict[str, list[Any]],
               curves: Callable[[pa.Table], None], finished_only: bool = False) -> tuple[pa.Table, pa.Table]:
        """The runs and staleness tables of `runs` (see consolidate), handing each run's curve to `curves`; with
        `finished_only`, the runs without a readable result yet are left out (a partial sweep: asgd report)."""
        if finished_only:
            kept = [i for i, (run, _) in enumerate(runs) if self._readable(run)]
            runs, cells = [runs[i] for i in kept], {key: [values[i] for i in kept] for key, values in cells.items()}
        front = _front(runs, cells)
        rows, staleness = [], [_prefixed(staleness_table([]), front, 0)]
        for index, (run, _) in enumerate(runs):
            record = self.record(run)
            rows.append({"status": record.status, "error": record.error, **dict(flatten(record.summary)),
                         "scenario_toml": record.scenario, "asgd_version": CODE_VERSION, "source_hash": code_digest()})
            if record.status != "failed":
                curves(_prefixed(record.metrics, front, index))
                staleness.append(_prefixed(staleness_table(record.staleness), front, index))
        return _runs_table(front, rows), pa.concat_tables(staleness)

    def _readable(self, run_id: str) -> bool:
        """The run has a result file (finished or failed) that reads back."""
        try:
            self.record(run_id)
        except Exception:  # missing, or damaged on disk: not (yet) a result
            return False
        return True


class _RowGroups:
    """Writes tables of one schema to a Parquet file in row groups of about ROW_GROUP rows (`empty` if none)."""

    def __init__(self, path: Path, empty: pa.Table) -> None:
        self.path, self.empty, self.writer, self.pending, self.rows = path, empty, None, [], 0

    def __enter__(self) -> _RowGroups:
        return self

    def write(self, table: pa.Table) -> None:
        self.pending.append(table)
        self.rows += table.num_rows
        if self.rows >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        table = pa.concat_tables(self.pending)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table, row_group_size=table.num_rows)
        self.pending, self.rows = [], 0

    def __exit__(self, kind: object, *exc: object) -> None:
        if kind is None and self.pending:
            self._flush()
        if self.writer is not None:
            self.writer.close()
        elif kind is None:
            pq.write_table(self.empty, self.path)


def _front(runs: list[tuple[str, int]], cells: dict[str, list[Any]]) -> dict[str, pa.Array]:
    """The leading columns of every table: the grid columns, run_id and seed."""
    front = {key: pa.array(values) for key, values in cells.items()}
    front["run_id"] = pa.array([run for run, _ in runs], pa.string())
    front["seed"] = pa.array([seed for _, seed in runs], pa.int64())
    return front


def _prefixed(table: pa.Table, front: dict[str, pa.Array], index: int) -> pa.Table:
    """`table` behind the front columns, each repeating its value for run `index`."""
    repeated = {key: column.take(pa.array(np.full(table.num_rows, index, dtype=np.int64)))
                for key, column in front.items()}
    return pa.table({**repeated, **{name: table[name] for name in table.column_names}})


def _runs_table(front: dict[str, pa.Array], rows: list[dict[str, Any]]) -> pa.Table:
    columns = dict(front)
    for name in dict.fromkeys(key for row in rows for key in row):
        columns.setdefault(name, pa.array([row.get(name) for row in rows], pa.string() if name == "error" else None))
    return pa.table(columns)
