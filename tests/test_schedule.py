"""The closed-form schedule (sim/closed_form/con.py) against the SimPy engine: the same runs, bit for bit."""

from __future__ import annotations

import contextlib
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import get_objective
from scenarios import build_objective, parse
from sim import engine, simulate, simulate_batch
from sim.closed_form.ring import Ring, apply_schedules
from sim.run import Run
from sim.recording import WorkTally
from sim.closed_form.con import ConSchedule, Tie, closed_form
from sim.cluster.streams import Draws, stream
from sim.cluster.workers import SampleStream, WorkerClock
from tests.helpers import assert_identical_runs, scenario

CONTINUOUS = [
    {"dist": "exponential", "mean": 1.0},
    {"dist": "uniform", "low": 0.5, "high": 2.0},
    {"dist": "lognormal", "mean": 1.0, "sigma": 1.0},
    {"dist": "pareto", "shape": 1.5, "scale": 0.3},
]
ZERO = {"dist": "constant", "value": 0.0}
TIES = [{"dist": "constant", "value": 1.0}, ZERO]


@st.composite
def cluster_data(draw, ties: bool = True, max_workers: int = 8, iterations: int = 300, network: bool = True,
                 algorithm: str = "asysg-con") -> dict:
    """A resolved scenario to build on: 1..max_workers workers, compute from `CONTINUOUS` (with `ties`, constants
    too, whose events share instants), with `network` a downlink and an uplink from it or free, stragglers, a group
    with its own compute (shared memory) or a slowdown, 1..iterations updates, minibatch 1 or 3, metrics every
    1..7, the trace on or off, and sometimes phase retrieval with a step that diverges."""
    compute = st.sampled_from(CONTINUOUS + (TIES if ties else []))
    workers = draw(st.integers(1, max_workers))
    data = {**scenario(workers=workers, compute=draw(compute), algorithm=algorithm).resolved}
    if network:
        latency = st.sampled_from(CONTINUOUS + TIES if ties else CONTINUOUS + [ZERO])
        data["cluster"] |= {"downlink": draw(latency), "uplink": draw(latency)}
    if draw(st.booleans()):
        data["cluster"]["stragglers"] = {"probability": 0.2, "slowdown": 10.0}
    if workers > 1 and draw(st.booleans()):
        data["cluster"]["groups"] = [{"workers": [0], "slowdown": draw(st.sampled_from([0.1, 5.0]))} if network
                                     else {"workers": [0], "compute": draw(compute)}]
    data["algorithm"] |= {"iterations": draw(st.integers(1, iterations)), "minibatch": draw(st.sampled_from([1, 3]))}
    data["record"] = {"every": draw(st.integers(1, 7)), "trace": draw(st.booleans())}
    data["seed"] = draw(st.integers(0, 2**32))
    if draw(st.integers(0, 4)) == 0:
        data["objective"] = {"name": "phase-retrieval", "n": 40, "dim": 5}
        data["algorithm"]["step"] = 0.5
    return data


@st.composite
def closed_form_scenarios(draw, ties: bool = True):
    """AsySG-con without a bound or server time (`cluster_data`), M = 1..4."""
    data = draw(cluster_data(ties))
    data["algorithm"]["batch"] = draw(st.integers(1, 4))
    return parse(data)


DEPTHS = st.sampled_from([None, 1, 2, 5])  # the ring's: the default, or so shallow that most reads are spilled


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(closed_form_scenarios(), DEPTHS)
def test_closed_form_runs_equal_the_simpy_engine(s, depth):
    assert closed_form(s)
    with _ring_depth(depth):
        assert_identical_runs(simulate(s), simulate(s, timing="simpy"))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(closed_form_scenarios(), st.lists(st.integers(0, 2**32), min_size=2, max_size=5, unique=True), DEPTHS)
def test_closed_form_batches_equal_the_simpy_engine(s, seeds, depth):
    """Lockstep replicates (diverging each at its own update, or tying and falling back to the engine) are the
    engine's single runs."""
    assert_batch_is_the_engines(s, seeds, depth)


def assert_batch_is_the_engines(s, seeds: list[int], depth: int | None) -> None:
    """simulate_batch of `seeds` (on a ring of `depth`) equals the SimPy engine's single runs, bit for bit."""
    with _ring_depth(depth):
        batch = simulate_batch(s, seeds)
    for seed, result in zip(seeds, batch):
        assert_identical_runs(result, simulate(s, seed, timing="simpy"))


def _ring_depth(depth: int | None):
    return mock.patch.object(engine, "ring_depth", lambda workers, batch: depth) if depth else contextlib.nullcontext()


@settings(max_examples=30, deadline=None)
@given(closed_form_scenarios(ties=False))
def test_continuous_latencies_never_tie(s):
    """Without constant latencies no two events share an instant, so the closed form is what runs: its blocks hold
    updates 0 .. K-1 in order."""
    blocks = list(engine._schedule(s, build_objective(s), WorkTally(s.cluster.workers)))
    assert [b.first for b in blocks] == list(np.cumsum([0] + [len(b) for b in blocks[:-1]]))
    assert sum(len(b) for b in blocks) == s.algorithm.iterations


def test_equal_constant_latencies_tie_and_fall_back_to_the_engine():
    s = scenario(workers=3, iterations=50, compute={"dist": "constant", "value": 1.0}, policy="wait")
    with pytest.raises(Tie):
        list(engine._schedule(s, build_objective(s), WorkTally(s.cluster.workers)))
    assert_identical_runs(simulate(s), simulate(s, timing="simpy"))


@pytest.mark.parametrize("fast, slow", [
    # worker 1's arrival at t = 2 was scheduled at t = 0.5, worker 0's at t = 1.5: SimPy takes worker 1's first
    ({"downlink": {"dist": "constant", "value": 0.5}, "compute": {"dist": "constant", "value": 0.5}},
     {"downlink": {"dist": "constant", "value": 0.5}, "compute": {"dist": "constant", "value": 1.5}}),
    # worker 1 reads at t = 2 (scheduled at t = 0) before worker 0's arrival at t = 2 (scheduled at t = 1)
    ({"downlink": {"dist": "constant", "value": 1.0}, "compute": {"dist": "constant", "value": 1.0}},
     {"downlink": {"dist": "constant", "value": 2.0}, "compute": {"dist": "constant", "value": 0.7}}),
])
def test_events_at_one_instant_in_the_engines_order_not_the_workers(fast, slow):
    """Two events at one instant go in SimPy's order (when each was scheduled), which is not worker order here:
    the schedule raises Tie and the run is the engine's."""
    s = parse({**scenario(workers=2, iterations=40).resolved,
               "cluster": {"workers": 2, "groups": [{"workers": [0], **fast}, {"workers": [1], **slow}]}})
    with pytest.raises(Tie):
        list(engine._schedule(s, build_objective(s), WorkTally(s.cluster.workers)))
    assert_identical_runs(simulate(s), simulate(s, timing="simpy"))


def test_a_run_that_ties_midway_reports_its_progress_once():
    """Workers of constant compute 1 and 1 + 2^-12 first arrive together at t = 4097, after thousands of updates:
    the run goes on the engine from the start, and progress is still reported once per recorded update."""
    s = parse({**scenario(workers=2, iterations=10_000).resolved, "record": {"every": 1000},
               "cluster": {"workers": 2, "compute": {"dist": "constant", "value": 1.0},
                           "groups": [{"workers": [1], "slowdown": 1 + 2**-12}]}})
    with pytest.raises(Tie):
        list(engine._schedule(s, build_objective(s), WorkTally(s.cluster.workers)))
    reported = {"auto": [], "simpy": []}
    for timing, updates in reported.items():
        result = simulate(s, progress=updates.append, timing=timing)
    assert reported["auto"] == reported["simpy"] == list(range(1000, 10_001, 1000))
    assert_identical_runs(result, simulate(s))


def test_a_replicate_that_ties_midway_runs_on_the_engine_and_the_others_go_on():
    s = parse({**scenario(workers=4, iterations=3000).resolved, "record": {"every": 100}})
    schedule = engine._schedule

    def tie_for_seed_7(replicate, objective, work):
        blocks = schedule(replicate, objective, work)
        if replicate.seed != 7:
            return blocks

        def tie_after_one_block():
            yield next(blocks)
            raise Tie("injected")
        return tie_after_one_block()

    with mock.patch.object(engine, "_schedule", tie_for_seed_7):
        batch = simulate_batch(s, [5, 7, 9])
    for seed, result in zip([5, 7, 9], batch):
        assert_identical_runs(result, simulate(s, seed, timing="simpy"))


def test_a_closed_form_run_holds_a_bounded_number_of_gradients_and_iterates_however_long():
    """Memory flat in K: over 100 000 updates of a heterogeneous cluster (a 20x slower worker) with heavy-tailed
    compute, the schedule keeps at most two rounds of gradients per worker pending, the blocks at most W + M reads
    waiting, and the ring at most that many spilled iterates besides its own."""
    s = parse({**scenario(workers=8, iterations=100_000).resolved, "record": {"every": 100_000, "trace": False},
               "cluster": {"workers": 8, "compute": {"dist": "pareto", "shape": 1.5, "scale": 0.3},
                           "groups": [{"workers": [0], "slowdown": 20.0}]}})
    objective = build_objective(s)
    schedule = ConSchedule(*engine._worker_streams(s, objective), 1, s.algorithm.iterations, 1)
    pending, waiting = 0, 0

    def watched():
        nonlocal pending, waiting
        for block in schedule:
            pending, waiting = max(pending, len(schedule._pending)), max(waiting, len(block.waiting))
            yield block

    spilled = []
    step = Ring.step

    def watched_step(ring, *args):
        spilled.append(len(ring.spilled[0]))
        step(ring, *args)

    with mock.patch.object(Ring, "step", watched_step):
        run = Run(s, objective)
        assert apply_schedules([run], [watched()], engine._depth(s)) == []
    assert run.store.version == 100_000 and max(spilled) > 0  # the slow worker's reads outlive the ring
    assert pending <= 2 * schedule._cycles.sum() and waiting <= 8 + 1 and max(spilled) <= 8 + 1


def test_a_fast_worker_generates_in_proportion_to_its_speed():
    """A worker 100x faster than the others generates about 100x as many gradients at a time, so that a round
    takes in more than its own few arrivals (the others' generations span as much time)."""
    s = parse({**scenario(workers=8).resolved, "cluster": {"workers": 8, "groups": [{"workers": [0], "slowdown": 0.01}]}})
    schedule = ConSchedule(*engine._worker_streams(s, build_objective(s)), 1, 10_000, 1)
    next(iter(schedule))
    assert 50 * schedule._base <= schedule._cycles[0] <= 200 * schedule._base
    assert (schedule._cycles[1:] < 2 * schedule._base).all()


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32), st.lists(st.integers(0, 3000), min_size=1, max_size=6), st.booleans())
def test_bulk_draws_are_the_draws_one_at_a_time(seed, counts, stragglers):
    """Draws.take, WorkerClock.computes and SampleStream.take continue the sequences of single calls."""
    from scenarios.types import WorkerTiming
    from scenarios.distributions import Exponential

    objective = get_objective("nonconvex-logistic", n=50, dim=3)
    one, bulk = (Draws(Exponential(1.0).draw, stream(seed, 0)) for _ in range(2))
    timing = WorkerTiming(Exponential(1.0), Exponential(1.0), Exponential(1.0), 0.3 if stragglers else 0.0, 4.0)
    clock_one, clock_bulk = WorkerClock(timing, seed, 2), WorkerClock(timing, seed, 2)
    samples_one, samples_bulk = SampleStream(objective, 3, seed, 1), SampleStream(objective, 3, seed, 1)
    for count in counts:
        assert bulk.take(count).tolist() == [one() for _ in range(count)]
        assert clock_bulk.computes(count).tolist() == [clock_one.compute() for _ in range(count)]
        assert samples_bulk.take(count).tolist() == [samples_one().tolist() for _ in range(count)]
