"""The speedups of `asgd check` (analysis.speedup) against hand-computed values on a grid where the time speedup
differs from the iteration speedup: workers that wait, drop gradients or share a slow network."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.speedup import cells, speedups, worker_limit

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
