"""`asgd replay` reproduces a final iterate bit for bit or not at all: arrays equal as numbers but not as bits
(-0.0 against 0.0, NaNs with different payloads, another dtype or shape over the same bytes) are not reproduced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim import simulate
from sim.frontends.cli import main
from sim.frontends.rundir import write_run
from sim.replay import Replay
from tests.helpers import scenario

QUIET_NAN = np.float64(np.nan)
PAYLOAD_NAN = np.array([0x7FF8_0000_0000_0001], dtype=np.int64).view(np.float64)[0]  # a NaN with another payload
NEGATIVE_NAN = -QUIET_NAN


@pytest.mark.parametrize("replayed, recorded", [
    (np.array([0.0, 1.0]), np.array([-0.0, 1.0])),              # equal numbers, another sign bit
    (np.array([QUIET_NAN, 1.0]), np.array([PAYLOAD_NAN, 1.0])),  # both NaN, other payloads
    (np.array([QUIET_NAN]), np.array([NEGATIVE_NAN])),
    (np.array([0.5, 2.0]), np.array([0.5, 2.0], dtype=np.float32)),  # equal values, another dtype
    (np.array([1.0, 2.0]), np.array([1.0, 2.0]).view(np.int64)),     # the same bytes, another dtype
    (np.array([1.0, 2.0]), np.array([[1.0, 2.0]])),                   # the same bytes, another shape
])
def test_equal_numbers_with_other_bits_are_not_reproduced(replayed, recorded):
    assert not Replay(replayed, recorded, 1).reproduced
    assert Replay(replayed, replayed.copy(), 1).reproduced  # the same bits are, NaNs included


def test_replay_exits_1_when_x_final_holds_the_same_bytes_as_another_dtype_or_shape(tmp_path, capsys):
    out = tmp_path / "run"
    write_run(out, simulate(scenario(workers=2, iterations=20)))
    x = np.load(out / "x_final.npy")
    assert main(["replay", str(out)]) == 0
    for changed in (x.view(np.int64), x.reshape(1, -1)):
        np.save(out / "x_final.npy", changed)
        assert main(["replay", str(out)]) == 1
        assert "NOT reproduced" in capsys.readouterr().out


@pytest.mark.parametrize("name, sets", [("quickstart", []), ("incon", []), ("sapalm", []),
                                        ("incon", ["--set", "algorithm.batch=3"])])
def test_a_replay_keeps_an_iterate_only_while_a_recorded_read_needs_it(name, sets, tmp_path, monkeypatch):
    """The replay's iterate store holds each x_v for exactly the reads the trace records of it (for AsySG-incon every
    version a read spans, once per update however many gradients share the read): once the last update is applied,
    only the final iterate is left, and no more iterates were ever alive than the staleness bound allows (x_k and
    the reads of the last `bound` versions)."""
    import sim.replay
    from scenarios import load
    from sim.iterates import IterateStore

    stores, most = [], [0]

    class Watched(IterateStore):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            stores.append(self)

        def advance(self, x_next):
            super().advance(x_next)
            most[0] = max(most[0], len(self))

    path = Path(__file__).resolve().parents[1] / "scenarios" / f"{name}.toml"
    out = tmp_path / "run"
    assert main(["run", str(path), "--set", "algorithm.iterations=60", *sets, "--out", str(out)]) == 0
    monkeypatch.setattr(sim.replay, "IterateStore", Watched)
    assert sim.replay.replay(out).reproduced
    (store,) = stores
    assert len(store) == 1 and store.version == 60 and store._holds == {60: 0}
    assert 1 < most[0] <= load(path).staleness.bound + 2
