"""`asgd run` and `asgd replay` through the command line: outputs, example scenarios, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.frontends.cli import main

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
        ["scenario.toml", "summary.json", "metrics.parquet", "trace.parquet", "events.parquet", "x_final.npy"])
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


def test_run_timing_simpy_writes_the_closed_form_runs_files_bit_for_bit(tmp_path, capsys):
    scenario = str(SCENARIOS / "worker-limit.toml")  # no bound, no server time: a closed form
    for timing in ("auto", "simpy"):
        assert main(["run", scenario, "--set", "algorithm.iterations=300", "--out", str(tmp_path / timing),
                     "--timing", timing]) == 0
    for name in ("trace.parquet", "metrics.parquet", "x_final.npy"):
        assert (tmp_path / "auto" / name).read_bytes() == (tmp_path / "simpy" / name).read_bytes()
    with pytest.raises(SystemExit) as exit_:
        main(["run", scenario, "--timing", "fast"])
    assert exit_.value.code == 2 and "--timing: invalid choice: 'fast'" in capsys.readouterr().err


def test_replay_fails_when_the_final_iterate_differs(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=50", "--out", str(out)]) == 0
    x = np.load(out / "x_final.npy")
    x[0] = np.nextafter(x[0], np.inf)  # one ulp
    np.save(out / "x_final.npy", x)
    assert main(["replay", str(out)]) == 1
    assert "NOT reproduced" in capsys.readouterr().out


def test_a_rerun_of_the_same_run_replaces_its_directory_and_another_run_needs_force(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=20", "--out", str(out)]) == 0
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=20", "--out", str(out)]) == 0  # the same run
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    for other in (["--set", "algorithm.iterations=30"], ["--set", "algorithm.iterations=20", "--seed", "1"]):
        assert main(["run", QUICKSTART, *other, "--out", str(out)]) == 2
        captured = capsys.readouterr()
        assert captured.err.count("\n") == 1 and captured.out == ""
        assert f"--out = '{out}': holds another run (" in captured.err and "pass --force" in captured.err
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the earlier run is intact
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=30", "--out", str(out)]) == 2
    assert "(algorithm.iterations = 20 there, 30 here)" in capsys.readouterr().err
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=30", "--force", "--out", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["iterations"] == 30
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no staging or old folders left


def test_the_default_run_directory_is_protected_too(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=20"]) == 0
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=21"]) == 2
    assert "--out = 'runs/quickstart-seed0': holds another run" in capsys.readouterr().err
    assert json.loads((tmp_path / "runs/quickstart-seed0/summary.json").read_text())["iterations"] == 20


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


def assert_settings_bad(settings: list[str], words, tmp_path, capsys) -> None:
    """`asgd run` of the quickstart (K = 20) with these --set settings is bad input (_assert_bad_input)."""
    argv = ["run", QUICKSTART, "--set", "algorithm.iterations=20"]
    for setting in settings:
        argv += ["--set", setting]
    _assert_bad_input(argv, words, tmp_path, capsys)


def _assert_bad_input(argv, words, tmp_path, capsys, keep=()):
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    message = captured.err.strip()
    assert len(message.splitlines()) == 1, message  # one message, no traceback
    for word in words:
        assert word in message, (word, message)
    assert captured.out == ""
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)  # nothing half-written


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
    import sim.frontends.executors

    def simulate(*args, **kwargs):
        raise AssertionError("simulated before checking --out")

    monkeypatch.setattr(sim, "simulate", simulate)
    monkeypatch.setattr(sim.frontends.executors, "simulate", simulate)
    (tmp_path / "file").write_text("a regular file")
    flags = {"run": [], "sweep": ["--jobs", "1"], "check": ["--k-grid", "100,200", "--workers", "1,2", "--jobs", "1"]}
    assert main([command, QUICKSTART, *flags[command], "--out", str(tmp_path / out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and f"--out = '{tmp_path / out}': cannot be" in captured.err
    assert captured.out == "" and [p.name for p in tmp_path.iterdir()] == ["file"]


def test_replay_of_a_folder_that_is_not_a_run_exits_2(tmp_path, capsys):
    assert main(["replay", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"asgd replay: error: RUN_DIR = '{tmp_path}': is not a run directory: "
                                       f"scenario.toml is missing\n")
    out = tmp_path / "run"
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=30", "--out", str(out)]) == 0
    (out / "metrics.parquet").unlink()  # replay does not read it, replay --timing compares it
    capsys.readouterr()
    assert main(["replay", str(out)]) == 0 and main(["replay", "--timing", str(out)]) == 2
    assert capsys.readouterr().err == (f"asgd replay: error: RUN_DIR = '{out}': is not a run directory: "
                                       f"metrics.parquet is missing\n")


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
    problem = {"trace.parquet": "not a readable Parquet file (", "x_final.npy": "not a NumPy .npy array ("}[name]
    assert captured.err.count("\n") == 1 and f"'{out / name}': is corrupt: {problem}" in captured.err
    assert captured.err.endswith(")\n") and captured.out == ""


def test_replay_of_an_npz_archive_as_the_final_iterate_exits_2_naming_it(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=30", "--out", str(out)]) == 0
    x = np.load(out / "x_final.npy")
    with open(out / "x_final.npy", "wb") as file:  # np.load reads an archive whatever the file's name
        np.savez(file, x=x)
    capsys.readouterr()
    assert main(["replay", str(out)]) == 2
    assert capsys.readouterr().err == (f"asgd replay: error: '{out / 'x_final.npy'}': is corrupt: an .npz archive, "
                                       f"not a NumPy .npy array\n")


def test_a_readers_error_without_a_message_is_named_by_its_type(tmp_path, capsys, monkeypatch):
    import sim.replay

    out = tmp_path / "run"
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=30", "--out", str(out)]) == 0

    def load(path):
        raise EOFError()

    monkeypatch.setattr(sim.replay.np, "load", load)
    capsys.readouterr()
    assert main(["replay", str(out)]) == 2
    assert capsys.readouterr().err == (f"asgd replay: error: '{out / 'x_final.npy'}': is corrupt: not a NumPy .npy "
                                       f"array (EOFError)\n")


@pytest.mark.parametrize("name", ["quickstart", "incon"])
def test_a_run_that_diverged_before_its_first_update_replays_to_its_start(name, tmp_path, capsys):
    """A trace without an applied row is consistent with a run summary.json reports as diverged with 0 iterations:
    its replay re-applies nothing and reproduces x_0, and nothing else."""
    import pyarrow.parquet as pq

    from scenarios import build_objective, load

    out = tmp_path / "run"
    assert main(["run", str(SCENARIOS / f"{name}.toml"), "--set", "algorithm.iterations=30", "--out", str(out)]) == 0
    pq.write_table(pq.read_table(out / "trace.parquet").slice(0, 0), out / "trace.parquet")
    summary = json.loads((out / "summary.json").read_text())
    summary.update(status="diverged", iterations=0, gradients=0, dropped=0, max_staleness=0, mean_staleness=0.0)
    (out / "summary.json").write_text(json.dumps(summary))
    capsys.readouterr()
    assert main(["replay", str(out)]) == 1  # the run's x_30 is not x_0
    assert "NOT reproduced: 0 updates re-applied" in capsys.readouterr().out
    np.save(out / "x_final.npy", build_objective(load(out / "scenario.toml")).x0)
    assert main(["replay", str(out)]) == 0
    assert capsys.readouterr().out.startswith("reproduced: 0 updates re-applied")


@pytest.mark.parametrize("timing", [[], ["--timing"]])
def test_replay_of_a_run_that_kept_no_trace_exits_2_saying_how_to_keep_one(timing, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=30", "--set", "record.trace=false", "--out",
                 str(out)]) == 0
    capsys.readouterr()
    assert main(["replay", *timing, str(out)]) == 2
    assert capsys.readouterr().err == ("asgd replay: error: record.trace = False: this run kept no trace, so it cannot "
                                       "be replayed: run it with record.trace = true\n")


@pytest.mark.parametrize("text, problem", [("{'not': json", "not a JSON summary ("), ("[1, 2]", "not a JSON object")])
def test_replay_of_a_summary_that_is_not_a_json_object_exits_2_naming_it(text, problem, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=30", "--out", str(out)]) == 0
    (out / "summary.json").write_text(text)
    if problem.endswith("("):
        with pytest.raises(ValueError) as error:
            json.loads(text)
        problem += f"{str(error.value).splitlines()[0]})"
    capsys.readouterr()
    assert main(["replay", str(out)]) == 2
    assert capsys.readouterr().err == f"asgd replay: error: '{out / 'summary.json'}': is corrupt: {problem}\n"


def test_replay_of_an_svrg_gradient_read_before_its_epochs_snapshot_exits_2(tmp_path, capsys):
    """SVRG's epochs drain: a gradient of update k reads an iterate at or after its epoch's snapshot."""
    out = tmp_path / "run"
    assert main(["run", str(SCENARIOS / "svrg.toml"), "--set", "algorithm.iterations=30", "--set",
                 "algorithm.estimator.epoch=10", "--out", str(out)]) == 0
    _edit_trace(out, "read_version", _at_update(24, 19))
    _assert_replay_refuses(out, "is inconsistent: a gradient of update 24 has read_version 19, not in 20..24", capsys,
                           whole=True)


def test_replay_of_a_trace_without_a_column_or_of_another_type_exits_2(tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tmp_path / "run"
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=30", "--out", str(out)]) == 0
    trace = pq.read_table(out / "trace.parquet")
    pq.write_table(trace.drop(["samples"]), out / "trace.parquet")
    assert main(["replay", str(out)]) == 2
    assert capsys.readouterr().err == (f"asgd replay: error: '{out / 'trace.parquet'}': is corrupt: it has no column "
                                       f"'samples'\n")
    pq.write_table(trace.set_column(trace.schema.get_field_index("applied"), "applied",
                                    pa.array(np.ones(len(trace), np.int8))), out / "trace.parquet")
    assert main(["replay", str(out)]) == 2
    assert capsys.readouterr().err == (f"asgd replay: error: '{out / 'trace.parquet'}': is corrupt: its column "
                                       f"'applied' is int8, not bool\n")


def test_a_diverging_run_is_reported_not_crashed(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", QUICKSTART, "--set", "objective.name=\"noisy-rosenbrock\"", "--set", "algorithm.step=1.0",
                 "--set", "algorithm.iterations=200", "--set", "record.every=1", "--out", str(out)])
    assert code == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["iterations"] < 200
    assert "DIVERGED" in capsys.readouterr().out
    assert main(["replay", str(out)]) == 0


def test_a_run_whose_iterates_overflow_between_two_recorded_metrics_replays_without_a_warning(tmp_path, capsys):
    """The replay re-applies the overflowing updates (inf, then nan) as the run did, with numpy's floating-point
    warnings off (the suite makes a RuntimeWarning an error)."""
    out = tmp_path / "run"
    assert main(["run", QUICKSTART, "--set", "objective.name=\"noisy-rosenbrock\"", "--set", "algorithm.step=1.0",
                 "--set", "algorithm.iterations=200", "--set", "record.every=200", "--out", str(out)]) == 1
    assert np.isnan(np.load(out / "x_final.npy")).all()
    capsys.readouterr()
    assert main(["replay", str(out)]) == 0
    assert capsys.readouterr().out.startswith("reproduced: 200 updates re-applied")


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
    _assert_bad_input(["run", str(SCENARIOS / "incon.toml"), "--set", "algorithm.name=asysg-con"],  # its block = 1 is
                      ["cluster.read", "remove it"], tmp_path, capsys)  # the default, its uniform read time is not
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


def test_a_long_run_shows_progress_lines_off_a_terminal(tmp_path, capsys, monkeypatch):
    from sim.frontends.cli import LONG_RUN

    from sim.frontends.progress import Progress

    monkeypatch.setattr(Progress, "HEARTBEAT", 3600.0)  # no "still running" line on a slow machine
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


# ---- run directories written before keys only another algorithm reads became bad input ----

OLD_DEFAULTS = {  # what such run directories' scenario.toml holds beyond today's resolved scenario
    "quickstart": {"algorithm": {"block": 1}, "cluster": {"read": {"dist": "constant", "value": 0.0}}},
    "sync": {"algorithm": {"block": 1}, "cluster": {"read": {"dist": "constant", "value": 0.0}},
             "staleness": {"policy": "wait"}},
}


@pytest.mark.parametrize("name", sorted(OLD_DEFAULTS))
def test_an_older_run_directory_holding_default_keys_of_other_algorithms_replays_and_runs(name, tmp_path, capsys):
    import tomllib

    import tomli_w

    old, again = tmp_path / "old", tmp_path / "again"
    assert main(["run", str(SCENARIOS / f"{name}.toml"), "--set", "algorithm.iterations=30", "--out", str(old)]) == 0
    data = tomllib.loads((old / "scenario.toml").read_text())
    for section, keys in OLD_DEFAULTS[name].items():
        data.setdefault(section, {}).update(keys)
    (old / "scenario.toml").write_text(tomli_w.dumps(data))
    assert main(["replay", str(old)]) == 0
    assert main(["run", str(old / "scenario.toml"), "--out", str(again)]) == 0
    assert (again / "x_final.npy").read_bytes() == (old / "x_final.npy").read_bytes()
    assert "block" not in (again / "scenario.toml").read_text() and "read" not in (again / "scenario.toml").read_text()
    capsys.readouterr()
    data["algorithm"]["block"] = 2  # a value other than the default is still refused, as before
    (old / "scenario.toml").write_text(tomli_w.dumps(data))
    assert main(["replay", str(old)]) == 2
    algorithm = data["algorithm"]["name"]
    assert capsys.readouterr().err == (f"asgd replay: error: algorithm.block = 2: only algorithm.name = 'asysg-incon' "
                                       f"uses it, not {algorithm!r}: remove it\n")


# ---- replay of a trace whose columns read fine but contradict each other or the scenario ----

def _edit_trace(out: Path, column: str, edit) -> None:
    """Rewrite trace.parquet with `edit(values)` (a list, changed in place) as `column`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    trace = pq.read_table(out / "trace.parquet")
    index = trace.schema.get_field_index(column)
    values = trace.column(column).to_pylist()
    edit(values, trace.column("update").to_pylist())
    field = trace.schema.field(index)
    pq.write_table(trace.set_column(index, field, pa.array(values, field.type)), out / "trace.parquet")


def _set_row(row: int, value):
    def edit(values, updates):
        values[row] = value
    return edit


def _at_update(k: int, value):
    """Every row of update k gets `value`."""
    def edit(values, updates):
        for i, update in enumerate(updates):
            if update == k:
                values[i] = value
    return edit


INCONSISTENT_CON = [  # (column, edit, the message's words); quickstart: one gradient per update, none dropped
    ("read_version", _at_update(5, 10**6), "a gradient of update 5 has read_version 1000000, not in 0..5"),
    ("read_version", _at_update(5, -3), "a gradient of update 5 has read_version -3, not in 0..5"),
    ("read_version", _at_update(5, 2**62), f"a gradient of update 5 has read_version {2**62}, not in 0..5"),
    ("read_version", _at_update(5, 6), "a gradient of update 5 has read_version 6, not in 0..5"),  # a later iterate
    ("samples", _at_update(3, [2000]), "sample index 2000 is not one of the objective's samples 0..1999"),
    ("samples", _at_update(3, [-1]), "sample index -1 is not one of the objective's samples 0..1999"),
    ("samples", _at_update(3, []), "a gradient of update 3 has 0 samples, not algorithm.minibatch = 1"),
    ("update", _at_update(3, 7), "its updates must run 0, 1, 2, ...: update 7 follows update 2"),
    ("update", _at_update(29, 10**12), f"its updates must run 0, 1, 2, ...: update {10**12} follows update 28"),
    ("update", _at_update(0, 1), "its first applied row is of update 1, not 0"),
    ("update", _at_update(0, 3), "its first applied row is of update 3, not 0"),
    ("samples", _at_update(0, [2000]), "sample index 2000 is not one of the objective's samples 0..1999"),  # first
    ("samples", _at_update(29, [-1]), "sample index -1 is not one of the objective's samples 0..1999"),  # last row
    ("read_version", _set_row(4, None), "is corrupt: its column 'read_version' has missing values"),
    ("samples", _set_row(4, [None]), "is corrupt: its column 'samples' has missing values"),
    ("update", _set_row(4, None), "is corrupt: its column 'update' has missing values"),
]


def _assert_replay_refuses(out: Path, words: str, capsys, whole: bool = False) -> None:
    """`asgd replay` refuses `out` with one line naming its trace and holding `words` (`whole`: ending with them)."""
    capsys.readouterr()
    assert main(["replay", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and f"'{out / 'trace.parquet'}': " in captured.err, captured.err
    assert words in captured.err and captured.out == "", captured.err
    assert not whole or captured.err.endswith(f": {words}\n"), captured.err


@pytest.mark.parametrize("column, edit, words", INCONSISTENT_CON, ids=[case[2] for case in INCONSISTENT_CON])
def test_replay_of_an_inconsistent_trace_exits_2_naming_it(column, edit, words, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=30", "--out", str(out)]) == 0
    _edit_trace(out, column, edit)
    _assert_replay_refuses(out, words if "corrupt" in words else f"is inconsistent: {words}", capsys, whole=True)


def _landed_late(values, updates):
    """The last update's read starts at 0 and sees two updates land, after 5 and then 3 coordinates were read."""
    for i, update in enumerate(updates):
        if update == max(updates):
            values[i] = [5, 3]


def _start_at_zero_of_the_last_update(values, updates):
    for i, update in enumerate(updates):
        if update == max(updates):
            values[i] = 0


INCONSISTENT_INCON = [  # ([(column, edit)], the message's words); incon.toml: dim 100, block 1
    ([("start_version", _at_update(10, -1)), ("landed_at", _at_update(10, []))],
     "the read of update 10 spans versions -1..-1 (start_version .. start_version + len(landed_at)), not within 0..10"),
    ([("start_version", _at_update(10, 10**6)), ("landed_at", _at_update(10, []))],
     "the read of update 10 spans versions 1000000..1000000"),
    ([("start_version", _at_update(10, 10)), ("landed_at", _at_update(10, [50]))],
     "the read of update 10 spans versions 10..11 (start_version .. start_version + len(landed_at)), not within 0..10"),
    ([("start_version", _at_update(10, 0)), ("landed_at", _at_update(10, [101]))],
     "landed_at holds 101, not a number of coordinates read (0..100)"),
    ([("start_version", _start_at_zero_of_the_last_update), ("landed_at", _landed_late)],
     "a landed_at list decreases"),
    ([("coordinates", _at_update(10, [100]))], "coordinate 100 is not one of the objective's 0..99"),
    ([("coordinates", _at_update(10, [-1]))], "coordinate -1 is not one of the objective's 0..99"),
    ([("coordinates", _at_update(0, [100]))], "coordinate 100 is not one of the objective's 0..99"),  # the first row
    ([("coordinates", _at_update(39, [-1]))], "coordinate -1 is not one of the objective's 0..99"),  # the last row
    ([("coordinates", _at_update(10, [1, 2]))], "update 10 writes 2 coordinates, not algorithm.block = 1"),
]


@pytest.mark.parametrize("edits, words", INCONSISTENT_INCON, ids=[case[1] for case in INCONSISTENT_INCON])
def test_replay_of_an_inconsistent_incon_trace_exits_2_naming_it(edits, words, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", str(SCENARIOS / "incon.toml"), "--set", "algorithm.iterations=40", "--out", str(out)]) == 0
    for column, edit in edits:
        _edit_trace(out, column, edit)
    _assert_replay_refuses(out, f"is inconsistent: {words}", capsys)


BLOCKS = [list(range(0, 33)), list(range(33, 66)), list(range(66, 100))]  # sapalm.toml's dim 100 in 3 blocks


def _not_a_block(coordinates):
    return (f"update 10 writes coordinates {coordinates}, not one of the algorithm.blocks = 3 contiguous blocks")


INCONSISTENT_BLOCKS = [  # (update 10's coordinates, the message's words)
    ([], "update 10 writes no coordinates, not one of the algorithm.blocks = 3 blocks"),
    (list(range(1, 34)), _not_a_block(list(range(1, 34)))),           # a block shifted by one coordinate
    (list(range(0, 34)), _not_a_block(list(range(0, 34)))),           # the first block and one coordinate more
    (list(range(33, 65)), _not_a_block(list(range(33, 65)))),         # the second block but its last coordinate
    ([0, *range(2, 34)], _not_a_block([0, *range(2, 34)])),           # its first coordinate right, then a gap
    ([*range(0, 32), 33], _not_a_block([*range(0, 32), 33])),         # a gap before its last coordinate
]


@pytest.mark.parametrize("coordinates, words", INCONSISTENT_BLOCKS, ids=[str(case[0][:3]) for case in INCONSISTENT_BLOCKS])
def test_replay_of_a_sapalm_trace_writing_other_than_one_whole_block_exits_2_naming_it(coordinates, words, tmp_path,
                                                                                       capsys):
    """SAPALM's blocks split dim 100 into 33, 33 and 34 coordinates: every update must write one of them whole."""
    out = tmp_path / "run"
    assert main(["run", str(SCENARIOS / "sapalm.toml"), "--set", "algorithm.blocks=3", "--set",
                 "algorithm.iterations=40", "--out", str(out)]) == 0
    assert main(["replay", str(out)]) == 0
    _edit_trace(out, "coordinates", _at_update(10, coordinates))
    _assert_replay_refuses(out, f"is inconsistent: {words}", capsys, whole=True)


def test_a_sapalm_trace_writing_other_whole_blocks_is_consistent_but_not_reproduced(tmp_path, capsys):
    """The checks accept any sequence of whole blocks (here blocks 0 and 2 in turn, never adjacent): only the final
    iterate tells that the run wrote others. Reads take no time here, so no update lands during one and no other
    column depends on the coordinates written."""
    out = tmp_path / "run"
    assert main(["run", str(SCENARIOS / "sapalm.toml"), "--set", "algorithm.blocks=3", "--set",
                 "algorithm.iterations=40", "--set", "cluster.read={dist=\"constant\", value=0.0}", "--out",
                 str(out)]) == 0
    _edit_trace(out, "coordinates", lambda values, updates: values.__setitem__(
        slice(None), [BLOCKS[2 * (update % 2)] for update in updates]))
    capsys.readouterr()
    assert main(["replay", str(out)]) == 1
    captured = capsys.readouterr()
    assert "NOT reproduced" in captured.out and captured.err == ""


def test_an_error_while_re_applying_the_trace_is_reported_as_an_inconsistent_trace(tmp_path, capsys, monkeypatch):
    import sim.replay

    out = tmp_path / "run"
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=30", "--out", str(out)]) == 0
    for error, detail in ((KeyError(12), "KeyError: 12"), (IndexError("index 7\nis out"), "IndexError: index 7"),
                          (ValueError(""), "ValueError: -")):  # the first line of its message, "-" for none
        def fail(*args, error=error, **kwargs):
            raise error

        monkeypatch.setattr(sim.replay, "apply_con_update", fail)
        capsys.readouterr()
        assert main(["replay", str(out)]) == 2
        assert capsys.readouterr().err == (f"asgd replay: error: '{out / 'trace.parquet'}': is inconsistent: "
                                           f"re-applying update 0 fails ({detail})\n")


# ---- integers beyond what can be simulated or recorded, and an empty --out ----

@pytest.mark.parametrize("key, words", [
    ("cluster.workers", "cluster.workers = 99999999999999999999: must be an integer in [1, 1000000]: each worker"),
    ("algorithm.minibatch", "algorithm.minibatch = 99999999999999999999: must be at most the objective's number of "
                            "samples, 2000"),
    ("objective.n", "objective.n = 99999999999999999999: must be an integer <= 9223372036854775807"),
    ("algorithm.iterations", "algorithm.iterations = 99999999999999999999: must be an integer in [1, "),
    ("objective.dim", "objective.dim = 99999999999999999999: must be an integer <= "),
    ("record.every", "record.every = 99999999999999999999: must be \"auto\" or an integer in [1, "),
    ("staleness.bound", "staleness.bound = 99999999999999999999: must be an integer in [0, "),
    ("seed", "seed = 99999999999999999999: must be an integer in [0, 9223372036854775807]"),
])
def test_huge_integers_are_bad_input(key, words, tmp_path, capsys):
    _assert_bad_input(["run", QUICKSTART, "--set", f"{key}=99999999999999999999"], [words], tmp_path, capsys)


@pytest.mark.parametrize("setting, words", [
    ("objective.n=4611686018427387904", ["objective = {'name': 'nonconvex-logistic'", "'n': 4611686018427387904",
                                         "could not be built: "]),
    ('objective.name="noisy-rosenbrock"', ["algorithm.minibatch = 1000001: must be an integer in [1, 1000000]"]),
])
def test_objectives_that_cannot_be_built_or_sampled_are_bad_input(setting, words, tmp_path, capsys):
    extra = ["--set", "algorithm.minibatch=1000001"] if "rosenbrock" in setting else []
    _assert_bad_input(["run", QUICKSTART, "--set", setting, *extra], words, tmp_path, capsys)
    _assert_bad_input(["run", QUICKSTART, "--set", setting, *extra, "--set", "algorithm.iterations=100000"], words,
                      tmp_path, capsys)  # a long run shows progress: nothing is shown before the objective is built


@pytest.mark.parametrize("command", ["run", "sweep", "check"])
@pytest.mark.parametrize("out", ["", "  "])
def test_an_empty_out_is_refused(command, out, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    flags = {"run": [], "sweep": ["--jobs", "1"], "check": ["--k-grid", "100,200", "--workers", "1,2", "--jobs", "1"]}
    assert main([command, QUICKSTART, "--set", "algorithm.iterations=10", *flags[command], "--out", out]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"asgd {command}: error: --out = {out!r}: must name a folder" + \
        {"run": ", or omit --out for the default (runs/NAME-seedN)\n", "sweep": "\n",
         "check": ", or omit --out for the default (runs/check-NAME)\n"}[command]
    assert captured.out == "" and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["sweep", "check"])
def test_seeds_beyond_the_largest_seed_are_refused(command, tmp_path, capsys):
    flags = {"sweep": ["--jobs", "1"], "check": ["--k-grid", "100,200", "--workers", "1,2", "--jobs", "1"]}
    last = 2**63 - 1
    _assert_bad_input([command, QUICKSTART, "--set", f"seed={last}", "--seeds", "2", *flags[command]],
                      [f"--seeds = 2: seeds {last}..{last + 1} go beyond the largest seed, {last}"], tmp_path, capsys)


# ---- where a run may write, and what bad input leaves behind ----

def _nothing_ran(monkeypatch):
    import sim
    import sim.frontends.executors

    def simulate(*args, **kwargs):
        raise AssertionError("simulated before the input was checked")

    monkeypatch.setattr(sim, "simulate", simulate)
    monkeypatch.setattr(sim.frontends.executors, "simulate", simulate)
    monkeypatch.setattr(sim.frontends.executors, "simulate_batch", simulate)


COMMAND_FLAGS = {"run": [], "sweep": ["--jobs", "1"], "check": ["--k-grid", "100,200", "--workers", "1,2", "--jobs", "1"]}


@pytest.mark.parametrize("name", ["../../escaped", "/abs/path", "a\0b", "a\nb", "x" * 300])
@pytest.mark.parametrize("command", ["run", "sweep"])
def test_a_name_that_is_not_plain_is_bad_input_before_anything_runs(command, name, tmp_path, capsys, monkeypatch):
    _nothing_ran(monkeypatch)
    monkeypatch.chdir(tmp_path)
    scenario = tmp_path / "in" / "s.toml"
    scenario.parent.mkdir()
    scenario.write_text(Path(QUICKSTART).read_text().replace('name = "quickstart"', f"name = {json.dumps(name)}"))
    out = [] if command == "run" else ["--out", str(tmp_path / "out")]
    assert main([command, str(scenario), *COMMAND_FLAGS[command], *out]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and f"name = {name!r}: must be a plain name" in captured.err
    assert captured.out == "" and [p.name for p in tmp_path.iterdir()] == ["in"]


@pytest.mark.parametrize("command", ["run", "sweep", "check"])
def test_an_out_too_long_for_the_file_system_is_bad_input(command, tmp_path, capsys, monkeypatch):
    _nothing_ran(monkeypatch)
    for out in (tmp_path / ("x" * 300), tmp_path / ("x" * 250), tmp_path / "/".join(["y" * 200] * 21)):
        assert main([command, QUICKSTART, *COMMAND_FLAGS[command], "--out", str(out)]) == 2
        captured = capsys.readouterr()
        assert captured.err.count("\n") == 1 and f"--out = '{out}': " in captured.err and captured.out == ""
        assert "more than the 242 that fit" in captured.err or "is too long" in captured.err
        assert list(tmp_path.iterdir()) == []


def _path_of_length(base: Path, length: int) -> Path:
    """A path below `base` of `length` bytes: folders of at most 200 bytes (made) and a last name (not made)."""
    path, left = base, length - len(os.fsencode(str(base)))
    while left > 201:
        size = 200 if left - 201 >= 2 else 150
        path = path / ("d" * size)
        path.mkdir(parents=True, exist_ok=True)
        left -= size + 1
    return path / ("o" * (left - 1))


# How many bytes longer than --out DIR the deepest path each command writes is, by hand: a sweep's is a failed run's
# temporary (the largest PID has 7 digits), a run's and a check's a file in the staging folder .DIR.XXXXXXXX beside DIR
DEEPEST = {"sweep": len("/.runs/.tmp-0123456789abcdef.failed.parquet-4194304-01234567"),
           "run": len("..01234567/metrics.parquet"), "check": len("..01234567/worker_limit.png")}


@pytest.mark.parametrize("command", ["sweep", "run", "check"])
def test_the_longest_out_each_command_accepts_works_and_one_byte_more_is_refused(command, tmp_path, capsys):
    """PATH_MAX counts the terminating NUL: DIR may have PATH_MAX - 1 - DEEPEST bytes. (A fixed 40 bytes below DIR
    were allowed for: a sweep's DIR up to 20 bytes too long was accepted, and then its runs, say, could fail to be
    written: exit 1 after running, not 2.)"""
    path_max = os.pathconf(tmp_path, "PC_PATH_MAX")
    flags = [QUICKSTART, *COMMAND_FLAGS[command], "--set", "algorithm.iterations=100"]
    out = _path_of_length(tmp_path / "refused", path_max - DEEPEST[command])
    assert main([command, *flags, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.out == ""
    assert f"--out = '{out}': is too long: {path_max - DEEPEST[command]} bytes as an absolute path, and asgd writes " \
           f"paths up to {DEEPEST[command]} bytes longer for it" in captured.err
    assert not any(out.parent.iterdir())
    out = _path_of_length(tmp_path / "accepted", path_max - 1 - DEEPEST[command])
    assert main([command, *flags, "--out", str(out)]) in (0, 1)  # 1: a check of so few runs may fail
    assert (out / {"sweep": "runs.parquet", "run": "metrics.parquet", "check": "report.md"}[command]).is_file()


def test_a_scenario_nested_too_deeply_is_bad_input(tmp_path, capsys):
    deep = tmp_path / "deep.toml"
    deep.write_text('[objective]\nname = "nonconvex-logistic"\n[cluster]\nworkers = ' + "[" * 10**5 + "]" * 10**5 + "\n")
    _assert_bad_input(["run", str(deep)], [f"scenario = '{deep}': nests arrays or tables too deeply"], tmp_path,
                      capsys, keep=["deep.toml"])
    _assert_bad_input(["run", QUICKSTART, "--set", "cluster.workers=" + "[" * 10**5 + "]" * 10**5],
                      ["--set = 'cluster.workers=...': its value nests arrays or tables too deeply"], tmp_path, capsys,
                      keep=["deep.toml"])


@pytest.mark.parametrize("address, words", [
    ("tcp://[bad", "must be an address [SCHEME://]HOST[:PORT]"),
    ("udp://host:8786", "must be an address"),
    ("host:99999", "must be an address"),
    ("host:port", "must be an address"),
    ("tcp://host:8786/path", "must be an address"),
    ("tcp://127.0.0.1:1", "no Dask scheduler could be reached there (Connection refused)"),
])
@pytest.mark.parametrize("command", ["sweep", "check"])
def test_a_malformed_or_unreachable_scheduler_is_bad_input_writing_nothing(command, address, words, tmp_path, capsys,
                                                                         monkeypatch):
    pytest.importorskip("distributed")
    _nothing_ran(monkeypatch)
    flags = [flag for flag in COMMAND_FLAGS[command] if flag not in ("--jobs", "1")]
    _assert_bad_input([command, QUICKSTART, *flags, "--scheduler", address], [f"--scheduler = {address!r}: {words}"],
                      tmp_path, capsys)


@pytest.mark.parametrize("earlier", [False, True])
def test_a_full_disk_ends_a_run_with_one_line_exit_1_and_nothing_half_written(earlier, tmp_path, capsys, monkeypatch):
    import errno

    import sim.frontends.rundir

    out = tmp_path / "runs" / "deep" / "run"
    if earlier:
        assert main(["run", QUICKSTART, "--set", "algorithm.iterations=20", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()} if earlier else None
    capsys.readouterr()

    def save(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(sim.frontends.rundir.np, "save", save)
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=20", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.err == (f"asgd run: error: {out} could not be written (No space left on device): nothing was "
                            f"written{'; what was there is kept' if earlier else ''}\n") and captured.out == ""
    if earlier:
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before and os.listdir(out.parent) == ["run"]
    else:
        assert list(tmp_path.iterdir()) == []  # the folders made for it are gone too


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_run_and_check_directories_get_the_users_umask(umask, tmp_path, monkeypatch):
    previous = os.umask(umask)
    try:
        assert main(["run", QUICKSTART, "--set", "algorithm.iterations=20", "--out", str(tmp_path / "a" / "run")]) == 0
        assert main(["check", QUICKSTART, *COMMAND_FLAGS["check"], "--seeds", "1", "--out",
                     str(tmp_path / "b" / "check")]) in (0, 1)  # a verdict on so tiny a grid does not matter here
    finally:
        os.umask(previous)
    for folder in (tmp_path / "a", tmp_path / "a" / "run", tmp_path / "b", tmp_path / "b" / "check"):
        assert folder.stat().st_mode & 0o777 == 0o777 & ~umask, oct(folder.stat().st_mode)


# ---- replay certifies every derivable column; --timing re-simulates the whole run ----

def _drop_rows(predicate):
    """Rewrite trace.parquet without the rows where predicate(update column, row index) holds."""
    def edit(out: Path) -> None:
        import pyarrow.parquet as pq

        trace = pq.read_table(out / "trace.parquet")
        updates = trace["update"].to_numpy()
        keep = [i for i in range(trace.num_rows) if not predicate(updates, i)]
        pq.write_table(trace.take(keep), out / "trace.parquet")
    return edit


def _edit_summary(key, value):
    def edit(out: Path) -> None:
        summary = json.loads((out / "summary.json").read_text())
        summary[key] = value
        (out / "summary.json").write_text(json.dumps(summary))
    return edit


def _edit_scenario(old, new):
    def edit(out: Path) -> None:
        text = (out / "scenario.toml").read_text()
        assert old in text
        (out / "scenario.toml").write_text(text.replace(old, new))
    return edit


def _column(column, edit):
    return lambda out: _edit_trace(out, column, edit)


def _t_apply_at_t_read(row):
    """Row `row` applied the instant its gradient was read: before the update preceding it."""
    def edit(out: Path) -> None:
        t_read = pd.read_parquet(out / "trace.parquet")["t_read"]
        _edit_trace(out, "t_apply", _set_row(row, float(t_read[row])))
    return edit


CERTIFIED = [  # (scenario, --set, edit of the run directory, the message's words); rows counted from 0
    ("quickstart", [], _column("staleness", _set_row(17, 3)),
     "column 'staleness', row 17: 3, but update - read_version = 17 - "),
    ("quickstart", [], _column("worker", _set_row(9, 999)),
     "column 'worker', row 9: 999 is not a worker of the scenario's 0..7 (cluster.workers = 8)"),
    ("quickstart", [], _edit_scenario("workers = 8", "workers = 3"), "is not a worker of the scenario's 0..2"),
    ("quickstart", [], _column("applied", _set_row(4, False)), "column 'applied', row 4: False, but update = 4"),
    ("quickstart", [], _column("t_apply", _set_row(6, float("nan"))), "column 't_apply', row 6: nan is not a time"),
    ("quickstart", [], _column("t_read", _set_row(6, 1e9)), "column 't_apply', row 6: "),
    ("quickstart", [], _t_apply_at_t_read(29), "column 't_apply', row 29: update 29 at "),
    ("quickstart", [], _drop_rows(lambda updates, i: updates[i] == 29),
     "column 'update', row 28: the trace holds 29 updates, not algorithm.iterations = 30"),
    ("quickstart", [], _edit_scenario("iterations = 30", "iterations = 31"),
     "the trace holds 30 updates, not algorithm.iterations = 31"),
    ("quickstart", ["--set", "algorithm.batch=2"], _drop_rows(lambda updates, i: i == 10),
     "column 'update', row 10: update 5 has 1 gradients, not algorithm.batch = 2"),
    ("quickstart", [], _edit_summary("max_staleness", 99),
     "column 'staleness': the trace gives max_staleness = "),
    ("quickstart", [], _edit_summary("gradients", 31), "the trace gives gradients = 30, but summary.json says 31"),
    ("quickstart", [], lambda out: (_edit_trace(out, "update", _set_row(29, -1)),
                                    _edit_trace(out, "applied", _set_row(29, False))),
     "column 'update', row 29: -1 (a dropped gradient), but the scenario drops none (staleness.policy = 'wait')"),
    ("quickstart", ["--set", "staleness.policy=drop", "--set", "staleness.bound=2"],
     _column("staleness", lambda values, updates: values.__setitem__(updates.index(-1), 1)),
     "in a dropped row, but only gradients staler than staleness.bound = 2 are dropped"),
    ("sync", [], _column("worker", _set_row(1, 0)), "update 0 does not have one gradient of each worker 0..7"),
    ("sync", [], lambda out: (_edit_trace(out, "read_version", _at_update(1, 0)),
                              _edit_trace(out, "staleness", _at_update(1, 1))),
     "column 'read_version', row 8: 0, but sync reads the current iterate, x_1"),
    ("incon", [], _column("missed", _at_update(20, 7)), "column 'missed', row 20: 7, but its read missed "),
    ("incon", ["--set", "cluster.read={dist=\"constant\", value=2.0}"],
     lambda out: (_edit_trace(out, "landed_at", _at_update(25, [])), _edit_trace(out, "start_version",
                                                                                 _at_update(25, 25))),
     "column 'read_version', row 25: "),
]


@pytest.mark.parametrize("name, sets, edit, words", CERTIFIED, ids=[case[3][:60] for case in CERTIFIED])
def test_replay_certifies_every_derivable_column_naming_column_and_row(name, sets, edit, words, tmp_path, capsys):
    out = tmp_path / "run"
    iterations = 30 if name != "sync" else 10
    assert main(["run", str(SCENARIOS / f"{name}.toml"), "--set", f"algorithm.iterations={iterations}", *sets,
                 "--out", str(out)]) == 0
    assert main(["replay", str(out)]) == 0
    edit(out)
    capsys.readouterr()
    assert main(["replay", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.out == "", captured.err
    assert f"'{out / 'trace.parquet'}': is inconsistent: " in captured.err and words in captured.err, captured.err


@pytest.mark.parametrize("name", ["quickstart", "worker-limit", "incon", "sync"])
def test_replay_timing_resimulates_the_whole_run_bit_for_bit(name, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", str(SCENARIOS / f"{name}.toml"), "--set", "algorithm.iterations=40", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["replay", "--timing", str(out)]) == 0
    assert capsys.readouterr().out.startswith("reproduced: the run re-simulated from scenario.toml on the SimPy engine")
    _edit_trace(out, "t_read", lambda values, updates: values.__setitem__(7, float(np.nextafter(values[7], np.inf))))
    assert main(["replay", str(out)]) == 0  # a time one ulp off is consistent with every other column
    capsys.readouterr()
    assert main(["replay", "--timing", str(out)]) == 1
    printed = capsys.readouterr().out
    assert printed.startswith("NOT reproduced: ") and "trace.parquet: column 't_read', row 7: " in printed


def test_replay_timing_names_what_an_edited_scenario_changes(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=40", "--out", str(out)]) == 0
    _edit_scenario("seed = 0", "seed = 1")(out)
    capsys.readouterr()
    assert main(["replay", "--timing", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "trace.parquet: column 'worker', row " in printed or "trace.parquet: column 't_read', row 0" in printed
    assert "summary.json: seed = 0 recorded, 1 re-simulated" in printed


def _edit_metrics(row, column):
    """metrics.parquet with `column` at `row` one ulp up."""
    def edit(out: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        metrics = pq.read_table(out / "metrics.parquet")
        values = metrics[column].to_numpy().copy()
        values[row] = np.nextafter(values[row], np.inf)
        pq.write_table(metrics.set_column(metrics.schema.get_field_index(column), column, pa.array(values)),
                       out / "metrics.parquet")
    return edit


def _edit_x_final(change):
    return lambda out: np.save(out / "x_final.npy", change(np.load(out / "x_final.npy")))


def _x_up_one_ulp(x):
    x = x.copy()
    x[3] = np.nextafter(x[3], np.inf)
    return x


def _regroup(values, updates):
    """Rows 5 and 6's samples [a], [b] as [a, b], []: the same flat values under other offsets."""
    values[5], values[6] = values[5] + values[6], []


def _without(key):
    def edit(out: Path) -> None:
        summary = json.loads((out / "summary.json").read_text())
        del summary[key]
        (out / "summary.json").write_text(json.dumps(summary))
    return edit


def _recorded(out: Path):
    import pyarrow.parquet as pq

    return pq.read_table(out / "trace.parquet"), pq.read_table(out / "metrics.parquet"), np.load(out / "x_final.npy")


# (edit of a quickstart run of 40 updates, its difference from the re-simulated run given the recorded trace,
# metrics and final iterate)
RESIMULATED = [
    (_edit_metrics(3, "loss"), lambda t, m, x: f"metrics.parquet: column 'loss', row 3: "
                                               f"{float(np.nextafter(m['loss'][3].as_py(), np.inf))!r} recorded, "
                                               f"{m['loss'][3].as_py()!r} re-simulated"),
    (_column("samples", _set_row(5, [1999])), lambda t, m, x: f"trace.parquet: column 'samples', row 5: [1999] "
                                                              f"recorded, {t['samples'][5].as_py()!r} re-simulated"),
    (_column("samples", _regroup), lambda t, m, x: f"trace.parquet: column 'samples', row 5: "
                                                   f"{t['samples'][5].as_py() + t['samples'][6].as_py()!r} recorded, "
                                                   f"{t['samples'][5].as_py()!r} re-simulated"),
    (_column("t_read", _set_row(0, -0.0)), lambda t, m, x: "trace.parquet: column 't_read', row 0: -0.0 recorded, "
                                                           "0.0 re-simulated"),
    (_edit_x_final(_x_up_one_ulp), lambda t, m, x: f"x_final.npy: coordinate 3: {np.nextafter(x[3], np.inf)!r} "
                                                   f"recorded, {x[3]!r} re-simulated"),
    (_edit_x_final(lambda x: x.reshape(1, -1)), lambda t, m, x: "x_final.npy: float64 of shape (1, 100), re-simulated "
                                                                "float64 of shape (100,)"),
    (_edit_summary("bound_statement", "Theorem 1"), lambda t, m, x: "summary.json: bound_statement = 'Theorem 1' "
                                                                    "recorded, 'Corollary 2' re-simulated"),
    (_without("epoch"), lambda t, m, x: "summary.json: epoch = (absent) recorded, None re-simulated"),
    (_edit_summary("extra", None), lambda t, m, x: "summary.json: extra = None recorded, (absent) re-simulated"),
    (_edit_summary("extra", "(absent)"), lambda t, m, x: "summary.json: extra = '(absent)' recorded, (absent) "
                                                         "re-simulated"),  # a value, not a missing key
    (_edit_summary("wall_seconds", 1e9), None),  # not compared, nor the provenance
    (_edit_summary("source_hash", "another"), None),
]


@pytest.mark.parametrize("edit, difference", RESIMULATED)
def test_replay_timing_names_the_first_difference_of_each_file_bit_for_bit(edit, difference, tmp_path):
    from sim.replay import replay_timing

    out = tmp_path / "run"
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=40", "--out", str(out)]) == 0
    recorded = _recorded(out)
    edit(out)
    progress = []
    result = replay_timing(out, progress.append)
    assert result.differences == ([difference(*recorded)] if difference else []) and result.updates == 40
    assert progress[-1] == 40 and progress == sorted(progress)  # the re-simulation reports its progress


def test_replay_timing_of_an_unreadable_metrics_file_exits_2_naming_it_and_the_readers_error(tmp_path, capsys):
    import pyarrow.parquet as pq

    out = tmp_path / "run"
    assert main(["run", QUICKSTART, "--set", "algorithm.iterations=40", "--out", str(out)]) == 0
    path = out / "metrics.parquet"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(Exception) as error:
        pq.read_table(path)
    capsys.readouterr()
    assert main(["replay", "--timing", str(out)]) == 2
    assert capsys.readouterr().err == (f"asgd replay: error: '{path}': is corrupt: not a readable Parquet file "
                                       f"({str(error.value).splitlines()[0]})\n")


# ---- huge inputs: refused before they start, progress within seconds, an overflowing clock ----

@pytest.mark.parametrize("sets, words", [
    (["algorithm.iterations=1000000000"], "algorithm.iterations = 1000000000: the run would keep a trace of about 57 GB "
                                          "(57 B per gradient x 1000000000 gradients, K x M)"),
    (["algorithm.iterations=100000000", "algorithm.batch=10", "record.trace=false", "record.every=1"],
     "record.every = 1: the run would record 100000001 iterates, about 30 GB of metrics"),
])
def test_a_run_that_cannot_fit_in_memory_is_refused_naming_the_key_and_the_estimate(sets, words, tmp_path, capsys,
                                                                                     monkeypatch):
    from sim.frontends import memory

    _nothing_ran(monkeypatch)
    monkeypatch.setattr(memory, "machine_memory", lambda: 16 * 10**9)
    _assert_bad_input(["run", QUICKSTART, *[arg for s in sets for arg in ("--set", s)]],
                      [words, "more than this machine's memory (16 GB)"], tmp_path, capsys)


def test_a_sweep_too_large_to_plan_or_hold_is_refused_at_once(tmp_path, capsys, monkeypatch):
    import time

    from sim.frontends import memory

    _nothing_ran(monkeypatch)
    monkeypatch.setattr(memory, "machine_memory", lambda: 16 * 10**9)
    started = time.perf_counter()
    _assert_bad_input(["sweep", QUICKSTART, "--seeds", str(10**9), "--grid", "cluster.workers=2,4"],
                      ["--seeds = 1000000000: 2 grid points x 1000000000 seeds = 2000000000 runs need about 32.8 TB"],
                      tmp_path, capsys)
    assert time.perf_counter() - started < 10  # refused before planning any run (seconds, not hours)
    _assert_bad_input(["sweep", QUICKSTART, "--trace", "--seeds", "4", "--jobs", "2", "--set",
                       "algorithm.iterations=50000000"],
                      ["algorithm.iterations = 50000000: 8 runs held at once (2 processes, each running up to 4 seeds "
                       "of a grid point as one batch), each would keep a trace of about 2.85 GB"], tmp_path, capsys)


def test_a_long_silence_is_broken_by_a_line_that_the_work_goes_on(capsys, monkeypatch):
    import time

    from sim.frontends.progress import Progress

    monkeypatch.setattr(Progress, "HEARTBEAT", 0.05)
    progress = Progress(10**18, label="asgd run", unit="update")
    time.sleep(0.3)
    progress.close()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 2 and all(line.startswith(f"asgd run: 0/{10**18} updates (0%), ") and
                                   line.endswith(" s elapsed, still running") for line in lines), lines
    time.sleep(0.15)
    assert capsys.readouterr().err == ""  # none once closed
    quiet = Progress(10, label="asgd run", quiet=True)
    time.sleep(0.15)
    quiet.close()
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("compute", ['{dist="exponential", mean=1e308}', '{dist="pareto", shape=0.001, scale=1.0}'])
@pytest.mark.parametrize("scenario", ["quickstart", "worker-limit"])  # the SimPy engine and a closed form
def test_a_clock_that_overflows_ends_with_status_overflow_not_ok(scenario, compute, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", str(SCENARIOS / f"{scenario}.toml"), "--set", f"cluster.compute={compute}", "--set",
                 "algorithm.iterations=200", "--out", str(out)]) == 1
    assert ": OVERFLOW" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "overflow" and summary["sim_time"] is None
    assert main(["replay", str(out)]) == 0 and main(["replay", "--timing", str(out)]) == 0


def test_the_memory_a_process_may_use_is_the_lower_of_the_machines_and_its_containers(tmp_path, monkeypatch):
    from sim.frontends import memory

    unlimited, limited = tmp_path / "memory.max", tmp_path / "limit_in_bytes"
    unlimited.write_text("max\n")
    limited.write_text("1000000\n")
    monkeypatch.setattr(memory, "CGROUP_LIMITS", (str(unlimited), str(tmp_path / "absent")))
    physical = memory.machine_memory()
    assert physical == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    monkeypatch.setattr(memory, "CGROUP_LIMITS", (str(unlimited), str(limited)))
    assert memory.machine_memory() == 1000000


def test_a_reader_that_leaves_early_gets_no_traceback_and_the_run_directory_is_complete(tmp_path):
    """`asgd run ... | head -1`: the pipe closes before the summary is printed; the run is written all the same and
    asgd ends quietly with 141 (128 + SIGPIPE)."""
    import subprocess
    import sys

    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "sim.frontends.cli", "run", QUICKSTART,
                                "--set", "algorithm.iterations=50", "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=Path(__file__).parents[1])
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait() == 141 and stderr == ""
    assert main(["replay", str(out)]) == 0
