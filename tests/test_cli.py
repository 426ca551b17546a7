"""`asgd run` and `asgd replay` through the command line: outputs, example scenarios, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.cli import main

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
QUICKSTART = str(SCENARIOS / "quickstart.toml")
SUMMARY_KEYS = {"iterations", "gradients", "sim_time", "final_loss", "final_grad_norm_sq", "ergodic_grad_norm_sq",
                "max_staleness", "mean_staleness", "dropped", "seed", "wall_seconds"}


def test_run_writes_the_contract_files_and_replay_reproduces(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=300", "--seed", "7", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "300 updates" in printed and "staleness" in printed and str(out) in printed
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["scenario.toml", "summary.json", "metrics.parquet", "trace.parquet", "x_final.npy"])
    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary) and summary["seed"] == 7 and summary["iterations"] == 300
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert list(metrics.columns)[:5] == ["update", "time", "gradients", "loss", "grad_norm_sq"]
    assert metrics["update"].iloc[0] == 0 and metrics["update"].iloc[-1] == 300
    trace = pd.read_parquet(out / "trace.parquet")
    assert list(trace.columns)[:8] == ["update", "worker", "read_version", "staleness", "t_read", "t_apply", "applied",
                                       "samples"]
    assert trace["applied"].sum() == 300 and trace["samples"].map(len).eq(1).all()
    assert "seed = 7" in (out / "scenario.toml").read_text()
    assert main(["replay", str(out)]) == 0
    assert "reproduced" in capsys.readouterr().out


def test_replay_fails_when_the_final_iterate_differs(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=50", "--out", str(out)]) == 0
    x = np.load(out / "x_final.npy")
    x[0] = np.nextafter(x[0], np.inf)  # one ulp
    np.save(out / "x_final.npy", x)
    assert main(["replay", str(out)]) == 1
    assert "NOT reproduced" in capsys.readouterr().out


def test_a_rerun_replaces_an_earlier_run_directory(tmp_path):
    out = tmp_path / "run"
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=20", "--out", str(out)]) == 0
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=30", "--out", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["iterations"] == 30
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no staging or old folders left


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.stem)
def test_every_example_scenario_runs_and_replays(path, tmp_path):
    out = tmp_path / path.stem
    assert main(["run", str(path), "--set", "algorithm.iterations=40", "--out", str(out)]) == 0
    assert main(["replay", str(out)]) == 0


BAD_INPUT = [
    # (arguments after `run QUICKSTART`, words the message must contain)
    (["--set", "cluster.workers=0"], ["cluster.workers", "0", ">= 1"]),
    (["--set", "cluster.compute.mean=-1.0"], ["cluster.compute.mean", "-1", "> 0"]),
    (["--set", 'cluster.compute={dist="weibull", mean=1.0}'], ["cluster.compute.dist", "weibull", "exponential"]),
    (["--set", 'objective.name="no-such-objective"'], ["objective.name", "no-such-objective", "nonconvex-logistic"]),
    (["--set", "objective.no_such_param=1"], ["objective.no_such_param", "1"]),
    (["--set", 'cluster.workers="8"'], ["cluster.workers", "'8'", "integer"]),
    (["--set", "cluster.workers=2.5"], ["cluster.workers", "2.5", "integer"]),
    (["--set", "algorithm.iterations=true"], ["algorithm.iterations", "True"]),
    (["--set", "algorithm.nonsense=1"], ["algorithm.nonsense"]),
    (["--set", "novalue"], ["--set", "novalue"]),
    (["--seed", "-1"], ["seed", "-1"]),
]


def _assert_bad_input(argv, words, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    message = captured.err.strip()
    assert len(message.splitlines()) == 1, message  # one message, no traceback
    for word in words:
        assert word in message, (word, message)
    assert captured.out == ""
    assert not out.exists() and list(tmp_path.iterdir()) == []  # nothing half-written


@pytest.mark.parametrize("extra, words", BAD_INPUT)
def test_bad_input_exits_2_with_one_message(extra, words, tmp_path, capsys):
    _assert_bad_input(["run", QUICKSTART, *extra], words, tmp_path, capsys)


def test_bad_objective_value_exits_2(tmp_path, capsys):
    _assert_bad_input(["run", QUICKSTART, "--set", "objective.n=0"], ["objective.n", "0"], tmp_path, capsys)


def test_missing_and_malformed_scenario_files_exit_2(tmp_path, capsys):
    _assert_bad_input(["run", str(tmp_path / "missing.toml")], ["missing.toml"], tmp_path, capsys)
    bad = tmp_path / "bad.toml"
    bad.write_text("[cluster\nworkers = 3\n")
    assert main(["run", str(bad), "--out", str(tmp_path / "out")]) == 2
    assert "bad.toml" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_out_dir_that_is_not_a_run_directory_is_refused(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("precious")
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=5", "--out", str(tmp_path)]) == 2
    assert "--out" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


UNWRITABLE = ["file/x", "file/x/y", *(["/proc/forbidden/x"] if Path("/proc/self").is_dir() else [])]


@pytest.mark.parametrize("out", UNWRITABLE)
@pytest.mark.parametrize("command", ["run", "sweep", "check"])
def test_an_out_dir_that_cannot_be_created_is_refused_before_anything_runs(command, out, tmp_path, capsys, monkeypatch):
    import sim
    import sim.executors

    def simulate(*args, **kwargs):
        raise AssertionError("simulated before checking --out")

    monkeypatch.setattr(sim, "simulate", simulate)
    monkeypatch.setattr(sim.executors, "simulate", simulate)
    (tmp_path / "file").write_text("a regular file")
    flags = {"run": [], "sweep": ["--jobs", "1"], "check": ["--k-grid", "100,200", "--workers", "1,2", "--jobs", "1"]}
    assert main([command, QUICKSTART, *flags[command], "--out", str(tmp_path / out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and f"--out = '{tmp_path / out}': cannot be" in captured.err
    assert captured.out == "" and [p.name for p in tmp_path.iterdir()] == ["file"]


def test_replay_of_a_folder_that_is_not_a_run_exits_2(tmp_path, capsys):
    assert main(["replay", str(tmp_path)]) == 2
    assert "RUN_DIR" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["trace.parquet", "x_final.npy"])
@pytest.mark.parametrize("corrupt", ["truncated", "random bytes", "empty"])
def test_replay_of_a_corrupt_file_exits_2_naming_it(name, corrupt, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=30", "--out", str(out)]) == 0
    data = (out / name).read_bytes()
    rng = np.random.default_rng(0)
    corrupted = {"truncated": data[:len(data) // 2], "random bytes": rng.bytes(len(data)), "empty": b""}
    (out / name).write_bytes(corrupted[corrupt])
    capsys.readouterr()
    assert main(["replay", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and f"'{out / name}': is corrupt: " in captured.err and captured.out == ""


def test_replay_of_a_trace_without_a_column_or_of_another_type_exits_2(tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tmp_path / "run"
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=30", "--out", str(out)]) == 0
    trace = pq.read_table(out / "trace.parquet")
    pq.write_table(trace.drop(["samples"]), out / "trace.parquet")
    assert main(["replay", str(out)]) == 2
    assert "is corrupt: it has no column 'samples'" in capsys.readouterr().err
    pq.write_table(trace.set_column(trace.schema.get_field_index("applied"), "applied",
                                    pa.array(np.ones(len(trace), np.int8))), out / "trace.parquet")
    assert main(["replay", str(out)]) == 2
    assert "is corrupt: its column 'applied' is int8, not bool" in capsys.readouterr().err


def test_a_diverging_run_is_reported_not_crashed(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", QUICKSTART, "--set", "objective.name=\"noisy-rosenbrock\"", "--set", "algorithm.step=1.0",
                 "--set", "algorithm.iterations=200", "--set", "record.every=1", "--out", str(out)])
    assert code == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["iterations"] < 200
    assert "DIVERGED" in capsys.readouterr().out
    assert main(["replay", str(out)]) == 0


@pytest.mark.parametrize("step, status", [("1e150", "ok"), ("1e308", "diverged"), ("1e-300", "ok")])
def test_extreme_steps_finish_with_a_summary(step, status, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", QUICKSTART, "--set", f"algorithm.step={step}", "--set", "algorithm.iterations=100",
                 "--out", str(out)])
    assert code == (0 if status == "ok" else 1)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == status and summary["bound_statement"] == "Theorem 1"
    # too large a step overflows the bound (inf, written as null) and fails its step condition
    assert (summary["bound"] is None) is (step != "1e-300") and summary["bound_step_condition"] is (step == "1e-300")
    captured = capsys.readouterr()
    assert status.upper() in captured.out and captured.err == ""


def test_a_zero_time_worker_cycle_with_a_busy_server_is_bad_input(tmp_path, capsys):
    _assert_bad_input(["run", QUICKSTART, "--set", 'cluster.compute={dist="constant", value=0.0}',
                       "--set", 'cluster.server={dist="constant", value=0.1}', "--set", "staleness.policy=drop"],
                      ["cluster.compute", "takes no time"], tmp_path, capsys)


def test_keys_the_algorithm_does_not_read_and_asysg_incon_latencies_are_bad_input(tmp_path, capsys):
    _assert_bad_input(["run", QUICKSTART, "--set", "algorithm.block=2"],
                      ["algorithm.block = 2", "only algorithm.name = 'asysg-incon' uses it, not 'asysg-con'"],
                      tmp_path, capsys)
    _assert_bad_input(["run", str(SCENARIOS / "sync.toml"), "--set", "staleness.bound=4"],
                      ["staleness.bound = 4", "not 'sync'"], tmp_path, capsys)
    _assert_bad_input(["run", str(SCENARIOS / "incon.toml"), "--set", "algorithm.name=asysg-con"],
                      ["algorithm.block", "remove it"], tmp_path, capsys)
    _assert_bad_input(["run", str(SCENARIOS / "incon.toml"), "--set", 'cluster.uplink={dist="constant", value=0.5}'],
                      ["cluster.uplink", "must be 0 for asysg-incon"], tmp_path, capsys)
    _assert_bad_input(["run", str(SCENARIOS / "incon.toml"), "--set", "algorithm.block=101"],
                      ["algorithm.block = 101", "must be at most the objective's dimension, 100"], tmp_path, capsys)


def test_more_bad_input_without_tracebacks(tmp_path, capsys):
    _assert_bad_input(["run", QUICKSTART, "--set", "cluster.compute={dist=[1], value=1.0}"],
                      ["cluster.compute.dist"], tmp_path, capsys)
    _assert_bad_input(["run", QUICKSTART, "--set", 'objective.name="noisy-rosenbrock"', "--set", "objective.noise=0.0"],
                      ["algorithm.step", "corollary"], tmp_path, capsys)


def test_a_written_sync_scenario_runs_again_with_other_workers(tmp_path, capsys):
    first, second = tmp_path / "w4", tmp_path / "w16"
    assert main(["run", str(SCENARIOS / "sync.toml"), "--set", "cluster.workers=4", "--set", "algorithm.iterations=30",
                 "--out", str(first)]) == 0
    assert main(["run", str(first / "scenario.toml"), "--set", "cluster.workers=16", "--out", str(second)]) == 0
    summary = json.loads((second / "summary.json").read_text())
    assert (summary["workers"], summary["batch"], summary["gradients"]) == (16, 16, 16 * 30)


def test_a_long_run_shows_progress_lines_off_a_terminal(tmp_path, capsys):
    from sim.cli import LONG_RUN

    out = tmp_path / "run"
    assert main(["run", QUICKSTART, "--set", f"algorithm.iterations={LONG_RUN}", "--set", "record.trace=false",
                 "--out", str(out)]) == 0
    lines = capsys.readouterr().err.splitlines()  # captured stderr is not a terminal: plain lines, one per tenth
    assert [line.split(" (")[0] for line in lines] == [f"asgd run: {LONG_RUN * i // 10}/{LONG_RUN} updates"
                                                       for i in range(1, 11)]
    assert lines[-1].startswith(f"asgd run: {LONG_RUN}/{LONG_RUN} updates (100%), ") and "failed" not in lines[-1]


def test_simulate_with_a_seed_returns_the_scenario_it_ran():
    from scenarios import load
    from sim import simulate

    result = simulate(load(QUICKSTART, {"algorithm.iterations": 20}), seed=3)
    assert result.scenario.seed == 3 and result.summary["seed"] == 3
    assert result.x_final.tobytes() == simulate(load(QUICKSTART, {"algorithm.iterations": 20, "seed": 3})).x_final.tobytes()
