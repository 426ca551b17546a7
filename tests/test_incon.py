"""AsySG-incon: inconsistent reads rebuilt from the values at read time, J(k), the staleness policies, replay."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim.engine
from scenarios import ScenarioError, build_objective
from sim import simulate
from sim.cluster.streams import Purpose, stream
from tests.helpers import SMALL_OBJECTIVE, scenario, assert_identical_runs, assert_replays

ZERO = {"dist": "constant", "value": 0.0}
TIMES = st.sampled_from([
    {"dist": "exponential", "mean": 1.0},
    {"dist": "uniform", "low": 0.2, "high": 2.0},
    {"dist": "lognormal", "mean": 0.7, "sigma": 1.0},
    {"dist": "constant", "value": 1.0},  # ties: writes landing exactly when a coordinate is read
    ZERO,
])
BASE_COLUMNS = ["update", "worker", "read_version", "staleness", "t_read", "t_apply", "applied", "samples"]


# integer times and reads of 5 (coordinates of the 5-vector read 1, 2, ... after the start): many exact ties
TIED = st.sampled_from([{"dist": "constant", "value": v} for v in (1.0, 2.0, 3.0)])


@st.composite
def incon_scenarios(draw):
    policy = draw(st.sampled_from(["none", "wait", "drop"]))
    workers = draw(st.integers(1, 6))
    if draw(st.booleans()):
        read = draw(TIMES)
        groups = [{"workers": [i], "compute": draw(TIMES)} for i in range(workers)]
    else:
        read = {"dist": "constant", "value": 5.0}
        groups = [{"workers": [i], "compute": draw(TIED)} for i in range(workers)]
    return scenario(algorithm="asysg-incon", workers=workers, iterations=draw(st.integers(1, 40)),
                    batch=draw(st.integers(1, 2)), block=draw(st.integers(1, 3)),
                    bound=None if policy == "none" else draw(st.integers(0, 6)),
                    policy="drop" if policy == "drop" else "wait", read=read, groups=groups,
                    seed=draw(st.integers(0, 2**32)))


class PointRecorder:
    """The objective, recording every point a stochastic gradient is evaluated at."""

    def __init__(self, objective) -> None:
        self._objective = objective
        self.points: list[np.ndarray] = []

    def __getattr__(self, name):
        return getattr(self._objective, name)

    def stochastic_grad(self, x, samples):
        self.points.append(x.copy())
        return self._objective.stochastic_grad(x, samples)


def simulate_recording_points(s):
    recorder = PointRecorder(build_objective(s))
    with mock.patch.object(sim.engine, "build_objective", lambda _: recorder):
        return simulate(s), recorder.points


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(incon_scenarios())
def test_every_gradient_is_evaluated_at_the_values_its_read_saw(s):
    """Independently of the engine's bookkeeping: coordinate i of a read over [s, e] is read at
    t_i = min(e, s + (e - s)(i + 1)/d) and sees the updates j >= start_version landing before t_i. With every iterate
    kept, xhat_k = x_k - sum_{j in J(k)} (x_{j+1} - x_j) holds bit for bit, J(k) is the trace's missed/read_version."""
    result, points = simulate_recording_points(s)
    objective = build_objective(s)
    d, M, T, gamma = objective.dim, s.algorithm.batch, s.staleness.bound, s.algorithm.step.value
    K = result.summary["iterations"]
    trace = result.trace
    rows = trace[trace["applied"]].to_dict("records")
    assert len(rows) == K * M == len(points)
    updates = [rows[k * M:(k + 1) * M] for k in range(K)]
    landed = [group[0]["t_apply"] for group in updates]
    written = [list(group[0]["coordinates"]) for group in updates]
    xs = [objective.x0]
    for k, group in enumerate(updates):
        read = group[0]
        assert [row["update"] for row in group] == [k] * M
        assert len(set(written[k])) == len(written[k]) == s.algorithm.block
        start, end, first = read["read_start"], read["t_read"], read["start_version"]
        # seen[i]: the version coordinate i was read from
        seen = [first + sum(landed[j] < min(end, start + (end - start) * ((i + 1) / d)) for j in range(first, K))
                for i in range(d)]
        xhat = np.array([xs[v][i] for i, v in enumerate(seen)])
        for m in range(M):
            assert points[k * M + m].tobytes() == xhat.tobytes()
        missed = sorted(j for j in range(k) if any(seen[i] <= j for i in written[j]))
        for i in range(d):  # the paper's formula, per coordinate: undo the writes to i the read missed
            undone = [j for j in missed if i in written[j] and seen[i] <= j]
            assert xhat[i].tobytes() == xs[undone[0] if undone else k][i].tobytes()
        version = missed[0] if missed else k
        for row in group:
            assert (row["missed"], row["read_version"], row["staleness"]) == (len(missed), version, k - version)
        if T is not None:
            assert all(k - T <= j <= k - 1 for j in missed)
        g = objective.stochastic_grad(xhat, read["samples"])
        for row in group[1:]:
            g = g + objective.stochastic_grad(xhat, row["samples"])
        coordinates = np.array(written[k])
        x = xs[k].copy()
        x[coordinates] = xs[k][coordinates] - gamma * g[coordinates]
        xs.append(x)
    assert xs[K].tobytes() == result.x_final.tobytes()
    dropped = trace[~trace["applied"]]
    assert result.summary["dropped"] == len(dropped)
    assert result.summary["max_staleness"] == max(row["staleness"] for row in rows)
    if T is not None:
        assert max(row["staleness"] for row in rows) <= T
        if s.staleness.policy == "wait":
            assert len(dropped) == 0
        else:
            assert (dropped["staleness"] > T).all()
            assert (dropped["coordinates"].map(len) == 0).all()


@pytest.mark.parametrize("block, batch, read", [(1, 1, ZERO), (3, 2, ZERO), (2, 1, {"dist": "exponential", "mean": 1.0})])
def test_one_thread_is_serial_randomized_coordinate_sgd(block, batch, read):
    K, gamma = 300, 0.1
    s = scenario(algorithm="asysg-incon", workers=1, iterations=K, batch=batch, block=block, read=read, step=gamma,
                 seed=3)
    result = simulate(s)
    objective = build_objective(s)
    samples = objective.sample(stream(s.seed, Purpose.SAMPLES, 0), 1024)
    coordinates = stream(s.seed, Purpose.COORDINATES, 0)
    x = objective.x0.copy()
    for k in range(K):
        S = coordinates.choice(objective.dim, size=block, replace=False)
        xi = samples[k * batch:(k + 1) * batch]
        g = objective.stochastic_grad(x, xi[:1])
        for m in range(1, batch):
            g = g + objective.stochastic_grad(x, xi[m:m + 1])
        x_next = x.copy()
        x_next[S] = x[S] - gamma * g[S]
        x = x_next
    assert result.x_final.tobytes() == x.tobytes()
    assert (result.trace["staleness"] == 0).all() and (result.trace["missed"] == 0).all()


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 8), st.sampled_from(["none", "drop"]), st.integers(0, 4), TIMES, st.integers(0, 2**32))
def test_reads_that_take_no_time_are_consistent(workers, policy, bound, compute, seed):
    """No write lands during a read, so xhat_k = x_{read_version}: J(k) = {read_version, ..., k - 1} has no gap
    (|J(k)| = staleness), and writing every coordinate (block = d) is AsySG-con with M = 1, bit for bit."""
    common = dict(workers=workers, iterations=60, batch=1, bound=None if policy == "none" else bound,
                  policy="drop" if policy == "drop" else "wait", compute=compute, seed=seed)
    incon = simulate(scenario(algorithm="asysg-incon", block=SMALL_OBJECTIVE["dim"], read=ZERO, **common))
    con = simulate(scenario(algorithm="asysg-con", **common))
    assert (incon.trace["landed_at"].map(len) == 0).all()
    assert (incon.trace["missed"] == incon.trace["staleness"]).all()
    assert incon.trace_table.select(BASE_COLUMNS).equals(con.trace_table)
    assert incon.x_final.tobytes() == con.x_final.tobytes()


@settings(max_examples=25, deadline=None)
@given(incon_scenarios())
def test_same_seed_same_run_and_replay_reproduces(tmp_path_factory, s):
    first = simulate(s)
    assert_identical_runs(first, simulate(s))
    assert_replays(first, tmp_path_factory.mktemp("run") / "run")


def test_replay_of_a_long_contended_run(tmp_path):
    from sim.replay import replay
    from sim.frontends.rundir import write_run

    s = scenario(algorithm="asysg-incon", workers=8, iterations=3000, batch=2, block=2, read={"dist": "exponential", "mean": 2.0})
    result = simulate(s)
    assert (result.trace["landed_at"].map(len) > 0).mean() > 0.5  # most reads overlap writes
    assert (result.trace["missed"] != result.trace["staleness"]).mean() > 0.1  # J(k) has a gap: inconsistent
    write_run(tmp_path / "run", result)
    outcome = replay(tmp_path / "run")
    assert outcome.reproduced and outcome.updates == 3000


def test_a_different_seed_gives_a_different_run():
    s = scenario(algorithm="asysg-incon", workers=4, iterations=100, read={"dist": "exponential", "mean": 1.0})
    a, b = simulate(s, seed=1), simulate(s, seed=2)
    assert not a.trace_table.equals(b.trace_table)
    assert a.x_final.tobytes() != b.x_final.tobytes()


@pytest.mark.parametrize("policy", ["wait", "drop"])
def test_policies_under_contention(policy):
    """Long reads, 8 threads, T = 2: "wait" drops nothing and keeps every delay <= T; "drop" discards exactly the
    gradients whose delay would exceed T (and some are)."""
    T = 2
    s = scenario(algorithm="asysg-incon", workers=8, iterations=1500, bound=T, policy=policy,
                 read={"dist": "exponential", "mean": 1.0})
    result = simulate(s)
    trace = result.trace
    applied, dropped = trace[trace["applied"]], trace[~trace["applied"]]
    assert applied["staleness"].max() == T
    assert result.summary["dropped"] == len(dropped)
    if policy == "wait":
        assert len(dropped) == 0
    else:
        assert len(dropped) > 100 and (dropped["staleness"] > T).all()


def test_bound_zero_with_wait_serializes_the_threads():
    s = scenario(algorithm="asysg-incon", workers=6, iterations=200, bound=0, read={"dist": "exponential", "mean": 1.0})
    trace = simulate(s).trace
    assert (trace["staleness"] == 0).all() and (trace["missed"] == 0).all() and (trace["landed_at"].map(len) == 0).all()
    assert (trace["read_start"].to_numpy()[1:] >= trace["t_apply"].to_numpy()[:-1]).all()


def test_memory_keeps_a_window_of_iterates():
    """A read holds x_first .. x_last; with a bound T, k - first <= T + len(landed_at) for every outstanding read."""
    from sim.iterates import IterateStore

    class Measured(IterateStore):
        most = 0

        def advance(self, x_next):
            super().advance(x_next)
            Measured.most = max(Measured.most, len(self))

        def hold(self, version, count=1):
            version = super().hold(version, count)
            Measured.most = max(Measured.most, len(self))
            return version

    T = 5
    with mock.patch("sim.run.IterateStore", Measured):
        trace = simulate(scenario(algorithm="asysg-incon", workers=8, iterations=2000, bound=T,
                                  read={"dist": "exponential", "mean": 2.0})).trace
    assert Measured.most <= T + 1 + trace["landed_at"].map(len).max()


@pytest.mark.parametrize("cluster, block, path", [
    ({"downlink": {"dist": "constant", "value": 0.1}}, 1, "cluster.downlink"),
    ({"server": {"dist": "exponential", "mean": 1.0}}, 1, "cluster.server"),
    ({"groups": [{"workers": [1], "uplink": {"dist": "exponential", "mean": 1.0}}]}, 1, "cluster.groups[0].uplink"),
    ({}, SMALL_OBJECTIVE["dim"] + 1, "algorithm.block"),
])
def test_bad_input_names_the_key(cluster, block, path):
    with pytest.raises(ScenarioError) as error:  # refused by the scenario's validation, before simulating
        scenario(algorithm="asysg-incon", workers=2, iterations=10, block=block, **cluster)
    assert error.value.path == path


def test_the_example_runs_and_replay_loads_no_simpy(tmp_path):
    from scenarios import load
    from sim.frontends.rundir import write_run

    s = load(Path(__file__).resolve().parents[1] / "scenarios" / "incon.toml", {"algorithm.iterations": 2000})
    result = simulate(s)
    assert result.summary["status"] == "ok" and result.summary["final_loss"] < result.summary["f_x0"]
    write_run(tmp_path / "run", result)
    code = (f"import sys; from sim.replay import replay; assert replay({str(tmp_path / 'run')!r}).reproduced; "
            "assert 'simpy' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], check=True)
