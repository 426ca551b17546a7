"""The dropping protocols' closed-form scan (sim/closed_form/scan.py) against the SimPy engine: the same runs, bit for
bit (policy "drop" on AsySG-con, Rennala SGD, Ringmaster ASGD without cancel)."""

from __future__ import annotations

import contextlib
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenarios import parse
from sim import engine, simulate
from sim.closed_form import con
from sim.closed_form.con import closed_form
from tests.helpers import assert_identical_runs, assert_replays, no_engine, scenario
from tests.test_schedule import DEPTHS, _ring_depth, assert_batch_is_the_engines, cluster_data


def dropping(data: dict, kind: str, batch: int, bound: int) -> dict:
    """`data` (a resolved scenario) as a dropping run: policy "drop" with bound T on AsySG-con, Rennala SGD with
    batch S (T = 0) or Ringmaster ASGD without cancel with threshold T + 1 (batch 1)."""
    algorithm = {key: value for key, value in data["algorithm"].items() if key not in ("name", "batch")}
    if kind == "drop":
        return {**data, "algorithm": {**algorithm, "name": "asysg-con", "batch": batch},
                "staleness": {"bound": bound, "policy": "drop"}}
    data = {key: value for key, value in data.items() if key != "staleness"}
    if kind == "rennala":
        return {**data, "algorithm": {**algorithm, "name": "rennala", "batch": batch}}
    return {**data, "algorithm": {**algorithm, "name": "ringmaster", "threshold": bound + 1, "cancel": False}}


@st.composite
def dropping_scenarios(draw, ties: bool = True):
    """Dropping runs (`cluster_data`: 1-6 workers) with M (or S) 1-3 and T 0-4."""
    data = draw(cluster_data(ties, max_workers=6))
    kind = draw(st.sampled_from(["drop", "rennala", "ringmaster"]))
    return parse(dropping(data, kind, draw(st.integers(1, 3)), draw(st.integers(0, 4))))


def _short_rounds(short: bool):
    """Rounds of 16 gradients a worker (ConSchedule's least), so that a small run spans many blocks."""
    return mock.patch.object(con, "ROUND_GRADIENTS", 1) if short else contextlib.nullcontext()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dropping_scenarios(), DEPTHS, st.booleans())
def test_scanned_runs_equal_the_simpy_engine(s, depth, short):
    assert closed_form(s)
    with _ring_depth(depth), _short_rounds(short):
        assert_identical_runs(simulate(s), simulate(s, timing="simpy"))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dropping_scenarios(), st.lists(st.integers(0, 2**32), min_size=2, max_size=4, unique=True), DEPTHS,
       st.booleans())
def test_scanned_batches_equal_the_simpy_engine(s, seeds, depth, short):
    """Lockstep replicates (each diverging, tying or finishing on its own, their blocks unaligned) are the engine's
    single runs."""
    with _short_rounds(short):
        assert_batch_is_the_engines(s, seeds, depth)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dropping_scenarios(ties=False))
def test_the_scan_runs_without_the_engine_where_no_events_tie(s):
    """Continuous latencies (no two events at one instant): the run never starts the SimPy engine."""
    with no_engine():
        simulate(s)


@pytest.mark.parametrize("kind, batch, bound", [("drop", 1, 2), ("drop", 2, 0), ("rennala", 3, 0),
                                                ("ringmaster", 1, 3)])
def test_typical_dropping_runs_take_the_scan_and_drop(kind, batch, bound, tmp_path):
    """A typical cluster (heterogeneous, exponential compute, a network): the scan runs it alone, drops gradients
    with their rows, counts and wasted time as the engine does, and the run replays bit for bit."""
    data = scenario(workers=6, iterations=400, every=50, downlink={"dist": "exponential", "mean": 0.1},
                    groups=[{"workers": [0, 1], "slowdown": 4.0}]).resolved
    s = parse(dropping(data, kind, batch, bound))
    with no_engine():
        scanned = simulate(s)
    assert scanned.summary["dropped"] > 0
    trace = scanned.trace
    dropped = trace[~trace.applied]
    assert len(dropped) == scanned.summary["dropped"] and (dropped["update"] == -1).all()
    assert (dropped.staleness > bound).all() and (trace[trace.applied].staleness <= bound).all()
    assert scanned.summary["gradients"] == len(trace) == 400 * batch + len(dropped)
    assert_identical_runs(scanned, simulate(s, timing="simpy"))
    assert_replays(scanned, tmp_path / "run")


@pytest.mark.parametrize("kind, batch, bound", [("drop", 1, 3), ("drop", 3, 2), ("ringmaster", 1, 4)])
@pytest.mark.parametrize("depth", [1, 2])
def test_reads_outliving_a_shallow_ring_across_many_blocks(kind, batch, bound, depth):
    """Short rounds and a ring of 1 or 2 iterates: gradients read in one block and applied in a later one take
    their iterates from the spilled ones (a version waiting at a block's end must be kept unless its gradient is
    sure to be dropped)."""
    s = parse(dropping(scenario(workers=4, iterations=300, every=3).resolved, kind, batch, bound))
    with _ring_depth(depth), _short_rounds(True):
        with no_engine():
            scanned = simulate(s)
    assert_identical_runs(scanned, simulate(s, timing="simpy"))


def test_a_scan_that_ties_falls_back_to_the_engine():
    """Constant compute without latency: every worker arrives at one instant, so the scan meets a Tie and the
    engine runs the scenario (the same run as on the engine alone)."""
    s = parse(dropping(scenario(workers=4, iterations=50, compute={"dist": "constant", "value": 1.0}).resolved,
                       "drop", 1, 1))
    with mock.patch.object(engine, "_start", wraps=engine._start) as started:
        result = simulate(s)
    assert started.called
    assert_identical_runs(result, simulate(s, timing="simpy"))
