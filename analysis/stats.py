"""Small statistics: t confidence intervals and log-log least-squares fits with an interval on the slope."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95


def mean_ci(values: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, low, high): the mean of `values` with its t interval, mean +- t_{n-1} s / sqrt(n)
    (nan bounds if n < 2 or a value is not finite)."""
    values = np.asarray(values, dtype=float)
    mean = float(np.mean(values))
    if len(values) < 2 or not np.all(np.isfinite(values)):
        return mean, math.nan, math.nan
    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * float(np.std(values, ddof=1)) / math.sqrt(len(values))
    return mean, mean - half, mean + half


@dataclass(frozen=True)
class PowerFit:
    """log y = intercept + slope log x by least squares; `low`, `high`: the t interval of the slope (nan if n < 3)."""

    slope: float
    intercept: float
    low: float
    high: float
    n: int

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The fitted y = exp(intercept) x^slope."""
        return np.exp(self.intercept) * np.asarray(x, dtype=float) ** self.slope


def power_fit(x: np.ndarray, y: np.ndarray, level: float = LEVEL) -> PowerFit:
    """Fit y = a x^b on a log-log scale (x, y > 0; at least two distinct x) with the t interval of b:
    b +- t_{n-2} sqrt(RSS / (n - 2) / sum (log x - mean log x)^2)."""
    lx, ly = np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float))
    n = len(lx)
    sxx = float(np.sum((lx - lx.mean()) ** 2))
    if n < 2 or sxx == 0.0:
        raise ValueError("a power fit needs at least two distinct x")
    slope = float(np.sum((lx - lx.mean()) * (ly - ly.mean())) / sxx)
    intercept = float(ly.mean() - slope * lx.mean())
    if n < 3:
        return PowerFit(slope, intercept, math.nan, math.nan, n)
    residual = ly - intercept - slope * lx
    half = stats.t.ppf(0.5 + level / 2, n - 2) * math.sqrt(float(residual @ residual) / (n - 2) / sxx)
    return PowerFit(slope, intercept, slope - half, slope + half, n)

