"""Recorded engine schedules (sim/recorded.py): replicates that differ only in seed and step share one SimPy engine
run per seed and step in lockstep on the ring; each equals its single run on the engine, bit for bit."""

from __future__ import annotations

import tomllib
from unittest import mock

import numpy as np
import pytest

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from scenarios import ScenarioError, build_objective, parse, to_toml
from sim import engine, simulate, simulate_batch, simulate_replicates
from sim.closed_form.con import closed_form
from sim.frontends.executors import MAX_CHUNK, chunked
from sim.recorded import ScheduleRecorder
from tests.helpers import assert_identical_runs, scenario
from tests.test_schedule import DEPTHS, _ring_depth, cluster_data
from tests.test_schedule_incon import shared_memory_scenarios

SERVER = [{"dist": "constant", "value": 0.0}, {"dist": "constant", "value": 0.25}, {"dist": "exponential", "mean": 0.1}]


@st.composite
def engine_scenarios(draw) -> dict:
    """A resolved scenario that runs on the engine: a parameter server with a bound (policy "wait" or "drop", M 1..3)
    or sync, sometimes server time, sometimes SVRG's epochs."""
    protocol = draw(st.sampled_from(["asysg-con", "sync"]))
    data = draw(cluster_data(max_workers=6, iterations=150, algorithm=protocol))
    if protocol == "asysg-con":
        data["algorithm"]["batch"] = draw(st.integers(1, 3))
        data["staleness"] = {"bound": draw(st.integers(0, 4)), "policy": draw(st.sampled_from(["wait", "drop"]))}
    data["cluster"]["server"] = draw(st.sampled_from(SERVER))
    if draw(st.booleans()):
        data["algorithm"]["estimator"] = {"name": "svrg", "epoch": draw(st.integers(1, 40))}
    try:
        parse(data)
    except ScenarioError:  # a cycle of no time with server time
        assume(False)
    return data


def replicates(data: dict, steps: list[float], seeds: list[int]) -> list:
    return [parse({**data, "seed": seed, "algorithm": {**data["algorithm"], "step": step}})
            for step in steps for seed in seeds]


STEPS = st.lists(st.sampled_from([0.01, 0.05, 0.3, 1e6]), min_size=1, max_size=3, unique=True)  # 1e6: diverges
SEEDS = st.lists(st.integers(0, 2**32), min_size=1, max_size=3, unique=True)
CHUNKS = st.sampled_from([1, 4, 256])  # updates per block at least (sim.engine.CHUNK): reads outlive their block


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(engine_scenarios(), STEPS, SEEDS, DEPTHS, CHUNKS)
def test_recorded_replicates_equal_their_single_engine_runs(data, steps, seeds, depth, chunk):
    runs = replicates(data, steps, seeds)
    assume(len(runs) >= 2 and not closed_form(runs[0]))  # policy "drop" without SVRG: sim/closed_form/scan.py
    assert_recorded_runs_are_the_engines(runs, len(seeds), depth, chunk)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shared_memory_scenarios(), STEPS, SEEDS, DEPTHS, CHUNKS, st.integers(0, 4))
def test_recorded_shared_memory_writes_equal_their_single_engine_runs(s, steps, seeds, depth, chunk, bound):
    """AsySG-incon and SAPALM whose reads take no time, under a bound (policy "wait": threads wait to read or to
    write); a regularizer's replicates differ in their seed only."""
    data = {**s.resolved, "staleness": {"bound": bound, "policy": "wait"}}
    regularized = data["algorithm"]["regularizer"]["name"] != "none"
    runs = replicates(data, steps[:1] if regularized else steps, seeds)
    assume(len(runs) >= 2)
    assert_recorded_runs_are_the_engines(runs, len(seeds), depth, chunk)


def assert_recorded_runs_are_the_engines(runs: list, seeds: int, depth: int | None, chunk: int) -> None:
    """Batched on a ring of `depth` (so shallow that reads are spilled) in blocks of at least `chunk` updates, each
    replicate is its single run on the engine, and the engine ran once per seed."""
    with (_ring_depth(depth), mock.patch.object(engine, "CHUNK", chunk),
          mock.patch.object(engine, "_start", wraps=engine._start) as started):
        batch = simulate_replicates(runs, timing="simpy")
    assert started.call_count == seeds
    for result, single in zip(batch, runs):
        assert_identical_runs(result, simulate(single, timing="simpy"))


def test_recorded_schedules_keep_drops_idle_time_and_divergence():
    """Ground cases, each as its single run: policy "drop" with bound 0 drops gradients, sync idles at its barrier,
    and on phase retrieval a large step diverges early while a small one goes on."""
    drop = scenario(workers=6, iterations=120, bound=0, policy="drop", every=7).resolved
    sync = {**scenario(workers=5, iterations=60, algorithm="sync", every=4).resolved,
            "objective": {"name": "phase-retrieval", "n": 40, "dim": 5}}
    found = {}
    for name, base, steps in (("drop", drop, [0.05, 0.2]), ("sync", sync, [0.001, 5.0])):
        runs = replicates(base, steps, [3, 4])
        found[name] = simulate_replicates(runs)
        for result, single in zip(found[name], runs):
            assert_identical_runs(result, simulate(single))
    assert all(result.summary["dropped"] > 0 for result in found["drop"])
    assert all(result.summary["idle_worker_time"] > 0 for result in found["sync"])
    assert [result.summary["status"] for result in found["sync"]] == ["ok", "ok", "diverged", "diverged"]
    assert found["sync"][2].summary["iterations"] < 60


@pytest.mark.parametrize("steps, seeds", [(4, 4), (8, 3), (8, 5), (20, 2)])
def test_chunks_keep_each_seeds_steps_together(steps, seeds):
    """A compare's tuning group (steps outer, seeds inner) is cut between seeds, so that a seed's steps share one
    engine schedule (a chunk may hold several seeds); only a seed with more than MAX_CHUNK runs is cut inside."""
    base = scenario(workers=4, bound=2)
    tasks = [(f"{step}-{seed}", to_toml(run)) for step in range(steps) for seed in range(seeds)
             for run in replicates(base.resolved, [0.1 * (step + 1)], [seed])]
    chunks = chunked(tasks, 1)
    assert sorted(task for chunk in chunks for task in chunk) == sorted(tasks)
    chunk_seeds = [{tomllib.loads(text)["seed"] for _, text in chunk} for chunk in chunks]
    assert all(len(chunk) <= MAX_CHUNK for chunk in chunks)
    for seed in range(seeds):  # in one chunk, or in as few as MAX_CHUNK allows
        assert sum(seed in seeds_of for seeds_of in chunk_seeds) == -(-steps // MAX_CHUNK)


def test_a_recorder_hands_over_updates_drops_and_outstanding_reads_as_blocks():
    """ScheduleRecorder by hand: update 0 sums worker 0's gradient; worker 1's, read at version 0, is dropped before
    update 1 and so belongs to the second block, whose update 1 has consumed 3 gradients; a read still outstanding
    at a cut is `waiting`; idle times are taken when recorded updates are formed only (every 2: x_2, and the last,
    x_3)."""
    s = scenario(workers=3, iterations=3, bound=4, policy="drop", every=2)
    recorder = ScheduleRecorder(s, build_objective(s))
    first, dropped, late = (recorder.read(w, 0.0, np.array([w + 10])) for w in range(3))
    recorder.apply([first], 1.0)
    recorder.drop(dropped, 1, 1.5)
    block = recorder.block()
    assert (block.first, block.workers.tolist(), block.versions.tolist(), block.t_apply.tolist()) == \
        (0, [[0]], [[0]], [1.0])
    assert block.dropped is None and block.waiting.tolist() == [0] and np.isnan(block.idle).all()
    again = recorder.read(0, 1.0, np.array([13]))
    recorder.apply([again], 2.0)
    recorder.apply([late], 3.0)
    assert recorder.finished
    block = recorder.block()
    assert (block.first, block.versions.tolist(), block.samples.tolist()) == (1, [[1], [0]], [[[13]], [[12]]])
    assert block.dropped.update.tolist() == [1] and block.dropped.samples.tolist() == [[11]]
    assert block.dropped.earlier == 0 and [block.consumed(row) for row in range(2)] == [3, 4]
    assert block.waiting.tolist() == [] and block.idle.tolist() == [3 * 2.0, 3 * 3.0]  # nobody worked (no tally)


@pytest.mark.parametrize("bound", [None, 3])
def test_svrg_with_a_staleness_dependent_step_batches_as_its_single_runs(bound):
    """SVRG's replicates step in lockstep only with one step per update; a staleness-aware step (one per gradient)
    runs them one by one, on the closed form (no bound) or the engine: the same runs either way."""
    data = scenario(4, 100, bound=bound).resolved
    data["algorithm"] = {**data["algorithm"], "estimator": {"name": "svrg", "epoch": 20},
                         "step": {"policy": "staleness-aware", "value": 0.05}}
    s = parse(data)
    for result, seed in zip(simulate_batch(s, [1, 2]), [1, 2]):
        assert_identical_runs(result, simulate(s, seed))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([{"lambda": 0.5}, {"lambda": 0.5, "momentum": 0.95}]), st.sampled_from([None, 0, 3]),
       st.sampled_from(["wait", "drop"]), st.integers(1, 2), STEPS, SEEDS, DEPTHS)
def test_dc_asgd_replicates_each_update_themselves_on_a_shared_schedule(compensation, bound, policy, batch, steps,
                                                                        seeds, depth):
    """DC-ASGD-c and -a (whose mean square is per-run state) batched over steps and seeds, on a closed form or a
    recorded schedule: each replicate is its single run on the engine, bit for bit."""
    data = scenario(workers=4, iterations=120, batch=batch, bound=bound, policy=policy, every=3).resolved
    data["algorithm"] = {**data["algorithm"], "compensation": compensation}
    runs = replicates(data, steps, seeds)
    assume(len(runs) >= 2)
    with _ring_depth(depth):
        batch_results = simulate_replicates(runs)
    for result, single in zip(batch_results, runs):
        assert_identical_runs(result, simulate(single, timing="simpy"))


def test_under_policy_drop_a_read_the_server_must_drop_is_not_waiting():
    """After update 0, a read of version 0 outstanding under bound 0 can only be dropped (its staleness would be 1 or
    more): the ring need not keep x_0 for it. Under bound 1 it may still be summed into update 1."""
    for bound, waiting in ((0, []), (1, [0])):
        s = scenario(workers=2, iterations=3, bound=bound, policy="drop")
        recorder = ScheduleRecorder(s, build_objective(s))
        first, outstanding = (recorder.read(w, 0.0, np.array([w])) for w in range(2))
        recorder.apply([first], 1.0)
        assert recorder.block().waiting.tolist() == waiting
