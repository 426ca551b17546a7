"""Clusters as they are: measured timings, groups chosen by share or rank, speeds that change (and their events)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scenarios import ScenarioError, load, parse
from scenarios.types import Speed
from sim import simulate
from sim.cluster.speed import SpeedProcess
from sim.cluster.workers import WorkerClock
from sim.frontends.cli import main
from tests.helpers import SMALL_OBJECTIVE, assert_replays, scenario

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMINGS = ROOT / "scenarios" / "data" / "timings.csv"


def _file_values() -> np.ndarray:
    return pd.read_csv(TIMINGS)["seconds"].to_numpy(float)


def _measured(dist: str, **cluster) -> dict:
    return {"name": "m", "objective": dict(SMALL_OBJECTIVE),
            "algorithm": {"name": "asysg-con", "iterations": 3000, "step": 0.05},
            "cluster": {"workers": 3, "compute": {"dist": dist, "file": str(TIMINGS), "column": "seconds"}, **cluster}}


def test_empirical_compute_has_the_files_mean_per_worker():
    result = simulate(parse(_measured("empirical")))
    trace = result.trace  # no bound, no latency, M = 1: a gradient is applied when it arrives, t_apply - t_read = compute
    values = _file_values()
    for worker, rows in trace.groupby("worker"):
        durations = (rows["t_apply"] - rows["t_read"]).to_numpy()
        standard_error = values.std() / math.sqrt(len(durations))
        assert abs(durations.mean() - values.mean()) < 4 * standard_error
        assert np.isin(np.round(durations, 4), values).mean() > 0.99  # every duration is one of the file's


def test_trace_mode_replays_the_files_sequence_in_order_per_worker():
    s = parse(_measured("trace"))
    values = _file_values()
    for worker in range(3):
        clock = WorkerClock(s.cluster.timings[worker], s.seed, worker)
        drawn = [clock.compute() for _ in range(2 * len(values) + 5)]
        assert np.array_equal(drawn, np.roll(values, -worker)[np.arange(len(drawn)) % len(values)])


@pytest.mark.parametrize("content, where", [
    ("seconds\n", "has no rows"),
    ("seconds\n1.0\nabc\n", "line 3"),
    ("seconds\n1.0\n2.0\n-0.5\n", "line 4"),
    ("seconds\n1.0\nnan\n", "line 3"),
    ("other\n1.0\n", "has no column 'seconds'"),
])
def test_bad_timing_files_are_bad_input_naming_the_file_and_row(tmp_path, capsys, content, where):
    (tmp_path / "timings.csv").write_text(content)
    scenario_file = tmp_path / "s.toml"
    scenario_file.write_text('[objective]\nname = "nonconvex-logistic"\n[cluster]\n'
                             'compute = { dist = "empirical", file = "timings.csv", column = "seconds" }\n')
    assert main(["run", str(scenario_file), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "timings.csv" in err[0] and where in err[0] and "cluster.compute.file" in err[0]
    assert not (tmp_path / "run").exists()


def test_a_missing_or_changed_timing_file_is_bad_input(tmp_path):
    data = _measured("empirical")
    data["cluster"]["compute"]["file"] = str(tmp_path / "absent.csv")
    with pytest.raises(ScenarioError, match="no such file"):
        parse(data)
    copy = tmp_path / "t.csv"
    copy.write_bytes(TIMINGS.read_bytes())
    resolved = parse(_measured("empirical") | {"cluster": {"workers": 2, "compute": {
        "dist": "empirical", "file": str(copy), "column": "seconds"}}}).resolved
    copy.write_text("seconds\n1.0\n")
    with pytest.raises(ScenarioError, match="file changed"):
        parse(resolved)


def test_the_measured_example_runs_and_replays(tmp_path):
    result = simulate(load(ROOT / "scenarios" / "measured.toml", {"algorithm.iterations": 300}))
    assert_replays(result, tmp_path / "run")


@pytest.mark.parametrize("workers", [1, 3, 4, 8, 13])
def test_groups_select_their_members_by_share_or_rank_for_every_worker_count(workers):
    s = parse({"objective": dict(SMALL_OBJECTIVE), "cluster": {"workers": workers, "groups": [
        {"workers": {"share": 0.25}, "slowdown": 5.0}, {"workers": {"first": 1}, "slowdown": 2.0}]}})
    slow = {1: 0, 3: 1, 4: 1, 8: 2, 13: 3}[workers]  # round(W / 4), half up
    expected = [2.0] + [1.0] * (workers - 1 - slow) + [5.0] * slow
    assert [timing.compute.mean for timing in s.cluster.timings] == expected
    assert s.resolved["cluster"]["groups"][0]["workers"] == {"share": 0.25, "from": "last"}


def test_overlapping_selected_groups_are_bad_input_for_the_worker_count_that_overlaps():
    groups = [{"workers": {"last": 2}, "slowdown": 5.0}, {"workers": {"first": 2}, "slowdown": 2.0}]
    parse({"objective": dict(SMALL_OBJECTIVE), "cluster": {"workers": 4, "groups": groups}})
    with pytest.raises(ScenarioError, match="already in cluster.groups"):
        parse({"objective": dict(SMALL_OBJECTIVE), "cluster": {"workers": 3, "groups": groups}})


def test_a_slow_fraction_of_the_two_state_speed_is_its_renewal_share():
    process = SpeedProcess(Speed(normal=9.0, slow=1.0, slowdown=3.0, shared=False), seed=4, unit=0)
    horizon = 200_000.0
    slow = sum(min(b, horizon) - a for a, b in process.slow_intervals(horizon))
    assert slow / horizon == pytest.approx(1.0 / (1.0 + 9.0), rel=0.03)


def test_one_worker_under_a_changing_speed_does_exactly_its_work():
    """A lone worker without latency computes back to back: over [0, T] it works at rate 1 while normal and
    1/slowdown while slow, so T_normal + T_slow / slowdown = K c for K computations of constant time c."""
    s = scenario(workers=1, iterations=2000, compute={"dist": "constant", "value": 0.5},
                 speed={"normal": 20.0, "slow": 5.0, "slowdown": 4.0})
    result = simulate(s)
    T = result.summary["sim_time"]
    events = result.events
    switches = events["time"].to_numpy()
    assert list(events["kind"]) == (["slow", "normal"] * len(events))[:len(events)]
    bounds = np.concatenate([[0.0], switches, [T]])
    lengths = np.diff(bounds)
    slow_time = lengths[1::2].sum()
    assert slow_time > 0 and result.summary["speed_switches"] == len(events)
    assert (T - slow_time) + slow_time / 4.0 == pytest.approx(2000 * 0.5, rel=1e-9)


def test_a_shared_speed_slows_its_group_together_and_runs_replay(tmp_path):
    s = load(ROOT / "scenarios" / "rack.toml", {"algorithm.iterations": 1500})
    result = simulate(s)
    shared = result.events[result.events["worker"] >= 8]
    by_worker = {worker: rows["time"].tolist() for worker, rows in shared.groupby("worker")}
    assert len(by_worker) == 8 and len({tuple(times) for times in by_worker.values()}) == 1  # the same switches
    assert_replays(result, tmp_path / "run")
    assert simulate(s).events.equals(result.events)  # deterministic


def test_bad_speed_values_are_bad_input():
    for speed, key in (({"normal": 0.0, "slow": 1.0, "slowdown": 2.0}, "normal"),
                       ({"normal": 1.0, "slow": 1.0, "slowdown": 0.5}, "slowdown"),
                       ({"normal": 1.0, "slow": 1.0, "slowdown": 2.0, "fast": 1}, "fast")):
        with pytest.raises(ScenarioError, match=f"cluster.speed.{key}"):
            scenario(speed=speed)
