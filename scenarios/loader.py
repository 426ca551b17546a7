"""Reading, resolving and writing scenarios."""

from __future__ import annotations

import functools

import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from models import Objective, ParameterError, get_objective
from scenarios.errors import ScenarioError
from scenarios.overrides import apply_overrides
from scenarios.schema import build
from scenarios.types import Scenario


def load(path: str | Path, overrides: dict[str, Any] | None = None) -> Scenario:
    """Read the TOML scenario at `path`, apply `overrides` ({"cluster.workers": 16}), validate, fill defaults."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except FileNotFoundError:
        raise ScenarioError("scenario", str(path), "no such file") from None
    except IsADirectoryError:
        raise ScenarioError("scenario", str(path), "is a directory, not a TOML scenario file") from None
    except OSError as error:
        raise ScenarioError("scenario", str(path), f"cannot be read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise ScenarioError("scenario", str(path), f"is not UTF-8 text: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError("scenario", str(path), f"is not valid TOML: {error}") from None
    return _with_objective_checks(build(apply_overrides(data, overrides), path.stem))


def parse(data: dict[str, Any], overrides: dict[str, Any] | None = None) -> Scenario:
    """Like load, from an already parsed document; the default name is "scenario"."""
    if not isinstance(data, dict):
        raise ScenarioError("scenario", data, "must be a table of scenario keys")
    return _with_objective_checks(build(apply_overrides(data, overrides), "scenario"))


def _with_objective_checks(scenario: Scenario) -> Scenario:
    """`scenario`, once the checks that need its objective pass: algorithm.block <= the objective's dimension (the
    objective is built only for a block > 1, which only asysg-incon allows)."""
    block = scenario.algorithm.block
    if block > 1 and block > (dim := build_objective(scenario).dim):
        raise ScenarioError("algorithm.block", block, f"must be at most the objective's dimension, {dim}")
    return scenario


def to_toml(scenario: Scenario) -> str:
    """The fully resolved scenario (every default filled in) as TOML text."""
    return tomli_w.dumps(scenario.resolved)


def build_objective(scenario: Scenario) -> Objective:
    """The scenario's objective; an invalid parameter raises ScenarioError("objective.<param>", ...).

    Objectives are immutable, so one per distinct [objective] table is built per process and shared
    (sweeps and checks run many scenarios on the same objective).
    """
    return _objective(scenario.objective["name"], tuple(sorted(scenario.objective_params.items())))


@functools.lru_cache(maxsize=16)
def _objective(name: str, params: tuple[tuple[str, Any], ...]) -> Objective:
    try:
        objective = get_objective(name, **dict(params))
    except ParameterError as error:
        raise ScenarioError(f"objective.{error.param}", error.value, error.allowed) from None
    objective.x0.flags.writeable = False
    return objective
