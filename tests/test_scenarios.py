"""Scenario loading: defaults, validation messages, overrides, the resolved TOML round trip, the example files."""

from __future__ import annotations

import math
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import models
from scenarios import MISSING, ScenarioError, build_objective, load, parse, parse_override, to_toml
from scenarios.distributions import Constant, Exponential
from scenarios.schema import MAX_NAME, NAME_PATTERN

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.toml"))


class Toy:
    """A stand-in objective whose parameters cover every default type the loader checks."""

    def __init__(self, *, dim: int = 3, noise: float = 0.1, flag: bool = False, kind: str = "a", extra=None) -> None:
        self.dim = dim
        self.x0 = np.zeros(dim)


@pytest.fixture(autouse=True, scope="module")
def toy_objective():
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(models.OBJECTIVES, "toy", Toy)
        yield


BASE = {"objective": {"name": "toy"}}


def error_of(data=BASE, overrides=None) -> ScenarioError:
    with pytest.raises(ScenarioError) as error:
        parse(data, overrides)
    return error.value


def test_defaults_are_filled_in():
    s = parse(BASE)
    assert (s.name, s.seed) == ("scenario", 0)
    assert s.objective == {"name": "toy", "dim": 3, "noise": 0.1, "flag": False, "kind": "a", "extra": None}
    assert (s.algorithm.name, s.algorithm.batch, s.algorithm.iterations) == ("asysg-con", 1, 1000)
    assert (s.algorithm.step.policy, s.algorithm.minibatch, s.algorithm.block) == ("corollary", 1, 1)
    assert (s.staleness.bound, s.staleness.policy) == (None, "wait")
    assert s.cluster.workers == 4 and len(s.cluster.timings) == 4
    timing = s.cluster.timings[0]
    assert timing.compute == Exponential(1.0) and timing.downlink == timing.uplink == Constant(0.0)
    assert (timing.straggler_probability, timing.straggler_slowdown) == (0.0, 1.0)
    assert s.cluster.server == s.cluster.read == Constant(0.0)
    assert (s.record.every, s.record.trace) == (1, True)
    assert s.resolved["record"]["every"] == "auto" and "bound" not in s.resolved["staleness"]
    assert s.resolved["objective"] == {"name": "toy", "dim": 3, "noise": 0.1, "flag": False, "kind": "a"}


def test_values_are_read():
    s = parse({"name": "x", "seed": 3, "objective": {"name": "toy", "dim": 5, "noise": 1},
               "algorithm": {"batch": 2, "iterations": 5000, "step": 0.05},
               "staleness": {"bound": 3, "policy": "drop"}, "record": {"trace": False}})
    assert s.objective["dim"] == 5 and s.objective["noise"] == 1.0 and isinstance(s.objective["noise"], float)
    assert s.algorithm.step.policy == "constant" and s.algorithm.step.value == 0.05
    assert s.resolved["algorithm"]["step"] == {"policy": "constant", "value": 0.05}
    assert (s.staleness.bound, s.staleness.policy, s.record.every, s.record.trace) == (3, "drop", 5, False)


def test_step_policies():
    decay = parse(BASE, {"algorithm.step": {"policy": "decay", "c": 2}}).algorithm.step
    assert (decay.policy, decay.c) == ("decay", 2.0)


def test_sync_batch_defaults_to_workers():
    s = parse(BASE, {"algorithm.name": "sync", "cluster.workers": 6})
    assert s.algorithm.batch == 6 and "staleness" not in s.resolved


def test_the_resolved_sync_scenario_leaves_its_batch_implied_so_workers_can_change():
    s = parse(BASE, {"algorithm.name": "sync", "cluster.workers": 6, "algorithm.batch": 6})
    assert s.algorithm.batch == 6 and "batch" not in s.resolved["algorithm"]
    again = parse(tomllib.loads(to_toml(s)), {"cluster.workers": 16})
    assert (again.cluster.workers, again.algorithm.batch) == (16, 16)
    assert parse(BASE, {"algorithm.batch": 3}).resolved["algorithm"]["batch"] == 3  # asysg-con: written out


ALGORITHM_ONLY = [  # (key, a value other than its default, the algorithms that do not read it)
    ("algorithm.block", 2, ["asysg-con", "sync"]),
    ("cluster.read", {"dist": "constant", "value": 0.5}, ["asysg-con", "sync"]),
    ("cluster.read", {"dist": "uniform", "low": 0, "high": 0}, ["asysg-con", "sync"]),  # always 0, but not constant 0
    ("staleness.bound", 0, ["sync"]),  # no default: any bound
    ("staleness.policy", "drop", ["sync"]),
]


@pytest.mark.parametrize("key, value, algorithm",
                         [(key, value, name) for key, value, names in ALGORITHM_ONLY for name in names])
def test_a_key_the_algorithm_does_not_read_is_refused(key, value, algorithm):
    error = error_of(BASE, {"algorithm.name": algorithm, key: value})
    assert error.path == key and error.value == value
    assert f"not {algorithm!r}: remove it" in str(error) and "only algorithm.name = 'asysg-" in str(error)
    resolved = parse(BASE, {"algorithm.name": algorithm}).resolved  # and the resolved scenario leaves it out
    section, name = key.split(".")
    assert name not in resolved.get(section, {})


OLD_DEFAULTS = {  # what run directories written before the rule above hold, by algorithm
    "asysg-con": {"algorithm": {"name": "asysg-con", "block": 1}, "cluster": {"read": {"dist": "constant", "value": 0.0}}},
    "sync": {"algorithm": {"name": "sync", "block": 1}, "cluster": {"read": {"dist": "constant", "value": 0}},
             "staleness": {"policy": "wait"}},
}


@pytest.mark.parametrize("algorithm", sorted(OLD_DEFAULTS))
def test_a_key_the_algorithm_does_not_read_is_accepted_at_its_default_and_left_out(algorithm):
    s = parse({**BASE, **OLD_DEFAULTS[algorithm]})
    assert s == parse(BASE, {"algorithm.name": algorithm})
    assert s.resolved == parse(BASE, {"algorithm.name": algorithm}).resolved
    assert "block" not in s.resolved["algorithm"] and "read" not in s.resolved["cluster"]
    assert "staleness" not in s.resolved if algorithm == "sync" else s.resolved["staleness"] == {"policy": "wait"}


def test_keys_of_asysg_incon_are_read_and_resolved():
    s = parse(BASE, {"algorithm.name": "asysg-incon", "algorithm.block": 3, "staleness.bound": 2,
                     "cluster.read": {"dist": "constant", "value": 0.5}})
    assert (s.algorithm.block, s.cluster.read, s.staleness.bound) == (3, Constant(0.5), 2)
    assert s.resolved["algorithm"]["block"] == 3 and s.resolved["cluster"]["read"] == {"dist": "constant", "value": 0.5}
    assert parse(BASE).resolved["staleness"] == {"policy": "wait"}


@pytest.mark.parametrize("overrides, path", [
    ({"cluster.downlink": {"dist": "constant", "value": 0.1}}, "cluster.downlink"),
    ({"cluster.server": {"dist": "exponential", "mean": 1.0}}, "cluster.server"),
    ({"cluster.groups": [{"workers": [1], "uplink": {"dist": "exponential", "mean": 1.0}}]},
     "cluster.groups[0].uplink"),
    ({"algorithm.block": 4}, "algorithm.block"),  # the toy objective's dimension is 3
    ({"cluster.groups": [{"workers": [0], "downlink": {"dist": "constant", "value": 0.0}},
                         {"workers": [1], "uplink": {"dist": "uniform", "low": 0.0, "high": 1.0}}]},
     "cluster.groups[1].uplink"),
    # a base latency that every worker's group replaces is in no worker's timing, yet refused
    ({"cluster.workers": 2, "cluster.uplink": {"dist": "constant", "value": 0.5},
      "cluster.groups": [{"workers": [0, 1], "uplink": {"dist": "constant", "value": 0.0}}]}, "cluster.uplink"),
])
def test_asysg_incon_refuses_network_and_server_latencies_and_blocks_beyond_the_dimension(overrides, path):
    error = error_of(BASE, {"algorithm.name": "asysg-incon", **overrides})
    assert error.path == path
    assert "must be at most the objective's dimension, 3" in str(error) if path == "algorithm.block" else \
        "must be 0 for asysg-incon" in str(error)


def test_zero_latencies_and_a_block_up_to_the_dimension_are_fine_for_asysg_incon():
    zero = {"dist": "constant", "value": 0.0}
    s = parse(BASE, {"algorithm.name": "asysg-incon", "algorithm.block": 3, "cluster.downlink": zero,
                     "cluster.groups": [{"workers": [0], "uplink": zero}]})
    assert s.algorithm.block == 3


def test_groups_override_their_workers():
    s = parse(BASE, {"cluster.workers": 8, "cluster.groups": [
        {"workers": [6, 7], "slowdown": 5},
        {"workers": [0], "uplink": {"dist": "constant", "value": 2.0}, "stragglers": {"probability": 0.5, "slowdown": 3}},
    ]})
    timings = s.cluster.timings
    assert timings[6].compute.mean == timings[7].compute.mean == 5.0 and timings[5].compute == Exponential(1.0)
    assert timings[0].uplink == Constant(2.0) and timings[0].compute == Exponential(1.0)
    assert (timings[0].straggler_probability, timings[0].straggler_slowdown) == (0.5, 3.0)
    assert s.resolved["cluster"]["groups"][0] == {"workers": [6, 7], "slowdown": 5.0}


INVALID = [
    # (overrides, key path, offending value)
    ({"cluster.workers": 0}, "cluster.workers", 0),
    ({"cluster.workers": "8"}, "cluster.workers", "8"),
    ({"cluster.workers": 2.5}, "cluster.workers", 2.5),
    ({"cluster.workers": True}, "cluster.workers", True),
    ({"seed": -1}, "seed", -1),
    ({"name": 3}, "name", 3),
    ({"cluster.compute": {"dist": "exponential", "mean": -1.0}}, "cluster.compute.mean", -1.0),
    ({"cluster.compute.mean": 2.0}, "cluster.compute.dist", MISSING),  # overrides apply to the file, not the defaults
    ({"cluster.compute": {"dist": "weibull"}}, "cluster.compute.dist", "weibull"),
    ({"cluster.server": 0.5}, "cluster.server", 0.5),
    ({"cluster.stragglers.probability": 1.5}, "cluster.stragglers.probability", 1.5),
    ({"cluster.stragglers.slowdown": 0.5}, "cluster.stragglers.slowdown", 0.5),
    ({"cluster.groups": {"workers": [0]}}, "cluster.groups", {"workers": [0]}),
    ({"cluster.groups": [{"workers": [0, 4]}]}, "cluster.groups[0].workers[1]", 4),
    ({"cluster.groups": [{"workers": [-1]}]}, "cluster.groups[0].workers[0]", -1),
    ({"cluster.groups": [{"workers": []}]}, "cluster.groups[0].workers", []),
    ({"cluster.groups": [{"slowdown": 2.0}]}, "cluster.groups[0].workers", MISSING),
    ({"cluster.groups": [{"workers": [1, 1]}]}, "cluster.groups[0].workers", [1, 1]),
    ({"cluster.groups": [{"workers": [0, 1]}, {"workers": [1, 2]}]}, "cluster.groups[1].workers", [1, 2]),
    ({"cluster.groups": [{"workers": [0], "slowdown": 0}]}, "cluster.groups[0].slowdown", 0),
    ({"objective.name": "nope"}, "objective.name", "nope"),
    ({"objective.dim": 2.5}, "objective.dim", 2.5),
    ({"objective.noise": True}, "objective.noise", True),
    ({"objective.noise": math.inf}, "objective.noise", math.inf),
    ({"objective.flag": 1}, "objective.flag", 1),
    ({"algorithm.name": "hogwild"}, "algorithm.name", "hogwild"),
    ({"algorithm.batch": 0}, "algorithm.batch", 0),
    ({"algorithm.iterations": 1e4}, "algorithm.iterations", 1e4),
    ({"algorithm.minibatch": 0}, "algorithm.minibatch", 0),
    ({"algorithm.block": 0}, "algorithm.block", 0),
    ({"algorithm.step": 0}, "algorithm.step", 0),
    ({"algorithm.step": True}, "algorithm.step", True),
    ({"algorithm.step": math.nan}, "algorithm.step", math.nan),
    ({"algorithm.step": {"policy": "adam"}}, "algorithm.step.policy", "adam"),
    ({"algorithm.step": {"value": 0.1}}, "algorithm.step.policy", MISSING),
    ({"algorithm.step": {"policy": "constant"}}, "algorithm.step.value", MISSING),
    ({"algorithm.step": {"policy": "decay", "c": -1}}, "algorithm.step.c", -1),
    ({"algorithm.name": "sync", "cluster.workers": 4, "algorithm.batch": 2}, "algorithm.batch", 2),
    ({"staleness.bound": -1}, "staleness.bound", -1),
    ({"staleness.bound": 1.0}, "staleness.bound", 1.0),
    ({"staleness.policy": "block"}, "staleness.policy", "block"),
    ({"record.every": 0}, "record.every", 0),
    ({"record.every": "never"}, "record.every", "never"),
    ({"record.trace": "yes"}, "record.trace", "yes"),
    ({"objective": "toy"}, "objective", "toy"),
    ({"algorithm": 1}, "algorithm", 1),
]

UNKNOWN_KEYS = ["colour", "objective.colour", "algorithm.colour", "algorithm.step.colour", "staleness.colour",
                "cluster.colour", "cluster.compute.colour", "cluster.stragglers.colour", "record.colour"]


@pytest.mark.parametrize("overrides, path, value", INVALID, ids=[str(case[0]) for case in INVALID])
def test_invalid_values_name_path_and_value(overrides, path, value):
    error = error_of(BASE, overrides)
    assert error.path == path and f"{path} = {value!r}: " in str(error) and error.allowed


@pytest.mark.parametrize("path", ["algorithm.step", "cluster.stragglers.slowdown", "cluster.compute.value"])
def test_an_integer_beyond_the_float_range_is_bad_input(path):
    huge = 10**400  # valid TOML
    overrides = {"cluster.compute": {"dist": "constant", "value": huge}} if path == "cluster.compute.value" else {path: huge}
    error = error_of(BASE, overrides)
    assert error.path == path and error.value == huge and "number" in error.allowed


@pytest.mark.parametrize("key", UNKNOWN_KEYS)
def test_unknown_keys_are_rejected(key):
    data = {**BASE, "algorithm": {"step": {"policy": "corollary"}}, "cluster": {"compute": {"dist": "constant", "value": 1}}}
    error = error_of(data, {key: "red"})
    assert error.path == key and f"{key} = 'red'" in str(error)


def test_unknown_key_in_a_group():
    error = error_of(BASE, {"cluster.groups": [{"workers": [0], "colour": "red"}]})
    assert error.path == "cluster.groups[0].colour" and "allowed in cluster.groups[0]: workers, slowdown" in str(error)


def test_unknown_key_lists_allowed_keys():
    assert "allowed in cluster: workers, compute" in str(error_of(BASE, {"cluster.colour": 1}))
    assert "dim, noise, flag, kind, extra" in str(error_of(BASE, {"objective.colour": 1}))


def test_missing_objective():
    assert error_of({}).path == "objective"
    assert error_of({"objective": {}}).path == "objective.name"


def test_sync_batch_message_names_workers():
    assert "cluster.workers (4)" in str(error_of(BASE, {"algorithm.name": "sync", "algorithm.batch": 2}))


def test_overrides_create_tables_and_replace_distributions():
    s = parse(BASE, {"cluster.compute": {"dist": "constant", "value": 2.0}, "staleness.bound": 40,
                     "record.every": 7})
    assert s.cluster.timings[0].compute == Constant(2.0) and s.staleness.bound == 40 and s.record.every == 7
    data = {**BASE, "cluster": {"compute": {"dist": "exponential", "mean": 1.0}}}
    assert parse(data, {"cluster.compute.mean": 3.0}).cluster.timings[0].compute == Exponential(3.0)
    assert BASE == {"objective": {"name": "toy"}}  # the input is not modified


def test_bad_overrides():
    assert error_of(BASE, {"cluster..workers": 3}).path == "overrides"
    error = error_of({**BASE, "algorithm": {"step": 0.5}}, {"algorithm.step.policy": "decay"})
    assert error.path == "algorithm.step" and "algorithm.step = 0.5: is not a table" in str(error)


def test_load_applies_overrides_and_names_after_the_file(tmp_path):
    file = tmp_path / "mine.toml"
    file.write_text('[objective]\nname = "toy"\n[cluster]\nworkers = 8\n')
    s = load(file, {"cluster.workers": 16})
    assert s.name == "mine" and s.cluster.workers == 16


@pytest.mark.parametrize("text, expected", [
    ("cluster.workers=16", ("cluster.workers", 16)),
    ("objective.name=mlp", ("objective.name", "mlp")),
    ('objective.name="mlp"', ("objective.name", "mlp")),
    ("algorithm.step = 0.5", ("algorithm.step", 0.5)),
    ("record.trace=false", ("record.trace", False)),
    ('cluster.compute={dist="constant", value=1.0}', ("cluster.compute", {"dist": "constant", "value": 1.0})),
    ("cluster.groups=[{workers=[0]}]", ("cluster.groups", [{"workers": [0]}])),
    ("name=a=b", ("name", "a=b")),
])
def test_parse_override(text, expected):
    assert parse_override(text) == expected


@pytest.mark.parametrize("text", ["cluster.workers", "=3", " =3", "a..b=1", ".a=1", "a.=1", "a b=1", "a/b=1"])
def test_bad_set_text(text):
    with pytest.raises(ScenarioError) as error:
        parse_override(text)
    assert error.value.path == "--set" and f"--set = {text!r}" in str(error.value)


def test_malformed_toml(tmp_path):
    file = tmp_path / "bad.toml"
    file.write_text('[objective]\nname = "toy\n')
    with pytest.raises(ScenarioError, match=r"scenario = .*bad\.toml.*line 2"):
        load(file)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ScenarioError, match=r"scenario = .*nothing\.toml.*no such file"):
        load(tmp_path / "nothing.toml")
    with pytest.raises(ScenarioError, match="is a directory"):
        load(tmp_path)


def test_not_utf8(tmp_path):
    file = tmp_path / "latin.toml"
    file.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(ScenarioError, match="latin.toml"):
        load(file)


def test_build_objective_maps_parameter_errors(monkeypatch):
    def reject(*, dim: int = 3) -> None:
        raise models.ParameterError("dim", dim, "must be even")

    monkeypatch.setitem(models.OBJECTIVES, "picky", reject)
    with pytest.raises(ScenarioError, match=r"objective\.dim = 3: must be even"):
        build_objective(parse({"objective": {"name": "picky"}}))


@pytest.mark.parametrize("error", [ValueError("Maximum allowed dimension exceeded"),
                                   OverflowError("cannot fit 'int' into an index-sized integer"),
                                   MemoryError("Unable to allocate 745. GiB")])
def test_build_objective_maps_errors_building_it_to_bad_input(error, monkeypatch):
    class Failing:
        def __init__(self, *, n: int = 3) -> None:
            raise error

    monkeypatch.setitem(models.OBJECTIVES, "failing", Failing)
    with pytest.raises(ScenarioError) as raised:
        build_objective(parse({"objective": {"name": "failing", "n": 7}}))
    assert raised.value.path == "objective" and raised.value.value == {"name": "failing", "n": 7}
    assert str(raised.value).endswith(f": could not be built: {error}")


def test_a_real_objective_too_large_to_build_is_bad_input():
    """numpy refuses shapes beyond the address space with a ValueError (nothing is allocated)."""
    data = {"objective": {"name": "nonconvex-logistic", "n": 2**62}}
    with pytest.raises(ScenarioError, match=r"^objective = .*'n': 4611686018427387904.*: could not be built: "):
        build_objective(parse(data))
    with pytest.raises(ScenarioError, match=r"^objective = .*: could not be built: "):  # parse builds it for a minibatch
        parse(data, {"algorithm.minibatch": 2})


INT64_MAX = 2**63 - 1
TOO_LARGE = [  # (key path, the smallest value refused, the words of the message)
    ("cluster.workers", 10**6 + 1, "must be an integer in [1, 1000000]: each worker is a simulated process"),
    ("seed", INT64_MAX + 1, f"must be an integer in [0, {INT64_MAX}]: sweep results record it as a 64-bit integer"),
    ("algorithm.iterations", INT64_MAX + 1, f"in [1, {INT64_MAX}]: update numbers are recorded as 64-bit integers"),
    ("algorithm.batch", INT64_MAX + 1, f"must be an integer in [1, {INT64_MAX}]"),
    ("algorithm.block", INT64_MAX + 1, f"must be an integer in [1, {INT64_MAX}]"),
    ("staleness.bound", INT64_MAX + 1, f"must be an integer in [0, {INT64_MAX}]"),
    ("record.every", INT64_MAX + 1, f'must be "auto" or an integer in [1, {INT64_MAX}]'),
    ("objective.dim", INT64_MAX + 1, f"must be an integer <= {INT64_MAX}"),
    ("algorithm.minibatch", 10**6 + 1, "must be an integer in [1, 1000000]: samples per stochastic gradient"),
]


@pytest.mark.parametrize("path, value, words", TOO_LARGE, ids=[case[0] for case in TOO_LARGE])
def test_integers_above_their_limit_are_bad_input(path, value, words):
    error = error_of(BASE, {path: value, **({"algorithm.name": "asysg-incon"} if path == "algorithm.block" else {})})
    assert error.path == path and error.value == value and words in str(error)
    assert error_of(BASE, {path: 10**20}).path == path  # far beyond too


def test_the_largest_allowed_integers_are_fine():
    s = parse(BASE, {"seed": INT64_MAX, "algorithm.iterations": INT64_MAX, "algorithm.batch": INT64_MAX,
                     "staleness.bound": INT64_MAX, "record.every": INT64_MAX, "algorithm.minibatch": 10**6})
    assert (s.seed, s.algorithm.iterations, s.algorithm.batch, s.staleness.bound, s.record.every) == (INT64_MAX,) * 5


def test_a_minibatch_is_at_most_the_objectives_number_of_samples(monkeypatch):
    class Finite(Toy):
        n_samples = 40

    monkeypatch.setitem(models.OBJECTIVES, "finite", Finite)
    assert parse({"objective": {"name": "finite"}}, {"algorithm.minibatch": 40}).algorithm.minibatch == 40
    error = error_of({"objective": {"name": "finite"}}, {"algorithm.minibatch": 41})
    assert error.path == "algorithm.minibatch" and "must be at most the objective's number of samples, 40" in str(error)


def test_the_scenario_language_imports_neither_sim_nor_simpy():
    """No import cycle: distributions are part of scenarios/, and sim/ reads scenarios, never the other way round."""
    code = ("import sys, scenarios.distributions, scenarios; scenarios.load('scenarios/quickstart.toml'); "
            "assert not [m for m in sys.modules if m.split('.')[0] in ('sim', 'simpy')], sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], check=True)


# ---- round trip of the resolved TOML over random valid scenarios ----

positive = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False)
nonnegative = st.floats(min_value=0.0, max_value=1e3, allow_nan=False)


@st.composite
def distributions(draw):
    shift = draw(nonnegative)
    low = draw(nonnegative)
    return draw(st.sampled_from([
        {"dist": "constant", "value": draw(nonnegative)},
        {"dist": "exponential", "mean": draw(positive)},
        {"dist": "shifted-exponential", "shift": shift, "mean": shift + draw(nonnegative)},
        {"dist": "lognormal", "mean": draw(positive), "sigma": draw(nonnegative)},
        {"dist": "gamma", "shape": draw(positive), "mean": draw(positive)},
        {"dist": "uniform", "low": low, "high": low + draw(nonnegative)},
        {"dist": "pareto", "shape": draw(positive), "scale": draw(positive)},
    ]))


def optional(draw, table: dict, key: str, strategy) -> None:
    if draw(st.booleans()):
        table[key] = draw(strategy)


@st.composite
def scenarios(draw):
    workers = draw(st.integers(1, 12))
    objective = {"name": draw(st.sampled_from(sorted(models.OBJECTIVES)))}
    if objective["name"] == "toy":
        optional(draw, objective, "dim", st.integers(1, 50))
        optional(draw, objective, "noise", st.one_of(st.integers(0, 5), nonnegative))
        optional(draw, objective, "flag", st.booleans())
        optional(draw, objective, "kind", st.text(min_size=1, max_size=5))
        optional(draw, objective, "extra", st.lists(st.integers(0, 9), max_size=3))
    algorithm = {"name": draw(st.sampled_from(["asysg-con", "asysg-incon", "sync"]))}
    incon = algorithm["name"] == "asysg-incon"
    if algorithm["name"] != "sync":
        optional(draw, algorithm, "batch", st.integers(1, 8))
    optional(draw, algorithm, "iterations", st.integers(1, 100_000))
    optional(draw, algorithm, "step", st.one_of(
        positive, st.just({"policy": "corollary"}), st.builds(lambda v: {"policy": "constant", "value": v}, positive),
        st.builds(lambda c: {"policy": "decay", "c": c}, positive)))
    # a block or minibatch > 1 must fit the objective's dimension or samples, so parse builds the objective: only the
    # toy's, and only with hashable parameters (the objective cache's key)
    toy = objective["name"] == "toy" and "extra" not in objective
    optional(draw, algorithm, "minibatch", st.integers(1, 16 if toy else 1))
    if incon:  # keys only asysg-incon reads
        optional(draw, algorithm, "block", st.integers(1, objective.get("dim", 3) if toy else 1))
    else:  # ... which the others accept at their defaults (older run directories hold them)
        optional(draw, algorithm, "block", st.just(1))
    staleness = {}
    if algorithm["name"] != "sync":
        optional(draw, staleness, "policy", st.sampled_from(["wait", "drop"]))
        optional(draw, staleness, "bound", st.integers(0, 20))
    else:
        optional(draw, staleness, "policy", st.just("wait"))
    cluster = {"workers": workers}
    zero = st.just({"dist": "constant", "value": 0.0})
    for key in ("compute", "downlink", "uplink", "server", "read"):
        if key == "read" and not incon:
            optional(draw, cluster, key, st.sampled_from([{"dist": "constant", "value": 0.0}, {"dist": "constant", "value": 0}]))
            continue
        optional(draw, cluster, key, zero if incon and key in ("downlink", "uplink", "server") else distributions())
    optional(draw, cluster, "stragglers", st.fixed_dictionaries({}, optional={
        "probability": st.floats(0.0, 1.0), "slowdown": st.floats(1.0, 100.0)}))
    members = draw(st.lists(st.integers(0, workers - 1), unique=True))
    if members:
        split = draw(st.integers(1, len(members)))
        cluster["groups"] = [
            draw(st.fixed_dictionaries({"workers": st.just(part)}, optional={
                "slowdown": positive, "compute": distributions(), "uplink": zero if incon else distributions(),
                "stragglers": st.fixed_dictionaries({"probability": st.floats(0.0, 1.0)})}))
            for part in (members[:split], members[split:]) if part]
    if algorithm["name"] == "asysg-con" and "server" in cluster:
        # a busy server needs every worker's cycle to take time (zero-time cycles are bad input): give compute a mean
        for table in (cluster, *cluster.get("groups", [])):
            table["compute"] = {"dist": "exponential", "mean": 1.0}
    record = {}
    optional(draw, record, "every", st.one_of(st.just("auto"), st.integers(1, 1000)))
    optional(draw, record, "trace", st.booleans())
    data = {"objective": objective, "algorithm": algorithm, "staleness": staleness, "cluster": cluster, "record": record}
    optional(draw, data, "seed", st.integers(0, 2**63 - 1))
    optional(draw, data, "name", st.from_regex(NAME_PATTERN, fullmatch=True).filter(lambda name: len(name) <= MAX_NAME))
    return data


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_resolved_toml_round_trips(data):
    s = parse(data)
    text = to_toml(s)
    again = parse(tomllib.loads(text))
    assert again == s
    assert to_toml(again) == text


# ---- the example scenarios ----

def test_examples_exist():
    names = {path.stem for path in EXAMPLES}
    assert {"quickstart", "stragglers", "network-bound", "heterogeneous", "sync", "logistic-digits",
            "robust-regression", "rosenbrock", "mlp", "phase-retrieval", "measured", "rack", "failures"} <= names
    assert any(load(path).staleness.policy == "drop" for path in EXAMPLES)


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_loads(path):
    s = load(path)
    assert s.name == path.stem
    assert build_objective(s).dim >= 1
    assert parse(tomllib.loads(to_toml(s))) == s


# ---- the scenario name: a plain name, never a path ----

@settings(max_examples=300, deadline=None)
@given(st.text(max_size=MAX_NAME + 5))
def test_an_accepted_name_is_one_plain_folder_name(name):
    try:
        accepted = parse({**BASE, "name": name}).name
    except ScenarioError as error:
        assert error.path == "name" and "plain name" in error.allowed
        return
    assert accepted == name and Path(name).name == name and Path(f"{name}-seed0").parts == (f"{name}-seed0",)
    assert not name.startswith(".") and len(name.encode()) <= MAX_NAME
    assert not set(name) & set("/\\\0\n\r\t ")


@pytest.mark.parametrize("name", ["../../x", "/abs/path", "a/b", "..", ".", ".hidden", "a\0b", "a\nb", "", "x" * 201,
                                  "caf\u00e9", "a b", 7])
def test_names_that_are_not_plain_are_bad_input(name):
    error = error_of({**BASE, "name": name}, {})
    assert error.path == "name" and error.value == name


def test_a_scenario_file_without_a_name_is_named_by_its_stem_made_plain(tmp_path):
    for stem, name in [("my run", "my-run"), (".hidden", "hidden"), ("...", "scenario"), ("x" * 240, "x" * MAX_NAME),
                       ("quick-start_2.v1", "quick-start_2.v1")]:
        path = tmp_path / f"{stem}.toml"
        path.write_text('[objective]\nname = "toy"\n')
        assert load(path).name == name
