"""Bad input names the key path, the offending value and what is allowed, in one line: each kind of rule
(integer and number ranges, open and closed, strings, booleans, tables, required and unknown keys) states itself."""

from __future__ import annotations

import pytest

from scenarios import ScenarioError, parse

CASES = [
    ({"cluster": {"workers": 0}}, "cluster.workers = 0: must be an integer >= 1"),
    ({"cluster": {"workers": 4, "groups": [{"workers": [7]}]}},
     "cluster.groups[0].workers[0] = 7: must be an integer in [0, 3]"),
    ({"cluster": {"stragglers": {"probability": 2.0}}},
     "cluster.stragglers.probability = 2.0: must be a finite number in [0, 1]"),
    ({"algorithm": {"step": {"policy": "constant", "value": 0}}}, "algorithm.step.value = 0: must be a finite number > 0"),
    ({"algorithm": {"step": {"policy": "constant"}}}, "algorithm.step.value = (missing): is required"),
    ({"record": {"trace": 1}}, "record.trace = 1: must be true or false"),
    ({"name": ""}, "name = '': must be a plain name of at most 200 characters: letters, digits, '.', '_' and '-', "
                   "not starting with '.' (it names the run's folder, runs/NAME-seedN)"),
    ({"cluster": 3}, "cluster = 3: must be a table"),
    ({"bogus": 1}, "bogus = 1: unknown key; allowed in the top level: name, seed, objective, algorithm, staleness, "
                   "cluster, record, unused"),
    ({"cluster": {"bogus": 1}}, "cluster.bogus = 1: unknown key; allowed in cluster: workers, compute, downlink, "
                                "uplink, server, read, stragglers, speed, failures, loss, groups"),
]


@pytest.mark.parametrize("data, message", CASES, ids=[message.split(" = ")[0] for _, message in CASES])
def test_each_rule_states_what_is_allowed(data, message):
    with pytest.raises(ScenarioError) as error:
        parse({"objective": {"name": "nonconvex-logistic", "n": 64, "dim": 5}} | data)
    assert str(error.value) == message
