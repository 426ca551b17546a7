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

FILES = ("scenario.toml", "summary.json", "metrics.parquet", "trace.parquet", "events.parquet", "x_final.npy")
LARGEST_PID = 4194304  # Linux's largest pid_max: the longest PID in a temporary name has 7 digits
MKDTEMP_RANDOM = 8     # characters tempfile.mkdtemp adds to its prefix
NAME_MAX, PATH_MAX = 255, 4096  # bytes, where os.pathconf cannot tell (PATH_MAX counts the terminating NUL)


def out_path(text: str | None, default: str | None = None) -> Path | None:
    """The --out flag as a Path (None if it was not given); an empty one is bad input, not the current folder or the
    default (`default`: how the command names its default folder, for the message)."""
    if text is None:
        return None
    if not text.strip():
        instead = f", or omit --out for the default ({default})" if default else ""
        raise ScenarioError("--out", text, f"must name a folder{instead}")
    return Path(text)


def check_out_dir(out: Path, marker: str = "summary.json", kind: str = "an asgd run directory",
                  written: list[Path] | None = None) -> None:
    """`out` may be new, empty, or an earlier output holding `marker` (which is replaced), and must be creatable and
    writable, its names within the file system's limits with the paths `written` (the longest ones the command
    writes for it; by default a run directory's: staged_paths(out, FILES)), checked before anything runs, leaving
    nothing behind; anything else is bad input."""
    _check_lengths(out, staged_paths(out, FILES) if written is None else written)
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


def staged_paths(out: Path, files: list[str] | tuple[str, ...]) -> list[Path]:
    """The longest paths staged(out) writes: `out` moved aside, its temporary sibling folder and `files` in it."""
    staging = out.with_name(_staging_prefix(out.name) + "x" * MKDTEMP_RANDOM)
    return [out.with_name(_aside(out.name, LARGEST_PID)), staging, *(staging / name for name in files)]


def _staging_prefix(name: str) -> str:
    return f".{name}."


def _aside(name: str, pid: int) -> str:
    """The temporary name of an earlier output folder `name` moved aside by process `pid`."""
    return f".{name}.old-{pid}"


def _check_lengths(out: Path, written: list[Path]) -> None:
    """Each folder name of `out` fits the file system's NAME_MAX with room for the temporary names of a staged
    output beside it (staged_paths), each name of the paths `written` too, and each of these paths, as an absolute
    path, its PATH_MAX (counting the terminating NUL)."""
    absolute = out.absolute()
    folder = _existing(absolute)
    name_max, path_max = _pathconf(folder, "PC_NAME_MAX", NAME_MAX), _pathconf(folder, "PC_PATH_MAX", PATH_MAX)
    extra = max(len(os.fsencode(path.name)) for path in staged_paths(Path("x"), [])) - 1
    for index, part in enumerate(absolute.parts[1:], 2):
        room = name_max - (extra if index == len(absolute.parts) else 0)
        if len(os.fsencode(part)) > room:
            raise ScenarioError("--out", str(out), f"its folder name {_short(part)} has {len(os.fsencode(part))} "
                                                   f"bytes, more than the {room} that fit (the file system allows "
                                                   f"{name_max}, less asgd's temporary names)")
    paths = [path.absolute() for path in written]
    for path in paths:
        for part in path.parts[len(absolute.parts):]:
            if len(os.fsencode(part)) > name_max:
                raise ScenarioError("--out", str(out), f"asgd would write {_short(part)} in it, a name of "
                                                       f"{len(os.fsencode(part))} bytes, more than the {name_max} "
                                                       f"the file system allows")
    deepest = max([absolute, *paths], key=lambda path: len(os.fsencode(str(path))))
    size, longest = len(os.fsencode(str(absolute))), len(os.fsencode(str(deepest)))
    if longest >= path_max:
        raise ScenarioError("--out", str(out), f"is too long: {size} bytes as an absolute path, and asgd writes paths "
                                               f"up to {longest - size} bytes longer for it (such as "
                                               f"{_short(deepest.name)}): more than the {path_max - 1} bytes the file "
                                               f"system allows")


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
        before = dict(flatten(tomllib.loads(earlier))) if earlier is not None else None
    except tomllib.TOMLDecodeError:
        before = None
    if before is None:
        return "its scenario.toml is missing or unreadable"
    after = dict(flatten(tomllib.loads(new)))
    for key in dict.fromkeys([*after, *before]):
        if before.get(key, "(absent)") != after.get(key, "(absent)"):
            return f"{key} = {before.get(key, '(absent)')!r} there, {after.get(key, '(absent)')!r} here"
    return "its scenario.toml is written differently"


def flatten(table: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Nested tables as dotted keys: {"a": {"b": 1}} gives ("a.b", 1)."""
    for key, value in table.items():
        if isinstance(value, dict):
            yield from flatten(value, f"{prefix}{key}.")
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
        staging = Path(tempfile.mkdtemp(prefix=_staging_prefix(out.name), dir=out.parent))
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
        old = out.with_name(_aside(out.name, os.getpid()))
        out.rename(old)
    try:
        staging.rename(out)
    except OSError:
        if old is not None:
            old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
