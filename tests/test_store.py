"""The sweep's result store (sim.frontends.store) in process: atomic writes, the lock, resuming (`done`), damaged
files set aside, failures kept apart, and the consolidated tables (sweep.json written last, counts by status)."""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scenarios import ScenarioError
from scenarios.errors import WriteError
from sim import simulate
from sim.frontends import store as store_module
from sim.frontends.store import (CONSOLIDATED, PLAN, RESULT_FORMAT, Outcome, Store, decode_record, encode_failure,
                                 encode_result, parquet_bytes, read_record, run_id, write_atomic)
from tests.helpers import scenario

TOML = "name = 'x'\n"


def finished(run: str = "0123456789abcdef", trace: bool = False, iterations: int = 12, seed: int = 0) -> Outcome:
    """A finished run's Outcome (built afresh: mutmut must reach the encoders)."""
    result = simulate(scenario(workers=2, iterations=iterations, seed=seed))
    return Outcome(run, result.summary["status"], encode_result(result, TOML),
                   parquet_bytes(result.trace_table) if trace else None)


def failure(run: str = "fedcba9876543210") -> Outcome:
    return Outcome(run, "failed", encode_failure(ValueError("bad step\nmore"), TOML), None)


def test_a_finished_run_decodes_to_what_was_encoded():
    result = simulate(scenario(workers=2, iterations=12))
    record = decode_record(encode_result(result, TOML))
    assert (record.status, record.error, record.scenario) == ("ok", None, TOML)
    assert record.summary == json.loads(json.dumps(result.summary)) and record.staleness == result.staleness_counts
    assert record.metrics.equals(result.metrics_table) and record.metrics.schema.metadata is None


def test_a_failed_run_decodes_with_its_error_and_nothing_else():
    record = decode_record(encode_failure(ValueError("bad step"), TOML))
    assert (record.status, record.error, record.summary, record.staleness, record.scenario) == \
        ("failed", "ValueError: bad step", {}, [], TOML)
    assert record.metrics.num_columns == 0


def _reads(data: bytes, **checks) -> bool:
    try:
        pq.read_table(pa.BufferReader(data), **checks)
    except Exception:
        return False
    return True


def checksum_only_damage(data: bytes) -> bytes:
    """`data` (a Parquet file) with 16 bytes zeroed inside a data page, where the file still reads without checking
    and only its page checksums tell (StopIteration if nowhere: a file without page checksums)."""
    damaged = (data[:at] + bytes(16) + data[at + 16:] for at in range(0, len(data) - 16, 8))
    return next(blob for blob in damaged if _reads(blob) and not _reads(blob, page_checksum_verification=True))


def test_parquet_bytes_carry_page_checksums_so_damage_inside_a_page_is_caught():
    table = pa.table({"x": np.arange(4096, dtype=np.int64)})
    data = parquet_bytes(table)
    assert pq.read_table(pa.BufferReader(data), page_checksum_verification=True).equals(table)
    checksum_only_damage(data)
    with pytest.raises(StopIteration):  # the same table written without them
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        checksum_only_damage(sink.getvalue().to_pybytes())


def test_run_ids_are_16_hex_digits_of_the_code_the_result_format_and_the_scenario(monkeypatch):
    first = run_id(TOML)
    assert len(first) == 16 and int(first, 16) >= 0 and run_id(TOML) == first and run_id(TOML + " ") != first
    monkeypatch.setattr(store_module, "RESULT_FORMAT", RESULT_FORMAT + 1)
    assert run_id(TOML) != first
    monkeypatch.setattr(store_module, "RESULT_FORMAT", RESULT_FORMAT)
    monkeypatch.setattr(store_module, "code_digest", lambda: "another code")
    assert run_id(TOML) != first


def test_write_atomic_writes_whole_files_and_a_failed_write_keeps_the_earlier_one(tmp_path, monkeypatch):
    path = tmp_path / "file"
    write_atomic(path, b"first")
    write_atomic(path, b"second")
    assert path.read_bytes() == b"second" and [p.name for p in tmp_path.iterdir()] == ["file"]

    def full(self, data):
        with open(self, "wb") as file:
            file.write(data[:3])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(type(path), "write_bytes", full)
    with pytest.raises(OSError):
        write_atomic(path, b"third, cut short")
    assert path.read_bytes() == b"second" and [p.name for p in tmp_path.iterdir()] == ["file"]


def test_temporaries_are_fresh_names_beside_the_file():
    from sim.frontends.store import _temporary

    path = store_module.Path("/somewhere/runs.parquet")
    first, second = _temporary(path), _temporary(path)
    assert first != second and first.parent == path.parent
    assert first.name.startswith(f".tmp-runs.parquet-{os.getpid()}-")


def test_the_paths_a_store_names_for_check_out_dir_bound_every_path_it_writes_and_are_reached(tmp_path, monkeypatch):
    """Store.written (the paths check_out_dir checks a sweep folder against) bounds every path a store writes with the
    largest PID (7 digits), temporaries and damaged files set aside included; the deepest, a failed run's temporary
    .runs/.tmp-<16 hex>.failed.parquet-4194304-<8 hex>, is written."""
    monkeypatch.setattr(os, "getpid", lambda: 4194304)
    made, temporary = [], store_module._temporary

    def recorded(path, pid=None):
        made.append(temporary(path, pid))
        return made[-1]

    monkeypatch.setattr(store_module, "_temporary", recorded)
    run, failed = finished(trace=True), failure()
    with Store(tmp_path / "sweep", warn=lambda message: None) as store:
        store.write_plan([(run.run_id, 0), (failed.run_id, 1)], {}, {})
        for outcome in (run, failed, run):
            store.put(outcome)
        store.trace(run.run_id).write_bytes(b"damaged")
        assert not store.done(run.run_id, trace=True)  # both set aside
        store.put(run)
        store.consolidate([(run.run_id, 0), (failed.run_id, 1)], {}, {})
        bound = max(len(str(path)) for path in store.written())
    paths = [*made, *(tmp_path / "sweep").rglob("*")]
    assert {path.name for path in paths} >= {f"{run.run_id}.parquet.damaged", ".lock", PLAN, *CONSOLIDATED}
    assert max(len(str(path)) for path in paths) == bound == len(f"{tmp_path}/sweep/.runs/.tmp-{failed.run_id}"
                                                                 f".failed.parquet-4194304-01234567")


def test_opening_a_store_makes_its_folders_and_removes_only_the_temporaries_a_killed_sweep_left(tmp_path):
    out = tmp_path / "sweep"
    with Store(out) as store:
        store.put(finished(trace=True))
    left = [out / ".tmp-runs.parquet-1-ab", out / ".runs" / ".tmp-x.parquet-1-ab", out / "traces" / ".tmp-y-1"]
    for path in left:
        path.write_bytes(b"half")
    kept = sorted(p.relative_to(out) for p in out.rglob("*") if p not in left)
    with Store(out) as store:
        assert store.runs == out / ".runs" and store.traces == out / "traces"
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == kept
    with Store(tmp_path / "new" / "sweep") as store:  # its parent folders too
        assert store.runs.is_dir() and (tmp_path / "new" / "sweep" / ".lock").is_file()


def test_a_second_store_on_the_same_folder_is_refused_until_the_first_is_closed(tmp_path):
    out = tmp_path / "sweep"
    with Store(out):
        with pytest.raises(ScenarioError) as error:
            Store(out).__enter__()
        assert str(error.value) == f"--out = '{out}': another asgd sweep is writing to this folder"
    with Store(out):
        pass


def test_a_folder_that_is_not_a_sweep_is_refused(tmp_path):
    (tmp_path / "mine.txt").write_text("keep")
    with pytest.raises(ScenarioError, match="exists and is not an asgd sweep directory"):
        Store(tmp_path).__enter__()


def test_the_plan_reads_back_as_written(tmp_path):
    with Store(tmp_path / "sweep") as store:
        store.write_plan([("a", 1), ("b", 2)], {"cluster.workers": [2, 3]}, {"seeds": 1, "x": np.int64(4)})
        assert store.plan() == {"manifest": {"seeds": 1, "x": 4}, "runs": [["a", 1], ["b", 2]],
                                "cells": {"cluster.workers": [2, 3]}}
        assert (store.out / PLAN).read_text().endswith("}\n")


def test_a_put_run_is_done_and_reads_back_and_a_failed_one_is_not_done(tmp_path):
    run, failed = finished(), failure()
    with Store(tmp_path / "sweep") as store:
        assert not store.done(run.run_id) and not store.done(failed.run_id)
        store.put(run)
        store.put(failed)
        assert store.done(run.run_id) and not store.done(failed.run_id)
        assert (store.runs / f"{failed.run_id}.failed.parquet").is_file()
        assert not (store.runs / f"{failed.run_id}.parquet").exists() and not store.traces.exists()
        assert store.record(run.run_id).summary == decode_record(run.result).summary
        assert store.record(failed.run_id).error == "ValueError: bad step\nmore"
        assert read_record(store.runs / f"{run.run_id}.parquet").status == "ok"


def test_a_run_that_finishes_after_failing_replaces_its_failure(tmp_path):
    run = finished()
    with Store(tmp_path / "sweep") as store:
        store.put(failure(run.run_id))
        assert store.record(run.run_id).status == "failed"
        store.put(run)
        assert store.done(run.run_id) and store.record(run.run_id).status == "ok"
        assert sorted(p.name for p in store.runs.iterdir()) == [f"{run.run_id}.parquet"]


def test_a_trace_is_written_before_its_run_and_a_run_without_its_trace_is_not_done(tmp_path, monkeypatch):
    run = finished(trace=True)
    written = []
    real = store_module.write_atomic
    monkeypatch.setattr(store_module, "write_atomic", lambda path, data: (written.append(path), real(path, data)))
    with Store(tmp_path / "sweep") as store:
        store.put(run)
        assert written == [store.traces / f"{run.run_id}.parquet", store.runs / f"{run.run_id}.parquet"]
        assert (store.traces / f"{run.run_id}.parquet").read_bytes() == run.trace
        assert store.done(run.run_id, trace=True)
        (store.traces / f"{run.run_id}.parquet").unlink()
        assert store.done(run.run_id)  # its metrics are kept: enough for a sweep without --trace
        warnings = []
        store.warn = warnings.append
        assert not store.done(run.run_id, trace=True)
        assert not (store.runs / f"{run.run_id}.parquet").exists()  # set aside with its missing trace
        assert (store.runs / f"{run.run_id}.parquet.damaged").is_file()
        (warning,) = warnings
        assert f"{store.traces / run.run_id}.parquet is damaged (FileNotFoundError" in warning


@pytest.mark.parametrize("which", ["run", "trace"])
def test_a_damaged_file_is_set_aside_with_one_warning_naming_it_and_its_run_is_not_done(which, tmp_path):
    run = finished(trace=True)
    warnings = []
    with Store(tmp_path / "sweep", warn=warnings.append) as store:
        store.put(run)
        path = (store.runs if which == "run" else store.traces) / f"{run.run_id}.parquet"
        (path.with_name(path.name + ".damaged")).write_bytes(b"an earlier damaged file")
        path.write_bytes(b"PAR1 not parquet")
        assert not store.done(run.run_id, trace=True)
        assert not path.exists() and path.with_name(path.name + ".damaged").read_bytes() == b"PAR1 not parquet"
        assert not (store.runs / f"{run.run_id}.parquet").exists()  # a run is never done without its trace
        (warning,) = warnings
        assert warning.startswith(f"asgd sweep: {path} is damaged (")
        assert warning.endswith(f"): set aside as {path.name}.damaged; its run is simulated again")
        assert "\n" not in warning
        store.put(run)
        assert store.done(run.run_id, trace=True) and len(warnings) == 1


def test_a_damage_message_names_the_error_and_its_first_line():
    warnings = []
    store = Store(store_module.Path("/nowhere"), warn=warnings.append)
    store._set_aside(store_module.Path("/nowhere/absent.parquet"), ValueError("first line\nsecond"))
    store._set_aside(store_module.Path("/nowhere/absent.parquet"), KeyError())
    store._set_aside(store_module.Path("/nowhere/absent.parquet"), None)
    assert warnings == [
        "asgd sweep: /nowhere/absent.parquet is damaged (ValueError: first line): set aside as "
        "absent.parquet.damaged; its run is simulated again",
        "asgd sweep: /nowhere/absent.parquet is damaged (KeyError: KeyError): set aside as "
        "absent.parquet.damaged; its run is simulated again"]


def test_warnings_go_to_stderr_by_default(tmp_path, capsys):
    with Store(tmp_path / "sweep") as store:
        (store.runs / "0123456789abcdef.parquet").write_bytes(b"")
        assert not store.done("0123456789abcdef")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith(f"asgd sweep: {store.runs}/0123456789abcdef.parquet is ")
    assert captured.err.endswith("its run is simulated again\n")


@pytest.mark.parametrize("strerror", [True, False])
def test_a_put_that_cannot_write_raises_a_write_error_naming_the_run(strerror, tmp_path, monkeypatch):
    run = finished()

    def full(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)) if strerror else OSError("no room")

    with Store(tmp_path / "sweep") as store:
        monkeypatch.setattr(store_module, "write_atomic", full)
        with pytest.raises(WriteError) as error:
            store.put(run)
    reason = "No space left on device" if strerror else "no room"
    assert str(error.value) == (f"the result of run {run.run_id} could not be written to {store.runs} ({reason}): "
                                f"the runs finished before it are kept there; rerun the same command to resume")


def consolidated(out):
    return {name: pq.read_table(out / name) for name in CONSOLIDATED[:3]}, json.loads((out / "sweep.json").read_text())


def test_consolidate_writes_a_row_per_run_with_its_grid_cells_and_counts_by_status(tmp_path):
    from sim.frontends.provenance import CODE_VERSION, code_digest

    runs = [finished("a" * 16, iterations=12), finished("b" * 16, iterations=20, seed=1), failure("c" * 16)]
    plan = [(run.run_id, seed) for seed, run in enumerate(runs, start=7)]
    cells = {"cluster.workers": [2, 3, 4]}
    with Store(tmp_path / "sweep") as store:
        for run in runs:
            store.put(run)
        table = store.consolidate(plan, cells, {"seeds": 3, "grid": {"cluster.workers": ["2", "3", "4"]}})
    (tables, manifest) = consolidated(tmp_path / "sweep")
    assert tables["runs.parquet"].equals(table)
    assert manifest == {"seeds": 3, "grid": {"cluster.workers": ["2", "3", "4"]}, "result_format": RESULT_FORMAT,
                        "asgd": CODE_VERSION, "code": code_digest(), "runs": 3, "ok": 2, "diverged": 0,
                        "overflow": 0, "failed": 1}
    assert (tmp_path / "sweep" / "sweep.json").read_text().startswith('{\n  "seeds": 3')
    assert table.column_names[:3] == ["cluster.workers", "run_id", "seed"]
    assert table["cluster.workers"].to_pylist() == [2, 3, 4] and table["seed"].to_pylist() == [7, 8, 9]
    assert table["run_id"].to_pylist() == ["a" * 16, "b" * 16, "c" * 16]
    assert table["status"].to_pylist() == ["ok", "ok", "failed"]
    assert table["error"].to_pylist() == [None, None, "ValueError: bad step\nmore"]
    assert table.schema.field("error").type == pa.string() and table["iterations"].to_pylist() == [12, 20, None]
    assert table["scenario_toml"].to_pylist() == [TOML] * 3
    assert table["asgd_version"].to_pylist() == [CODE_VERSION] * 3 and table["source_hash"].to_pylist() == \
        [code_digest()] * 3
    curves = tables["curves.parquet"]
    metrics = [decode_record(run.result).metrics for run in runs[:2]]
    assert curves.column_names == ["cluster.workers", "run_id", "seed", *metrics[0].column_names]
    assert curves["run_id"].to_pylist() == ["a" * 16] * metrics[0].num_rows + ["b" * 16] * metrics[1].num_rows
    assert curves["seed"].to_pylist() == [7] * metrics[0].num_rows + [8] * metrics[1].num_rows
    assert curves.select(metrics[0].column_names).equals(pa.concat_tables(metrics))
    staleness = tables["staleness.parquet"]
    counts = [decode_record(run.result).staleness for run in runs[:2]]
    assert staleness.column_names == ["cluster.workers", "run_id", "seed", "staleness", "count"]
    assert staleness["run_id"].to_pylist() == ["a" * 16] * len(counts[0]) + ["b" * 16] * len(counts[1])
    assert staleness["count"].to_pylist() == counts[0] + counts[1]
    assert staleness["staleness"].to_pylist() == list(range(len(counts[0]))) + list(range(len(counts[1])))
    assert not list((tmp_path / "sweep").glob(".tmp-*"))


def test_consolidating_no_finished_run_writes_empty_tables_with_their_columns(tmp_path):
    with Store(tmp_path / "sweep") as store:
        store.put(failure("c" * 16))
        store.consolidate([("c" * 16, 5)], {}, {})
    (tables, manifest) = consolidated(tmp_path / "sweep")
    assert tables["curves.parquet"].num_rows == 0 and tables["curves.parquet"].column_names == ["run_id", "seed"]
    assert tables["staleness.parquet"].num_rows == 0
    assert tables["staleness.parquet"].column_names == ["run_id", "seed", "staleness", "count"]
    assert manifest["failed"] == 1 and manifest["ok"] == 0 and manifest["runs"] == 1


def test_curves_are_written_in_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "ROW_GROUP", 20)
    runs = [finished(str(i) * 16, iterations=12, seed=i) for i in range(4)]  # 13 metrics rows each
    with Store(tmp_path / "sweep") as store:
        for run in runs:
            store.put(run)
        store.consolidate([(run.run_id, i) for i, run in enumerate(runs)], {}, {})
    file = pq.ParquetFile(tmp_path / "sweep" / "curves.parquet")
    assert [file.metadata.row_group(i).num_rows for i in range(file.num_row_groups)] == [26, 26]
    assert file.read()["seed"].to_pylist() == [0] * 13 + [1] * 13 + [2] * 13 + [3] * 13


def test_a_consolidation_that_cannot_write_keeps_the_earlier_set_and_leaves_no_temporary(tmp_path, monkeypatch):
    run = finished()
    out = tmp_path / "sweep"
    with Store(out) as store:
        store.put(run)
        store.consolidate([(run.run_id, 0)], {}, {"first": True})
        before = {name: (out / name).read_bytes() for name in CONSOLIDATED}
        real = pq.write_table

        def write_table(table, where, *args, **kwargs):
            if "staleness" in str(where):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(table, where, *args, **kwargs)

        monkeypatch.setattr(store_module.pq, "write_table", write_table)
        with pytest.raises(WriteError) as error:
            store.consolidate([(run.run_id, 0)], {"x": [1]}, {"first": False})
    assert str(error.value) == (f"the consolidated results could not be written to {out} (No space left on device): "
                                f"every run is kept in {out / '.runs'}; rerun the same command to consolidate them")
    assert {name: (out / name).read_bytes() for name in CONSOLIDATED} == before
    assert not list(out.glob(".tmp-*"))


def test_sweep_json_is_written_last_and_absent_while_the_tables_are_replaced(tmp_path, monkeypatch):
    run = finished()
    out = tmp_path / "sweep"
    seen = []
    real = os.replace

    def replace(source, target):
        seen.append((os.path.basename(target), (out / "sweep.json").exists()))
        return real(source, target)

    with Store(out) as store:
        store.put(run)
        store.consolidate([(run.run_id, 0)], {}, {})
        monkeypatch.setattr(store_module.os, "replace", replace)
        store.consolidate([(run.run_id, 0)], {}, {})
    assert seen == [("curves.parquet", False), ("staleness.parquet", False), ("runs.parquet", False),
                    ("sweep.json", False)]


def test_tables_of_finished_runs_only_leave_out_the_runs_without_a_readable_result(tmp_path):
    runs = [finished("a" * 16), finished("b" * 16, seed=1), failure("c" * 16)]
    with Store(tmp_path / "sweep") as store:
        for run in runs[::2]:
            store.put(run)
        (store.runs / f"{'d' * 16}.parquet").write_bytes(b"damaged")
        plan = [(run.run_id, i) for i, run in enumerate(runs)] + [("d" * 16, 3)]
        curves = []
        table, staleness = store.tables(plan, {"cluster.workers": [1, 2, 3, 4]}, curves.append, finished_only=True)
        with pytest.raises(OSError):  # without finished_only every run must have its result
            store.tables(plan, {"cluster.workers": [1, 2, 3, 4]}, lambda curve: None)
    assert table["run_id"].to_pylist() == ["a" * 16, "c" * 16] and table["cluster.workers"].to_pylist() == [1, 3]
    assert [set(curve["run_id"].to_pylist()) for curve in curves] == [{"a" * 16}]
    assert set(staleness["run_id"].to_pylist()) == {"a" * 16}


@pytest.mark.parametrize("which", ["run", "trace"])
def test_a_file_damaged_where_only_its_page_checksums_tell_is_set_aside(which, tmp_path):
    run = finished(trace=True)
    warnings = []
    with Store(tmp_path / "sweep", warn=warnings.append) as store:
        store.put(run)
        path = (store.runs if which == "run" else store.traces) / f"{run.run_id}.parquet"
        damaged = checksum_only_damage(path.read_bytes())
        path.write_bytes(damaged)
        assert store.done(run.run_id) is (which == "trace") and not store.done(run.run_id, trace=True)
    assert len(warnings) == 1 and path.with_name(path.name + ".damaged").read_bytes() == damaged


def test_a_warning_is_flushed_to_stderr_at_once(monkeypatch):
    """A sweep goes on for hours after it: the warning must not wait in a buffer."""
    import io
    import sys

    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stderr", io.TextIOWrapper(raw, encoding="utf-8", line_buffering=False))
    store_module._warn("asgd sweep: a warning")
    assert raw.getvalue() == b"asgd sweep: a warning\n"


def test_tables_of_a_sweep_without_a_finished_run_keep_their_column_types(tmp_path):
    """asgd report on a sweep stopped before its first run finished: no row, but run_id a string and seed an int64."""
    with Store(tmp_path / "sweep") as store:
        table, staleness = store.tables([("a" * 16, 3)], {}, lambda curve: None, finished_only=True)
    for result in (table, staleness):
        assert result.num_rows == 0
        assert result.schema.field("run_id").type == pa.string() and result.schema.field("seed").type == pa.int64()


def test_the_error_column_is_a_string_column_when_no_run_failed(tmp_path):
    run = finished()
    with Store(tmp_path / "sweep") as store:
        store.put(run)
        table = store.consolidate([(run.run_id, 0)], {}, {})
    assert table["error"].to_pylist() == [None] and table.schema.field("error").type == pa.string()
    assert pq.read_table(tmp_path / "sweep" / "runs.parquet").schema.field("error").type == pa.string()


@pytest.mark.parametrize("row_group, groups", [(26, [26, 26, 26]), (27, [39, 39])])
def test_a_row_group_is_written_once_it_holds_row_group_rows(row_group, groups, tmp_path, monkeypatch):
    """Six runs of 13 metrics rows each: a group is written as soon as it has ROW_GROUP rows or more."""
    monkeypatch.setattr(store_module, "ROW_GROUP", row_group)
    run = finished(iterations=12)
    runs = [Outcome(f"{i:016x}", run.status, run.result, None) for i in range(6)]
    with Store(tmp_path / "sweep") as store:
        for outcome in runs:
            store.put(outcome)
        store.consolidate([(outcome.run_id, i) for i, outcome in enumerate(runs)], {}, {})
    file = pq.ParquetFile(tmp_path / "sweep" / "curves.parquet")
    assert [file.metadata.row_group(i).num_rows for i in range(file.num_row_groups)] == groups


def test_each_flush_is_one_row_group_however_large(tmp_path):
    """Beyond pyarrow's default largest row group (2^20 rows): what is buffered is still written as one group."""
    from sim.frontends.store import _RowGroups

    table = pa.table({"x": np.arange(2**20 + 5, dtype=np.int64)})
    with _RowGroups(tmp_path / "curves.parquet", table.slice(0, 0)) as groups:
        groups.write(table)
    file = pq.ParquetFile(tmp_path / "curves.parquet")
    assert file.num_row_groups == 1 and file.read().equals(table)
