"""A sweep's result store under interruption: a per-run file whose write is cut off part way (an interrupt, a
full disk) is never taken as a finished run when the sweep resumes, whatever the point of the cut."""

from __future__ import annotations

import builtins
import pathlib

import pytest

from sim import simulate
from sim.frontends.store import Outcome, Store, decode_record, encode_result, parquet_bytes
from tests.helpers import scenario


class Cut(Exception):
    """The interruption."""


def outcome(trace: bool) -> Outcome:
    result = simulate(scenario(workers=2, iterations=12))
    return Outcome("0123456789abcdef", result.summary["status"], encode_result(result, "name = 'x'\n"),
                   parquet_bytes(result.trace_table) if trace else None)


def cut_writes(monkeypatch, after_bytes: int, nth_file: int) -> None:
    """The nth_file-th file opened for writing (0-based) takes `after_bytes` bytes of a write, then Cut is raised
    (through Path.write_bytes and open alike)."""
    opened = {"files": 0}
    real_open = builtins.open

    class Cutting:
        def __init__(self, file) -> None:
            self.file, self.written = file, 0

        def write(self, data) -> int:
            room = after_bytes - self.written
            if len(data) > room:
                self.file.write(data[:max(room, 0)])
                self.file.flush()
                raise Cut()
            self.written += len(data)
            return self.file.write(data)

        def __getattr__(self, name):
            return getattr(self.file, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            self.file.close()

    def cutting_open(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        if "w" not in mode and "a" not in mode or str(file).endswith(".lock"):
            return handle
        opened["files"] += 1
        return Cutting(handle) if opened["files"] - 1 == nth_file else handle

    def cutting_write_bytes(self, data) -> int:
        with cutting_open(self, "wb") as file:
            return file.write(data)

    monkeypatch.setattr(builtins, "open", cutting_open)
    monkeypatch.setattr(pathlib.Path, "write_bytes", cutting_write_bytes)


@pytest.mark.parametrize("trace", [False, True])
@pytest.mark.parametrize("fraction", [0.0, 0.5, 0.999])
def test_a_write_cut_off_part_way_is_not_a_finished_run(tmp_path, monkeypatch, trace, fraction):
    run = outcome(trace)
    files = [run.result] + ([run.trace] if trace else [])  # put writes the trace first
    for nth, data in enumerate(reversed(files)):
        out = tmp_path / f"sweep-{nth}"
        with Store(out) as store:
            with monkeypatch.context() as patch:
                cut_writes(patch, int(fraction * len(data)), nth)
                with pytest.raises(Cut):
                    store.put(run)
        with Store(out) as resumed:  # the rerun of the sweep
            assert not resumed.done(run.run_id)
            resumed.put(run)
            assert resumed.done(run.run_id) and decode_record(run.result).summary == resumed.record(run.run_id).summary
        assert not [path for path in out.rglob(".tmp-*")]


def test_an_uninterrupted_put_is_a_finished_run(tmp_path, monkeypatch):
    run = outcome(True)
    with Store(tmp_path / "sweep") as store:
        cut_writes(monkeypatch, 10**12, 0)  # the cutting wrapper itself changes nothing
        store.put(run)
        assert store.done(run.run_id)
