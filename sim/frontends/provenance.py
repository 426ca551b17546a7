"""Provenance: which code produced a result. The asgd version, a digest of the source, the command line.

A run id (sim.frontends.store.run_id) hashes the source digest, so any change of the code counts, released or not.
"""

from __future__ import annotations

import functools
import hashlib
import shlex
from importlib import metadata
from pathlib import Path
from typing import Any


def _code_version() -> str:
    try:
        return metadata.version("asgd")
    except metadata.PackageNotFoundError:
        return "unknown"


CODE_VERSION = _code_version()
PACKAGES = ("sim", "models", "scenarios", "analysis")  # the code a run's result depends on
ROOT = Path(__file__).resolve().parents[2]


def source_digest(root: Path) -> str:
    """SHA-256 of the .py files of PACKAGES under `root`: their relative paths, in sorted order, and contents."""
    files = sorted((path.relative_to(root).as_posix(), path) for package in PACKAGES
                   for path in (root / package).rglob("*.py"))
    digest = hashlib.sha256()
    for name, path in files:
        data = path.read_bytes()
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


@functools.cache
def code_digest() -> str:
    """source_digest of this installation's code, computed once per process."""
    return source_digest(ROOT)


PROVENANCE_KEYS = ("asgd_version", "source_hash", "command")


def provenance(command: list[str] | None) -> dict[str, Any]:
    """What a run directory's summary.json and a sweep's sweep.json record of their origin: `asgd_version`,
    `source_hash` (the code digest) and `command`, the asgd command line (shell-quoted; None from the Python API)."""
    values = (CODE_VERSION, code_digest(), shlex.join(["asgd", *command]) if command is not None else None)
    return dict(zip(PROVENANCE_KEYS, values))
