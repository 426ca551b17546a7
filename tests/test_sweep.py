"""`asgd sweep`: grid syntax, result files, identical results for any executor, resuming, failures, run ids."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenarios import ScenarioError
from sim.frontends.cli import main
from sim.frontends.grid import parse_axis, parse_grid, product

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = str(ROOT / "scenarios" / "quickstart.toml")
ROSENBROCK = str(ROOT / "scenarios" / "rosenbrock.toml")
RESULTS = ("runs", "curves", "staleness")
SMALL = ["--set", "algorithm.iterations=200", "--set", "objective.n=200", "--set", "objective.dim=10"]


def sweep(out: Path, *flags: str, scenario: str = QUICKSTART) -> int:
    return main(["sweep", scenario, *flags, "--out", str(out)])


def results(out: Path) -> dict[str, object]:
    """The three result tables, without wall_seconds (the one figure that differs between equal sweeps)."""
    tables = {name: pq.read_table(out / f"{name}.parquet") for name in RESULTS}
    tables["runs"] = tables["runs"].drop(["wall_seconds"])
    return tables


def assert_same_results(a: Path, b: Path) -> None:
    for name, table in results(a).items():
        assert table.equals(results(b)[name]), name


def test_grid_values_split_at_top_level_commas_and_ranges_expand():
    assert parse_axis("cluster.workers=1:16:x2").values == (1, 2, 4, 8, 16)
    assert parse_axis("cluster.workers=1:8:x2,12").values == (1, 2, 4, 8, 12)
    assert parse_axis("algorithm.step=0.1:0.3:+0.1").values == (0.1, 0.2, 0.3)
    assert parse_axis("algorithm.iterations=100:400:+150").values == (100, 250, 400)
    compute = parse_axis('cluster.compute={dist="constant", value=1.0},{dist="exponential", mean=2.0}')
    assert compute.values == ({"dist": "constant", "value": 1.0}, {"dist": "exponential", "mean": 2.0})
    assert compute.cells() == ['{dist="constant", value=1.0}', '{dist="exponential", mean=2.0}']
    assert parse_axis('x=[1, 2],"a,b",bare').values == ([1, 2], "a,b", "bare")
    axes = parse_grid(["a=1,2", "b=x,y,z"])
    assert product(axes) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    for bad in ["cluster.workers", "x=1,,2", "x=[1,2", "x=1,1", "x=4:1:+1", "x=0:8:x2", "x=1:8:x1", "seed=1,2",
                "x=1:100000:+1"]:
        with pytest.raises(ScenarioError, match="--grid"):
            parse_axis(bad)
    with pytest.raises(ScenarioError, match="twice"):
        parse_grid(["a=1", "a=2"])


def test_runs_curves_and_staleness_have_a_row_per_run_and_the_grid_columns(tmp_path):
    out = tmp_path / "sweep"
    assert sweep(out, "--grid", "cluster.workers=2:4:x2", "--grid", "algorithm.step=0.01,0.02", "--seeds", "2",
                 "--set", "seed=5", *SMALL, "--jobs", "1") == 0
    runs = pq.read_table(out / "runs.parquet").to_pandas()
    assert len(runs) == 8 and runs["run_id"].is_unique
    assert list(runs.columns[:6]) == ["cluster.workers", "algorithm.step", "run_id", "seed", "status", "error"]
    assert {"iterations", "gradients", "final_loss", "ergodic_grad_norm_sq", "wall_seconds",
            "constant_kinds.smoothness"} <= set(runs.columns)
    assert list(runs["cluster.workers"]) == [2] * 4 + [4] * 4
    assert list(runs["algorithm.step"]) == [0.01, 0.01, 0.02, 0.02] * 2
    assert list(runs["seed"]) == [5, 6] * 4
    assert (runs["status"] == "ok").all() and runs["error"].isna().all() and (runs["iterations"] == 200).all()
    curves = pq.read_table(out / "curves.parquet").to_pandas()
    assert list(curves.columns[:4]) == ["cluster.workers", "algorithm.step", "run_id", "seed"]
    assert {"update", "time", "loss", "grad_norm_sq"} <= set(curves.columns)
    assert set(curves["run_id"]) == set(runs["run_id"]) and (curves.groupby("run_id")["update"].max() == 200).all()
    staleness = pq.read_table(out / "staleness.parquet").to_pandas()
    assert (staleness.groupby("run_id")["count"].sum() == 200).all()
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["runs"] == 8 and manifest["ok"] == 8 and not (out / "traces").exists()


def test_results_are_identical_in_process_in_two_processes_and_with_traces(tmp_path):
    flags = ["--grid", "cluster.workers=1,3,8", "--seeds", "2", *SMALL[:2], "--trace"]
    assert sweep(tmp_path / "one", *flags, "--jobs", "1") == 0
    assert sweep(tmp_path / "two", *flags, "--jobs", "2") == 0
    assert_same_results(tmp_path / "one", tmp_path / "two")
    traces = sorted((tmp_path / "one" / "traces").iterdir())
    assert len(traces) == 6
    for path in traces:
        assert pq.read_table(path).equals(pq.read_table(tmp_path / "two" / "traces" / path.name))


def test_a_grid_points_seeds_run_in_batches_with_the_results_of_single_runs(tmp_path, monkeypatch):
    from sim import simulate
    from sim.frontends import executors

    sizes = []
    batched = executors.simulate_batch
    monkeypatch.setattr(executors, "simulate_batch", lambda s, seeds: sizes.append(len(seeds)) or batched(s, seeds))
    flags = ["--grid", "cluster.workers=2,4", "--seeds", "8", *SMALL[:2], "--trace"]
    assert sweep(tmp_path / "batched", *flags, "--jobs", "1") == 0
    assert sizes and min(sizes) >= executors.MIN_BATCH and sum(sizes) == 16  # chunks of 4 replicates
    monkeypatch.setattr(executors, "simulate_batch", lambda s, seeds: [simulate(s, seed) for seed in seeds])
    assert sweep(tmp_path / "single", *flags, "--jobs", "1") == 0
    assert_same_results(tmp_path / "batched", tmp_path / "single")
    for path in (tmp_path / "batched" / "traces").iterdir():
        assert pq.read_table(path).equals(pq.read_table(tmp_path / "single" / "traces" / path.name))


@pytest.mark.parametrize("points, seeds, slots", [(10, 4, 2), (1, 20, 2), (6, 3, 2), (2, 40, 1), (3, 5, 8)])
def test_chunks_keep_a_grid_points_replicates_together(points, seeds, slots):
    from sim.frontends.executors import MAX_CHUNK, MIN_BATCH, chunked

    tasks = [(f"{p}-{s}", f"seed = {s}\npoint = {p}\n") for p in range(points) for s in range(seeds)]
    chunks = chunked(tasks, slots)
    assert sorted(task for chunk in chunks for task in chunk) == sorted(tasks)
    for chunk in chunks:
        chunk_points = {task[0].split("-")[0] for task in chunk}
        if seeds >= MIN_BATCH:  # every chunk is one point's batch
            assert len(chunk_points) == 1 and MIN_BATCH <= len(chunk) <= max(MAX_CHUNK, MIN_BATCH)
    if points * seeds >= 2 * slots * MIN_BATCH:
        assert len(chunks) >= slots  # every slot has work


def test_closed_form_replicates_batch_from_two_seeds_on(monkeypatch):
    """A closed-form scenario's seeds batch from 2 on (the SimPy engine's from MIN_BATCH on), chunked together."""
    from scenarios import to_toml
    from sim.frontends import executors
    from tests.helpers import scenario

    sizes = []
    batched = executors.simulate_batch
    monkeypatch.setattr(executors, "simulate_batch", lambda s, seeds: sizes.append(len(seeds)) or batched(s, seeds))
    for bound, expected in ((None, [2, 2, 2]), (5, [])):
        sizes.clear()
        tasks = [(f"{p}-{seed}", to_toml(scenario(workers=2 + p, iterations=30, bound=bound, seed=seed)))
                 for p in range(3) for seed in range(2)]
        chunks = executors.chunked(tasks, 2)
        if bound is None:  # each grid point's pair of seeds is a chunk of its own
            assert sorted(sorted(t[0] for t in chunk) for chunk in chunks) == [[f"{p}-0", f"{p}-1"] for p in range(3)]
        outcomes = [outcome for chunk in chunks for outcome in executors.run_chunk(chunk)]
        assert sorted(o.run_id for o in outcomes) == sorted(t[0] for t in tasks)
        assert sizes == expected


def test_a_batch_that_raises_runs_its_seeds_alone_and_only_the_failing_one_fails(tmp_path, monkeypatch, capsys):
    from sim.frontends import executors

    real = executors.simulate

    def simulate(scenario, *args, **kwargs):
        if scenario.seed == 2:
            raise RuntimeError("boom")
        return real(scenario, *args, **kwargs)

    def simulate_batch(scenario, seeds):
        raise RuntimeError("the batch failed")

    monkeypatch.setattr(executors, "simulate", simulate)
    monkeypatch.setattr(executors, "simulate_batch", simulate_batch)
    assert sweep(tmp_path / "out", "--seeds", "4", *SMALL, "--jobs", "1") == 1
    runs = pq.read_table(tmp_path / "out" / "runs.parquet").to_pandas()
    assert dict(zip(runs["seed"], runs["status"])) == {0: "ok", 1: "ok", 2: "failed", 3: "ok"}
    assert "RuntimeError: boom" in runs.loc[runs["seed"] == 2, "error"].item()


def test_a_dask_cluster_gives_the_local_results(tmp_path):
    distributed = pytest.importorskip("distributed")
    flags = ["--grid", "cluster.workers=2,4", "--seeds", "3", *SMALL[:2]]
    assert sweep(tmp_path / "local", *flags, "--jobs", "1") == 0
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        assert sweep(tmp_path / "dask", *flags, "--scheduler", cluster.scheduler_address) == 0
    assert_same_results(tmp_path / "local", tmp_path / "dask")


@contextmanager
def _started(out: Path, *flags: str) -> Iterator[subprocess.Popen]:
    """A sweep in its own process group, which is killed on the way out if it still runs (a failed or timed-out
    test leaves no sweep behind)."""
    command = [sys.executable, "-m", "sim.frontends.cli", "sweep", QUICKSTART, "--grid", "cluster.workers=1:8:x2", "--seeds", "3",
               "--set", "algorithm.iterations=3000", *flags, "--out", str(out)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        yield process
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the pool's processes too, should the sweep have left any
        except ProcessLookupError:
            pass
        process.communicate()


def _wait_for_runs(out: Path, count: int, process: subprocess.Popen) -> list[Path]:
    deadline = time.monotonic() + 120  # generous: the machine may be loaded (within the 300 s per-test limit)
    while time.monotonic() < deadline and process.poll() is None:
        finished = sorted((out / ".runs").glob("*.parquet")) if (out / ".runs").exists() else []
        if len(finished) >= count:
            return finished
        time.sleep(0.05)
    raise AssertionError(f"the sweep did not finish {count} runs in time")


def test_a_killed_sweep_resumes_without_recomputing_and_gives_the_uninterrupted_results(tmp_path, capsys):
    out = tmp_path / "killed"
    with _started(out, "--jobs", "2") as process:
        finished = _wait_for_runs(out, 3, process)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    kept = {path.name: path.stat().st_mtime_ns for path in (out / ".runs").glob("*.parquet")}
    assert len(kept) >= len(finished) and not (out / "runs.parquet").exists()
    partial = out / ".runs" / ".tmp-0123456789abcdef.parquet-99-0a1b"
    partial.write_bytes(b"PAR1 half a file")
    flags = ["--grid", "cluster.workers=1:8:x2", "--seeds", "3", "--set", "algorithm.iterations=3000"]
    assert sweep(out, *flags, "--jobs", "2") == 0
    assert f"{12 - len(kept)} run now, {len(kept)} reused" in capsys.readouterr().out
    assert not partial.exists()
    assert all((out / ".runs" / name).stat().st_mtime_ns == mtime for name, mtime in kept.items())
    assert sweep(tmp_path / "whole", *flags, "--jobs", "1") == 0
    assert_same_results(out, tmp_path / "whole")


def test_sigint_stops_cleanly_with_exit_130_and_says_how_to_resume(tmp_path):
    out = tmp_path / "interrupted"
    with _started(out, "--jobs", "2") as process:
        _wait_for_runs(out, 1, process)
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=120)  # a loaded machine: the pool's processes stop one by one
    assert process.returncode == 130, stderr
    assert "rerun the same command to resume" in stderr and "Traceback" not in stderr
    assert not (out / "runs.parquet").exists() and not list(out.rglob(".tmp-*"))


def test_a_ctrl_c_while_the_pool_starts_is_deferred_and_the_processes_started_meanwhile_inherit_it_blocked():
    """The local executor starts its pool in sim.frontends.executors._sigint_deferred: a ^C then is raised only once it
    ends, and a process started meanwhile (the fork server, a worker) has SIGINT blocked until it ignores it."""
    from sim.frontends.executors import _sigint_deferred

    probe = "import signal; print(signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []))"
    reached = False
    with pytest.raises(KeyboardInterrupt):
        with _sigint_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            child = subprocess.Popen([sys.executable, "-c", probe], stdout=subprocess.PIPE, text=True)
            time.sleep(0.2)  # a ^C not deferred is raised by now
            reached = True
    assert reached and child.communicate(timeout=60)[0] == "True\n"
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_failed_and_diverged_runs_are_recorded_and_the_sweep_goes_on(tmp_path, capsys):
    out = tmp_path / "mixed"
    # noise 0: sigma^2 = 0, so the corollary step raises at run time; a constant step of 1 diverges on Rosenbrock
    flags = ["--grid", 'algorithm.step=1e-4,1.0,{policy="corollary"}', "--set", "objective.noise=0.0",
             "--set", "algorithm.iterations=300", "--seeds", "2", "--jobs", "1"]
    assert sweep(out, *flags, scenario=ROSENBROCK) == 1
    runs = pq.read_table(out / "runs.parquet").to_pandas()
    assert list(runs["status"]) == ["ok", "ok", "diverged", "diverged", "failed", "failed"]
    assert runs["error"].iloc[4].startswith("ScenarioError: algorithm.step")
    assert runs["algorithm.step"].iloc[4] == '{policy="corollary"}' and runs["seed"].iloc[5] == 1
    assert runs["final_loss"].iloc[:2].notna().all() and runs["final_loss"].iloc[4:].isna().all()
    assert "failed: run" in capsys.readouterr().out
    assert len(pq.read_table(out / "curves.parquet").to_pandas().groupby("run_id")) == 4
    assert sweep(out, *flags, scenario=ROSENBROCK) == 1  # failed runs are run again, finished ones reused
    assert "2 run now, 4 reused" in capsys.readouterr().out
    flags[1] = "algorithm.step=1e-4,1.0"  # diverged is a result, not a failure
    assert sweep(out, *flags, scenario=ROSENBROCK) == 0
    assert "0 run now, 4 reused" in capsys.readouterr().out
    assert len(pq.read_table(out / "runs.parquet")) == 4


def test_run_ids_follow_the_resolved_scenario_and_only_the_current_grid_is_consolidated(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert sweep(out, "--grid", "cluster.workers=2,4", *SMALL, "--jobs", "1") == 0
    first = pq.read_table(out / "runs.parquet").to_pandas().set_index("cluster.workers")["run_id"]
    assert sweep(out, "--grid", "cluster.workers=2,4,8", *SMALL, "--jobs", "1") == 0
    assert "1 run now, 2 reused" in capsys.readouterr().out
    second = pq.read_table(out / "runs.parquet").to_pandas().set_index("cluster.workers")["run_id"]
    assert second[2] == first[2] and second[4] == first[4] and len(second) == 3
    assert sweep(out, "--grid", "cluster.workers=2,4", *SMALL, "--set", "algorithm.step=0.02", "--jobs", "1") == 0
    third = pq.read_table(out / "runs.parquet").to_pandas()
    assert len(third) == 2 and not set(third["run_id"]) & set(second)
    assert set(pq.read_table(out / "curves.parquet").column("run_id").to_pylist()) == set(third["run_id"])


def test_run_ids_hash_the_source_code_so_a_code_change_recomputes(tmp_path, capsys, monkeypatch):
    from sim.frontends import provenance, store

    calls = []
    monkeypatch.setattr(provenance, "source_digest", lambda root: calls.append(root) or "digest of " + str(root))
    provenance.code_digest.cache_clear()
    try:
        assert provenance.code_digest() == provenance.code_digest() == f"digest of {provenance.ROOT}"
        assert calls == [provenance.ROOT]
    finally:
        provenance.code_digest.cache_clear()  # computed once per process: stable while it runs
    monkeypatch.undo()
    out = tmp_path / "sweep"
    assert sweep(out, *SMALL, "--jobs", "1") == 0
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["code"] == store.code_digest() and manifest["asgd"] == store.CODE_VERSION
    first = pq.read_table(out / "runs.parquet").column("run_id")[0].as_py()
    capsys.readouterr()
    ids = {}
    for digest in ("a" * 64, "b" * 64):
        monkeypatch.setattr(store, "code_digest", lambda digest=digest: digest)
        assert sweep(out, *SMALL, "--jobs", "1") == 0
        assert "1 run now, 0 reused" in capsys.readouterr().out  # an earlier code's result is not reused
        ids[digest] = pq.read_table(out / "runs.parquet").column("run_id")[0].as_py()
        assert ids[digest] == store.run_id(_scenario_of(out, ids[digest]))  # keyed on the (patched) digest
    assert len({first, *ids.values()}) == 3


def _scenario_of(out: Path, run_id: str) -> str:
    """The resolved scenario a sweep's run was keyed on (kept in its result file)."""
    return json.loads(pq.read_schema(out / ".runs" / f"{run_id}.parquet").metadata[b"asgd"])["scenario"]


def test_the_source_digest_changes_with_any_file_or_path_of_the_packages(tmp_path):
    import shutil

    from sim.frontends.provenance import PACKAGES, ROOT, source_digest

    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    copied = source_digest(tmp_path)
    assert copied == source_digest(ROOT) and len(copied) == 64
    (tmp_path / "README.md").write_text("not code")
    (tmp_path / "models" / "notes.txt").write_text("not code")
    assert source_digest(tmp_path) == copied
    with (tmp_path / "analysis" / "stats.py").open("a") as file:
        file.write("\n")
    edited = source_digest(tmp_path)
    assert edited != copied
    (tmp_path / "analysis" / "stats.py").rename(tmp_path / "analysis" / "statistics.py")
    assert source_digest(tmp_path) not in (copied, edited)


@pytest.mark.parametrize("flags, message", [
    (["--grid", "cluster.workers=4,0"], "cluster.workers = 0: must be an integer >= 1 (grid point cluster.workers=0)"),
    (["--grid", "cluster.wrokers=4"], "cluster.wrokers"),
    (["--grid", "objective.n=100,-1"], "objective.n = -1"),
    (["--grid", "cluster.workers=[1,"], "--grid"),
    (["--grid", "cluster.workers=1,2", "--set", "cluster.workers=3"], "--set"),
    (["--grid", "algorithm.block=1,2"], "algorithm.block = 2: only algorithm.name = 'asysg-incon' uses it, not "
     "'asysg-con': remove it (grid point algorithm.block=2)"),
    (["--grid", "algorithm.name=asysg-con,asysg-incon", "--set", "algorithm.block=101"],
     "algorithm.block = 101: only algorithm.name = 'asysg-incon' uses it, not 'asysg-con': remove it (grid point "
     "algorithm.name=asysg-con; 1 more of the 2 grid points are invalid)"),
    (["--grid", "algorithm.name=asysg-con,asysg-incon", "--set", 'cluster.server={dist="constant", value=0.5}'],
     "cluster.server = {'dist': 'constant', 'value': 0.5}: must be 0 for asysg-incon"),
])
def test_bad_grids_are_rejected_before_anything_runs(tmp_path, capsys, flags, message):
    out = tmp_path / "never"
    assert sweep(out, *flags, "--jobs", "1") == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error and error.count("\n") == 1
    assert not out.exists()


def test_the_out_dir_must_be_new_empty_or_a_sweep(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert sweep(tmp_path, *SMALL, "--jobs", "1") == 2
    assert "not an asgd sweep directory" in capsys.readouterr().err


# ---- a damaged cache, a full disk: nothing lost, the sweep resumes ----

def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "flipped bytes":  # inside a data page: only the page checksum tells
        data[len(data) // 2:len(data) // 2 + 16] = bytes(16)
    damaged = {"truncated": data[:len(data) // 2], "empty": b"", "random bytes": os.urandom(len(data)),
               "flipped bytes": data}[how]
    path.write_bytes(bytes(damaged))


@pytest.mark.parametrize("how", ["truncated", "empty", "random bytes", "flipped bytes"])
def test_a_damaged_run_file_is_named_set_aside_and_run_again(how, tmp_path, capsys):
    out, flags = tmp_path / "damaged", ["--seeds", "3", *SMALL, "--jobs", "1"]
    assert sweep(out, *flags) == 0
    consolidated = {name: (out / name).read_bytes() for name in ("runs.parquet", "curves.parquet", "sweep.json")}
    victim = sorted((out / ".runs").glob("*.parquet"))[1]
    _damage(victim, how)
    capsys.readouterr()
    assert sweep(out, *flags) == 0
    captured = capsys.readouterr()
    assert f"asgd sweep: {victim} is damaged (" in captured.err and "its run is simulated again" in captured.err
    assert "1 run now, 2 reused" in captured.out
    assert victim.with_name(victim.name + ".damaged").exists() and pq.read_table(victim).num_rows > 0
    assert sweep(tmp_path / "whole", *flags) == 0
    assert_same_results(out, tmp_path / "whole")
    assert (out / "curves.parquet").read_bytes() == consolidated["curves.parquet"]


def test_a_damaged_trace_file_is_set_aside_and_its_run_run_again(tmp_path, capsys):
    out, flags = tmp_path / "traced", ["--seeds", "2", *SMALL, "--jobs", "1", "--trace"]
    assert sweep(out, *flags) == 0
    victim = sorted((out / "traces").glob("*.parquet"))[0]
    trace = victim.read_bytes()
    _damage(victim, "truncated")
    assert sweep(out, *flags) == 0
    assert f"{victim} is damaged" in capsys.readouterr().err and victim.read_bytes() == trace


def _full_disk_after(count: int, monkeypatch) -> None:
    """store.write_atomic raises ENOSPC from its count-th call on."""
    import errno

    from sim.frontends import store

    calls, real = [], store.write_atomic

    def write_atomic(path, data):
        calls.append(path)
        if len(calls) >= count:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, data)

    monkeypatch.setattr(store, "write_atomic", write_atomic)


def test_a_full_disk_stops_a_sweep_with_one_line_and_the_rerun_resumes(tmp_path, capsys, monkeypatch):
    out, flags = tmp_path / "full", ["--seeds", "4", *SMALL, "--jobs", "1"]
    with monkeypatch.context() as patch:
        _full_disk_after(4, patch)  # the plan (.plan.json), two runs, then the disk is full
        assert sweep(out, *flags) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines()[-1].startswith("asgd sweep: error: the result of run ")
    assert "(No space left on device): the runs finished before it are kept there; rerun" in captured.err
    assert "Traceback" not in captured.err and len(list((out / ".runs").glob("*.parquet"))) == 2
    assert not list(out.rglob(".tmp-*")) and not (out / "runs.parquet").exists()
    assert sweep(out, *flags) == 0
    assert "2 run now, 2 reused" in capsys.readouterr().out
    assert sweep(tmp_path / "whole", *flags) == 0
    assert_same_results(out, tmp_path / "whole")


def test_a_full_disk_while_consolidating_keeps_the_earlier_results(tmp_path, capsys, monkeypatch):
    import errno

    import pyarrow.parquet
    from sim.frontends import store

    out, flags = tmp_path / "full", ["--seeds", "2", *SMALL, "--jobs", "1"]
    assert sweep(out, *flags) == 0
    kept = lambda path: path.is_file() and path.name not in (".lock", ".plan.json")  # the plan is the new sweep's
    before = {path.name: path.read_bytes() for path in out.iterdir() if kept(path)}
    real = pyarrow.parquet.write_table

    def write_table(table, where, *args, **kwargs):
        if Path(str(where)).name.startswith(".tmp-runs.parquet"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(table, where, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(store.pq, "write_table", write_table)
        assert sweep(out, "--grid", "cluster.workers=2,3", *flags) == 1  # a new grid: new consolidated files
    captured = capsys.readouterr()
    assert captured.err.splitlines()[-1].startswith(f"asgd sweep: error: the consolidated results could not be "
                                                    f"written to {out} (No space left on device)")
    assert {path.name: path.read_bytes() for path in out.iterdir() if kept(path)} == before
    assert sweep(out, "--grid", "cluster.workers=2,3", *flags) == 0
    assert "0 run now, 4 reused" in capsys.readouterr().out


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**63 - 40), st.sampled_from([[], ["--grid", "cluster.workers=2,3"]]))
def test_planned_run_texts_are_the_resolved_scenarios_of_their_seeds(first, grid):
    from scenarios import load, to_toml
    from sim.frontends.sweep import plan

    axes = parse_grid(grid[1:])
    runs = plan(QUICKSTART, axes, {"seed": first, "algorithm.iterations": 10}, seeds=3)
    for run in runs:
        values = {axis.key: axis.values[i] for axis, i in zip(axes, run.point)}
        expected = to_toml(load(QUICKSTART, {"record.trace": False, "seed": run.seed, "algorithm.iterations": 10,
                                             **values}))
        assert run.scenario == expected
