"""The engine against closed-form ground truths and its invariants (staleness bounds, determinism, replay)."""

from __future__ import annotations

import math
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenarios import build_objective, parse
from sim import simulate, simulate_batch
from sim.cluster.streams import Purpose, stream
from tests.helpers import scenario, assert_identical_runs, assert_replays

CONSTANT = {"dist": "constant", "value": 1.0}
DISTRIBUTIONS = st.sampled_from([
    {"dist": "exponential", "mean": 1.0},
    {"dist": "constant", "value": 1.0},
    {"dist": "uniform", "low": 0.5, "high": 2.0},
    {"dist": "lognormal", "mean": 1.0, "sigma": 1.0},
    {"dist": "pareto", "shape": 1.5, "scale": 0.3},
    {"dist": "constant", "value": 0.0},
])


def test_one_worker_without_latency_is_serial_sgd():
    s = scenario(workers=1, iterations=300, compute=CONSTANT, step=0.1)
    result = simulate(s)
    objective = build_objective(s)
    samples = objective.sample(stream(s.seed, Purpose.SAMPLES, 0), 1024)
    x = objective.x0.copy()
    for k in range(300):
        x = x - 0.1 * objective.stochastic_grad(x, samples[k:k + 1])
    assert result.x_final.tobytes() == x.tobytes()
    assert (result.trace["staleness"] == 0).all()
    assert np.array_equal(np.concatenate(result.trace["samples"].to_list()), samples[:300])


@pytest.mark.parametrize("workers", [2, 5, 8])
def test_equal_constant_compute_is_round_robin_with_staleness_w_minus_1(workers):
    result = simulate(scenario(workers=workers, iterations=20 * workers, compute=CONSTANT))
    trace = result.trace
    assert list(trace["staleness"][:workers]) == list(range(workers))  # the first round all read x_0
    assert (trace["staleness"][workers:] == workers - 1).all()
    assert list(trace["worker"]) == list(range(workers)) * 20
    assert result.summary["sim_time"] == 20.0


def test_the_staleness_table_counts_the_applied_gradients_of_the_trace():
    s = scenario(workers=4, iterations=500, step=0.01, bound=3, policy="drop")
    result = simulate(s)
    applied = result.trace.loc[result.trace["applied"], "staleness"]
    table = result.staleness
    assert list(table.columns) == ["staleness", "count"] and list(table.dtypes) == [np.int64, np.int64]
    assert table["staleness"].tolist() == list(range(applied.max() + 1))
    assert table["count"].tolist() == [int((applied == value).sum()) for value in table["staleness"]]
    assert table["count"].sum() + result.summary["dropped"] == len(result.trace)


def test_exponential_compute_staleness_is_geometric_with_mean_w_minus_1():
    workers, iterations = 4, 40000
    s = scenario(workers=workers, iterations=iterations, step=0.01)
    result = simulate(s)
    staleness = result.trace["staleness"].to_numpy()[1000:]  # after warm-up
    # memoryless compute: each arrival comes from a uniformly random worker, so P(tau = s) = (1/W)(1 - 1/W)^s
    se = math.sqrt(workers * (workers - 1)) / math.sqrt(len(staleness)) * 3  # sd of a geometric, ~3x for correlation
    assert abs(staleness.mean() - (workers - 1)) < 4 * se
    p0 = (staleness == 0).mean()
    assert abs(p0 - 1 / workers) < 4 * math.sqrt(p0 * (1 - p0) / len(staleness)) * 3
    # throughput: W independent Poisson processes of rate 1/mean
    rate = result.summary["updates_per_time"]
    assert abs(rate - workers) < 4 * math.sqrt(workers / result.summary["sim_time"]) * 1.5


def test_sync_round_time_is_expected_max_of_w_exponentials():
    workers, rounds = 6, 4000
    result = simulate(scenario(algorithm="sync", workers=workers, iterations=rounds, step=0.01))
    harmonic = sum(1 / i for i in range(1, workers + 1))
    mean_round = result.summary["sim_time"] / rounds
    sd_round = math.sqrt(sum(1 / i**2 for i in range(1, workers + 1)))
    assert abs(mean_round - harmonic) < 4 * sd_round / math.sqrt(rounds)
    assert (result.trace["staleness"] == 0).all()
    assert result.summary["gradients"] == workers * rounds


@st.composite
def random_scenarios(draw):
    workers = draw(st.integers(1, 8))
    batch = draw(st.integers(1, 4))
    policy = draw(st.sampled_from(["wait", "drop", "none"]))
    bound = None
    if policy == "wait":
        bound = draw(st.integers(0, 10))
    elif policy == "drop":
        bound = draw(st.integers(0, 6))
    service = draw(st.sampled_from([{"dist": "constant", "value": 0.0}, {"dist": "exponential", "mean": 0.3}]))
    compute, downlink, uplink = draw(DISTRIBUTIONS), draw(DISTRIBUTIONS), draw(DISTRIBUTIONS)
    if service["value" if "value" in service else "mean"] > 0 and all(
            d.get("value", 1.0) == 0.0 for d in (compute, downlink, uplink)):
        compute = {"dist": "exponential", "mean": 1.0}  # a zero-time cycle with a busy server is bad input
    return scenario(workers=workers, batch=batch, bound=bound, policy="drop" if policy == "drop" else "wait",
                    iterations=draw(st.integers(1, 60)), compute=compute, downlink=downlink,
                    uplink=uplink, server=service, seed=draw(st.integers(0, 2**32)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_scenarios())
def test_random_scenarios_keep_every_invariant(s):
    result = simulate(s)
    trace, summary = result.trace, result.summary
    applied = trace[trace["applied"]]
    K, M = s.algorithm.iterations, s.algorithm.batch
    assert summary["iterations"] == K
    assert len(applied) == K * M
    assert (applied.groupby("update").size() == M).all()
    # the staleness counter (kept during the run) agrees with the trace (derived from update - read_version)
    assert result.staleness.set_index("staleness")["count"].loc[lambda c: c > 0].to_dict() == \
        applied["staleness"].value_counts().sort_index().to_dict()
    assert (applied["staleness"] >= 0).all()
    assert (applied["t_apply"] >= applied["t_read"]).all()
    assert summary["dropped"] == (~trace["applied"]).sum()
    if s.staleness.bound is not None:
        assert applied["staleness"].max() <= s.staleness.bound
        if s.staleness.policy == "wait":
            assert summary["dropped"] == 0
        else:
            assert (trace.loc[~trace["applied"], "staleness"] > s.staleness.bound).all()
    assert summary["max_staleness"] == applied["staleness"].max()


@settings(max_examples=25, deadline=None)
@given(random_scenarios())
def test_same_seed_same_run_and_replay_reproduces(tmp_path_factory, s):
    first = simulate(s)
    assert_identical_runs(first, simulate(s))
    assert_replays(first, tmp_path_factory.mktemp("run") / "run")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_scenarios(), st.lists(st.integers(0, 2**32), min_size=2, max_size=5), st.integers(1, 9),
       st.booleans(), st.sampled_from(["asysg-con", "sync"]), st.sampled_from([1, 3]))
def test_batched_replicates_equal_their_single_runs(s, seeds, chunk, diverging, algorithm, minibatch):
    """On the SimPy engine (closed-form batches: tests/test_schedule.py), simulate_batch is simulate per seed, bit
    for bit: for both policies, M > 1, minibatches, sync, a small chunk (engines running ahead of the math by 1..9
    updates) and phase retrieval with a step that makes the replicates diverge, each at its own update (a metric
    every 3 updates)."""
    from sim import engine

    data = {**s.resolved, "algorithm": {**s.resolved["algorithm"], "name": algorithm, "minibatch": minibatch}}
    if diverging:
        data["objective"] = {"name": "phase-retrieval", "n": 40, "dim": 5}
        data["algorithm"]["step"] = 0.5
        data["record"] = {"every": 3}
    if algorithm == "sync":
        data["algorithm"].pop("batch")
        data.pop("staleness")
    s = parse(data)
    with mock.patch.object(engine, "CHUNK", chunk):
        batch = simulate_batch(s, seeds, timing="simpy")
    assert [r.summary["seed"] for r in batch] == seeds
    for seed, result in zip(seeds, batch):
        assert_identical_runs(result, simulate(s, seed))


def test_batched_replicates_of_the_mlp_equal_their_single_runs():
    s = parse({"name": "mlp", "objective": {"name": "mlp", "hidden": 4}, "algorithm": {"name": "asysg-con", "iterations": 40,
               "step": 0.1, "batch": 2}, "cluster": {"workers": 3}, "record": {"every": 7}})
    for seed, result in zip([3, 4, 5], simulate_batch(s, [3, 4, 5], timing="simpy")):  # the deferred engines
        assert_identical_runs(result, simulate(s, seed))


def test_a_different_seed_gives_a_different_run():
    s = scenario(workers=4, iterations=100)
    a, b = simulate(s, seed=1), simulate(s, seed=2)
    assert not a.trace_table.equals(b.trace_table)
    assert a.x_final.tobytes() != b.x_final.tobytes()


def test_memory_holds_only_the_iterates_reads_need():
    from sim.iterates import IterateStore

    store = IterateStore(np.zeros(3))
    v0 = store.hold(0)
    store.hold(5)  # a version not computed yet: kept when it is
    for i in range(100):
        store.advance(np.full(3, float(i)))
    assert len(store) == 3  # x_0 and x_5 (still read) and the current iterate
    assert store.get(5)[0] == 4.0
    store.release(v0)
    store.release(5)
    assert len(store) == 1


def test_results_do_not_depend_on_the_blas_thread_count():
    from threadpoolctl import threadpool_limits

    from models import get_objective

    s = scenario(workers=4, iterations=100)
    with threadpool_limits(limits=1, user_api="blas"):
        one = simulate(s), get_objective("mlp").smoothness
    with threadpool_limits(limits=8, user_api="blas"):
        many = simulate(s), get_objective("mlp").smoothness
    assert_identical_runs(one[0], many[0])
    assert one[1] == many[1]


def test_runs_freeze_older_objects_for_the_garbage_collector_and_undo_it():
    """During a run the collector leaves the objects older than the run alone (gc.freeze); afterwards, and after a
    run that raised, they are collectable again."""
    import gc

    frozen = []
    s = scenario(workers=3, iterations=20)
    simulate(s, progress=lambda k: frozen.append(gc.get_freeze_count()))
    assert min(frozen) > 0 and gc.get_freeze_count() == 0
    simulate_batch(scenario(workers=3, iterations=20, bound=2), [0, 1, 2])
    assert gc.get_freeze_count() == 0

    def fail(k):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        simulate(s, progress=fail)
    assert gc.get_freeze_count() == 0
