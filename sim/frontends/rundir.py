"""The run directory: scenario.toml, summary.json, metrics.parquet, trace.parquet, x_final.npy.

Written into a temporary sibling folder and renamed into place, so a reader never sees half a run; folders get
the user's umask. A run directory holding another run is not replaced unless asked to (`asgd run --force`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from scenarios import to_toml
from scenarios.errors import ScenarioError, WriteError
from sim.frontends.provenance import provenance

FILES = ("scenario.toml", "summary.json", "metrics.parquet", "trace.parquet", "x_final.npy")
# The temporary names an output folder OUT is staged under: ".OUT." and 8 random characters (tempfile.mkdtemp), and
# ".OUT.old-PID" (PID at most 7 digits on Linux) for the earlier output moved aside.
STAGING_EXTRA = len(".") + len(".old-") + 7
NAME_MAX, PATH_MAX = 255, 4096  # bytes, where os.pathconf cannot tell
LONGEST_INSIDE = len("/.tmp-staleness.parquet-4194304-01234567")  # the longest file name asgd writes inside an output


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
    writable, its names within the file system's limits (checked before anything runs, leaving nothing behind);
    anything else is bad input."""
    _check_lengths(out)
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


def _check_lengths(out: Path) -> None:
    """Each folder name of `out` fits the file system's NAME_MAX (the last one with its STAGING_EXTRA temporary
    name), and the whole path, with the files written inside, its PATH_MAX."""
    absolute = out.absolute()
    folder = _existing(absolute)
    name_max, path_max = _pathconf(folder, "PC_NAME_MAX", NAME_MAX), _pathconf(folder, "PC_PATH_MAX", PATH_MAX)
    for part in absolute.parts[1:]:
        room = name_max - (STAGING_EXTRA if part == absolute.name else 0)
        if len(os.fsencode(part)) > room:
            raise ScenarioError("--out", str(out), f"its folder name {_short(part)} has {len(os.fsencode(part))} "
                                                   f"bytes, more than the {room} that fit (the file system allows "
                                                   f"{name_max}, less asgd's temporary names)")
    if len(os.fsencode(str(absolute))) + LONGEST_INSIDE > path_max:
        raise ScenarioError("--out", str(out), f"is too long: {len(os.fsencode(str(absolute)))} bytes as an absolute "
                                               f"path, and the files inside must stay within {path_max}")


def _pathconf(folder: Path, name: str, default: int) -> int:
    try:
        return os.pathconf(folder, name)
    except (OSError, ValueError):
        return default


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else f"{text[:20]}...{text[-10:]}")


def check_same_run(out: Path, scenario_toml: str, force: bool = False) -> None:
    """An earlier run directory at `out` may be replaced only by a run of the same fully resolved scenario (its
    scenario.toml, seed included, equal to `scenario_toml`), or on purpose (`force`); else bad input."""
    if force or not (out / "summary.json").is_file():
        return
    try:
        earlier = (out / "scenario.toml").read_text()
    except (OSError, UnicodeDecodeError):
        earlier = None
    if earlier == scenario_toml:
        return
    raise ScenarioError("--out", str(out), f"holds another run ({_difference(earlier, scenario_toml)}): pass --force "
                                           "to replace it, or choose another --out")


def _difference(earlier: str | None, new: str) -> str:
    """The first key path whose value differs between two resolved scenarios (TOML texts), for a message."""
    try:
        before = dict(_flat(tomllib.loads(earlier))) if earlier is not None else None
    except tomllib.TOMLDecodeError:
        before = None
    if before is None:
        return "its scenario.toml is missing or unreadable"
    after = dict(_flat(tomllib.loads(new)))
    for key in dict.fromkeys([*after, *before]):
        if before.get(key, "(absent)") != after.get(key, "(absent)"):
            return f"{key} = {before.get(key, '(absent)')!r} there, {after.get(key, '(absent)')!r} here"
    return "its scenario.toml is written differently"


def _flat(table: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _existing(path: Path) -> Path:
    """`path` or its nearest ancestor that exists (a name too long to look up counts as absent)."""
    path = path.absolute()
    while not os.path.exists(path) and path != path.parent:
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


def write_run(out: Path, result, command: list[str] | None = None, force: bool = False) -> None:
    """Write `result` (a sim.Result) to `out` atomically; summary.json adds the provenance (asgd version, source hash
    and the `command` line's arguments, sim.frontends.provenance). An earlier run directory there is replaced if it
    holds the same run or with `force` (check_same_run). A failed write (WriteError) leaves `out` as it was."""
    check_out_dir(out)
    scenario_toml = to_toml(result.scenario)
    check_same_run(out, scenario_toml, force)
    with staged(out) as staging:
        (staging / "scenario.toml").write_text(scenario_toml)
        summary = {**result.summary, **provenance(command)}
        (staging / "summary.json").write_text(json.dumps(json_ready(summary), indent=2) + "\n")
        pq.write_table(result.metrics_table, staging / "metrics.parquet")
        pq.write_table(result.trace_table, staging / "trace.parquet")
        if result.events_table is not None:  # Ringmaster's cancelled computations
            pq.write_table(result.events_table, staging / "events.parquet")
        np.save(staging / "x_final.npy", result.x_final)


@contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A new temporary sibling folder of `out` to write into: it replaces `out` (taking the mode the user's umask
    gives a new folder) when the block succeeds. When the block or the replacing fails, the temporary folder and
    the parent folders made for it are removed, an earlier `out` is kept, and an OSError (a full disk, ...) becomes
    a WriteError."""
    made = [folder for folder in out.absolute().parents if not folder.exists()]  # innermost first
    staging = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        yield staging
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700
        _replace(staging, out)
    except BaseException as error:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        for folder in made:  # only if still empty
            try:
                folder.rmdir()
            except OSError:
                break
        if isinstance(error, OSError):
            kept = "; what was there is kept" if out.exists() else ""
            raise WriteError(f"{out} could not be written ({error.strerror or error}): nothing was written{kept}") \
                from None
        raise


def _umask() -> int:
    """The process's umask (os.umask can only be read by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _replace(staging: Path, out: Path) -> None:
    """Move `staging` to `out`; an earlier output there is moved aside first (and back if the move fails) and
    removed after."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    try:
        staging.rename(out)
    except OSError:
        if old is not None:
            old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
