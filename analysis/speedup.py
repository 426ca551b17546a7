"""Means over seeds, iteration and time speedups against the serial run, and the worker limit W*(K).

The input is one row per run with the summary.json fields (workers, planned_iterations, status, gradients, dropped,
sim_time, ergodic_stationarity or ergodic_grad_norm_sq, bound, bound_preconditions_hold, max_staleness). A diverged run counts as an
infinite ergodic average.

Work is counted in applied gradients (M per update; dropped ones excluded): W workers deliver W gradients per unit
of one worker's time, so the serial run's applied gradients over W times the parallel run's is the speedup the
algorithm allows when every worker is busy (for M = 1 without drops: W K_1 / K_W). Wasted work (drops, waiting,
network, the server) shows in the time speedup.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.stats import LEVEL, mean_ci

KEYS = ["workers", "planned_iterations"]


def cells(runs: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """One row per (workers, iterations = the planned K): the ergodic average of the stationarity measure
    (`ergodic_stationarity`: ||grad f||^2, or the squared gradient mapping of a regularized run; summaries without it
    give `ergodic_grad_norm_sq`, the same numbers for an unregularized run) as its mean over seeds with its t interval
    (`ergodic`, `ergodic_low`, `ergodic_high`), the mean `applied` gradients and `sim_time`, the `bound`, whether its
    preconditions held in every seed (`preconditions`), the largest `max_staleness` and the number of `seeds`."""
    rows = []
    measure = "ergodic_stationarity" if "ergodic_stationarity" in runs else "ergodic_grad_norm_sq"
    for (workers, iterations), group in runs.groupby(KEYS, sort=True):
        ergodic = np.where(group["status"] == "ok", group[measure].astype(float), np.inf)
        mean, low, high = mean_ci(ergodic, level)
        rows.append({
            "workers": workers, "iterations": iterations, "ergodic": mean, "ergodic_low": low, "ergodic_high": high,
            "applied": (group["gradients"] - group["dropped"]).mean(), "sim_time": group["sim_time"].mean(),
            "bound": group["bound"].astype(float).max(),
            "preconditions": bool(group["bound_preconditions_hold"].eq(True).all()),
            "max_staleness": int(group["max_staleness"].max()), "seeds": len(group),
        })
    return pd.DataFrame(rows)


def serial_gradients(serial: pd.DataFrame, target: np.ndarray) -> np.ndarray:
    """Gradients the serial run needs to bring its ergodic average down to each `target`: its mean curve
    (`applied`, `ergodic`) interpolated linearly on a log-log scale, through its running minimum so that it
    decreases, and extended beyond the grid along its end segments; nan throughout if fewer than two of its points
    are finite (the serial run diverged)."""
    serial = serial[np.isfinite(serial["ergodic"])].sort_values("applied")
    if len(serial) < 2:
        return np.full(np.shape(target), np.nan)
    lg = np.log(serial["applied"].to_numpy(float))
    le = np.log(np.minimum.accumulate(serial["ergodic"].to_numpy(float)))
    with np.errstate(all="ignore"):
        x = np.log(np.maximum(np.asarray(target, dtype=float), 0.0))  # a target <= 0 is never reached: x = -inf
        result = np.interp(-x, -le, lg)
        for end, (a, b) in (("first", (0, 1)), ("last", (-2, -1))):
            outside = x > le[0] if end == "first" else x < le[-1]
            slope = (lg[b] - lg[a]) / (le[b] - le[a]) if le[b] != le[a] else 0.0
            result = np.where(outside, lg[a] + (x - le[a]) * slope, result)
        return np.exp(result)


def speedups(grid: pd.DataFrame) -> pd.DataFrame:
    """`grid` (the output of `cells` over workers 1, ...) with, per (W, K), the target = the ergodic average W workers
    reach in K updates, `serial_gradients` G_1 = the applied gradients the serial run needs for it, and:
    iteration speedup = W G_1 / G_W (G_W: the gradients W workers applied), time speedup = t_1 / t_W
    (t_1 = G_1 times the serial time per gradient, t_W: the simulated time of W workers); efficiency = speedup / W.
    `iteration_efficiency_low`/`_high` take the target at the ends of its t interval instead (serial curve fixed)."""
    serial = grid[grid["workers"] == 1]
    if serial.empty:
        raise ValueError("the speedups need the serial run (workers = 1)")
    out = grid.copy()
    out["serial_gradients"] = serial_gradients(serial, out["ergodic"].to_numpy(float))
    time_per_gradient = serial["sim_time"].sum() / serial["applied"].sum()
    out["iteration_speedup"] = out["workers"] * out["serial_gradients"] / out["applied"]
    out["time_speedup"] = time_per_gradient * out["serial_gradients"] / out["sim_time"]
    out["iteration_efficiency"] = out["iteration_speedup"] / out["workers"]
    out["time_efficiency"] = out["time_speedup"] / out["workers"]
    for end, column in (("low", "ergodic_high"), ("high", "ergodic_low")):  # a higher target needs fewer gradients
        out[f"iteration_efficiency_{end}"] = serial_gradients(serial, out[column].to_numpy(float)) / out["applied"]
    # W = 1 is the reference: speedup 1 by definition (reading its own points back through the running minimum of a
    # non-monotone curve would not give 1); left nan where there is no serial curve
    reference = (out["workers"] == 1) & out["serial_gradients"].notna()
    out.loc[reference, "serial_gradients"] = out.loc[reference, "applied"]
    out.loc[reference, [f"{kind}_{measure}" for kind in ("iteration", "time") for measure in ("speedup", "efficiency")]
            + ["iteration_efficiency_low", "iteration_efficiency_high"]] = 1.0
    return out


def worker_limit(table: pd.DataFrame, column: str, threshold: float) -> pd.DataFrame:
    """Per iteration count K: W* = the worker count at which `column` (an efficiency) first falls below `threshold`,
    interpolated linearly in log W between the last W above it and the first below; `censored` when it never falls
    below on the grid (W* is then only known to be >= the largest W); nan where there is no serial efficiency.
    W = 1, the reference, is never below."""
    rows = []
    for iterations, group in table.sort_values("workers").groupby("iterations", sort=True):
        w, e = group["workers"].to_numpy(float), group[column].to_numpy(float)
        below = np.flatnonzero(~(e >= threshold) & (w > 1))
        if not np.isfinite(e[0]):
            limit, censored = np.nan, False  # no serial curve to compare with
        elif len(below) == 0:
            limit, censored = w[-1], True
        elif below[0] == 0:
            limit, censored = w[0], False
        else:
            i = below[0]
            fraction = (e[i - 1] - threshold) / (e[i - 1] - e[i]) if np.isfinite(e[i]) else 0.0
            limit, censored = float(np.exp(np.log(w[i - 1]) + fraction * np.log(w[i] / w[i - 1]))), False
        rows.append({"iterations": iterations, "workers_limit": limit, "censored": censored})
    return pd.DataFrame(rows)
