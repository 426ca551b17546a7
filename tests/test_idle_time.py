"""summary idle_worker_time (sim.recording.WorkTally): W x sim_time less the workers' spans of work, against closed-form
ground truths, and equal on every path (closed form, SimPy, batched replicates)."""

from __future__ import annotations

import numpy as np
import pytest

from scenarios import parse
from sim import simulate, simulate_batch, simulate_replicates
from tests.helpers import assert_identical_runs, scenario

TAUS = (1.0, 2.0, 4.0, 0.5)  # dyadic: every sum below is exact in floating point
CONSTANT_GROUPS = [{"workers": [i], "slowdown": tau} for i, tau in enumerate(TAUS)]
CONSTANT = {"dist": "constant", "value": 1.0}


@pytest.mark.parametrize("timing", ["auto", "simpy"])
def test_sync_with_constant_times_idles_the_gap_to_the_slowest_worker_every_update(timing):
    run = scenario(workers=len(TAUS), iterations=30, algorithm="sync", compute=CONSTANT, groups=CONSTANT_GROUPS)
    result = simulate(run, timing=timing)
    assert result.summary["sim_time"] == 30 * max(TAUS)
    assert result.summary["idle_worker_time"] == 30 * sum(max(TAUS) - tau for tau in TAUS)


def with_algorithm(run, **algorithm):
    """`run` with these algorithm keys set (and, for a preset that fixes its own, no [staleness] table)."""
    resolved = {key: value for key, value in run.resolved.items() if key != "staleness" or "threshold" not in algorithm}
    return parse({**resolved, "algorithm": {**run.resolved["algorithm"], **algorithm}})


@pytest.mark.parametrize("timing", ["auto", "simpy"])
def test_svrg_snapshot_rounds_are_work_for_every_worker(timing):
    """Sync SVRG, W = 3, K = 12, constant compute 1, epoch 4, on n = 64 samples. A snapshot round (one before
    updates 0, 4 and 8: versions k with k % 4 == 0) takes the full pass's time S = ceil(64 / 3) * 1 = 22
    (sim/protocols/epochs.full_pass_time), a round 2 (an inner direction evaluates two gradients). So update k has
    t_read = (k // 4 + 1) S + 2 k, t_apply = t_read + 2 and sim_time = 3 * 22 + 12 * 2 = 90, every worker busy
    throughout (idle 0); evaluations = 3 * 64 (the snapshots) + 12 * 3 * 2 (the inner gradients) = 264."""
    run = with_algorithm(scenario(workers=3, iterations=12, algorithm="sync", compute=CONSTANT),
                         estimator={"name": "svrg", "epoch": 4})
    result = simulate(run, timing=timing)
    trace = result.trace
    expected = [(k, worker, k, 0, (k // 4 + 1) * 22.0 + 2 * k, (k // 4 + 1) * 22.0 + 2 * k + 2)
                for k in range(12) for worker in range(3)]
    assert list(zip(trace["update"], trace["worker"], trace["read_version"], trace["staleness"], trace["t_read"],
                    trace["t_apply"])) == expected
    assert trace["applied"].all()
    assert result.summary["sim_time"] == 90.0
    assert result.summary["evaluations"] == 264
    assert result.summary["idle_worker_time"] == 0.0


@pytest.mark.parametrize("timing", ["auto", "simpy"])
def test_asysg_con_without_a_bound_never_idles(timing):
    run = scenario(workers=5, iterations=300, uplink={"dist": "exponential", "mean": 0.3})
    assert simulate(run, timing=timing).summary["idle_worker_time"] == 0.0


def test_a_wait_bound_idles_workers_and_batches_equal_single_runs_diverged_ones_included():
    run = scenario(workers=6, iterations=200, bound=1, policy="wait", every=7)
    singles = [simulate(run, seed) for seed in range(4)]
    assert all(result.summary["idle_worker_time"] > 0 for result in singles)
    for batched, single in zip(simulate_batch(run, list(range(4))), singles):
        assert_identical_runs(batched, single)
    rosenbrock = parse({**run.resolved, "objective": {"name": "noisy-rosenbrock"}})
    steps = [with_algorithm(rosenbrock, step={"policy": "constant", "value": step}) for step in (1e-4, 1.0)]
    batched = simulate_replicates(steps)
    assert batched[1].summary["status"] == "diverged"  # its engine ran ahead of its math: the idle time is its own
    for result, single in zip(batched, steps):
        assert_identical_runs(result, simulate(single))


def test_a_failed_worker_idles_from_its_failure_to_its_recovery():
    failures = {"uptime": {"dist": "constant", "value": 10.25}, "downtime": {"dist": "constant", "value": 3.0}}
    run = scenario(workers=3, iterations=120, compute=CONSTANT,
                   groups=[{"workers": [0], "failures": failures}])
    result = simulate(run)
    events, end = result.events, result.summary["sim_time"]
    down = events[events["kind"] == "failure"]["time"].to_numpy()
    up = events[events["kind"] == "recovery"]["time"].to_numpy()
    assert len(down) >= 3
    up = np.concatenate([up, [end] * (len(down) - len(up))])  # down at the end: idle until then
    expected = sum(min(u, end) - d for d, u in zip(down, up) if d < end)
    assert result.summary["idle_worker_time"] == pytest.approx(expected, rel=1e-12)


def test_ringmaster_cancels_are_no_idle_time():
    run = with_algorithm(scenario(workers=4, iterations=300), name="ringmaster", threshold=2, cancel=True)
    result = simulate(run)
    assert result.summary["cancelled"] > 0 and result.summary["idle_worker_time"] == 0.0
