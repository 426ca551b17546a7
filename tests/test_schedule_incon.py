"""AsySG-incon and SAPALM whose reads take no time in closed form (sim/closed_form/incon.py) against the SimPy engine:
the same runs, bit for bit, single and batched."""

from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenarios import build_objective, parse
from sim import engine, simulate, simulate_batch, simulate_replicates
from sim.recording import WorkTally
from sim.closed_form.con import Tie, closed_form
from tests.helpers import assert_identical_runs, assert_replays, no_engine, scenario
from tests.test_schedule import DEPTHS, ZERO, _ring_depth, assert_batch_is_the_engines, cluster_data

REGULARIZERS = [{"name": "none"}, {"name": "l1", "weight": 0.01}, {"name": "box", "low": -0.3, "high": 0.3}]


@st.composite
def shared_memory_scenarios(draw, ties: bool = True, regularizer: bool = True):
    """AsySG-incon (block 1..3) or SAPALM (1..5 blocks of the 5-vector) with reads that take no time and no bound on
    `cluster_data` (1..6 threads, no network; with `ties`, constant compute too, one thread's or all), M = 1..3,
    an l1 or box regularizer."""
    sapalm = draw(st.booleans())
    data = draw(cluster_data(ties, max_workers=6, iterations=150, network=False,
                             algorithm="sapalm" if sapalm else "asysg-incon"))
    data["algorithm"] |= {"batch": draw(st.integers(1, 3))}
    data["algorithm"] |= {"blocks": draw(st.integers(1, 5))} if sapalm else {"block": draw(st.integers(1, 3))}
    if regularizer:
        data["algorithm"]["regularizer"] = draw(st.sampled_from(REGULARIZERS))
    return parse(data)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shared_memory_scenarios(), DEPTHS)
def test_closed_form_runs_equal_the_simpy_engine(s, depth):
    """Trace (the incon columns included), metrics, final iterate and summary, bit for bit; constant compute times
    tie and fall back to the engine."""
    assert closed_form(s)
    with _ring_depth(depth):
        assert_identical_runs(simulate(s), simulate(s, timing="simpy"))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shared_memory_scenarios(ties=False))
def test_without_ties_the_closed_form_is_what_runs(s):
    """Continuous compute times never tie: the run, single or batched, never starts the SimPy engine, and the
    batch's replicates step together in one apply_schedules."""
    replicates = []
    apply = engine.apply_schedules

    def watched(runs, schedules, depth):
        replicates.append(len(runs))
        return apply(runs, schedules, depth)

    with no_engine(), mock.patch.object(engine, "apply_schedules", watched):
        simulate(s)
        simulate_batch(s, [1, 2, 3])
    assert replicates == [1, 3]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shared_memory_scenarios(), st.lists(st.integers(0, 2**32), min_size=2, max_size=5, unique=True), DEPTHS)
def test_closed_form_batches_equal_the_simpy_engine(s, seeds, depth):
    """Lockstep replicates (diverging each at its own update, or tying and falling back to the engine) are the
    engine's single runs."""
    assert_batch_is_the_engines(s, seeds, depth)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shared_memory_scenarios(ties=False, regularizer=False), st.lists(st.sampled_from([0.01, 0.2, 1e6]), min_size=2,
                                                                        max_size=3, unique=True))
def test_replicates_with_different_steps_step_together_and_equal_their_single_runs(s, steps):
    """A column of steps (sim.run.lockstep) on the writes: each replicate's own gamma_k, bit for bit."""
    replicates = [parse({**s.resolved, "algorithm": {**s.resolved["algorithm"], "step": step}}) for step in steps]
    with no_engine():
        batched = simulate_replicates(replicates)
    for result, single in zip(batched, replicates):
        assert_identical_runs(result, simulate(single, timing="simpy"))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shared_memory_scenarios())
def test_closed_form_runs_replay_bit_for_bit(tmp_path_factory, s):
    s = parse({**s.resolved, "record": {**s.resolved["record"], "trace": True}})  # replay reads the trace
    assert_replays(simulate(s), tmp_path_factory.mktemp("run"))


@pytest.mark.parametrize("compute, slow", [
    ({"dist": "constant", "value": 1.0}, None),  # two threads write at t = 1, 2, ...
    (ZERO, None),                                 # a cycle takes no time: the write at its read's instant
    ({"dist": "constant", "value": 1.0}, 3.0),    # thread 0's M = 3 computations end with thread 1's first
])
def test_events_at_one_instant_tie_and_fall_back_to_the_engine(compute, slow):
    data = {**scenario(workers=2, iterations=60, algorithm="sapalm", compute=compute).resolved}
    data["algorithm"] |= {"blocks": 2, "batch": 3 if slow else 1}
    if slow:
        data["cluster"]["groups"] = [{"workers": [1], "slowdown": slow}]
    s = parse(data)
    with pytest.raises(Tie):
        list(engine._schedule(s, build_objective(s), WorkTally(s.cluster.workers)))
    assert_identical_runs(simulate(s), simulate(s, timing="simpy"))


def test_a_read_that_takes_time_or_a_bound_runs_on_the_engine():
    for s in (scenario(algorithm="asysg-incon", read={"dist": "exponential", "mean": 0.1}),
              scenario(algorithm="asysg-incon", bound=3)):
        assert not closed_form(s)
    assert closed_form(scenario(algorithm="asysg-incon", read=ZERO))
