"""`asgd check` end to end at tiny sizes: exit codes, the printed table, the report files, bad input."""

from __future__ import annotations

import csv
import multiprocessing
from pathlib import Path

import pandas as pd
import pytest

import sim.frontends.executors
from scenarios import load
from sim.frontends.check import variant
from sim.frontends.cli import main

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
QUICKSTART = str(SCENARIOS / "quickstart.toml")
TINY = ["--k-grid", "300,600,1200", "--workers", "1,2,4", "--seeds", "2"]
CHECKS = ("bound", "rate", "speedup", "worker limit")


def rows(printed: str) -> dict[str, list[str]]:
    """The checks table: check name -> its cells."""
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in printed.splitlines() if line.startswith("| ")]
    return {row[0]: row[1:] for row in cells if row[0] in CHECKS}


def test_check_passes_writes_its_report_and_prints_four_checks(tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["check", QUICKSTART, *TINY, "--tolerance", "0.45", "--threshold", "0.3", "--out", str(out)])
    table = rows(capsys.readouterr().out)
    assert code == 0
    assert list(table) == list(CHECKS)
    assert table["bound"][-1] == "pass" and "Corollary 2" in table["bound"][1]
    assert table["rate"][-1] == "pass" and "95% CI" in table["rate"][0]
    assert table["speedup"][-1] == "pass" and table["worker limit"][-1] in ("pass", "n/a")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["report.md", "runs.csv", "staleness.png", "rate.png", "speedup.png", "worker_limit.png"])
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 3 * 4 * 2  # K x W (1, 2, 4 and the scenario's 8) x seeds
    assert set(runs["workers"]) == {1, 2, 4, 8} and set(runs["seed"]) == {0, 1}
    assert (runs["bound_statement"] == "Corollary 2").all()
    assert "## Checks" in (out / "report.md").read_text()
    assert all((out / name).read_bytes()[:4] == b"\x89PNG" for name in ("rate.png", "speedup.png"))


def test_a_failing_check_exits_1(tmp_path, capsys):
    # at K <= 1200 the quickstart's ergodic average decays like K^-0.3: no tolerance, so the rate check fails
    code = main(["check", QUICKSTART, *TINY, "--tolerance", "0", "--out", str(tmp_path / "report")])
    table = rows(capsys.readouterr().out)
    assert code == 1 and table["rate"][-1] == "FAIL"


def without_wall_seconds(runs_csv: Path) -> list[list[str]]:
    """runs.csv as text cells, without wall_seconds (the one figure that differs between equal checks)."""
    table = list(csv.reader(runs_csv.open()))
    keep = [i for i, name in enumerate(table[0]) if name != "wall_seconds"]
    return [[row[i] for i in keep] for row in table]


def test_one_and_two_processes_give_the_same_checks_and_runs(tmp_path, capsys):
    printed, stderr = {}, {}
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}"
        assert main(["check", QUICKSTART, *TINY, "--tolerance", "0.45", "--jobs", jobs, "--out", str(out)]) == 0
        captured = capsys.readouterr()
        printed[jobs] = [line for line in captured.out.splitlines() if " runs in " not in line and str(out) not in line]
        stderr[jobs] = captured.err
    assert printed["1"] == printed["2"] and list(rows("\n".join(printed["1"]))) == list(CHECKS)
    assert "24 runs in 1 process" in stderr["1"] and "24 runs in 2 processes" in stderr["2"]
    assert "asgd check: 24/24 runs (100%), 0 failed" in stderr["2"]  # plain progress lines off a terminal
    one, two = without_wall_seconds(tmp_path / "jobs1" / "runs.csv"), without_wall_seconds(tmp_path / "jobs2" / "runs.csv")
    assert one == two and len(one) == 1 + 24


def test_a_dask_cluster_gives_the_local_runs(tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    flags = [QUICKSTART, "--k-grid", "300,600", "--workers", "1,2", "--seeds", "2", "--tolerance", "0.45"]
    local = main(["check", *flags, "--jobs", "1", "--out", str(tmp_path / "local")])
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        assert main(["check", *flags, "--scheduler", cluster.scheduler_address, "--out", str(tmp_path / "dask")]) == local
    assert f"runs on {cluster.scheduler_address}" in capsys.readouterr().err
    assert without_wall_seconds(tmp_path / "local" / "runs.csv") == without_wall_seconds(tmp_path / "dask" / "runs.csv")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_run_that_raises_is_a_failed_run_reported_with_exit_1(tmp_path, capsys, monkeypatch, jobs):
    real = sim.frontends.executors.simulate

    def simulate(scenario, *args, **kwargs):
        if (scenario.algorithm.iterations, scenario.cluster.workers) == (600, 2):
            raise RuntimeError("boom")
        return real(scenario, *args, **kwargs)

    monkeypatch.setattr(sim.frontends.executors, "simulate", simulate)
    if jobs == "2":  # forked workers inherit the patched function
        monkeypatch.setattr(sim.frontends.executors, "_context", lambda: multiprocessing.get_context("fork"))
    out = tmp_path / "report"
    assert main(["check", QUICKSTART, *TINY, "--jobs", jobs, "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "2 of 24 runs failed" in captured.out and "nothing written" in captured.out
    assert "failed: K = 600, W = 2, seed 0: RuntimeError: boom" in captured.out
    assert "failed: K = 600, W = 2, seed 1: RuntimeError: boom" in captured.out
    assert "24/24 runs (100%), 2 failed" in captured.err and "Traceback" not in captured.err + captured.out
    assert not out.exists()


@pytest.mark.parametrize("flags, message", [
    (["--workers", "2,4"], "--workers = '2,4': must include 1"),
    (["--k-grid", "1000"], "--k-grid = '1000': needs at least two"),
    (["--k-grid", "1000,x"], "--k-grid = '1000,x': must be a comma-separated list of integers >= 1, e.g. 1000,4000"),
    (["--workers", "0"], "--workers = '0': must be a comma-separated list of integers >= 1, e.g. 1,2,4,8,16,32"),
    (["--seeds", "0"], "--seeds = 0"),
    (["--threshold", "1.5"], "--threshold = 1.5"),
    (["--set", "cluster.workers=0"], "cluster.workers = 0"),
    (["--set", 'cluster.read={dist="constant", value=0.5}'],
     "cluster.read = {'dist': 'constant', 'value': 0.5}: only algorithm.name = 'asysg-incon' or 'sapalm' uses it"),
    (["--set", "algorithm.name=asysg-incon", "--set", 'cluster.downlink={dist="constant", value=0.5}'],
     "cluster.downlink = {'dist': 'constant', 'value': 0.5}: must be 0 for asysg-incon"),
    (["--set", "algorithm.name=asysg-incon", "--set", "algorithm.block=101"],
     "algorithm.block = 101: must be at most the objective's dimension, 100"),
])
def test_bad_flags_exit_2_with_one_message_and_write_nothing(tmp_path, capsys, flags, message):
    out = tmp_path / "report"
    assert main(["check", QUICKSTART, *TINY, *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_worker_groups_and_a_foreign_out_dir_are_bad_input(tmp_path, capsys):
    assert main(["check", str(SCENARIOS / "heterogeneous.toml"), *TINY, "--out", str(tmp_path / "r")]) == 2
    assert "cluster.groups" in capsys.readouterr().err
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert main(["check", QUICKSTART, *TINY, "--out", str(foreign)]) == 2
    assert "not an asgd check report" in capsys.readouterr().err and (foreign / "notes.txt").exists()


def test_staleness_plots_key_on_the_planned_k_so_diverged_runs_keep_their_grid_point():
    from sim.frontends.check import GridRun
    from sim.frontends.check_report import Report

    grid_runs = []
    for k in (100, 200):
        for w in (1, 2):
            for seed in (0, 1):
                diverged = (k, w) == (200, 2)  # both seeds of W = 2 at the largest K stop short of it
                summary = {"workers": w, "planned_iterations": k, "iterations": 57 + seed if diverged else k,
                           "seed": seed, "status": "diverged" if diverged else "ok",
                           "ergodic_grad_norm_sq": 1.0 / k, "gradients": k, "dropped": 0, "sim_time": k / w,
                           "bound": 1.0, "bound_statement": "Corollary 2", "bound_preconditions_hold": True,
                           "max_staleness": w - 1}
                histogram = pd.DataFrame({"staleness": [0, 1], "count": [k, 10 * w + seed]})
                grid_runs.append(GridRun(summary["status"], None, summary, pd.DataFrame(), histogram))
    report = Report.build(load(QUICKSTART, {"cluster.workers": 2}), grid_runs, 0.8, 0.1, 1.0)
    assert sorted(report.staleness) == ["W = 1", "W = 2"]
    assert report.staleness["W = 2"]["count"].tolist() == [200, 20]  # the first seed of (W = 2, K = 200)
    assert report.staleness["W = 1"]["count"].tolist() == [200, 10]


def test_variant_sets_k_w_the_corollary_step_and_sync_batch():
    sync = variant(load(SCENARIOS / "sync.toml"), 500, 3)
    assert (sync.algorithm.iterations, sync.cluster.workers, sync.algorithm.batch) == (500, 3, 3)
    assert sync.algorithm.step.policy == "corollary" and sync.record.every == 2 and not sync.record.trace
    quick = variant(load(QUICKSTART), 800, 2)
    assert (quick.algorithm.batch, quick.staleness.bound) == (1, 16)
