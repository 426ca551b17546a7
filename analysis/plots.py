"""The figures of `asgd check` and of the notebook; each draws on a given matplotlib Axes (no pyplot needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from analysis.stats import PowerFit

GRAD_LABEL = r"ergodic average of $\|\nabla f(x_k)\|^2$ (objective units$^2$)"


def plot_staleness(ax: Axes, histograms: dict[str, pd.DataFrame], bins: int = 50) -> None:
    """Histograms of the applied gradients' staleness, one per labelled (staleness, count) table, in `bins` equal
    integer-aligned bins shared by all, as a fraction per unit of staleness."""
    top = max(int(table["staleness"].max()) for table in histograms.values()) + 1
    width = max(1, -(-top // bins))
    edges = np.arange(0, top + width, width)
    for label, table in histograms.items():
        counts, _ = np.histogram(table["staleness"], edges, weights=table["count"])
        ax.stairs(counts / counts.sum() / width, edges, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("staleness tau (updates between read and apply)")
    ax.set_ylabel("fraction of applied gradients per unit tau")
    ax.set_title("Staleness distribution")
    ax.legend(fontsize="small")


def plot_rate(ax: Axes, grid: pd.DataFrame, fit: PowerFit | None, statement: str | None) -> None:
    """Mean ergodic average against K with its t interval, the bound, the fitted power law and a K^(-1/2) guide
    (non-finite means, from diverged runs, are left out)."""
    finite = grid[np.isfinite(grid["ergodic"])]
    k, mean = finite["iterations"].to_numpy(float), finite["ergodic"].to_numpy(float)
    error = np.vstack([mean - finite["ergodic_low"], finite["ergodic_high"] - mean])
    ax.errorbar(k, mean, yerr=np.nan_to_num(error), fmt="o", capsize=3, label="measured (mean over seeds, 95% CI)")
    k_all = grid["iterations"].to_numpy(float)
    if statement is not None:
        held = grid["preconditions"].to_numpy(bool)
        ax.plot(k_all, grid["bound"], "k-", label=f"{statement} bound")
        if not held.all():
            ax.plot(k_all[~held], grid["bound"][~held], "kx", label="bound's preconditions fail")
    if fit is not None:
        ax.plot(k, fit(k), "C1--", label=f"fit: K^{fit.slope:.2f}")
    if len(k):
        ax.plot(k, mean[0] * (k / k[0]) ** -0.5, "C2:", label="K^-0.5 (through the first point)")
    _axes(ax, "updates K", GRAD_LABEL, "Convergence against the bound", logy=10, empty=not len(k_all))


def plot_speedup(ax: Axes, speedup: pd.DataFrame, threshold: float) -> None:
    """Iteration and time speedups against W (at one K), with the ideal S = W and the threshold S = threshold W."""
    w = speedup["workers"].to_numpy(float)
    ax.plot(w, speedup["iteration_speedup"], "o-", label="iteration speedup W G_1 / G_W")
    ax.plot(w, speedup["time_speedup"], "s-", label="time speedup t_1 / t_W")
    ax.plot(w, w, "k-", label="ideal (linear)")
    ax.plot(w, threshold * w, "k:", label=f"efficiency {threshold:g}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("workers W")
    ax.set_ylabel("speedup over one worker (x)")
    ax.set_title(f"Speedup at K = {int(speedup['iterations'].iloc[0])}")
    ax.legend(fontsize="small")


def plot_worker_limit(ax: Axes, limits: pd.DataFrame, fit: PowerFit | None) -> None:
    """W*(K) (open triangles: censored, W* >= the value), the fitted K^alpha and a sqrt(K) guide."""
    limits = limits[limits["workers_limit"].notna()]
    k, w = limits["iterations"].to_numpy(float), limits["workers_limit"].to_numpy(float)
    censored = limits["censored"].to_numpy(bool)
    ax.plot(k[~censored], w[~censored], "o", label="W* (efficiency crosses the threshold)")
    ax.plot(k[censored], w[censored], "^", mfc="none", label="censored: W* >= largest W")
    if fit is not None:
        ax.plot(k, fit(k), "C1--", label=f"fit: K^{fit.slope:.2f}")
    if len(k):
        anchor = np.flatnonzero(~censored)[0] if (~censored).any() else 0
        ax.plot(k, w[anchor] * np.sqrt(k / k[anchor]), "C2:", label="sqrt(K) (through a measured point)")
    _axes(ax, "updates K", "worker limit W* (workers)", "Worker limit against sqrt(K)", logy=2, empty=not len(k))


def _axes(ax: Axes, xlabel: str, ylabel: str, title: str, logy: int, empty: bool) -> None:
    """Log scales (x base 10, y base `logy`), labels and legend; a note instead when there is nothing to draw."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if empty:
        ax.text(0.5, 0.5, "no finite values (diverged runs?)", ha="center", transform=ax.transAxes)
        return
    ax.set_xscale("log")
    ax.set_yscale("log", base=logy)
    ax.legend(fontsize="small")
