"""SVRG's epochs on AsySG-con in closed form (sim/closed_form/epochs.py) against the SimPy engine: the same runs, bit
for bit (the gate's waits, the inner gradients' two compute draws and the estimator's snapshots included)."""

from __future__ import annotations

from unittest import mock

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from scenarios import parse
from sim import engine, simulate, simulate_batch
from sim.closed_form.con import closed_form
from sim.cluster.workers import RepeatedClock, WorkerClock
from sim.protocols.epochs import full_pass_time
from tests.helpers import assert_identical_runs, assert_replays, scenario
from tests.test_schedule import CONTINUOUS, DEPTHS, TIES, ZERO, _ring_depth


@st.composite
def svrg_scenarios(draw, ties: bool = True):
    """SVRG (epoch 1-20) on 1-6 workers, M 1-3, compute from `CONTINUOUS` (with `ties`, constants too, 0 included:
    gradients in no time, snapshot rounds of none), network
    from it or free, stragglers, a slow group, minibatch 1 or 3, sometimes an l1 prox, metrics every 1..7, the trace
    on or off, and sometimes phase retrieval with a step that diverges."""
    compute = st.sampled_from(CONTINUOUS + (TIES if ties else []))
    network = st.sampled_from(CONTINUOUS + TIES if ties else CONTINUOUS + [ZERO])
    workers = draw(st.integers(1, 6))
    data = {**scenario(workers=workers, compute=draw(compute)).resolved}
    data["cluster"] |= {"downlink": draw(network), "uplink": draw(network)}
    if draw(st.booleans()):
        data["cluster"]["stragglers"] = {"probability": 0.2, "slowdown": 10.0}
    if workers > 1 and draw(st.booleans()):
        data["cluster"]["groups"] = [{"workers": [0], "slowdown": draw(st.sampled_from([0.1, 5.0]))}]
    data["algorithm"] |= {"iterations": draw(st.integers(1, 150)), "batch": draw(st.integers(1, 3)),
                          "minibatch": draw(st.sampled_from([1, 3])),
                          "estimator": {"name": "svrg", "epoch": draw(st.integers(1, 20))}}
    if draw(st.booleans()):
        data["algorithm"]["regularizer"] = {"name": "l1", "weight": 0.01}
    data["staleness"] = {}
    data["record"] = {"every": draw(st.integers(1, 7)), "trace": draw(st.booleans())}
    data["seed"] = draw(st.integers(0, 2**32))
    if draw(st.integers(0, 4)) == 0:
        data["objective"] = {"name": "phase-retrieval", "n": 40, "dim": 5}
        data["algorithm"]["step"] = 0.5
    return parse(data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(svrg_scenarios(), DEPTHS)
def test_svrg_closed_form_runs_equal_the_simpy_engine(s, depth):
    assert closed_form(s)
    with _ring_depth(depth):
        assert_identical_runs(simulate(s), simulate(s, timing="simpy"))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(svrg_scenarios(ties=False))
def test_svrg_runs_without_the_engine_where_no_events_tie(s):
    """Continuous latencies and at least as many places in an epoch as workers (the workers waiting at the gate's
    opening all read then, at one instant: with fewer places their order would decide who reads)."""
    assume(s.algorithm.estimator.epoch * s.algorithm.batch >= s.cluster.workers)
    with mock.patch.object(engine, "_start", side_effect=AssertionError("the SimPy engine ran")):
        simulate(s)


def test_a_typical_svrg_run_takes_the_closed_form_waits_at_the_gate_and_replays(tmp_path):
    """Heterogeneous workers with a network: the closed form runs it alone; the epochs' first reads wait for their
    snapshot round (every epoch's reads come after its opening, the last update of the epoch before plus the
    round); batched seeds equal their single runs; the run replays bit for bit."""
    data = scenario(workers=5, iterations=120, every=10, downlink={"dist": "exponential", "mean": 0.1},
                    groups=[{"workers": [0], "slowdown": 4.0}]).resolved
    data["algorithm"]["estimator"] = {"name": "svrg", "epoch": 30}
    data["staleness"] = {}
    s = parse(data)
    with mock.patch.object(engine, "_start", side_effect=AssertionError("the SimPy engine ran")):
        result = simulate(s)
    assert_identical_runs(result, simulate(s, timing="simpy"))
    trace, snapshot = result.trace, full_pass_time(s.cluster.timings, 64, 1)
    ends = trace.groupby("update").t_apply.first()
    for epoch in range(4):
        opening = (ends[30 * epoch - 1] if epoch else 0.0) + snapshot
        inner = trace[(trace["update"] >= 30 * epoch) & (trace["update"] < 30 * (epoch + 1))]
        assert inner.t_read.min() == opening and (inner.read_version >= 30 * epoch).all()
    for batched, seed in zip(simulate_batch(s, [1, 2]), [1, 2]):
        assert_identical_runs(batched, simulate(s, seed, timing="simpy"))
    assert_replays(result, tmp_path / "run")


def test_repeated_clock_computes_are_its_computes_one_by_one():
    timing = scenario(stragglers={"probability": 0.3, "slowdown": 3.0},
                      compute={"dist": "lognormal", "mean": 1.0, "sigma": 1.0}).cluster.timings[0]
    one, many = RepeatedClock(WorkerClock(timing, 7, 2), 2), RepeatedClock(WorkerClock(timing, 7, 2), 2)
    values = np.array([one.compute() for _ in range(300)])
    assert values.tobytes() == np.concatenate([many.computes(100), many.computes(200)]).tobytes()


def test_a_downlink_outlasting_the_snapshot_round_reads_after_the_opening():
    """Downlinks longer than the snapshot round: a worker's first read of an epoch is after the gate's opening,
    when its downlink ends (the downlink began at its last arrival of the epoch before)."""
    data = scenario(workers=5, iterations=200, every=10, downlink={"dist": "exponential", "mean": 20.0}).resolved
    data["algorithm"]["estimator"] = {"name": "svrg", "epoch": 40}
    data["staleness"] = {}
    s = parse(data)
    with mock.patch.object(engine, "_start", side_effect=AssertionError("the SimPy engine ran")):
        result = simulate(s)
    assert_identical_runs(result, simulate(s, timing="simpy"))
