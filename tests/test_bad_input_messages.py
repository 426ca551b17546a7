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


def test_the_allowed_values_are_stated_as_they_are_checked():
    """The "allowed" text of an objective parameter's or a scenario key's error (models/values.py) says exactly what
    the predicate accepts: each bound, open or closed, and every choice."""
    from models.values import choice_rule, integer_rule, is_integer, is_real, real_rule

    assert integer_rule() == "must be an integer"
    assert integer_rule(1) == "must be an integer >= 1"
    assert integer_rule(None, 5) == "must be an integer <= 5"
    assert integer_rule(1, 5) == "must be an integer in [1, 5]"
    assert real_rule(0.0, open_low=True) == "must be a finite number > 0.0"
    assert real_rule(0.0) == "must be a finite number >= 0.0"
    assert real_rule(0.0, 0.5) == "must be a finite number in [0.0, 0.5]"
    assert real_rule(0.0, 0.5, open_low=True) == "must be a finite number in (0.0, 0.5]"
    assert choice_rule(("synthetic", "digits")) == "must be one of: 'synthetic', 'digits'"
    assert [is_integer(v, 1, 5) for v in (0, 1, 5, 6)] == [False, True, True, False]
    assert [is_real(v, 0.0, 0.5) for v in (-0.1, 0.0, 0.5, 0.6)] == [False, True, True, False]
    assert [is_real(v, 0.0, open_low=True) for v in (0.0, 5e-324)] == [False, True]
