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



def count_percentile(counts: np.ndarray, q: float) -> int | None:
    """The q-th percentile (0 <= q <= 100) of a sample given as counts by value (counts[s] = how often s occurs),
    by the inverted CDF: the least s with #{values <= s} >= q/100 * n (numpy's method="inverted_cdf"), so it is a
    value that occurs. None for an empty sample."""
    cumulative = np.cumsum(np.asarray(counts, dtype=np.int64))
    if not len(cumulative) or cumulative[-1] == 0:
        return None
    total = int(cumulative[-1])
    # inverted CDF: the least s with cumulative[s] / n >= q / 100, computed in integers (q/100 * n rounded up)
    rank = max(1, -(-int(round(q * 1_000_000)) * total // 100_000_000))
    return int(np.searchsorted(cumulative, rank))


def median_interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float, float, float]:
    """(median, low, high, coverage): the sample median with the distribution-free order-statistic interval
    [x_(j), x_(n+1-j)] for the largest j whose coverage 1 - 2 P(Binomial(n, 1/2) < j) is at least `level`; with too
    few values for that (n < 6 at 95%), the range [min, max] and its coverage 1 - 2^(1-n). nan for no values."""
    values = np.sort(np.asarray(values, dtype=float))
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan
    median = float(np.median(values))
    if n == 1:
        return median, math.nan, math.nan, 0.0
    j = 1
    while j + 1 <= n // 2 and 1 - 2 * stats.binom.cdf(j, n, 0.5) >= level:
        j += 1
    coverage = float(1 - 2 * stats.binom.cdf(j - 1, n, 0.5))
    return median, float(values[j - 1]), float(values[n - j]), coverage
