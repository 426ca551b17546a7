"""`asgd replay`: re-apply a run's recorded updates without SimPy and compare the final iterate bit for bit, after
certifying every derivable column of the trace (sim.trace_checks); `asgd replay --timing` (replay_timing)
re-simulates the run from its scenario and seed on the SimPy engine and compares the whole run directory.

Applied gradients of update k appear in the trace consecutively, in the order they were summed; each is
re-evaluated at x_{read_version} with its recorded samples by the same update rule the engine ran. For asysg-incon
the gradients of update k share one read, rebuilt from the iterates x_{start_version} .. x_{start_version + len(landed_at)}
it spanned (iterates.torn_read), and the update writes the recorded coordinates.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from models import one_blas_thread
from scenarios import Scenario, build_objective, load
from scenarios.errors import ScenarioError
from sim.iterates import IterateStore, apply_con_update, apply_incon_update
from sim.recording import INCON_SCHEMA, TRACE_SCHEMA
from sim.run import build_algorithm
from sim.trace_checks import check_applied_and_workers, check_trace


@dataclass
class Replay:
    x: np.ndarray          # the replayed final iterate
    expected: np.ndarray   # x_final.npy
    updates: int

    @property
    def reproduced(self) -> bool:
        """Bitwise equality (NaNs included)."""
        return self.x.dtype == self.expected.dtype and self.x.shape == self.expected.shape and \
            self.x.tobytes() == self.expected.tobytes()


def replay(run_dir: Path | str) -> Replay:
    run_dir = Path(run_dir)
    _require(run_dir, ("scenario.toml", "trace.parquet", "x_final.npy"))
    scenario = scenario_of(run_dir)
    objective = build_objective(scenario)
    algorithm = scenario.algorithm
    update_math, _ = build_algorithm(scenario, objective)
    incon = algorithm.protocol == "asysg-incon"
    expected = _read_array(run_dir / "x_final.npy")
    summary = _read_summary(run_dir / "summary.json")
    path = run_dir / "trace.parquet"
    table = _read_trace(path, [*TRACE_SCHEMA.names, *(INCON_SCHEMA.names if incon else [])])
    check_applied_and_workers(path, table, scenario)
    applied = table.filter(table["applied"])
    updates = applied["update"].to_numpy()
    values, offsets = _lists(applied, "samples")
    _check_rows(path, updates, values, offsets, algorithm.minibatch, getattr(objective, "n_samples", None))
    if incon:
        _check_incon(path, applied, updates, algorithm.block if algorithm.blocks is None else None, objective.dim)
        if algorithm.blocks is not None:
            _check_blocks(path, applied, updates, algorithm.blocks, objective.dim)
    else:
        _check_con(path, applied, updates, algorithm.estimator.epoch)
    check_trace(path, table, scenario, summary)
    starts = np.flatnonzero(np.diff(updates, prepend=-1)) if len(updates) else np.empty(0, dtype=np.int64)
    ends = np.append(starts[1:], len(updates))
    size = int(updates[-1]) + 2 if len(updates) else 1
    holds, apply_update = _incon(applied, starts, size) if incon else _con(applied, size)

    store = IterateStore(objective.x0)
    store.hold(0, int(holds[0]))
    try:
        with np.errstate(all="ignore"), one_blas_thread():
            for start, end in zip(starts, ends):  # update k = store.version: _check_rows made them run 0, 1, 2, ...
                apply_update(store, update_math, start, end, [values[offsets[i]:offsets[i + 1]] for i in range(start, end)])
                store.hold(store.version, int(holds[store.version]))
    except (KeyError, IndexError, ValueError) as error:  # a contradiction the checks above did not catch
        raise _inconsistent(path, f"re-applying update {store.version} fails", error) from None
    return Replay(store.current, expected, store.version)


@dataclass
class Resimulation:
    differences: list[str]  # the first difference in each file that differs (none: reproduced)
    updates: int            # updates the re-simulated run applied

    @property
    def reproduced(self) -> bool:
        return not self.differences


def replay_timing(run_dir: Path | str, progress: Callable[[int], None] | None = None) -> Resimulation:
    """Re-simulate the run of `run_dir` from its scenario.toml (seed included) on the SimPy engine and compare the
    trace (every column: times, workers, versions, staleness, samples, ...), the metrics and the final iterate bit
    for bit, and summary.json but for wall_seconds. `progress(k)` as for sim.simulate."""
    from sim.engine import simulate

    run_dir = Path(run_dir)
    _require(run_dir, FILES_COMPARED)
    scenario = scenario_of(run_dir)
    incon = scenario.algorithm.protocol == "asysg-incon"
    trace = _read_trace(run_dir / "trace.parquet", [*TRACE_SCHEMA.names, *(INCON_SCHEMA.names if incon else [])])
    metrics = _read_table(run_dir / "metrics.parquet")
    expected, summary = _read_array(run_dir / "x_final.npy"), _read_summary(run_dir / "summary.json")
    result = simulate(scenario, progress=progress, timing="simpy")
    differences = [_table_difference("trace.parquet", trace, result.trace_table),
                   _table_difference("metrics.parquet", metrics, result.metrics_table),
                   _array_difference(expected, result.x_final), _summary_difference(summary, result.summary)]
    return Resimulation([difference for difference in differences if difference], result.summary["iterations"])


def _require(run_dir: Path, names: tuple[str, ...]) -> None:
    for name in names:
        if not (run_dir / name).is_file():
            raise ScenarioError("RUN_DIR", str(run_dir), f"is not a run directory: {name} is missing")


def scenario_of(run_dir: Path | str) -> Scenario:
    """The resolved scenario of a run directory that kept its trace; anything else is bad input."""
    run_dir = Path(run_dir)
    _require(run_dir, ("scenario.toml",))
    scenario = load(run_dir / "scenario.toml")
    if not scenario.record.trace:
        raise ScenarioError("record.trace", False, "this run kept no trace, so it cannot be replayed: run it with "
                                                   "record.trace = true")
    return scenario


FILES_COMPARED = ("scenario.toml", "summary.json", "metrics.parquet", "trace.parquet", "x_final.npy")


def _table_difference(name: str, recorded: pa.Table, simulated: pa.Table) -> str:
    """The first column and row where two tables differ bit for bit ("" if none)."""
    if recorded.column_names != simulated.column_names:
        return f"{name}: its columns are {recorded.column_names}, re-simulated {simulated.column_names}"
    if recorded.num_rows != simulated.num_rows:
        return f"{name}: {recorded.num_rows} rows, re-simulated {simulated.num_rows}"
    for column in recorded.column_names:
        a, b = recorded[column].combine_chunks(), simulated[column].combine_chunks()
        if a.type != b.type:
            return f"{name}: column {column!r} is {a.type}, re-simulated {b.type}"
        if pa.types.is_list(a.type):
            rows = np.flatnonzero([x != y for x, y in zip(a.to_pylist(), b.to_pylist())]) \
                if not (_bits(a.offsets) == _bits(b.offsets) and _bits(a.values) == _bits(b.values)) else []
        else:
            rows = np.flatnonzero(_words(a) != _words(b))
        if len(rows):
            row = int(rows[0])
            return (f"{name}: column {column!r}, row {row}: {a[row].as_py()!r} recorded, {b[row].as_py()!r} "
                    f"re-simulated")
    return ""


def _words(array: pa.Array) -> np.ndarray:
    """An array's values as unsigned integers of its width, so that equality is bitwise (NaNs included)."""
    values = array.to_numpy(zero_copy_only=False)
    return values.view(f"u{values.dtype.itemsize}") if values.dtype.kind in "fi" else values


def _bits(array: pa.Array) -> bytes:
    return np.ascontiguousarray(_words(array)).tobytes()


def _array_difference(recorded: np.ndarray, simulated: np.ndarray) -> str:
    """The first coordinate where two final iterates differ bit for bit ("" if none)."""
    if recorded.shape != simulated.shape or recorded.dtype != simulated.dtype:
        return (f"x_final.npy: {recorded.dtype} of shape {recorded.shape}, re-simulated {simulated.dtype} of shape "
                f"{simulated.shape}")
    a, b = recorded.reshape(-1), simulated.reshape(-1)
    wrong = np.flatnonzero(a.view(f"u{a.itemsize}") != b.view(f"u{b.itemsize}"))
    if len(wrong):
        i = int(wrong[0])
        return f"x_final.npy: coordinate {i}: {a[i]!r} recorded, {b[i]!r} re-simulated"
    return ""


def _summary_difference(recorded: dict, simulated: dict) -> str:
    """The first key of summary.json (wall_seconds and the provenance aside) whose value differs from the
    re-simulated summary's, or that only one of them has."""
    from sim.frontends.provenance import PROVENANCE_KEYS
    from sim.frontends.rundir import json_ready

    simulated = json.loads(json.dumps(json_ready(simulated)))  # as written: non-finite numbers are null
    for key in dict.fromkeys([*recorded, *simulated]):
        if key in ("wall_seconds", *PROVENANCE_KEYS):
            continue
        if key not in recorded or key not in simulated or recorded[key] != simulated[key]:
            return (f"summary.json: {key} = {_shown(recorded, key)} recorded, {_shown(simulated, key)} re-simulated")
    return ""


def _shown(summary: dict, key: str) -> str:
    """A summary's value of `key` as a message shows it ("(absent)" when the summary has no such key)."""
    return repr(summary[key]) if key in summary else "(absent)"


def _read_table(path: Path) -> pa.Table:
    """A Parquet file of the run directory; one that cannot be read is bad input."""
    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise _corrupt(path, "not a readable Parquet file", error) from None


def _corrupt(path: Path, problem: str, error: BaseException | None = None) -> ScenarioError:
    """Bad input naming the file and what is wrong with it (and the first line of the reader's `error`)."""
    detail = f" ({(str(error) or type(error).__name__).splitlines()[0]})" if error is not None else ""
    return ScenarioError("", str(path), f"is corrupt: {problem}{detail}")


def _inconsistent(path: Path, problem: str, error: BaseException | None = None) -> ScenarioError:
    """Bad input: a trace whose columns read fine but contradict each other or the scenario."""
    detail = f" ({type(error).__name__}: {(str(error) or '-').splitlines()[0]})" if error is not None else ""
    return ScenarioError("", str(path), f"is inconsistent: {problem}{detail}")


def _check_rows(path: Path, updates: np.ndarray, samples: np.ndarray, offsets: np.ndarray, minibatch: int,
                n_samples: int | None) -> None:
    """The applied rows' update numbers run 0, 1, 2, ... (each repeated for its gradients), every gradient has
    algorithm.minibatch samples, and (finite sums) every sample index is one of the objective's 0..n_samples-1."""
    if len(updates) and updates[0] != 0:
        raise _inconsistent(path, f"its first applied row is of update {updates[0]}, not 0")
    steps = np.diff(updates)
    jumps = np.flatnonzero((steps != 0) & (steps != 1))
    if len(jumps):
        before, after = updates[jumps[0]], updates[jumps[0] + 1]
        raise _inconsistent(path, f"its updates must run 0, 1, 2, ...: update {after} follows update {before}")
    counts = np.diff(offsets)
    if len(wrong := np.flatnonzero(counts != minibatch)):
        raise _inconsistent(path, f"a gradient of update {updates[wrong[0]]} has {counts[wrong[0]]} samples, not "
                                  f"algorithm.minibatch = {minibatch}")
    samples = samples[offsets[0]:offsets[-1]] if len(offsets) else samples[:0]
    if n_samples is not None and len(outside := samples[(samples < 0) | (samples >= n_samples)]):
        raise _inconsistent(path, f"sample index {outside[0]} is not one of the objective's samples "
                                  f"0..{n_samples - 1}")


def _check_con(path: Path, applied: pa.Table, updates: np.ndarray, epoch: int | None) -> None:
    """AsySG-con and sync: a gradient of update k read x_v with 0 <= v <= k; with SVRG's epochs of `epoch` updates,
    at or after its epoch's snapshot, k - k mod epoch <= v (the epochs drain: sim/protocols/epochs.py)."""
    versions = applied["read_version"].to_numpy()
    lowest = updates - updates % epoch if epoch is not None else np.zeros_like(updates)
    if len(wrong := np.flatnonzero((versions < lowest) | (versions > updates))):
        row = wrong[0]
        raise _inconsistent(path, f"a gradient of update {updates[row]} has read_version {versions[row]}, not in "
                                  f"{lowest[row]}..{updates[row]}")


def _check_incon(path: Path, applied: pa.Table, updates: np.ndarray, block: int | None, dim: int) -> None:
    """AsySG-incon: the read of update k spans x_first .. x_{first + len(landed_at)}, 0 <= first and
    first + len(landed_at) <= k, its landed_at counts coordinates read (0..dim, non-decreasing), and the update
    writes `block` coordinates (None: SAPALM's blocks, checked by _check_blocks) in 0..dim-1."""
    firsts = applied["start_version"].to_numpy()
    landed, landed_offsets = _lists(applied, "landed_at")
    spans = np.diff(landed_offsets)
    if len(wrong := np.flatnonzero((firsts < 0) | (firsts + spans > updates))):
        row = wrong[0]
        raise _inconsistent(path, f"the read of update {updates[row]} spans versions {firsts[row]}.."
                                  f"{firsts[row] + spans[row]} (start_version .. start_version + len(landed_at)), "
                                  f"not within 0..{updates[row]}")
    landed = landed[landed_offsets[0]:landed_offsets[-1]] if len(landed_offsets) else landed[:0]
    if len(outside := landed[(landed < 0) | (landed > dim)]):
        raise _inconsistent(path, f"landed_at holds {outside[0]}, not a number of coordinates read (0..{dim})")
    falls = np.diff(landed) < 0
    boundaries = landed_offsets[1:-1] - landed_offsets[0] - 1  # falls[j] compares landed[j], landed[j + 1]: not
    falls[boundaries[(boundaries >= 0) & (boundaries < len(falls))]] = False  # across two rows' lists
    if falls.any():
        raise _inconsistent(path, "a landed_at list decreases: coordinates read can only grow while a read goes on")
    coordinates, coordinate_offsets = _lists(applied, "coordinates")
    counts = np.diff(coordinate_offsets)
    if block is not None and len(wrong := np.flatnonzero(counts != block)):
        raise _inconsistent(path, f"update {updates[wrong[0]]} writes {counts[wrong[0]]} coordinates, not "
                                  f"algorithm.block = {block}")
    coordinates = coordinates[coordinate_offsets[0]:coordinate_offsets[-1]] if len(coordinate_offsets) else coordinates[:0]
    if len(outside := coordinates[(coordinates < 0) | (coordinates >= dim)]):
        raise _inconsistent(path, f"coordinate {outside[0]} is not one of the objective's 0..{dim - 1}")


def _read_summary(path: Path) -> dict | None:
    """summary.json (None if the run directory has none); a file that is not a JSON object is bad input."""
    if not path.exists():
        return None
    try:
        summary = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise _corrupt(path, "not a JSON summary", error) from None
    if not isinstance(summary, dict):
        raise _corrupt(path, "not a JSON object")
    return summary


def _check_blocks(path: Path, applied: pa.Table, updates: np.ndarray, blocks: int, dim: int) -> None:
    """SAPALM: every update writes one whole block j, the coordinates j dim // blocks .. (j + 1) dim // blocks - 1 in
    order (sim/cluster/workers.BlockStream)."""
    coordinates, offsets = _lists(applied, "coordinates")
    flat, rows = coordinates[offsets[0]:offsets[-1]], offsets - offsets[0]
    counts = np.diff(rows)
    if len(empty := np.flatnonzero(counts == 0)):
        raise _inconsistent(path, f"update {updates[empty[0]]} writes no coordinates, not one of the "
                                  f"algorithm.blocks = {blocks} blocks")
    bounds = np.array([j * dim // blocks for j in range(blocks + 1)])
    firsts = flat[rows[:-1]]
    owner = np.searchsorted(bounds, firsts, side="right") - 1
    gaps = np.diff(flat) != 1
    gaps[rows[1:-1] - 1] = False  # across two rows' lists
    broken = (firsts != bounds[owner]) | (counts != bounds[owner + 1] - bounds[owner])
    broken[np.searchsorted(rows, np.flatnonzero(gaps), side="right") - 1] = True
    if len(wrong := np.flatnonzero(broken)):
        raise _inconsistent(path, f"update {updates[wrong[0]]} writes coordinates {flat[rows[wrong[0]]:rows[wrong[0] + 1]].tolist()}"
                                  f", not one of the algorithm.blocks = {blocks} contiguous blocks")


def _read_array(path: Path) -> np.ndarray:
    """x_final.npy; a file that is not a .npy array is bad input."""
    try:
        array = np.load(path)
    except Exception as error:  # numpy raises ValueError, EOFError, OSError, zipfile.BadZipFile, ...
        raise _corrupt(path, "not a NumPy .npy array", error) from None
    if not isinstance(array, np.ndarray):
        array.close()
        raise _corrupt(path, "an .npz archive, not a NumPy .npy array")
    return array


def _read_trace(path: Path, columns: list[str]) -> pa.Table:
    """The trace's `columns`; a file that is not a Parquet table holding them, typed as recorded, is bad input."""
    try:
        with pq.ParquetFile(path) as file:
            schema = file.schema_arrow
            for name in columns:
                if schema.get_field_index(name) < 0:
                    raise _corrupt(path, f"it has no column {name!r}")
                if schema.field(name).type != _RECORDED.field(name).type:
                    raise _corrupt(path, f"its column {name!r} is {schema.field(name).type}, not "
                                         f"{_RECORDED.field(name).type}")
            table = file.read(columns=columns)
    except (pa.ArrowException, OSError) as error:
        raise _corrupt(path, "not a readable Parquet file", error) from None
    for name in columns:
        column = table[name]
        if column.null_count or (pa.types.is_list(column.type) and
                                 any(chunk.flatten().null_count for chunk in column.chunks)):
            raise _corrupt(path, f"its column {name!r} has missing values")
    return table


_RECORDED = pa.unify_schemas([TRACE_SCHEMA, INCON_SCHEMA])


def _lists(table, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A list column's values and offsets: row i is values[offsets[i]:offsets[i + 1]]."""
    column = table[name].combine_chunks()
    return column.values.to_numpy(), column.offsets.to_numpy()


def _con(applied, size: int):
    """AsySG-con and sync: each gradient holds x_{read_version}. Returns the holds per version and the update."""
    versions = applied["read_version"].to_numpy()

    def apply_update(store, algorithm, start, end, samples):
        apply_con_update(store, algorithm, [int(versions[i]) for i in range(start, end)], samples)

    return np.bincount(versions, minlength=size), apply_update


def _incon(applied, starts: np.ndarray, size: int):
    """AsySG-incon: the read of an update (on each of its rows) holds x_first .. x_{first + len(landed_at)}."""
    firsts = applied["start_version"].to_numpy()
    landed, landed_offsets = _lists(applied, "landed_at")
    coordinates, coordinate_offsets = _lists(applied, "coordinates")
    spans = np.zeros(size + 1, dtype=np.int64)
    np.add.at(spans, firsts[starts], 1)
    np.add.at(spans, firsts[starts] + np.diff(landed_offsets)[starts] + 1, -1)

    def apply_update(store, algorithm, start, end, samples):
        apply_incon_update(store, algorithm, int(firsts[start]), landed[landed_offsets[start]:landed_offsets[start + 1]],
                           samples, coordinates[coordinate_offsets[start]:coordinate_offsets[start + 1]])

    return np.cumsum(spans)[:size], apply_update
