"""The four checks of `asgd check` against Lian et al. (2015), from the per-(W, K) means of `analysis.speedup`.

Each returns a Check: what was measured, what the paper leads one to expect, and a verdict: "pass", "FAIL", or
"n/a" when the data cannot test the claim (no bound applies, preconditions never hold, W* censored everywhere).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.stats import PowerFit, power_fit

RATE = -0.5        # Corollary 2: the ergodic average is O(K^(-1/2))
WORKER_LIMIT = 0.5  # Corollary 2: linear speedup while T + 1 <= sqrt(K sigma^2 / (4 M L gap)), so W* ~ K^(1/2) suffices
PASS, FAIL, NA = "pass", "FAIL", "n/a"


@dataclass(frozen=True)
class Check:
    name: str
    measured: str
    expected: str
    verdict: str
    fit: PowerFit | None = None  # the rate and worker-limit checks' power law


def _interval(fit: PowerFit) -> str:
    return f"[{fit.low:.3f}, {fit.high:.3f}]" if fit.n >= 3 else "[n/a: 2 points]"


def bound_check(runs_at_w: pd.DataFrame, statement: str | None) -> Check:
    """1. The mean ergodic average is at most the bound at every K where the bound's preconditions held (all seeds)."""
    covered = runs_at_w[runs_at_w["preconditions"]]
    expected = f"<= 1 x {statement} bound" if statement else "no bound implemented for this algorithm"
    if statement is None or covered.empty:
        why = "no bound" if statement is None else f"preconditions fail at every K ({statement}, T = max staleness)"
        return Check("bound", why, expected, NA)
    ratio = covered["ergodic"] / covered["bound"]
    worst = covered.loc[ratio.idxmax()]
    measured = (f"max mean/bound = {ratio.max():.3g} at K = {int(worst['iterations'])}; "
                f"covered {len(covered)} of {len(runs_at_w)} K")
    return Check("bound", measured, expected, PASS if bool((ratio <= 1).all()) else FAIL)


def rate_check(runs_at_w: pd.DataFrame, tolerance: float) -> Check:
    """2. The fitted slope of log(mean ergodic average) on log K is at most -1/2 + tolerance (faster is consistent)."""
    expected = f"<= {RATE + tolerance:.2f} (-1/2 + {tolerance:g})"
    diverged = runs_at_w[~np.isfinite(runs_at_w["ergodic"])]
    if len(diverged):
        return Check("rate", f"diverged at K = {_listed(diverged)}", expected, FAIL)
    if runs_at_w["iterations"].nunique() < 2:
        return Check("rate", "needs at least two K", expected, NA)
    fit = power_fit(runs_at_w["iterations"], runs_at_w["ergodic"])
    measured = f"slope {fit.slope:.3f}, 95% CI {_interval(fit)} over K = {_span(runs_at_w)}"
    return Check("rate", measured, expected, PASS if fit.slope <= RATE + tolerance else FAIL, fit)


def speedup_check(speedup: pd.DataFrame, limits: dict[str, pd.DataFrame], threshold: float,
                  bounded: bool = True) -> Check:
    """3. Near-linear iteration speedup wherever the paper guarantees a linear one: for every W > 1 whose runs met
    Corollary 2's preconditions, the iteration efficiency is not significantly below `threshold` (the upper end of
    its interval reaches it; the point estimate with a single seed). Without an implemented bound (`bounded`
    False: AsySG-incon, SVRG, proximal steps, SAPALM) no region is guaranteed, and the check is taken over the whole
    grid at its smallest W > 1: asynchrony must give a near-linear speedup there at every K. W* (iteration and
    time) at the largest K are reported."""
    k = speedup["iterations"].max()
    parts = []
    for kind in ("iteration", "time"):
        row = limits[kind].set_index("iterations").loc[k]
        value = "n/a" if np.isnan(row["workers_limit"]) else f"{row['workers_limit']:.3g}"
        parts.append(f"W* {'>=' if row['censored'] else '='} {value} ({kind})")
    measured = f"{', '.join(parts)} at K = {k}"
    if bounded:
        expected = f"efficiency >= {threshold:g} wherever Corollary 2's preconditions hold"
        region = speedup["preconditions"]
    else:
        expected = f"efficiency >= {threshold:g} at the smallest W > 1, every K (no bound implemented)"
        region = speedup["workers"] == speedup.loc[speedup["workers"] > 1, "workers"].min()
    guaranteed = speedup[(speedup["workers"] > 1) & region & speedup["iteration_efficiency"].notna()]
    if guaranteed.empty:
        return Check("speedup", measured + "; Corollary 2's preconditions hold for no W > 1 with a serial run to "
                                           "compare with (or no bound applies)", expected, NA)
    upper = guaranteed["iteration_efficiency_high"].fillna(guaranteed["iteration_efficiency"])
    worst = guaranteed.loc[guaranteed["iteration_efficiency"].idxmin()]
    measured += (f"; min efficiency there {worst['iteration_efficiency']:.2f} "
                 f"[{worst['iteration_efficiency_low']:.2f}, {worst['iteration_efficiency_high']:.2f}] "
                 f"(W = {int(worst['workers'])}, K = {int(worst['iterations'])})")
    return Check("speedup", measured, expected, PASS if bool((upper >= threshold).all()) else FAIL)


def worker_limit_check(limits: pd.DataFrame, tolerance: float) -> Check:
    """4. The iteration-speedup limit grows as W*(K) ~ K^alpha with alpha >= 1/2 - tolerance (the paper: linear
    speedup up to W ~ sqrt(K) is guaranteed, so a faster growth is consistent)."""
    expected = f"alpha >= {WORKER_LIMIT - tolerance:.2f} (1/2 - {tolerance:g}): W* ~ K^(1/2) suffices"
    known = limits[~limits["censored"] & limits["workers_limit"].notna()]
    censored = limits[limits["censored"]]
    if known["iterations"].nunique() < 2:
        measured = f"W* known at {len(known)} of {len(limits)} K"
        if limits["workers_limit"].isna().any():
            measured += " (no finite serial run to compare with at the others)"
        if len(censored):
            measured += (f"; >= {censored['workers_limit'].max():g} (censored) at the others: efficiency never "
                         "falls below the threshold there (widen --workers, or lift a staleness bound)")
        return Check("worker limit", measured, expected, NA)
    fit = power_fit(known["iterations"], known["workers_limit"])
    measured = f"alpha {fit.slope:.3f}, 95% CI {_interval(fit)} from W* at {fit.n} K"
    if len(censored):
        measured += f" ({len(censored)} censored K left out)"
    return Check("worker limit", measured, expected, PASS if fit.slope >= WORKER_LIMIT - tolerance else FAIL, fit)


def _span(table: pd.DataFrame) -> str:
    return f"{int(table['iterations'].min())}..{int(table['iterations'].max())}"


def _listed(table: pd.DataFrame) -> str:
    return ", ".join(str(int(k)) for k in table["iterations"])
