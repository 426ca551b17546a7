"""Switching algorithms on one scenario by an override (scenarios.switch): the new method's defaults apply, the
file's keys it cannot use are recorded under [unused], and keys the user sets for it explicitly stay bad input."""

import tomllib

import pytest

from scenarios import ScenarioError, load, parse, to_toml
from sim.frontends.grid import parse_grid
from sim.frontends.sweep import plan


def test_sync_on_the_quickstart_takes_its_own_batch_and_records_what_it_left_unused():
    scenario = load("scenarios/quickstart.toml", {"algorithm.name": "sync"}, switch=True)
    assert scenario.algorithm.batch == scenario.cluster.workers == 8
    assert scenario.resolved["unused"] == {"algorithm": {"batch": 1}, "staleness": {"bound": 16, "policy": "wait"}}
    assert "staleness" not in scenario.resolved
    text = to_toml(scenario)
    assert to_toml(parse(tomllib.loads(text))) == text  # the resolved scenario reloads as itself


def test_the_files_own_method_and_a_switch_back_leave_nothing_unused():
    assert "unused" not in load("scenarios/quickstart.toml").resolved
    assert "unused" not in load("scenarios/quickstart.toml", {"algorithm.name": "asysg-con"}, switch=True).resolved
    back = load("scenarios/sync.toml", {"algorithm.name": "asysg-con"}, switch=True)
    assert back.algorithm.batch == 1 and "unused" not in back.resolved


@pytest.mark.parametrize("key, value", [("algorithm.batch", 1), ("staleness.bound", 4), ("staleness.policy", "drop")])
def test_a_key_set_explicitly_for_a_method_that_cannot_use_it_stays_bad_input(key, value):
    with pytest.raises(ScenarioError) as error:
        load("scenarios/quickstart.toml", {"algorithm.name": "sync", key: value}, switch=True)
    assert error.value.path == key


def test_set_keeps_checking_the_files_keys_against_the_method_it_names():
    with pytest.raises(ScenarioError) as error:
        load("scenarios/quickstart.toml", {"algorithm.name": "sync"})  # asgd run --set algorithm.name=sync
    assert error.value.path == "algorithm.batch"


def test_a_sweep_plans_the_quickstart_across_methods():
    runs = plan("scenarios/quickstart.toml", parse_grid(["algorithm.name=asysg-con,sync"]), {})
    assert [tomllib.loads(run.scenario)["algorithm"]["name"] for run in runs] == ["asysg-con", "sync"]
