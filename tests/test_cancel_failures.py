"""Ringmaster ASGD with cancel = true (sim/protocols/cancel.py) on clusters whose workers fail and whose messages are
lost (sim/cluster/failures.py): a cancel and a failure at one instant, the run's invariants, reproducibility, and the
reduction to AsySG-con when no computation reaches R."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import simulate, simulate_batch
from tests.helpers import assert_reproducible
from tests.test_algorithms import assert_same_run, run_scenario
from tests.test_staleness_methods import _applied, _counting_events


def _constant(value: float) -> dict:
    return {"dist": "constant", "value": value}


def _exponential(mean: float) -> dict:
    return {"dist": "exponential", "mean": mean}


def _rows(result) -> list[tuple]:
    events = result.events
    return list(zip(events["time"], events["worker"], events["kind"], events["read_version"], events["lost_time"]))


def _fast_and_failing(fast: float, slow: float, uptime: float, downtime: float, iterations: int):
    """R = 1: worker 0 computes in `fast`, worker 1 in `slow` (> fast, so each update of worker 0 cancels it) and
    fails after `uptime` for `downtime`, constants: cancels and failures of worker 1 fall on the same instants."""
    return run_scenario("ringmaster", workers=2, threshold=1, cancel=True, iterations=iterations, cluster={"groups": [
        {"workers": [0], "compute": _constant(fast)},
        {"workers": [1], "compute": _constant(slow), "failures": {"uptime": _constant(uptime),
                                                                   "downtime": _constant(downtime)}}]})


def test_a_failure_before_the_update_of_its_instant_takes_the_computation():
    """Worker 1 reads v1 at 1 (cancelled at 1); at 2 its failure (timed from 0) comes before worker 0's update 2
    (its computation timed from 1): the read is lost to the failure, and update 2 cancels nothing. Back at 2.5, worker
    1 reads v2, cancelled by update 3 at 3."""
    result = simulate(_fast_and_failing(1.0, 3.0, 2.0, 0.5, 4))
    assert _rows(result) == [(1.0, 1, "cancel", 0, 1.0), (2.0, 1, "failure", 1, 1.0), (2.5, 1, "recovery", -1, 0.0),
                             (3.0, 1, "cancel", 2, 0.5)]
    trace = result.trace
    assert list(zip(trace["worker"], trace["read_version"], trace["t_apply"])) == [(0, k, k + 1.0) for k in range(4)]
    summary = result.summary
    assert (summary["cancelled"], summary["failures"], summary["evaluations"]) == (2, 1, 6)
    assert (summary["cancelled_time"], summary["lost_worker_time"]) == (1.5, 1.0)


def test_an_update_before_the_failure_of_its_instant_cancels_then_the_failure_takes_the_new_pull():
    """Worker 1 fails at 1 (lost read v0), is back at 3 and reads v1; at 4 worker 0's update 2 (its computation timed
    from 2) comes before worker 1's failure (timed from its recovery at 3): the computation is cancelled, worker 1
    pulls v2 at once and the failure takes that pull (lost_time 0)."""
    result = simulate(_fast_and_failing(2.0, 5.0, 1.0, 2.0, 3))
    assert _rows(result) == [(1.0, 1, "failure", 0, 1.0), (3.0, 1, "recovery", -1, 0.0), (4.0, 1, "cancel", 1, 1.0),
                             (4.0, 1, "failure", 2, 0.0), (6.0, 1, "recovery", -1, 0.0)]
    assert list(result.trace["worker"]) == [0, 0, 0]
    summary = result.summary
    assert (summary["cancelled"], summary["failures"], summary["evaluations"]) == (1, 2, 4)


FAULTY = dict(
    seed=st.integers(0, 2**32 - 1), workers=st.integers(1, 5), threshold=st.integers(1, 3),
    loss=st.sampled_from([0.0, 0.3]),
    failures=st.sampled_from([None, {"uptime": _exponential(3.0), "downtime": _exponential(1.0)},
                              {"uptime": _exponential(2.0), "downtime": _constant(0.0)}]),
    uplink=st.sampled_from([None, _exponential(0.3)]), downlink=st.sampled_from([None, _exponential(0.2)]))


def _faulty(seed, workers, threshold, loss, failures, uplink, downlink, iterations=40, **keys):
    """A cancelling Ringmaster run with failures, lost messages or both (loss 0.3 when neither is drawn)."""
    cluster = {"loss": loss if failures is not None or loss > 0 else 0.3, **({} if failures is None else
                                                                           {"failures": failures})}
    cluster.update({key: value for key, value in (("uplink", uplink), ("downlink", downlink)) if value is not None})
    return run_scenario("ringmaster", workers=workers, threshold=threshold, cancel=True, seed=seed,
                        iterations=iterations, cluster=cluster, **keys)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**FAULTY)
def test_cancels_failures_and_losses_are_logged_counted_and_never_applied(seed, workers, threshold, loss, failures,
                                                                          uplink, downlink):
    result = simulate(_faulty(seed, workers, threshold, loss, failures, uplink, downlink))
    summary, events, trace = result.summary, result.events, result.trace
    assert summary["iterations"] == 40
    kinds = events["kind"]
    cancels = events[kinds == "cancel"]
    assert summary["cancelled"] == len(cancels)
    assert summary["failures"] == (kinds == "failure").sum() and summary["lost_messages"] == (kinds == "loss").sum()
    assert summary["cancelled_time"] == pytest.approx(float(cancels["lost_time"].sum()))
    assert summary["lost_worker_time"] == pytest.approx(float(events[kinds.isin(["failure", "loss"])]["lost_time"].sum()))
    applied, _ = _applied(result)
    assert (applied["staleness"] < threshold).all() and summary["gradients"] == len(trace)
    # a cancelled computation is never traced (nor applied): no trace row is its read
    for worker, version, read_at in zip(cancels["worker"], cancels["read_version"], cancels["time"] - cancels["lost_time"]):
        same = trace[(trace["worker"] == worker) & (trace["read_version"] == version)]
        assert not np.isclose(same["t_read"], read_at, rtol=0, atol=1e-9).any()
    # cancelled at the update that makes its staleness R, never while its worker is down (failure .. recovery,
    # which alternate)
    times = applied.groupby("update")["t_apply"].first().to_numpy()
    down = set()
    for time, worker, kind, version, _ in _rows(result):
        if kind == "failure":
            assert worker not in down
            down.add(worker)
        elif kind == "recovery":
            down.remove(worker)
        elif kind == "cancel":
            assert worker not in down and time == times[version + threshold - 1]
    # evaluations: every gradient that reached the server, cancelled or lost on the network, plus the failures that
    # struck after their computation (during the uplink: none without one)
    reached = summary["gradients"] + summary["cancelled"] + summary["lost_messages"]
    struck = 0 if uplink is None else int(((kinds == "failure") & (events["read_version"] >= 0)).sum())
    assert reached <= summary["evaluations"] <= reached + struck


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(**FAULTY)
def test_cancelling_runs_with_failures_replay_are_deterministic_and_batch_equals_single(
        seed, workers, threshold, loss, failures, uplink, downlink, tmp_path_factory):
    scenario = _faulty(seed, workers, threshold, loss, failures, uplink, downlink)
    result = simulate(scenario)
    assert_reproducible(result, scenario, tmp_path_factory.mktemp("run"))
    assert simulate(scenario).events_table.equals(result.events_table)
    for batched, single in zip(simulate_batch(scenario, [1, 2]), [simulate(scenario, 1), simulate(scenario, 2)]):
        assert batched.events_table.equals(single.events_table)


@pytest.mark.parametrize("reference", [{"algorithm": "asysg-con"},
                                       {"algorithm": "ringmaster", "threshold": 41, "cancel": False}])
def test_a_threshold_above_every_staleness_with_failures_and_losses_is_the_plain_run_bitwise(reference, monkeypatch):
    """R = K + 1: no computation reaches R, so the cancelling run is AsySG-con's (and policy "drop"'s) with the same
    failures and lost messages, SimPy event for event: the cancel bookkeeping adds none."""
    cluster = {"loss": 0.2, "uplink": _exponential(0.3), "downlink": _exponential(0.1),
               "failures": {"uptime": _exponential(4.0), "downtime": _exponential(1.5)}}
    scheduled = _counting_events(monkeypatch)
    plain = simulate(run_scenario(workers=5, iterations=40, cluster=cluster, **reference), timing="simpy")
    plain_events, scheduled[0] = scheduled[0], 0
    ringmaster = simulate(run_scenario("ringmaster", workers=5, iterations=40, threshold=41, cancel=True,
                                       cluster=cluster), timing="simpy")
    assert scheduled[0] == plain_events
    summary = ringmaster.summary
    assert summary["max_staleness"] > 2 and summary["failures"] > 0 and summary["lost_messages"] > 0
    assert summary["cancelled"] == 0 and summary["dropped"] == 0
    assert_same_run(plain, ringmaster)
    assert plain.events_table.equals(ringmaster.events_table)
    assert all(plain.summary[key] == summary[key] for key in ("evaluations", "failures", "lost_messages",
                                                               "lost_worker_time", "sim_time"))
