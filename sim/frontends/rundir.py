"""The run directory: scenario.toml, summary.json, metrics.parquet, trace.parquet, x_final.npy.

Written into a temporary sibling folder and renamed into place, so a reader never sees half a run.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from scenarios import to_toml
from scenarios.errors import ScenarioError
from sim.frontends.provenance import provenance

FILES = ("scenario.toml", "summary.json", "metrics.parquet", "trace.parquet", "events.parquet", "x_final.npy")


def out_path(text: str | None, default: str | None = None) -> Path | None:
    """The --out flag as a Path (None if it was not given); an empty one is bad input, not the current folder or the
    default (`default`: how the command names its default folder, for the message)."""
    if text is None:
        return None
    if not text.strip():
        instead = f", or omit --out for the default ({default})" if default else ""
        raise ScenarioError("--out", text, f"must name a folder{instead}")
    return Path(text)


def check_out_dir(out: Path, marker: str = "summary.json", kind: str = "an asgd run directory") -> None:
    """`out` may be new, empty, or an earlier output holding `marker` (which is replaced), and must be creatable and
    writable (checked before anything runs, leaving nothing behind); anything else is bad input."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / marker).is_file())):
        raise ScenarioError("--out", str(out), f"exists and is not {kind}: choose a new or empty folder")
    for folder in dict.fromkeys((_existing(out), _existing(out.absolute().parent))):
        if not folder.is_dir():
            raise ScenarioError("--out", str(out), f"cannot be created: {folder} is not a folder")
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".asgd-probe-", dir=folder))
        except OSError as error:
            raise ScenarioError("--out", str(out), f"cannot be written: making a folder in {folder} fails "
                                                   f"({error.strerror or error})") from None


def _existing(path: Path) -> Path:
    """`path` or its nearest ancestor that exists."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


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


def write_run(out: Path, result, command: list[str] | None = None) -> None:
    """Write `result` (a sim.Result) to `out` atomically; summary.json adds the provenance (asgd version, source hash
    and the `command` line's arguments, sim.frontends.provenance)."""
    check_out_dir(out)
    with staged(out) as staging:
        (staging / "scenario.toml").write_text(to_toml(result.scenario))
        summary = {**result.summary, **provenance(command)}
        (staging / "summary.json").write_text(json.dumps(json_ready(summary), indent=2) + "\n")
        pq.write_table(result.metrics_table, staging / "metrics.parquet")
        pq.write_table(result.trace_table, staging / "trace.parquet")
        pq.write_table(result.events_table, staging / "events.parquet")
        np.save(staging / "x_final.npy", result.x_final)


@contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A new temporary sibling folder of `out` to write into: it replaces `out` when the block succeeds and is
    removed when it raises, so a reader never sees half an output."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield staging
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
