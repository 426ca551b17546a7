"""Sweep reports (`asgd sweep` prints a table per grid point and writes report.md and plots; `asgd report DIR`
renders them again), provenance of every result, and the staleness percentiles of a run's summary."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.stats import count_percentile, median_interval
from analysis.sweeps import grid_summary
from scenarios import parse
from sim import simulate
from sim.frontends.cli import main
from sim.frontends.report import load_sweep
from sim.frontends.store import CONSOLIDATED
from tests.helpers import scenario

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = str(ROOT / "scenarios" / "quickstart.toml")
SMALL = ["--set", "algorithm.iterations=150", "--set", "objective.n=100", "--set", "objective.dim=5"]
GRID = ["--grid", "cluster.workers=4,1,2", "--grid", "staleness.bound=2,8"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sweep") / "out"
    assert main(["sweep", QUICKSTART, *GRID, "--seeds", "3", "--jobs", "1", *SMALL, "--out", str(out)]) == 0
    return out


def test_the_sweep_prints_its_table_in_grid_order_and_writes_the_report(swept, capsys):
    assert main(["report", str(swept)]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split()[:2] for line in lines[2:8]]
    assert rows == [["4", "2"], ["4", "8"], ["1", "2"], ["1", "8"], ["2", "2"], ["2", "8"]]  # the grid's order
    assert (swept / "report.md").is_file()
    plots = sorted(path.name for path in (swept / "plots").iterdir())
    assert plots == ["by-cluster.workers.png", "by-staleness.bound.png", "curves.png", "staleness.png"]
    text = (swept / "report.md").read_text()
    assert "Complete: 18 runs" in text and all(f"plots/{name}" in text for name in plots)


def test_the_grid_summary_equals_a_pandas_computation_over_the_result_files(swept):
    runs = pd.read_parquet(swept / "runs.parquet")
    staleness = pd.read_parquet(swept / "staleness.parquet")
    keys = ["cluster.workers", "staleness.bound"]
    summary = grid_summary(runs, staleness, keys)
    assert list(summary.columns[:2]) == keys and len(summary) == 6
    grouped = runs.groupby(keys, sort=False)
    expected = grouped["ergodic_grad_norm_sq"].median()
    assert np.array_equal(summary.set_index(keys)["ergodic"].to_numpy(), expected.loc[summary.set_index(keys).index].to_numpy())
    assert (summary["ok"] == 3).all() and (summary["runs"] == 3).all()
    pooled = staleness.groupby(keys + ["staleness"])["count"].sum()
    for row in summary.to_dict("records"):
        counts = pooled.loc[(row["cluster.workers"], row["staleness.bound"])]
        values = np.repeat(counts.index.to_numpy(), counts.to_numpy())
        assert row["staleness_mean"] == pytest.approx(values.mean())
        assert row["staleness_p90"] == np.percentile(values, 90, method="inverted_cdf")
        assert row["staleness_max"] == values.max() <= row["staleness.bound"]
        sims = runs[(runs["cluster.workers"] == row["cluster.workers"]) & (runs["staleness.bound"] == row["staleness.bound"])]
        assert row["sim_time"] == np.median(sims["sim_time"])
        assert row["ergodic_low"] == sims["ergodic_grad_norm_sq"].min()  # 3 seeds: the interval is the range


def test_report_on_a_sweep_stopped_halfway_shows_the_finished_runs(swept, tmp_path, capsys):
    import shutil

    partial = tmp_path / "partial"
    shutil.copytree(swept, partial)
    for name in CONSOLIDATED:  # as a killed sweep leaves it: no consolidated files, some runs finished
        (partial / name).unlink()
    finished = sorted((partial / ".runs").glob("*.parquet"))
    for path in finished[:7]:
        path.unlink()
    assert main(["report", str(partial)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "asgd report: 11 of 18 runs finished (partial sweep)"
    assert "Partial" in (partial / "report.md").read_text()
    assert len(load_sweep(partial).runs) == 11


def test_every_row_of_runs_parquet_reruns_from_its_own_provenance(swept):
    runs = pd.read_parquet(swept / "runs.parquet")
    manifest = json.loads((swept / "sweep.json").read_text())
    assert manifest["command"].startswith("asgd sweep ") and "--grid cluster.workers=4,1,2" in manifest["command"]
    assert (runs["source_hash"] == manifest["code"]).all() and (runs["asgd_version"] == manifest["asgd"]).all()
    for row in runs.iloc[[0, 7, 17]].to_dict("records"):
        again = simulate(parse(tomllib.loads(row["scenario_toml"])))
        assert again.summary["final_loss"] == row["final_loss"] and again.summary["sim_time"] == row["sim_time"]
        assert again.summary["seed"] == row["seed"]


def test_a_run_directory_records_its_provenance(tmp_path):
    out = tmp_path / "run"
    assert main(["run", QUICKSTART, *SMALL, "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["command"] == f"asgd run {QUICKSTART} {' '.join(SMALL)} --out {out}"
    assert len(summary["source_hash"]) == 64 and summary["asgd_version"]


@pytest.mark.parametrize("make", ["empty", "run directory", "missing"])
def test_report_on_a_folder_that_is_not_a_sweep_is_bad_input(tmp_path, capsys, make):
    folder = tmp_path / "folder"
    if make == "empty":
        folder.mkdir()
    elif make == "run directory":
        assert main(["run", QUICKSTART, *SMALL, "--out", str(folder)]) == 0
        capsys.readouterr()
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not an asgd sweep directory" in err[0]
    assert not (folder / "report.md").exists()


def test_run_summaries_give_the_staleness_percentiles_of_their_trace():
    for s in (scenario(workers=6, iterations=300, bound=5), scenario(workers=3, iterations=100, batch=2),
              scenario(workers=5, iterations=200, algorithm="asysg-incon")):
        result = simulate(s)
        applied = result.trace.loc[result.trace["applied"], "staleness"].to_numpy()
        for q in (50, 90, 99):
            assert result.summary[f"staleness_p{q}"] == np.percentile(applied, q, method="inverted_cdf")


def test_count_percentiles_equal_numpys_inverted_cdf_and_the_median_interval_covers():
    rng = np.random.default_rng(5)
    for _ in range(300):
        values = rng.integers(0, rng.integers(1, 40), size=rng.integers(1, 60))
        counts = np.bincount(values)
        for q in (0, 1, 12.5, 50, 90, 99, 100):
            assert count_percentile(counts, q) == np.percentile(values, q, method="inverted_cdf")
    assert count_percentile(np.zeros(3, dtype=int), 50) is None
    # n = 10: [x_(2), x_(9)] covers the median with probability 1 - 2 * 11 / 1024
    assert median_interval(np.arange(10.0)) == (4.5, 1.0, 8.0, 1 - 22 / 1024)
    assert median_interval(np.array([3.0, 1.0, 2.0]))[1:] == (1.0, 3.0, 0.75)
