"""A sweep's results per grid point: pure DataFrames in (runs.parquet, staleness.parquet, curves.parquet), numbers
and figures out. No files, no SimPy.

The stationarity measure is `ergodic_stationarity` / `final_stationarity` where runs record it, else the squared
gradient norm (`ergodic_grad_norm_sq`, `final_grad_norm_sq`): the same number for runs without a regularizer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes

from analysis.stats import LEVEL, count_percentile, median_interval

STATUSES = ("ok", "diverged", "overflow", "failed")


def measure(runs: pd.DataFrame, which: str) -> str:
    """The column of the stationarity measure: which = "ergodic" or "final"."""
    preferred = f"{which}_stationarity"
    return preferred if preferred in runs.columns else f"{which}_grad_norm_sq"


def points(runs: pd.DataFrame, keys: Sequence[str]) -> list[tuple]:
    """The grid points of `runs` in the order they first appear (the sweep's grid order)."""
    if not keys:
        return [()]
    return list(dict.fromkeys(runs[list(keys)].itertuples(index=False, name=None)))


def _select(table: pd.DataFrame, keys: Sequence[str], point: tuple) -> pd.DataFrame:
    if not keys:
        return table
    mask = np.ones(len(table), dtype=bool)
    for key, value in zip(keys, point):
        mask &= (table[key] == value).to_numpy()
    return table[mask]


def grid_summary(runs: pd.DataFrame, staleness: pd.DataFrame, keys: Sequence[str],
                 level: float = LEVEL) -> pd.DataFrame:
    """One row per grid point, in grid order: the grid keys; `runs` and the count of each status; over the ok runs'
    seeds, the median and the order-statistic interval (analysis.stats.median_interval, its coverage in
    `interval_coverage`) of the ergodic and final stationarity, and the median simulated time; the staleness of all
    its runs' applied gradients pooled (mean, p50, p90, p99, max); dropped gradients per run and their fraction of
    the gradients the server consumed."""
    ergodic, final = measure(runs, "ergodic"), measure(runs, "final")
    rows = []
    for point in points(runs, keys):
        group = _select(runs, keys, point)
        ok = group[group["status"] == "ok"]
        counts = _pooled(_select(staleness, keys, point), set(group["run_id"]))
        applied = counts.sum()
        row = dict(zip(keys, point))
        row["runs"] = len(group)
        row.update({status: int((group["status"] == status).sum()) for status in STATUSES})
        for name, column in (("ergodic", ergodic), ("final", final)):
            median, low, high, coverage = median_interval(_finite(ok, column), level)
            row.update({name: median, f"{name}_low": low, f"{name}_high": high})
        row["interval_coverage"] = coverage
        row["sim_time"] = float(np.median(ok["sim_time"])) if len(ok) else np.nan
        row["staleness_mean"] = float(np.arange(len(counts)) @ counts / applied) if applied else np.nan
        for q in (50, 90, 99):
            row[f"staleness_p{q}"] = count_percentile(counts, q)
        row["staleness_max"] = int(np.flatnonzero(counts)[-1]) if applied else None
        finished = group[group["status"] != "failed"]
        row["dropped"] = float(finished["dropped"].mean()) if len(finished) else np.nan
        consumed = finished["gradients"].sum() if len(finished) else 0
        row["dropped_fraction"] = float(finished["dropped"].sum() / consumed) if consumed else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _finite(runs: pd.DataFrame, column: str) -> np.ndarray:
    if column not in runs.columns:
        return np.empty(0)
    values = runs[column].to_numpy(dtype=float, na_value=np.nan)
    return values[np.isfinite(values)]


def _pooled(staleness: pd.DataFrame, run_ids: set[str]) -> np.ndarray:
    """Applied gradients by staleness, summed over the runs `run_ids`."""
    rows = staleness[staleness["run_id"].isin(run_ids)]
    if rows.empty:
        return np.zeros(0, dtype=np.int64)
    counts = np.zeros(int(rows["staleness"].max()) + 1, dtype=np.int64)
    np.add.at(counts, rows["staleness"].to_numpy(np.int64), rows["count"].to_numpy(np.int64))
    return counts


def point_label(keys: Sequence[str], point: tuple) -> str:
    return ", ".join(f"{key.rsplit('.', 1)[-1]}={value}" for key, value in zip(keys, point)) or "all runs"


def spans_decades(values: np.ndarray) -> bool:
    """Positive values over more than a factor 30: worth a log scale."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    return len(values) > 1 and values.max() / values.min() > 30


def plot_against_key(ax: Axes, summary: pd.DataFrame, keys: Sequence[str], key: str, value: str, ylabel: str,
                     band: bool) -> None:
    """`value` (a grid_summary column) against grid key `key`, one line per value of the next key (if any), with the
    median's interval as a band when `band`."""
    others = [k for k in keys if k != key]
    series = summary.groupby(others[0], sort=False) if others else [(None, summary)]
    for label, part in series:
        x = _numeric(part[key])
        order = np.argsort(x, kind="stable") if x is not None else np.arange(len(part))
        xs = x[order] if x is not None else np.arange(len(part))
        y = part[value].to_numpy(float)[order]
        name = str(label) if others else value
        line, = ax.plot(xs, y, "o-", label=name)
        if band and f"{value}_low" in part:
            ax.fill_between(xs, part[f"{value}_low"].to_numpy(float)[order], part[f"{value}_high"].to_numpy(float)[order],
                            color=line.get_color(), alpha=0.2)
    x_all = _numeric(summary[key])
    if x_all is None:
        ax.set_xticks(np.arange(len(summary[key].unique())), [str(v) for v in summary[key].unique()], rotation=30)
    elif spans_decades(x_all):
        ax.set_xscale("log")
    if spans_decades(summary[value].to_numpy(float)):
        ax.set_yscale("log")
    ax.set_xlabel(key)
    ax.set_ylabel(ylabel)
    if others:
        ax.legend(fontsize="small", title=others[0])


def _numeric(column: pd.Series) -> np.ndarray | None:
    try:
        return column.to_numpy(dtype=float)
    except (TypeError, ValueError):
        return None


def _enough_colors(ax: Axes, lines: int) -> None:
    """20 distinct colors when the default 10 would repeat."""
    if lines > 10:
        ax.set_prop_cycle(color=colormaps["tab20"].colors)


def plot_staleness_distributions(ax: Axes, staleness: pd.DataFrame, runs: pd.DataFrame, keys: Sequence[str]) -> None:
    """The pooled staleness distribution of each grid point, overlaid as step histograms (fraction of its applied
    gradients per staleness value)."""
    drawn = False
    _enough_colors(ax, len(points(runs, keys)))
    for point in points(runs, keys):
        counts = _pooled(_select(staleness, keys, point), set(_select(runs, keys, point)["run_id"]))
        if counts.sum() == 0:
            continue
        ax.stairs(counts / counts.sum(), np.arange(len(counts) + 1) - 0.5, label=point_label(keys, point))
        drawn = True
    ax.set_xlabel("staleness tau (updates between read and apply)")
    ax.set_ylabel("fraction of applied gradients")
    if drawn:
        ax.set_yscale("log")
        ax.legend(fontsize="x-small")


def plot_curves(ax: Axes, curves: pd.DataFrame, runs: pd.DataFrame, keys: Sequence[str]) -> None:
    """Stationarity against simulated time per grid point: the median over its seeds at each recorded update, with
    the band from the smallest to the largest seed."""
    column = "stationarity" if "stationarity" in curves.columns else "grad_norm_sq"
    _enough_colors(ax, len(points(runs, keys)))
    for point in points(runs, keys):
        part = _select(curves, keys, point)
        if part.empty:
            continue
        by_update = part.groupby("update")
        time = by_update["time"].median().to_numpy(float)
        value = by_update[column]
        line, = ax.plot(time, value.median().to_numpy(float), label=point_label(keys, point))
        ax.fill_between(time, value.min().to_numpy(float), value.max().to_numpy(float), color=line.get_color(),
                        alpha=0.15)
    ax.set_xlabel("simulated time (time units of the scenario's distributions)")
    ax.set_ylabel(("stationarity (squared gradient mapping)" if column == "stationarity" else
                   r"$\|\nabla f(x_k)\|^2$") + " (objective units$^2$)")
    ax.set_yscale("log")
    if not curves.empty:
        ax.legend(fontsize="x-small")
