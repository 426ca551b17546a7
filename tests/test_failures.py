"""Workers that fail and messages that are lost (sim/cluster/failures.py), on every protocol with workers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenarios import load, parse
from sim import simulate
from sim.closed_form.con import closed_form
from sim.cluster.streams import Purpose, stream
from sim.engine import simulate_batch
from sim.frontends.cli import main
from tests.helpers import assert_identical_runs, assert_replays, scenario

ROOT = Path(__file__).resolve().parents[1]


def _exponential(mean: float) -> dict:
    return {"dist": "exponential", "mean": mean}


def _constant(value: float) -> dict:
    return {"dist": "constant", "value": value}


def _failures(up: dict, down: dict) -> dict:
    return {"uptime": up, "downtime": down}


def _quiet(s):
    """The scenario recording no trace and few metrics (a long run)."""
    return parse({**s.resolved, "record": {"every": 1000, "trace": False}})


def test_throughput_under_failures_is_the_alternating_renewal_share():
    """Alternating renewal (uptime mean U, downtime mean D, both exponential): a worker is up a fraction U / (U + D)
    of the long run. Compute is exponential of mean c, so a computation cut short by a failure costs nothing in
    expectation (memoryless), and an up worker completes 1 / c gradients per unit time: with no bound, M = 1 and no
    latencies, the cluster applies W * (U / (U + D)) / c updates per unit time."""
    W, U, D, c = 4, 2.0, 1.0, 1.0
    s = _quiet(scenario(workers=W, iterations=20_000, compute=_exponential(c),
                        failures=_failures(_exponential(U), _exponential(D))))
    result = simulate(s)
    assert result.summary["iterations"] == 20_000
    expected = W * (U / (U + D)) / c
    assert result.summary["updates_per_time"] == pytest.approx(expected, rel=0.03)
    events = result.events
    assert result.summary["failures"] == (events["kind"] == "failure").sum() > 1000


def test_the_applied_fraction_of_pushed_gradients_is_one_minus_the_loss():
    """Each push is lost with probability p, independently: of n pushed gradients the applied ones are
    Binomial(n, 1 - p), within 4 standard deviations sqrt(n p (1 - p)) of n (1 - p)."""
    p = 0.2
    result = simulate(_quiet(scenario(workers=3, iterations=6000, loss=p, uplink=_exponential(0.1))))
    applied, lost = result.summary["gradients"], result.summary["lost_messages"]
    n = applied + lost
    assert abs(applied - n * (1 - p)) <= 4 * math.sqrt(n * p * (1 - p))
    losses = result.events[result.events["kind"] == "loss"]
    assert len(losses) == lost and (losses["read_version"] >= 0).all() and (losses["lost_time"] > 0).all()
    assert result.summary["evaluations"] == n  # a lost gradient was computed: its evaluation was spent


def test_a_lost_read_admits_a_waiting_pull_at_once():
    """T = 0, W = 2, M = 1 serializes: while one gradient is outstanding the other worker waits. Worker 0 reads at 0,
    1 and 2 (it pulls again as it pushes, before the waiting worker 1 is resumed) and fails at 2.5 (constant compute
    1, uptime 2.5): its read of version 2 is forgotten and worker 1 reads at 2.5, with no update in between (without
    the wake-up it would wait for ever: worker 0 is down until 12.5)."""
    s = scenario(workers=2, iterations=6, bound=0, compute=_constant(1.0),
                 groups=[{"workers": [0], "failures": _failures(_constant(2.5), _constant(10.0))}])
    result = simulate(s)
    trace, events = result.trace, result.events
    assert list(zip(events["time"], events["worker"], events["kind"], events["read_version"], events["lost_time"])) == [
        (2.5, 0, "failure", 2, 0.5)]  # the run ends at 6.5, before worker 0 recovers
    assert list(zip(trace["worker"], trace["t_read"])) == [(0, 0.0), (0, 1.0), (1, 2.5), (1, 3.5), (1, 4.5), (1, 5.5)]


def _sync_pair(seed: int = 0, **group0):
    """Sync, W = 2, K = 5, constant times: downlink 0.25, compute 1, uplink 0.5; worker 1 computes in 2 (slowdown),
    worker 0 has `group0` (its failures or loss). A round of worker 0 takes 1.75, of worker 1 2.75."""
    return scenario(workers=2, iterations=5, algorithm="sync", compute=_constant(1.0), downlink=_constant(0.25),
                    uplink=_constant(0.5), groups=[{"workers": [0], **group0}, {"workers": [1], "slowdown": 2.0}],
                    seed=seed)


def _rows(table, *columns):
    """The table's rows, these columns of each."""
    return list(zip(*(table[column] for column in columns)))


def test_sync_failures_at_the_barrier_in_the_pull_the_computation_and_the_push_by_hand():
    """Worker 0 is up 2.125, down 0.375 (fails at 2.125 + 2.5 j, recovers 0.375 later); round k begins at the
    previous update. Round 0 [0, 2.75]: worker 0 done at 1.75, fails idle at the barrier at 2.125 (read_version -1,
    lost_time 0: no work in progress), up at 2.5. Round 1 [2.75, 5.5]: done at 4.5, fails idle at 4.625, up at 5.
    Round 2 from 5.5: worker 0 reads version 2 at 5.75, computes to 6.75, fails in the push at 7.125 (lost_time
    7.125 - 5.75 = 1.375, its gradient computed: one evaluation more); up at 7.5 it reads again at 7.75 and arrives at
    9.25, after worker 1 (read 5.75, arrived 8.25): update 2 at 9.25. Round 3 from 9.25: read at 9.5, fails computing
    at 9.625 (lost_time 0.125, nothing computed), up at 10, reads at 10.25, arrives at 11.75, before worker 1 (read
    9.5, arrives 12): update 3 at 12. Round 4 from 12: fails in the pull at 12.125 (no read yet: -1, 0), up at 12.5,
    reads at 12.75, arrives at 14.25; it fails idle at 14.625 and worker 1 (read 12.25) arrives at 14.75: update 4.
    Idle: worker 1 waits 9.25 - 8.25 = 1; worker 0 1 + 1 (rounds 0, 1), 0.375 down (round 2), 0.375 down + 0.25
    (round 3), 0.375 down + 0.5 (round 4): 3.875. Lost worker time 1.375 + 0.125."""
    result = simulate(_sync_pair(failures=_failures(_constant(2.125), _constant(0.375))))
    assert _rows(result.events, "time", "worker", "kind", "read_version", "lost_time") == [
        (2.125, 0, "failure", -1, 0.0), (2.5, 0, "recovery", -1, 0.0),
        (4.625, 0, "failure", -1, 0.0), (5.0, 0, "recovery", -1, 0.0),
        (7.125, 0, "failure", 2, 1.375), (7.5, 0, "recovery", -1, 0.0),
        (9.625, 0, "failure", 3, 0.125), (10.0, 0, "recovery", -1, 0.0),
        (12.125, 0, "failure", -1, 0.0), (12.5, 0, "recovery", -1, 0.0),
        (14.625, 0, "failure", -1, 0.0)]
    assert _rows(result.trace, "update", "worker", "read_version", "t_read", "t_apply") == [
        (0, 0, 0, 0.25, 2.75), (0, 1, 0, 0.25, 2.75), (1, 0, 1, 3.0, 5.5), (1, 1, 1, 3.0, 5.5),
        (2, 1, 2, 5.75, 9.25), (2, 0, 2, 7.75, 9.25), (3, 0, 3, 10.25, 12.0), (3, 1, 3, 9.5, 12.0),
        (4, 0, 4, 12.75, 14.75), (4, 1, 4, 12.25, 14.75)]
    summary = result.summary
    assert (summary["failures"], summary["lost_messages"]) == (6, 0)
    assert (summary["gradients"], summary["evaluations"]) == (10, 11)  # and the gradient lost in its push
    assert (summary["sim_time"], summary["lost_worker_time"], summary["idle_worker_time"]) == (14.75, 1.5, 4.875)


def test_sync_lost_messages_are_pulled_again_by_hand():
    """Worker 0 loses each push with probability 0.25; seed 6's loss draws (stream(6, LOSS, 0)) are 0.32, 0.69,
    0.006, 0.099, 0.30, 0.68, 0.21, 0.41: its pushes of rounds 0 and 1 arrive, round 2's first two and round 4's first
    are lost. A lost push is noticed when the uplink is done, 1.5 after its read (the loss's lost_time), and the
    worker pulls again. Rounds 0, 1: [0, 2.75], [2.75, 5.5]. Round 2 from 5.5: worker 0 reads version 2 at 5.75,
    lost at 7.25, reads at 7.5, lost at 9, reads at 9.25 and arrives at 10.75, after worker 1 (read 5.75, arrived
    8.25). Round 3 [10.75, 13.5]. Round 4 from 13.5: read 13.75, lost at 15.25, read 15.5, arrived 17, after worker 1
    (16.25). Evaluations: 10 applied + 3 lost; lost worker time 3 * 1.5; idle: worker 0 1 in rounds 0, 1 and 3,
    worker 1 10.75 - 8.25 + 17 - 16.25."""
    draws = stream(6, Purpose.LOSS, 0).random(8)
    assert list(draws < 0.25) == [False, False, True, True, False, False, True, False]
    result = simulate(_sync_pair(loss=0.25, seed=6))
    assert _rows(result.events, "time", "worker", "kind", "read_version", "lost_time") == [
        (7.25, 0, "loss", 2, 1.5), (9.0, 0, "loss", 2, 1.5), (15.25, 0, "loss", 4, 1.5)]
    assert _rows(result.trace, "update", "worker", "read_version", "t_read", "t_apply") == [
        (0, 0, 0, 0.25, 2.75), (0, 1, 0, 0.25, 2.75), (1, 0, 1, 3.0, 5.5), (1, 1, 1, 3.0, 5.5),
        (2, 1, 2, 5.75, 10.75), (2, 0, 2, 9.25, 10.75), (3, 0, 3, 11.0, 13.5), (3, 1, 3, 11.0, 13.5),
        (4, 1, 4, 13.75, 17.0), (4, 0, 4, 15.5, 17.0)]
    summary = result.summary
    assert (summary["failures"], summary["lost_messages"]) == (0, 3)
    assert (summary["gradients"], summary["evaluations"]) == (10, 13)
    assert (summary["sim_time"], summary["lost_worker_time"], summary["idle_worker_time"]) == (17.0, 4.5, 6.25)


@pytest.mark.parametrize("algorithm, staleness", [("asysg-con", {}), ("asysg-con", {"bound": 1, "policy": "drop"}),
                                                  ("sync", {}), ("asysg-incon", {"bound": 2}), ("asysg-incon", {})])
def test_every_protocol_finishes_under_failures_and_replays(tmp_path, algorithm, staleness):
    loss = {} if algorithm == "asysg-incon" else {"loss": 0.1}
    s = scenario(workers=3, iterations=150, algorithm=algorithm, bound=staleness.get("bound"),
                 policy=staleness.get("policy", "wait"), failures=_failures(_exponential(5.0), _exponential(2.0)), **loss)
    result = simulate(s)
    assert result.summary["iterations"] == 150 and result.summary["failures"] > 0
    if "bound" in staleness:
        assert result.summary["max_staleness"] <= staleness["bound"]
    assert_replays(result, tmp_path / "run")
    assert main(["replay", str(tmp_path / "run"), "--timing"]) == 0


def test_the_svrg_gate_gives_a_lost_gradients_place_back():
    s = parse({"objective": {"name": "nonconvex-logistic", "data": "synthetic", "n": 64, "dim": 5},
               "algorithm": {"name": "asysg-con", "iterations": 120, "step": 0.05,
                             "estimator": {"name": "svrg", "epoch": 20}},
               "staleness": {"bound": 2, "policy": "wait"},
               "cluster": {"workers": 3, "loss": 0.2, "failures": _failures(_exponential(10.0), _exponential(2.0))}})
    result = simulate(s)
    assert result.summary["iterations"] == 120 and result.summary["lost_messages"] > 0
    assert result.summary["max_staleness"] <= 2


@given(workers=st.integers(1, 5), batch=st.integers(1, 3), bound=st.integers(0, 4), seed=st.integers(0, 2**32),
       loss=st.sampled_from([0.0, 0.3]), uptime=st.sampled_from([_exponential(3.0), _constant(2.5)]),
       downtime=st.sampled_from([_exponential(2.0), _constant(0.0), _constant(4.0)]),
       incon=st.booleans())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_policy_wait_with_failures_keeps_the_bound_never_stalls_and_is_deterministic(workers, batch, bound, seed, loss,
                                                                                     uptime, downtime, incon):
    cluster = {"failures": _failures(uptime, downtime), "uplink": _constant(0.0) if incon else _exponential(0.3)}
    if not incon:
        cluster["loss"] = loss
    s = scenario(workers=workers, iterations=60, batch=batch, bound=bound, seed=seed,
                 algorithm="asysg-incon" if incon else "asysg-con", **cluster)
    result = simulate(s)
    assert result.summary["iterations"] == 60  # finished: no stall on a lost gradient
    assert result.summary["max_staleness"] <= bound
    assert result.trace["staleness"].max() <= bound
    again = simulate(s)
    assert again.events_table.equals(result.events_table)
    assert_identical_runs(again, result)


@pytest.mark.parametrize("algorithm, bound", [("asysg-con", 2), ("asysg-con", None), ("sync", None)])
def test_a_batch_with_failures_and_losses_is_its_runs(algorithm, bound):
    s = scenario(workers=3, iterations=120, algorithm=algorithm, bound=bound, loss=0.2, uplink=_exponential(0.2),
                 failures=_failures(_exponential(6.0), _exponential(2.0)))
    assert not closed_form(s)
    batch = simulate_batch(s, [0, 1, 2])
    for seed, result in zip([0, 1, 2], batch):
        single = simulate(s, seed)
        assert_identical_runs(result, single)
        assert result.events_table.equals(single.events_table)


def test_failures_recover_in_turn_and_losses_are_counted():
    result = simulate(load(ROOT / "scenarios" / "failures.toml", {"algorithm.iterations": 800}))
    events = result.events
    for worker, rows in events[events["kind"].isin(["failure", "recovery"])].groupby("worker"):
        kinds = list(rows["kind"])
        assert kinds == (["failure", "recovery"] * len(kinds))[:len(kinds)]  # down, up, down, ...
    lost = events[events["kind"].isin(["failure", "loss"])]["lost_time"].sum()
    assert result.summary["lost_worker_time"] == pytest.approx(lost) and lost > 0


@pytest.mark.parametrize("cluster, key", [
    ({"failures": 3}, "cluster.failures"),
    ({"failures": {"uptime": _exponential(1.0)}}, "cluster.failures.downtime"),
    ({"failures": {"uptime": _constant(0.0), "downtime": _constant(1.0)}}, "cluster.failures.uptime"),
    ({"failures": {"uptime": _exponential(1.0), "downtime": _exponential(1.0), "when": 1}}, "cluster.failures.when"),
    ({"failures": {"uptime": _exponential(1.0), "downtime": {"dist": "exponential", "mean": -1.0}}},
     "cluster.failures.downtime.mean"),
    ({"loss": 1.0}, "cluster.loss"),
    ({"loss": -0.1}, "cluster.loss"),
    ({"loss": "often"}, "cluster.loss"),
    ({"groups": [{"workers": [0], "loss": 2}]}, "cluster.groups[0].loss"),
    ({"groups": [{"workers": [0], "failures": {"uptime": _exponential(1.0), "downtime": 1}}]},
     "cluster.groups[0].failures.downtime"),
])
def test_bad_failures_and_losses_are_bad_input(tmp_path, capsys, cluster, key):
    _bad_input(tmp_path, capsys, "asysg-con", cluster, key)


@pytest.mark.parametrize("cluster, key", [({"loss": 0.1}, "cluster.loss"),
                                          ({"groups": [{"workers": [0], "loss": 0.1}]}, "cluster.groups[0].loss")])
def test_a_loss_in_shared_memory_is_bad_input(tmp_path, capsys, cluster, key):
    _bad_input(tmp_path, capsys, "asysg-incon", cluster, key)


def _bad_input(tmp_path, capsys, algorithm, cluster, key):
    file = tmp_path / "s.toml"
    file.write_text(tomli_w.dumps({"objective": {"name": "nonconvex-logistic"}, "algorithm": {"name": algorithm},
                                   "cluster": {"workers": 2, **cluster}}))
    assert main(["run", str(file), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and key in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "run").exists()
