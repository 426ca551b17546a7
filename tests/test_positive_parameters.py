"""Zero and negative values of every numeric scenario key: a key whose value must be positive refuses 0 (and -1)
as bad input naming its path, a key that may be 0 takes 0 and refuses -1. Every numeric key of the resolved
scenarios below is classified, so a key added later without a decision fails here."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from scenarios import ScenarioError, build_objective, parse
from sim.frontends.cli import main

INCON = {"objective": {"name": "nonconvex-logistic", "n": 64, "dim": 5}, "algorithm": {"name": "asysg-incon", "block": 2},
         "staleness": {"bound": 3}}
# Scenarios that between them hold every numeric key: each step policy, each distribution, groups, stragglers.
BASES: list[dict[str, Any]] = [
    {"objective": {"name": "nonconvex-logistic", "n": 64, "dim": 5},
     "algorithm": {"step": 0.1, "batch": 2, "iterations": 10, "minibatch": 2},
     "staleness": {"bound": 3}, "record": {"every": 2},
     "cluster": {"workers": 3, "compute": {"dist": "shifted-exponential", "shift": 0.5, "mean": 1.0},
                 "downlink": {"dist": "lognormal", "mean": 1.0, "sigma": 0.5},
                 "uplink": {"dist": "gamma", "shape": 2.0, "mean": 1.0},
                 "server": {"dist": "uniform", "low": 0.5, "high": 1.0},
                 "stragglers": {"probability": 0.1, "slowdown": 3.0},
                 "groups": [{"workers": [1], "slowdown": 2.0, "compute": {"dist": "pareto", "shape": 3.0, "scale": 1.0},
                             "uplink": {"dist": "constant", "value": 0.5},
                             "stragglers": {"probability": 0.2, "slowdown": 2.0}}]}},
    {"objective": {"name": "robust-regression", "n": 64, "dim": 5},
     "algorithm": {"step": {"policy": "constant", "value": 0.1}}},
    {"objective": {"name": "noisy-rosenbrock"}, "algorithm": {"step": {"policy": "decay", "c": 0.1}}},
    {"objective": {"name": "mlp", "hidden": 2}},
    {"objective": {"name": "phase-retrieval", "n": 64, "dim": 5}},
    INCON | {"cluster": {"read": {"dist": "exponential", "mean": 0.1}}},
]

# Keys (with group and objective indices generalised) whose value must be > 0, or >= 1: 0 is bad input.
POSITIVE = {
    "algorithm.step", "algorithm.step.value", "algorithm.step.c", "algorithm.batch", "algorithm.iterations",
    "algorithm.minibatch", "algorithm.block", "record.every", "cluster.workers",
    "cluster.*.mean", "cluster.*.shape", "cluster.*.scale", "cluster.*.high", "cluster.stragglers.slowdown",
    "cluster.groups[].slowdown", "cluster.groups[].*.mean", "cluster.groups[].*.shape", "cluster.groups[].*.scale",
    "cluster.groups[].stragglers.slowdown",
    "objective.n", "objective.dim", "objective.hidden", "objective.curvature", "objective.radius",
}
# Keys that may be 0 (and only a negative value is bad input).
NONNEGATIVE = {
    "seed", "staleness.bound", "cluster.*.value", "cluster.*.shift", "cluster.*.sigma", "cluster.*.low",
    "cluster.stragglers.probability", "cluster.groups[].workers[]", "cluster.groups[].*.value",
    "cluster.groups[].stragglers.probability",
    "objective.reg", "objective.label_noise", "objective.outliers", "objective.noise", "objective.data_seed",
    "objective.init_seed",
}


def leaves(table: Any, prefix: str = ""):
    """(path, value) of every int or float leaf, groups as groups[i]."""
    if isinstance(table, dict):
        for key, value in table.items():
            yield from leaves(value, f"{prefix}.{key}" if prefix else key)
    elif isinstance(table, list):
        for index, value in enumerate(table):
            yield from leaves(value, f"{prefix}[{index}]")
    elif isinstance(table, (int, float)) and not isinstance(table, bool):
        yield prefix, table


def kind(path: str) -> str:
    """The path's class: positive or nonnegative (distribution names generalised to *)."""
    general = re.sub(r"\[\d+\]", "[]", path)
    general = re.sub(r"^(cluster(?:\.groups\[\])?)\.(compute|downlink|uplink|server|read)\.", r"\1.*.", general)
    for name, keys in (("positive", POSITIVE), ("nonnegative", NONNEGATIVE)):
        if general in keys:
            return name
    raise AssertionError(f"{path}: a numeric key neither in POSITIVE nor in NONNEGATIVE")


def with_value(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    *parents, last = [int(part) if part.isdigit() else part for part in re.findall(r"[^.\[\]]+", path)]
    node: Any = data
    for part in parents:
        node = node[part]
    node[last] = value
    return data


def build(data: dict[str, Any]) -> None:
    """The whole of input checking: the schema, then the objective's own parameters."""
    build_objective(parse(data))


RESOLVED = [parse(base).resolved for base in BASES]  # every key written out: the documents the cases change
# the step as a number (resolved, it is the table { policy = "constant", value = ... }) is a case of its own
CASES = sorted({(index, path) for index, resolved in enumerate(RESOLVED) for path, _ in leaves(resolved)
                if path != "seed" or index == 0} | {(0, "algorithm.step")})


def test_the_bases_are_valid_and_hold_every_key_class():
    for resolved in RESOLVED:
        build(resolved)
    assert {kind(path) for _, path in CASES} == {"positive", "nonnegative"}
    general = {re.sub(r"\[\d+\]", "[]", path) for _, path in CASES}
    assert {"algorithm.step", "algorithm.step.value", "algorithm.step.c", "cluster.groups[].slowdown"} <= general


@pytest.mark.parametrize("index, path", CASES)
def test_zero_and_negative_values(index, path):
    base = RESOLVED[index]
    values = [-1] if kind(path) == "nonnegative" else [0, 0.0, -1]
    for value in values:
        with pytest.raises(ScenarioError) as error:
            build(with_value(base, path, value))
        assert error.value.path == path, (path, value, str(error.value))
    if kind(path) == "nonnegative":
        build(with_value(base, path, 0))


@pytest.mark.parametrize("path", ["algorithm.step", "algorithm.iterations", "cluster.workers", "objective.dim"])
def test_the_cli_refuses_a_zero_with_one_line_and_exit_2(tmp_path, capsys, path):
    scenario = tmp_path / "s.toml"
    scenario.write_text('[objective]\nname = "nonconvex-logistic"\nn = 64\ndim = 5\n[algorithm]\nstep = 0.1\n')
    out = tmp_path / "out"
    assert main(["run", str(scenario), "--set", f"{path}=0", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{path} = 0" in err and not out.exists()


@pytest.mark.parametrize("check, args, options, message", [
    ("check_int", ("n", 0, 1), {}, "n = 0: must be an integer >= 1"),
    ("check_int", ("n", 3.5, 2), {}, "n = 3.5: must be an integer >= 2"),
    ("check_real", ("reg", -1.0, 0.0), {}, "reg = -1.0: must be a finite number >= 0.0"),
    ("check_real", ("p", 2.0, 0.0, 1.0), {}, "p = 2.0: must be a finite number in [0.0, 1.0]"),
    ("check_real", ("c", 0.0, 0.0), {"open_low": True}, "c = 0.0: must be a finite number > 0.0"),
    ("check_real", ("c", 0.0, 0.0, 1.0), {"open_low": True}, "c = 0.0: must be a finite number in (0.0, 1.0]"),
    ("check_choice", ("data", "x", ("synthetic", "digits")), {}, "data = 'x': must be one of: 'synthetic', 'digits'"),
])
def test_an_objective_parameter_refused_is_named_with_its_value_and_rule(check, args, options, message):
    """models.base's checks: the whole message names the parameter, the value given and the rule it breaks (the
    bounds, whether the lower one is open, the choices), written out by hand here."""
    from models import base

    with pytest.raises(base.ParameterError) as refused:
        getattr(base, check)(*args, **options)
    assert str(refused.value) == message
