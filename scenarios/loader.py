"""Reading, resolving and writing scenarios."""

from __future__ import annotations

import functools

import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from models import Objective, ParameterError, get_objective
from scenarios.distributions import SCENARIO_FOLDER
from scenarios.errors import ScenarioError
from scenarios.overrides import apply_overrides
from scenarios.schema import build
from scenarios.switch import switch_algorithm
from scenarios.types import Scenario


def load(path: str | Path, overrides: dict[str, Any] | None = None, switch: bool = False) -> Scenario:
    """Read the TOML scenario at `path`, apply `overrides` ({"cluster.workers": 16}), validate, fill defaults. With
    `switch` (a --grid over algorithm.name, asgd compare), an override of algorithm.name leaves out the file's keys
    the new method cannot use (scenarios.switch); otherwise they are bad input, like any key set for it."""
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
    except RecursionError:
        raise ScenarioError("scenario", str(path), TOO_DEEP) from None
    data = switch_algorithm(data, overrides) if switch else data
    folder = SCENARIO_FOLDER.set(path.parent)  # measured-timing files are found beside the scenario
    try:
        return _with_objective_checks(build(apply_overrides(data, overrides), path.stem))
    finally:
        SCENARIO_FOLDER.reset(folder)


TOO_DEEP = "nests arrays or tables too deeply to be read (no scenario key nests more than a few levels)"


def parse(data: dict[str, Any], overrides: dict[str, Any] | None = None) -> Scenario:
    """Like load, from an already parsed document; the default name is "scenario"."""
    if not isinstance(data, dict):
        raise ScenarioError("scenario", data, "must be a table of scenario keys")
    return _with_objective_checks(build(apply_overrides(data, overrides), "scenario"))


MAX_NOISE_MINIBATCH = 10**6  # algorithm.minibatch of an objective without a finite sample count (a noise model)


def _with_objective_checks(scenario: Scenario) -> Scenario:
    """`scenario`, once the checks that need its objective pass: algorithm.block and algorithm.blocks <= the
    objective's dimension, algorithm.minibatch <= its number of samples (MAX_NOISE_MINIBATCH for a noise model), and
    SVRG only on a finite sum. The objective is built only when one of these can fail."""
    algorithm = scenario.algorithm
    block, minibatch, blocks = algorithm.block, algorithm.minibatch, algorithm.blocks or 1
    for key, count in (("algorithm.block", block), ("algorithm.blocks", blocks)):
        if count > 1 and count > (dim := build_objective(scenario).dim):
            raise ScenarioError(key, count, f"must be at most the objective's dimension, {dim}")
    if minibatch > 1 or algorithm.estimator.name == "svrg":
        n_samples = getattr(build_objective(scenario), "n_samples", None)
        if n_samples is not None and minibatch > n_samples:
            raise ScenarioError("algorithm.minibatch", minibatch,
                                f"must be at most the objective's number of samples, {n_samples}")
        if n_samples is None and minibatch > MAX_NOISE_MINIBATCH:
            raise ScenarioError("algorithm.minibatch", minibatch,
                                f"must be an integer in [1, {MAX_NOISE_MINIBATCH}]: samples per stochastic gradient "
                                "(this objective is a noise model, with no finite number of samples)")
        if n_samples is None and algorithm.estimator.name == "svrg":
            raise ScenarioError("algorithm.estimator", scenario.resolved["algorithm"]["estimator"],
                                f"SVRG needs a finite sum for its full pass, and objective.name = "
                                f"{scenario.objective['name']!r} is a noise model: use estimator = \"sg\"")
    return scenario


def to_toml(scenario: Scenario) -> str:
    """The fully resolved scenario (every default filled in) as TOML text."""
    return tomli_w.dumps(scenario.resolved)


def build_objective(scenario: Scenario) -> Objective:
    """The scenario's objective; an invalid parameter raises ScenarioError("objective.<param>", ...), parameters it
    cannot be built with (too large for memory, ...) ScenarioError("objective", ...).

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
    except (ValueError, OverflowError, MemoryError) as error:  # e.g. numpy: sizes beyond the address space or memory
        detail = (str(error) or type(error).__name__).splitlines()[0]
        raise ScenarioError("objective", {"name": name, **dict(params)}, f"could not be built: {detail}") from None
    objective.x0.flags.writeable = False
    return objective
