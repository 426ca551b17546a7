"""Runs that differ only in their step (and seed) share their schedules' timing and step their math in lockstep
(sim.engine.simulate_replicates, sim.run.lockstep): each equal to its single run bit for bit."""

from __future__ import annotations

import tomllib

from hypothesis import given, settings
from hypothesis import strategies as st

from scenarios import parse, to_toml
from sim import simulate, simulate_replicates
from sim.engine import same_but_seed_and_step
from sim.frontends.executors import _replicate_groups
from tests.helpers import assert_identical_runs, scenario

STEPS = st.lists(st.sampled_from([0.01, 0.05, 0.2, 1.0, 5.0, 1e6]), min_size=2, max_size=4)  # 1e6: it diverges


@settings(max_examples=12, deadline=None)
@given(steps=STEPS, seeds=st.lists(st.integers(0, 3), min_size=1, max_size=2), workers=st.integers(1, 5),
       batch=st.integers(1, 2), bound=st.sampled_from([None, 0, 2]), policy=st.sampled_from(["wait", "drop"]),
       algorithm=st.sampled_from(["asysg-con", "sync"]), timing=st.sampled_from(["auto", "simpy"]))
def test_lockstep_steps_equal_single_runs_bit_for_bit(steps, seeds, workers, batch, bound, policy, algorithm, timing):
    if algorithm == "sync":
        base = scenario(workers, 40, algorithm="sync")
    else:
        base = scenario(workers, 40, batch=batch, bound=bound, policy=policy)
    replicates = [parse({**base.resolved, "seed": seed, "algorithm": {**base.resolved["algorithm"], "step": step}})
                  for step in steps for seed in seeds]
    for batched, single in zip(simulate_replicates(replicates, timing), replicates):
        assert_identical_runs(batched, simulate(single, timing=timing))


def test_the_executors_group_runs_that_differ_only_in_seed_and_constant_step():
    texts = [to_toml(parse({**scenario().resolved, "seed": seed, "algorithm": {**scenario().resolved["algorithm"],
                                                                                "step": step}}))
             for step in (0.1, 0.2) for seed in (0, 1)]
    other = to_toml(scenario(workers=3))
    groups = _replicate_groups([(str(i), text) for i, text in enumerate([*texts, other])])
    assert [len(group) for group in groups] == [4, 1]
    regularized = {**scenario().resolved}
    regularized["algorithm"] = {**regularized["algorithm"], "regularizer": {"name": "l1", "weight": 0.1}}
    assert same_but_seed_and_step(regularized)["algorithm"]["step"] != {"policy": "constant"}  # a prox: not batched
    assert tomllib.loads(texts[0])["algorithm"]["step"]["policy"] == "constant"
