"""Scenario schema and loader: `load(path, overrides) -> Scenario`, plus the example scenario files (*.toml).

The scenario language, latency distributions included, needs neither SimPy nor sim/: sim/ reads scenarios, never
the other way round.
"""

from __future__ import annotations

from scenarios.errors import MISSING, ScenarioError
from scenarios.loader import build_objective, load, parse, to_toml
from scenarios.overrides import parse_override
from scenarios.types import Algorithm, Cluster, Record, Scenario, Staleness, Step, WorkerTiming

__all__ = ["MISSING", "ScenarioError", "load", "parse", "to_toml", "build_objective", "parse_override",
           "Scenario", "Algorithm", "Step", "Staleness", "Cluster", "WorkerTiming", "Record"]
