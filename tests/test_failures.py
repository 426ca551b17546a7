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
