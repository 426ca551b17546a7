"""Scenario schema and loader: `load(path, overrides) -> Scenario`, plus the example scenario files (*.toml).

The public names are imported on first use: sim.distributions imports scenarios.errors, and the loader
imports sim.distributions, so importing the loader eagerly here would make that a circular import.
"""

from __future__ import annotations

import importlib
from typing import Any

from scenarios.errors import MISSING, ScenarioError

_EXPORTS = {
    "load": "scenarios.loader",
    "parse": "scenarios.loader",
    "to_toml": "scenarios.loader",
    "build_objective": "scenarios.loader",
    "parse_override": "scenarios.overrides",
    **{name: "scenarios.types" for name in ("Scenario", "Algorithm", "Step", "Staleness", "Cluster", "WorkerTiming", "Record")},
}

__all__ = ["MISSING", "ScenarioError", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'scenarios' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
