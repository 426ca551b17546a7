"""`asgd replay`: re-apply a run's recorded updates without SimPy and compare the final iterate bit for bit.

Applied gradients of update k appear in the trace consecutively, in the order they were summed; each is
re-evaluated at x_{read_version} with its recorded samples by the same update rule the engine ran. For asysg-incon
the gradients of update k share one read, rebuilt from the iterates x_{start_version} .. x_{start_version + len(landed_at)}
it spanned (iterates.torn_read), and the update writes the recorded coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from models import one_blas_thread
from scenarios import build_objective, load
from scenarios.errors import ScenarioError
from sim.iterates import IterateStore, apply_con_update, apply_incon_update
from sim.recording import INCON_SCHEMA, TRACE_SCHEMA
from sim.run import build_algorithm


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
    for name in ("scenario.toml", "trace.parquet", "x_final.npy"):
        if not (run_dir / name).is_file():
            raise ScenarioError("RUN_DIR", str(run_dir), f"is not a run directory: {name} is missing")
    scenario = load(run_dir / "scenario.toml")
    if not scenario.record.trace:
        raise ScenarioError("record.trace", False, "this run kept no trace, so it cannot be replayed: run it with record.trace = true")
    objective = build_objective(scenario)
    algorithm = scenario.algorithm
    update_math, _ = build_algorithm(scenario, objective)
    incon = algorithm.protocol == "asysg-incon"
    read_columns = ["start_version", "landed_at", "coordinates"] if incon else ["read_version"]
    expected = _read_array(run_dir / "x_final.npy")
    path = run_dir / "trace.parquet"
    table = _read_trace(path, ["update", "applied", "samples", *read_columns])
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
