"""Golden fingerprints: today's runs, pinned so that no refactor or switched-off feature changes a bit of them.

A case is an example scenario at small K, or one of a fixed list of random clusters, on both timings. Its
fingerprint is a digest per trace column, per metrics column, of the final iterate, and the repr of each summary
field (wall time aside). Only what is recorded is compared, so columns and fields added later do not break it.

    python -m tests.golden     # rewrites tests/golden.json: only when a change of a run is intended and explained
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from scenarios import load, parse

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).with_name("golden.json")
EXAMPLE_ITERATIONS = 120
TIMINGS = ("auto", "simpy")


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for array in arrays:
        h.update(str(array.dtype).encode())
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:24]


def column_digest(column: pa.ChunkedArray) -> str:
    """A digest of a column's values (list columns by their flat values and lengths), independent of chunking."""
    column = column.combine_chunks()
    if pa.types.is_list(column.type):
        return _digest(column.flatten().to_numpy(zero_copy_only=False), column.value_lengths().to_numpy(zero_copy_only=False))
    return _digest(column.to_numpy(zero_copy_only=False))


def fingerprint(result) -> dict[str, Any]:
    return {
        "x_final": _digest(result.x_final),
        "trace": {name: column_digest(result.trace_table[name]) for name in result.trace_table.column_names},
        "metrics": {name: column_digest(result.metrics_table[name]) for name in result.metrics_table.column_names},
        "summary": {k: repr(v) for k, v in sorted(result.summary.items()) if k != "wall_seconds"},
    }


def random_cluster(index: int) -> dict[str, Any]:
    """Random case `index`: a small cluster drawn from a fixed seed (all protocols, bounds, ties, server time)."""
    rng = np.random.default_rng([20261130, index])
    dists = [{"dist": "constant", "value": 0.0}, {"dist": "constant", "value": 1.0},
             {"dist": "exponential", "mean": 1.0}, {"dist": "uniform", "low": 0.1, "high": 0.5},
             {"dist": "lognormal", "mean": 0.5, "sigma": 1.0}]
    algorithm = ["asysg-con", "asysg-con", "asysg-con", "asysg-incon", "sync"][rng.integers(5)]
    workers = int(rng.integers(1, 9))
    data: dict[str, Any] = {
        "name": f"random-{index}", "seed": int(rng.integers(2**32)),
        "objective": {"name": "nonconvex-logistic", "data": "synthetic", "n": 64, "dim": 5},
        "algorithm": {"name": algorithm, "iterations": int(rng.integers(1, 80)), "step": 0.05,
                      "minibatch": int(rng.integers(1, 3))},
        "cluster": {"workers": workers, "compute": dists[int(rng.integers(1, 5))]},
        "record": {"every": int(rng.integers(1, 4))},
    }
    if algorithm != "sync":
        data["algorithm"]["batch"] = int(rng.integers(1, 4))
        policy = ["wait", "drop", "none"][rng.integers(3)]
        data["staleness"] = {} if policy == "none" else {"policy": policy, "bound": int(rng.integers(0, 8))}
    if algorithm == "asysg-incon":
        data["algorithm"]["block"] = int(rng.integers(1, 6))
        data["cluster"]["read"] = dists[int(rng.integers(0, 5))]
    else:
        data["cluster"]["downlink"] = dists[int(rng.integers(0, 5))]
        data["cluster"]["uplink"] = dists[int(rng.integers(0, 5))]
        if rng.random() < 0.3 and data["cluster"]["compute"] != {"dist": "constant", "value": 0.0}:
            data["cluster"]["server"] = {"dist": "exponential", "mean": 0.2}
    if rng.random() < 0.3:
        data["cluster"]["stragglers"] = {"probability": 0.2, "slowdown": 4.0}
    if rng.random() < 0.3 and workers > 1:
        data["cluster"]["groups"] = [{"workers": [0], "slowdown": 3.0}]
    return data


RANDOM_CASES = 40


def cases() -> dict[str, Any]:
    """name -> scenario of every golden case."""
    found = {}
    for path in sorted((ROOT / "scenarios").glob("*.toml")):
        found[f"example:{path.stem}"] = load(path, {"algorithm.iterations": EXAMPLE_ITERATIONS})
    for index in range(RANDOM_CASES):
        found[f"random:{index}"] = parse(random_cluster(index))
    return found


def compute(name: str, scenario, timing: str) -> dict[str, Any]:
    from sim import simulate

    return fingerprint(simulate(scenario, timing=timing))


def main() -> None:
    golden = {f"{name}@{timing}": compute(name, s, timing) for name, s in cases().items() for timing in TIMINGS}
    GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(golden)} fingerprints to {GOLDEN}")


if __name__ == "__main__":
    main()
