"""The speedups of `asgd check` (analysis.speedup) against hand-computed values on a grid where the time speedup
differs from the iteration speedup: workers that wait, drop gradients or share a slow network."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.speedup import cells, serial_gradients, speedups, worker_limit

# Every run reaches the serial run's ergodic average 2 K^-1/2 for its K (iteration efficiency 1 without drops).
# The serial run takes 2 time units per gradient. W workers: (sim_time per update, gradients, dropped) per update.
TIME_PER_UPDATE = {1: 2.0, 2: 1.25, 4: 0.625, 8: 0.5}
DROPPED_PER_UPDATE = {1: 0, 2: 0, 4: 0, 8: 1}  # W = 8 also computes one discarded gradient per applied one


def runs() -> pd.DataFrame:
    rows = []
    for k in (1000, 4000):
        for w, t in TIME_PER_UPDATE.items():
            dropped = DROPPED_PER_UPDATE[w] * k
            rows.append({"workers": w, "planned_iterations": k, "iterations": k, "seed": 0, "status": "ok",
                         "ergodic_grad_norm_sq": 2 * k**-0.5, "gradients": k + dropped, "dropped": dropped,
                         "sim_time": t * k, "bound": 1.0, "bound_preconditions_hold": True, "max_staleness": w})
    return pd.DataFrame(rows)


def test_time_and_iteration_efficiencies_by_hand():
    table = speedups(cells(runs())).set_index(["workers", "iterations"])
    for k in (1000, 4000):
        # serial gradients for the same average: K; serial time for them: 2 K; W workers' time: t_W K
        for w, t in TIME_PER_UPDATE.items():
            row = table.loc[(w, k)]
            assert row["serial_gradients"] == pytest.approx(k, rel=1e-12)
            assert row["iteration_speedup"] == pytest.approx(w, rel=1e-12)  # W K_1 / K_W, drops not counted
            assert row["iteration_efficiency"] == pytest.approx(1.0, rel=1e-12)
            assert row["time_speedup"] == pytest.approx(2.0 / t, rel=1e-12)
            assert row["time_efficiency"] == pytest.approx(2.0 / (t * w), rel=1e-12)
    # by hand: W = 2: 2 / 1.25 = 1.6 (0.8 each), W = 4: 2 / 0.625 = 3.2 (0.8), W = 8: 4 (0.5)
    assert table.xs(4000, level="iterations")["time_efficiency"].tolist() == pytest.approx([1.0, 0.8, 0.8, 0.5])


def test_the_time_worker_limit_reads_the_time_efficiencies():
    table = speedups(cells(runs()))
    by_time = worker_limit(table, "time_efficiency", 0.7)
    # 0.8 at W = 4 and 0.5 at W = 8: 0.7 is a third of the way in log W, at W* = 4 * 2^(1/3)
    assert by_time["workers_limit"].tolist() == pytest.approx([4 * 2 ** (1 / 3)] * 2, rel=1e-12)
    assert not by_time["censored"].any()
    by_iterations = worker_limit(table, "iteration_efficiency", 0.7)
    assert by_iterations["censored"].all() and (by_iterations["workers_limit"] == 8).all()


def test_serial_gradients_extend_along_the_end_segments_and_are_nan_without_a_curve():
    serial = pd.DataFrame({"applied": [1000.0, 4000.0], "ergodic": [2 / 1000**0.5, 2 / 4000**0.5]})
    # on the log-log line E = 2 K^-1/2 beyond both ends: K = (2 / E)^2
    targets = np.array([2 / 250**0.5, 2 / 2000**0.5, 2 / 16000**0.5])
    assert serial_gradients(serial, targets) == pytest.approx([250, 2000, 16000], rel=1e-9)
    flat = pd.DataFrame({"applied": [1000.0, 2000.0, 4000.0], "ergodic": [0.1, 0.05, 0.05]})
    assert serial_gradients(flat, np.array([0.01])) == pytest.approx([2000])  # a flat end segment: slope 0
    diverged = pd.DataFrame({"applied": [1000.0, 4000.0], "ergodic": [np.inf, 0.05]})
    result = serial_gradients(diverged, np.array([0.1, 0.2, 0.3]))
    assert result.shape == (3,) and np.isnan(result).all()


def test_cells_take_the_largest_bound_and_staleness_and_need_every_seed_s_preconditions():
    rows = runs()
    rows = pd.concat([rows, rows.assign(seed=1, bound=3.0, max_staleness=rows["max_staleness"] + 5)])
    rows.loc[(rows["workers"] == 4) & (rows["seed"] == 1), "bound_preconditions_hold"] = False
    table = cells(rows.sample(frac=1.0, random_state=0))  # any row order
    assert list(zip(table["workers"], table["iterations"])) == sorted(zip(table["workers"], table["iterations"]))
    assert (table["bound"] == 3.0).all() and (table["seeds"] == 2).all()
    assert (table["max_staleness"] == table["workers"] + 5).all()
    assert table.set_index("workers")["preconditions"].groupby(level=0).all().to_dict() == \
        {1: True, 2: True, 4: False, 8: True}


def test_worker_limit_edges():
    def limit(workers, efficiency):
        table = pd.DataFrame({"iterations": 1000, "workers": workers, "time_efficiency": efficiency})
        row = worker_limit(table, "time_efficiency", 0.8).iloc[0]
        return row["workers_limit"], row["censored"]
    assert limit([1, 2, 4], [1.0, 0.8, 0.8]) == (4, True)        # at the threshold is not below it
    assert limit([2, 4], [0.5, 0.9]) == (2, False)               # no serial row: below at the first W
    assert limit([1, 2, 4], [1.0, 0.9, np.nan]) == (2, False)    # a nan efficiency is below: W* = the last W above
    w, censored = limit([1, 2, 4], [np.nan, 0.9, 0.5])           # no serial curve: unknown, not censored
    assert np.isnan(w) and not censored
