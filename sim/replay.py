"""`asgd replay`: re-apply a run's recorded updates without SimPy and compare the final iterate bit for bit.

Applied gradients of update k appear in the trace consecutively, in the order they were summed; each is
re-evaluated at x_{read_version} with its recorded samples by the same update rule the engine ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from scenarios import build_objective, load
from scenarios.errors import ScenarioError
from sim.iterates import IterateStore, apply_con_update
from sim.run import make_step


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
    gamma = make_step(algorithm.step, objective, algorithm.batch, algorithm.iterations, algorithm.minibatch)
    table = pq.read_table(run_dir / "trace.parquet", columns=["update", "read_version", "applied", "samples"])
    applied = table.filter(table["applied"])
    updates = applied["update"].to_numpy()
    versions = applied["read_version"].to_numpy()
    samples = applied["samples"].combine_chunks()
    values, offsets = samples.values.to_numpy(), samples.offsets.to_numpy()
    holds = np.bincount(versions, minlength=int(updates[-1]) + 2 if len(updates) else 1)
    starts = np.flatnonzero(np.diff(updates, prepend=-1)) if len(updates) else np.empty(0, dtype=np.int64)
    ends = np.append(starts[1:], len(updates))

    store = IterateStore(objective.x0)
    store.hold(int(holds[0]))
    with np.errstate(all="ignore"):
        for start, end in zip(starts, ends):
            k = int(updates[start])
            if k != store.version:
                raise ScenarioError("trace.parquet", k, f"updates must run 0, 1, 2, ...; expected {store.version}")
            rows = range(start, end)
            apply_con_update(store, objective, [int(versions[i]) for i in rows],
                             [values[offsets[i]:offsets[i + 1]] for i in rows], gamma(k))
            store.hold(int(holds[store.version]))
    return Replay(store.current, np.load(run_dir / "x_final.npy"), store.version)
