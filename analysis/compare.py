"""`asgd compare`'s numbers: time to target per run, the fair choice of each method's step, the ranked table, and the
fixed-computation orders of the Ringmaster poster. Pure DataFrames and arrays in, numbers and figures out; no SimPy.

Time to target: the simulated time of the first recorded iterate whose stationarity measure (metrics column
`stationarity`: ||grad f||^2, or the squared gradient mapping with a regularizer) is at most the target; a run that
never gets there within its budget has time and evaluations inf and `reached` False. Iterates are recorded every
`record.every` updates, so the time is the first recorded one (an upper bound at that resolution).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from analysis.stats import LEVEL, median_interval

TARGET_FRACTION = 0.1  # default target: this fraction of the stationarity at x_0 (the smallest among the runs)
MEASURE_LABEL = "stationarity measure (units$^2$)"


def time_to_target(curve: pd.DataFrame, target: float, evaluations_per_gradient: float) -> tuple[float, float, bool]:
    """(time, evaluations, reached) at the first row of `curve` (metrics: `time`, `gradients`, `stationarity`) whose
    stationarity is <= target; evaluations = gradients * evaluations_per_gradient (exact for plain stochastic gradients;
    for SVRG the snapshot passes are counted at their average rate). (inf, inf, False) if no row gets there."""
    hits = np.flatnonzero(curve["stationarity"].to_numpy(float) <= target)
    if not len(hits):
        return math.inf, math.inf, False
    row = curve.iloc[int(hits[0])]
    return float(row["time"]), float(row["gradients"]) * evaluations_per_gradient, True


def choose_steps(tuning: pd.DataFrame, keys: Sequence[str], steps: Sequence[float]) -> pd.DataFrame:
    """The best step per group of `keys` (method and grid point) from the tuning runs (columns: keys, `step`,
    `reached`, `time_to_target`, `final_stationarity`): the step with, over its seeds, the largest share of runs
    reaching the target, then the smallest median time to target, then the smallest median final stationarity (a
    diverged run counts as inf); ties go to the smaller step. `edge` is "smallest" or "largest" when the best step
    is at an end of the grid `steps` (the grid should be widened that way), else ""."""
    rows = []
    for group, runs in tuning.groupby(list(keys), sort=False, dropna=False):
        scores = []
        for step, at in runs.groupby("step", sort=True):
            final = at["final_stationarity"].to_numpy(float)
            final = np.where(np.isfinite(final), final, math.inf)
            scores.append((-float(at["reached"].mean()), float(np.median(at["time_to_target"].to_numpy(float))),
                           float(np.median(final)), float(step)))
        best = min(scores)
        step = best[3]
        edge = "smallest" if step == min(steps) else "largest" if step == max(steps) else ""
        group = group if isinstance(group, tuple) else (group,)
        rows.append({**dict(zip(keys, group)), "step": step, "edge": edge, "tuning_reached": -best[0],
                     "tuning_time_to_target": best[1]})
    return pd.DataFrame(rows)


def rank(results: pd.DataFrame, baseline: str, level: float = LEVEL) -> pd.DataFrame:
    """One row per `algorithm` of `results` (one grid point: a row per algorithm and seed with `time_to_target`,
    `evaluations_to_target`, `reached`, `wasted_fraction`, `idle_fraction`, `mean_staleness`), ranked by median time
    to target (inf, never reached by half the seeds, last; then by evaluations): the median with its order-statistic
    interval over the seeds (analysis.stats.median_interval), the median evaluations, the seeds that reached the
    target, the speedup over `baseline` (its median time over this one's; nan without it), and the mean over the seeds
    of the wasted fraction (gradients computed that no update used) and of the idle fraction (idle worker-time)."""
    rows = []
    for algorithm, runs in results.groupby("algorithm", sort=False):
        median, low, high, coverage = median_interval(runs["time_to_target"].to_numpy(float), level)
        rows.append({"algorithm": algorithm, "step": float(runs["step"].iloc[0]), "time_median": median,
                     "time_low": low, "time_high": high, "coverage": coverage,
                     "evaluations_median": float(np.median(runs["evaluations_to_target"].to_numpy(float))),
                     "reached": int(runs["reached"].sum()), "seeds": len(runs),
                     "wasted_fraction": float(np.mean(runs["wasted_fraction"].to_numpy(float))),
                     "idle_fraction": float(np.mean(runs["idle_fraction"].to_numpy(float))),
                     "mean_staleness": float(np.mean(runs["mean_staleness"].to_numpy(float)))})
    table = pd.DataFrame(rows)
    base = table.loc[table["algorithm"] == baseline, "time_median"]
    with np.errstate(invalid="ignore", divide="ignore"):
        table["speedup"] = (float(base.iloc[0]) / table["time_median"]) if len(base) else math.nan
    table.loc[~np.isfinite(table["speedup"]) | (table["speedup"] == 0), "speedup"] = math.nan  # either never got there
    return table.sort_values(["time_median", "evaluations_median"], kind="stable").reset_index(drop=True)


def fixed_computation_orders(taus: Sequence[float], variance: float, target: float) -> dict[str, float]:
    """The time complexities of Table 1 of the Ringmaster poster (Maranjyan, Tyurin, Richtarik 2025; fixed computation
    model: worker i needs tau_i per stochastic gradient), up to their constants and the common factor L Delta:
    asynchronous SGD  tau_h(n) (1/eps + sigma^2 / (n eps^2));  Ringmaster ASGD and the lower bound (Tyurin and
    Richtarik 2023)  min over m of tau_h(m) (1/eps + sigma^2 / (m eps^2)), with tau_h(m) the harmonic mean of the m
    smallest tau_i. ORDERS, NOT NUMBERS: only their ratio and the minimizing m (`best_m`, the fastest workers worth
    using) are predictions, and those only up to the unknown constants (ties: the smallest m)."""
    tau = np.sort(np.asarray(taus, dtype=float))
    m = np.arange(1, len(tau) + 1)
    harmonic = m / np.cumsum(1.0 / tau)
    orders = harmonic * (1.0 / target + variance / (m * target**2))
    best = int(np.argmin(orders))
    return {"asynchronous_sgd": float(orders[-1]), "optimal": float(orders[best]), "best_m": best + 1,
            "ratio": float(orders[-1] / orders[best]), "workers": len(tau)}


def curve_band(curves: pd.DataFrame, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, min and max over the runs (`run_id`) of the stationarity recorded last at or before each of `times`
    (nan before a run's first record and after its last)."""
    values = []
    for _, curve in curves.groupby("run_id", sort=False):
        t, s = curve["time"].to_numpy(float), curve["stationarity"].to_numpy(float)
        index = np.searchsorted(t, times, side="right") - 1
        values.append(np.where((index >= 0) & (times <= t[-1]), s[np.clip(index, 0, None)], np.nan))
    stacked = np.vstack(values)
    with warnings.catch_warnings():  # an all-nan column (no run recorded there yet, or any more) is nan, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(stacked, 0), np.nanmin(stacked, 0), np.nanmax(stacked, 0)


def plot_curves(ax: Axes, curves: pd.DataFrame, target: float, points: int = 400) -> None:
    """Stationarity against simulated time, one line (median over seeds) and band (min to max) per `algorithm`."""
    finite = curves[np.isfinite(curves["time"]) & np.isfinite(curves["stationarity"])]
    times = np.linspace(0.0, float(finite["time"].max()) if len(finite) else 1.0, points)
    for algorithm, group in finite.groupby("algorithm", sort=False):
        median, low, high = curve_band(group, times)
        line, = ax.plot(times, median, label=f"{algorithm} (median over seeds)")
        ax.fill_between(times, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.axhline(target, color="k", linestyle=":", label="target")
    ax.set_yscale("log")
    ax.set_xlabel("simulated time (scenario time units)")
    ax.set_ylabel(MEASURE_LABEL)
    ax.set_title("Stationarity against simulated time (band: min to max over seeds)")
    ax.legend(fontsize="small")


def plot_times(ax: Axes, ranked: pd.DataFrame, results: pd.DataFrame) -> None:
    """Time to target per method: each seed's (dots; unreached seeds drawn at the top as x) and the median with its
    interval, in ranked order."""
    order = list(ranked["algorithm"])
    reached = results[np.isfinite(results["time_to_target"])]
    top = float(reached["time_to_target"].max()) * 1.1 if len(reached) else 1.0
    for i, algorithm in enumerate(order):
        runs = results[results["algorithm"] == algorithm]
        times = runs["time_to_target"].to_numpy(float)
        ax.plot(np.full(np.isfinite(times).sum(), i), times[np.isfinite(times)], "o", color="C0", alpha=0.6)
        ax.plot(np.full((~np.isfinite(times)).sum(), i), np.full((~np.isfinite(times)).sum(), top), "x", color="C3")
        row = ranked.iloc[i]
        if np.isfinite(row["time_median"]):
            low, high = (row["time_low"], row["time_high"]) if np.isfinite(row["time_low"]) else (math.nan,) * 2
            ax.errorbar([i], [row["time_median"]], yerr=[[row["time_median"] - low], [high - row["time_median"]]]
                        if np.isfinite(low) else None, fmt="s", color="k", capsize=4)
    ax.set_xticks(range(len(order)), order)
    ax.set_xlabel("method (ranked)")
    ax.set_ylabel("simulated time to target (scenario time units)")
    ax.set_title("Time to target: seeds (o; x: not reached), median and interval (black)")


def plot_what_if(ax: Axes, summary: pd.DataFrame, key: str) -> None:
    """Median time to target against grid key `key`, one line per `algorithm` (summary: rank's rows plus `key`)."""
    for algorithm, rows in summary.groupby("algorithm", sort=False):
        rows = rows.sort_values(key)
        ax.plot(rows[key], rows["time_median"], "o-", label=algorithm)
    ax.set_xlabel(key)
    ax.set_ylabel("median simulated time to target (scenario time units)")
    ax.set_title(f"What if: time to target against {key}")
    ax.legend(fontsize="small")

