"""SVRG's epochs on AsySG-con in closed form (sim/closed_form/epochs.py) against the SimPy engine: the same runs, bit
for bit (the gate's waits, the inner gradients' two compute draws and the estimator's snapshots included)."""

from __future__ import annotations


import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from scenarios import parse
from sim import simulate, simulate_batch
from sim.closed_form.con import closed_form
from sim.cluster.workers import RepeatedClock, WorkerClock
from sim.protocols.epochs import full_pass_time
from tests.helpers import assert_identical_runs, assert_replays, no_engine, scenario
from tests.test_schedule import DEPTHS, _ring_depth, cluster_data


@st.composite
def svrg_scenarios(draw, ties: bool = True):
    """SVRG (epoch 1-20, at most K) on `cluster_data` (1-6 workers; with `ties`, compute 0 too: gradients in no time, snapshot
    rounds of none), M 1-3, sometimes an l1 prox."""
    data = draw(cluster_data(ties, max_workers=6, iterations=150))
    data["algorithm"] |= {"batch": draw(st.integers(1, 3)),
                          "estimator": {"name": "svrg",
                                        "epoch": draw(st.integers(1, min(20, data["algorithm"]["iterations"])))}}
    if draw(st.booleans()):
        data["algorithm"]["regularizer"] = {"name": "l1", "weight": 0.01}
    data["staleness"] = {}
    return parse(data)


def svrg_scenario(epoch: int, **keys):
    """tests.helpers.scenario(**keys) with SVRG's epochs of `epoch` updates, without a staleness bound."""
    data = scenario(**keys).resolved
    data["algorithm"]["estimator"] = {"name": "svrg", "epoch": epoch}
    data["staleness"] = {}
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
    with no_engine():
        simulate(s)


def test_a_typical_svrg_run_takes_the_closed_form_waits_at_the_gate_and_replays(tmp_path):
    """Heterogeneous workers with a network: the closed form runs it alone; the epochs' first reads wait for their
    snapshot round (every epoch's reads come after its opening, the last update of the epoch before plus the
    round); batched seeds equal their single runs; the run replays bit for bit."""
    s = svrg_scenario(30, workers=5, iterations=120, every=10, downlink={"dist": "exponential", "mean": 0.1},
                      groups=[{"workers": [0], "slowdown": 4.0}])
    with no_engine():
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
    s = svrg_scenario(40, workers=5, iterations=200, every=10, downlink={"dist": "exponential", "mean": 20.0})
    with no_engine():
        result = simulate(s)
    assert_identical_runs(result, simulate(s, timing="simpy"))


def test_an_epoch_longer_than_the_run_goes_to_the_engine():
    """The closed form draws an epoch's schedule whole (epoch x M reads), so an epoch longer than the run (say one
    snapshot for all of it, epoch 10^12) would cost that much: the engine runs it, which costs only the run."""
    assert closed_form(svrg_scenario(40, workers=3, iterations=40))
    s = svrg_scenario(10**12, workers=3, iterations=40)
    assert not closed_form(s)
    assert simulate(s).summary["iterations"] == 40
