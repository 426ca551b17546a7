"""`asgd replay` reproduces a final iterate bit for bit or not at all: arrays equal as numbers but not as bits
(-0.0 against 0.0, NaNs with different payloads, another dtype or shape over the same bytes) are not reproduced."""

from __future__ import annotations

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
