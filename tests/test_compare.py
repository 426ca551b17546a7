"""`asgd compare`: end to end on a tiny grid, the fair step choice, the fixed-computation orders, a 20x straggler,
and bad input for every flag."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis.compare import choose_steps, fixed_computation_orders, rank, time_to_target
from sim.frontends.cli import main
from scenarios.methods import BY_NAME
from sim.frontends.compare import plan_runs, run_compare

TINY = """
name = "tiny"
seed = 0
[objective]
name = "nonconvex-logistic"
n = 200
dim = 10
[algorithm]
name = "asysg-con"
batch = 1
iterations = {iterations}
step = 0.5
[staleness]
bound = 16
[cluster]
workers = 4
compute = {compute}
"""
EXPONENTIAL = '{ dist = "exponential", mean = 1.0 }'


def tiny(tmp_path: Path, iterations: int = 300, compute: str = EXPONENTIAL, extra: str = "") -> str:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(iterations=iterations, compute=compute) + extra)
    return str(path)


def test_a_compare_on_a_tiny_grid_writes_its_table_report_and_results(tmp_path, capsys):
    out = tmp_path / "out"
    flags = ["--algorithms", "asysg-con,sync", "--steps", "0.25,1", "--seeds", "2", "--tuning-seeds", "1",
             "--tuning-records", "10", "--jobs", "1", "--out", str(out)]
    assert main(["compare", tiny(tmp_path), *flags]) == 0
    printed = capsys.readouterr().out
    assert "time to target" in printed and "asysg-con" in printed and "sync" in printed
    report = (out / "report.md").read_text()
    assert "## Ranking" in report and "metrics at 10 equal parts of their budget" in report
    assert {p.name for p in (out / "plots").iterdir()} == {"curves.png", "time-to-target.png", "staleness.png"}
    results = pq.read_table(out / "results.parquet").to_pandas()
    assert {"algorithm", "seed", "step", "time_to_target", "evaluations_to_target", "reached", "wasted_fraction",
            "idle_worker_time", "idle_fraction"} <= set(results.columns)
    sync = results[results["algorithm"] == "sync"]  # the barrier idles all but the slowest worker of each round
    assert (sync["idle_fraction"] > 0).all() and (sync["idle_fraction"] < 1).all() and "idle" in printed
    assert sorted(results["seed"]) == [0, 0, 1, 1] and set(results["step"]) <= {0.25, 1.0}
    tuning = pq.read_table(out / "tuning.parquet").to_pandas()
    assert len(tuning) == 2 * 2 and set(tuning["seed"]) == {1_000_000}  # disjoint from the reported seeds
    first = (out / "results.parquet").read_bytes()
    assert main(["compare", tiny(tmp_path), *flags]) == 0  # resumed: every run reused, the same results
    assert "0 runs now" in capsys.readouterr().out
    assert pq.read_table(out / "results.parquet").equals(pq.read_table(pa.BufferReader(first)))


def test_a_what_if_grid_gives_one_line_per_method(tmp_path):
    out = tmp_path / "out"
    assert main(["compare", tiny(tmp_path, 100), "--algorithms", "asysg-con,sync", "--steps", "0.5,1", "--seeds", "1",
                 "--tuning-seeds", "1", "--grid", "cluster.workers=2,4", "--jobs", "1", "--out", str(out)]) == 0
    results = pq.read_table(out / "results.parquet").to_pandas()
    assert sorted(results["cluster.workers"]) == [2, 2, 4, 4]
    assert (out / "plots" / "what-if-cluster.workers.png").is_file()


@pytest.mark.parametrize("extra, key", [
    ("stragglers = { probability = 0.25, slowdown = 1.0 }\n", "cluster.stragglers.slowdown"),
    ("[[cluster.groups]]\nworkers = [3]\nslowdown = 1.0\n", "cluster.groups.0.slowdown"),  # a slow machine
])
def test_a_straggler_what_if_works_on_random_stragglers_and_on_a_slow_group(tmp_path, extra, key):
    out = tmp_path / "out"
    assert main(["compare", tiny(tmp_path, 60, extra=extra), "--algorithms", "asysg-con,sync", "--steps", "0.5,1",
                 "--seeds", "1", "--tuning-seeds", "1", "--grid", f"{key}=1,10", "--jobs", "1", "--out", str(out)]) == 0
    results = pq.read_table(out / "results.parquet").to_pandas()
    assert sorted(results[key]) == [1, 1, 10, 10]
    sync = results[results["algorithm"] == "sync"].set_index(key)["sim_time"]
    assert sync[10] > sync[1]  # the slowdown took effect
    assert (out / "plots" / f"what-if-{key}.png").is_file()


def test_the_tuner_picks_the_known_best_step_and_flags_a_grid_edge():
    steps = (0.1, 0.2, 0.4, 0.8)
    rows = []
    for method, best in (("a", 0.4), ("b", 0.8)):
        for step in steps:
            for seed in range(3):  # time to target grows with the distance from the best step, in log scale
                time = 10.0 * (1 + abs(math.log2(step / best))) + seed
                reached = step >= 0.2
                rows.append({"algorithm": method, "step": step, "seed": seed, "reached": reached,
                             "time_to_target": time if reached else math.inf, "final_stationarity": 1.0 / time})
    chosen = choose_steps(pd.DataFrame(rows), ["algorithm"], steps).set_index("algorithm")
    assert chosen.loc["a", "step"] == 0.4 and chosen.loc["a", "edge"] == ""
    assert chosen.loc["b", "step"] == 0.8 and chosen.loc["b", "edge"] == "largest"
    never = pd.DataFrame([{"algorithm": "c", "step": s, "reached": False, "time_to_target": math.inf,
                           "final_stationarity": f} for s, f in ((0.1, 3.0), (0.2, 1.0), (0.4, math.nan))])
    assert choose_steps(never, ["algorithm"], (0.1, 0.2, 0.4))["step"].tolist() == [0.2]  # diverged counts as inf


def test_time_to_target_is_the_first_recorded_iterate_at_or_below_it():
    curve = pd.DataFrame({"time": [0.0, 1.0, 2.5, 4.0], "gradients": [0, 4, 8, 12],
                          "stationarity": [1.0, 0.5, 0.09, 0.2]})
    assert time_to_target(curve, 0.1, 2.0) == (2.5, 16.0, True)
    assert time_to_target(curve, 0.01, 2.0) == (math.inf, math.inf, False)


def test_rank_orders_by_median_time_and_measures_speedup_over_sync():
    results = pd.DataFrame({"algorithm": ["sync"] * 3 + ["a"] * 3 + ["never"] * 3, "step": 0.1,
                            "time_to_target": [30.0, 40.0, 50.0, 10.0, 20.0, 30.0] + [math.inf] * 3,
                            "evaluations_to_target": [1.0] * 9, "reached": [True] * 6 + [False] * 3,
                            "wasted_fraction": [0.0, 0.0, 0.0, 0.1, 0.1, 0.1, 0.0, 0.0, 0.0],
                            "idle_fraction": [0.5, 0.5, 0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], "mean_staleness": 0.0})
    table = rank(results, "sync")
    assert table["algorithm"].tolist() == ["a", "sync", "never"]
    assert table["speedup"].iloc[0] == 2.0 and math.isnan(table["speedup"].iloc[2])
    assert table["wasted_fraction"].iloc[0] == pytest.approx(0.1)
    assert table["idle_fraction"].iloc[1] == pytest.approx(0.4)
    assert (table["time_low"].iloc[0], table["time_high"].iloc[0]) == (10.0, 30.0)


def test_fixed_computation_orders_are_the_posters_table():
    equal = fixed_computation_orders([2.0] * 4, 1.0, 0.1)
    assert equal["best_m"] == 4 and equal["ratio"] == 1.0  # equal workers: use them all, asynchronous SGD is optimal
    noiseless = fixed_computation_orders([1.0, 2.0, 4.0], 0.0, 0.1)
    assert noiseless["best_m"] == 1 and noiseless["optimal"] == pytest.approx(10.0)
    assert noiseless["asynchronous_sgd"] == pytest.approx(3 / (1 + 1 / 2 + 1 / 4) * 10.0)
    straggler = fixed_computation_orders([1.0, 1.0, 1.0, 1000.0], 100.0, 1.0)  # noise makes workers worth adding
    assert straggler["best_m"] == 3  # but not the straggler
    assert straggler["ratio"] == pytest.approx(4 / (3 + 1e-3) * (1 + 100 / 4) / (1 + 100 / 3))


def test_one_20x_straggler_ranks_asynchronous_sgd_ahead_of_sync(tmp_path):
    path = tiny(tmp_path, 400, '{ dist = "constant", value = 1.0 }',
                "[[cluster.groups]]\nworkers = [3]\nslowdown = 20.0\n")
    comparison = run_compare(path, tmp_path / "out", ["asysg-con", "sync"], seeds=2, steps_text="0.25,0.5,1",
                             tuning_seeds=1, quiet=True)
    results = comparison.results
    median = results.groupby("algorithm")["time_to_target"].median()
    assert median["asysg-con"] < median["sync"] and np.isfinite(median["asysg-con"])
    assert comparison.theory is not None and comparison.theory["best_m"] <= 4  # fixed computation: the orders shown


BAD = [  # each replaces the default flags of its kind: --steps 0.5,1 --jobs 1
    ["--algorithms", "nope"], ["--algorithms", "sync,sync"], ["--algorithms", ""], ["--algorithms", "sapalm"],
    ["--target", "-1"], ["--target", "nan"], ["--seeds", "1001"],
    ["--steps", "1"], ["--steps", "0,2"], ["--steps", "a,b"],
    ["--grid", "algorithm.name=sync"], ["--grid", "algorithm.step=0.1,1"], ["--grid", "cluster.workers"],
    ["--grid", "cluster.workers=0,2"], ["--scheduler", "tcp://127.0.0.1:1"],
    ["--grid", "cluster.stragglers.slowdown=1,10"],  # no worker straggles: the what-if would change nothing
    ["--grid", "cluster.groups.0.slowdown=1,5"],     # no [[cluster.groups]] to index
]
BAD_SYNTAX = [["--target", "abc"], ["--seeds", "0"], ["--tuning-seeds", "0"], ["--tuning-records", "0"],
              ["--tuning-records", "x"], ["--jobs", "0"],
              ["--jobs", "1", "--scheduler", "tcp://127.0.0.1:1"]]  # refused by argparse: usage and one error line


def compare_with(tmp_path: Path, flags: list[str]) -> list[str]:
    defaults = {"--steps": ["--steps", "0.5,1"], "--jobs": ["--jobs", "1"]}
    if flags[0] == "--scheduler":
        del defaults["--jobs"]
    fixed = [f for key, pair in defaults.items() if key != flags[0] for f in pair]
    return ["compare", tiny(tmp_path), *fixed, *flags, "--out", str(tmp_path / "out")]


@pytest.mark.parametrize("flags", BAD, ids=" ".join)
def test_bad_input_for_every_flag_is_exit_2_one_line_and_writes_nothing(tmp_path, capsys, flags):
    assert main(compare_with(tmp_path, flags)) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("asgd compare: error: ")
    assert flags[0] in error[0] or flags[1].partition("=")[0] in error[0]  # the flag, or the key path it sets
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flags", BAD_SYNTAX, ids=" ".join)
def test_flags_of_the_wrong_kind_are_exit_2(tmp_path, capsys, flags):
    with pytest.raises(SystemExit) as exit:
        main(compare_with(tmp_path, flags))
    assert exit.value.code == 2 and "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_existing_file_as_out_is_bad_input(tmp_path, capsys):
    out = tmp_path / "file"
    out.write_text("mine")
    assert main(["compare", tiny(tmp_path), "--jobs", "1", "--out", str(out)]) == 2
    assert out.read_text() == "mine" and "--out" in capsys.readouterr().err


def test_wasted_work_counts_dropped_cancelled_and_lost_gradients():
    from sim.frontends.compare import wasted_fraction

    assert wasted_fraction({"gradients": 100, "dropped": 10}) == 0.1
    # 100 reached the server (10 dropped), 30 were cancelled and 20 lost: 60 of the 150 computed were wasted
    assert wasted_fraction({"gradients": 100, "dropped": 10, "cancelled": 30, "lost_messages": 20}) == 60 / 150
    assert wasted_fraction({"gradients": 0, "dropped": 0}) == 0.0


def test_ringmaster_cancels_on_a_cluster_that_loses_messages(tmp_path, capsys):
    """Ringmaster ASGD (Algorithm 1, cancel = true) runs as itself where messages are lost: its runs cancel, and
    lose messages."""
    from sim.frontends.store import Store

    out = tmp_path / "out"
    flags = ["--algorithms", "ringmaster,asysg-con", "--steps", "0.25,0.5", "--seeds", "1", "--tuning-seeds", "1",
             "--jobs", "1", "--out", str(out)]
    assert main(["compare", tiny(tmp_path, 100, extra="loss = 0.05\n"), *flags]) == 0
    assert "ringmaster" in capsys.readouterr().out
    results = pq.read_table(out / "results.parquet").to_pandas()
    with Store(out) as store:
        summaries = [store.record(run_id).summary for run_id in results["run_id"]]
    ringmaster = [s for s in summaries if s["algorithm"] == "ringmaster"]
    assert ringmaster and all(s["cancel"] is True and s["lost_messages"] > 0 for s in ringmaster)


@pytest.mark.parametrize("extra, records, tuning_every", [("", 20, {"asysg-con": 15, "sync": 4}),
                                                           ("", 100, {"asysg-con": 3, "sync": 1}),
                                                           ("[record]\nevery = 20\n", 20, {"asysg-con": 20, "sync": 20})])
def test_tuning_runs_record_parts_of_their_budget_and_reported_runs_the_scenarios_grid(tmp_path, extra, records,
                                                                                      tuning_every):
    """300 updates of M = 1 for asysg-con, 75 of M = 4 for sync: metrics every ceil(K / records) updates in tuning
    (--tuning-records, default 20), or the scenario's own record.every where it is coarser; the reported runs keep
    the scenario's own."""
    path = tiny(tmp_path, extra=extra)
    methods = [BY_NAME["asysg-con"], BY_NAME["sync"]]
    tuning = plan_runs(path, methods, [], (0.25, 1.0), 7, 2, records)
    reported = plan_runs(path, methods, [], {(m.name, ()): 0.25 for m in methods}, 0, 2, records)
    every = {(entry.method, tomllib.loads(entry.scenario)["record"]["every"]) for entry in tuning}
    assert every == set(tuning_every.items()) and len(tuning) == 2 * 2 * 2
    own = 20 if extra else "auto"
    assert {tomllib.loads(entry.scenario)["record"]["every"] for entry in reported} == {own}
