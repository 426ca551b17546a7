"""Small scenarios for the engine tests."""

from __future__ import annotations

from typing import Any

from scenarios import parse

SMALL_OBJECTIVE = {"name": "nonconvex-logistic", "data": "synthetic", "n": 64, "dim": 5}


def scenario(workers: int = 4, iterations: int = 200, batch: int | None = None, bound: int | None = None,
             policy: str = "wait", compute: dict | None = None, algorithm: str = "asysg-con", step: Any = 0.05,
             seed: int = 0, block: int | None = None, every: int = 1, **cluster: Any):
    """A scenario on a small nonconvex-logistic problem, metrics every `every` updates (default: every iterate)."""
    data: dict[str, Any] = {
        "name": "test",
        "seed": seed,
        "objective": dict(SMALL_OBJECTIVE),
        "algorithm": {"name": algorithm, "iterations": iterations, "step": step},
        "staleness": {"policy": policy} if algorithm != "sync" else {},  # sync has no staleness to bound
        "cluster": {"workers": workers, "compute": compute or {"dist": "exponential", "mean": 1.0}, **cluster},
        "record": {"every": every},
    }
    if batch is not None:
        data["algorithm"]["batch"] = batch
    if block is not None:
        data["algorithm"]["block"] = block
    if bound is not None:
        data["staleness"]["bound"] = bound
    return parse(data)


def assert_identical_runs(first, second) -> None:
    """Two Results are the same run: final iterate, trace, metrics and summary (but for wall time) bit for bit,
    NaNs of diverged runs included."""
    assert first.x_final.tobytes() == second.x_final.tobytes()
    assert first.trace_table.equals(second.trace_table)
    assert_same_table(first.metrics_table, second.metrics_table)
    assert repr(sorted((k, v) for k, v in first.summary.items() if k != "wall_seconds")) == \
        repr(sorted((k, v) for k, v in second.summary.items() if k != "wall_seconds"))


def assert_same_table(first, second) -> None:
    """Equal schemas and columns bit for bit (Table.equals takes NaN != NaN)."""
    assert first.schema == second.schema
    for a, b in zip(first.columns, second.columns):
        assert a.to_numpy().tobytes() == b.to_numpy().tobytes()


def assert_reproducible(result, scenario, out) -> None:
    """`result` (a run of `scenario`) is deterministic, replays bit for bit from `out`, and batched replicates equal
    their single runs on both timings."""
    from sim import simulate, simulate_batch

    assert_identical_runs(result, simulate(scenario))
    assert_replays(result, out)
    for timing in ("auto", "simpy"):
        for batched, seed in zip(simulate_batch(scenario, [1, 2], timing=timing), [1, 2]):
            assert_identical_runs(batched, simulate(scenario, seed, timing=timing))


def assert_replays(result, out) -> None:
    """Written to `out`, the run replays bit for bit."""
    from sim.replay import replay
    from sim.frontends.rundir import write_run

    write_run(out, result)
    assert replay(out).reproduced


def no_engine():
    """A context in which starting the SimPy engine fails the test: the run must take a closed form."""
    from unittest import mock

    from sim import engine

    return mock.patch.object(engine, "_start", side_effect=AssertionError("the SimPy engine ran"))
