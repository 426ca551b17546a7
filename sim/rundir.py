"""The run directory: scenario.toml, summary.json, metrics.parquet, trace.parquet, x_final.npy.

Written into a temporary sibling folder and renamed into place, so a reader never sees half a run.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from scenarios import to_toml
from scenarios.errors import ScenarioError

FILES = ("scenario.toml", "summary.json", "metrics.parquet", "trace.parquet", "x_final.npy")


def check_out_dir(out: Path) -> None:
    """`out` may be new, empty, or an earlier run directory (which is replaced); anything else is bad input."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "summary.json").is_file())):
        raise ScenarioError("--out", str(out), "exists and is not an asgd run directory: choose a new or empty folder")


def json_ready(value: Any) -> Any:
    """Non-finite floats become null (strict JSON); numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_run(out: Path, result) -> None:
    """Write `result` (a sim.Result) to `out` atomically."""
    check_out_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (staging / "scenario.toml").write_text(to_toml(result.scenario))
        (staging / "summary.json").write_text(json.dumps(json_ready(result.summary), indent=2) + "\n")
        pq.write_table(result.metrics_table, staging / "metrics.parquet")
        pq.write_table(result.trace_table, staging / "trace.parquet")
        np.save(staging / "x_final.npy", result.x_final)
        _replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _replace(staging: Path, out: Path) -> None:
    """Move `staging` to `out`; an earlier run there is moved aside first and removed after."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    staging.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
