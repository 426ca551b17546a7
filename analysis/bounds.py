"""The bounds of Lian, Huang, Li, Liu (NeurIPS 2015) on the ergodic average of ||grad f(x_k)||^2 for AsySG-con.

Notation of the paper (1-based k): M gradients summed per update, staleness <= T, L-smooth f, sigma^2 the variance
of one stochastic gradient G, gap = f(x_1) - f*. Step sizes are passed as arrays gamma[i] = gamma_{i+1}, as a number
(a constant step) or as a function that computes any block of them (`Steps`). A constant step's sums have closed
forms (O(1)); otherwise every windowed sum is a difference of cumulative sums within a block of CHUNK steps (the
block reads the T steps before or after it too), so a bound costs O(K) time and O(CHUNK + T) memory whatever K is.

The theorems stay valid with the objectives' stated constants when those are bounds (L and sigma^2 from above,
f* from below): both sides of every condition and the bounds only grow with L, sigma^2 and the gap.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any, Union

import numpy as np

# Algorithms the AsySG-con theorems cover: sync is AsySG-con with M = W and T = 0.
BOUNDED_ALGORITHMS = ("asysg-con", "sync")

# Steps per block of the chunked sums: a bound needs O(CHUNK + T) memory whatever K is.
CHUNK = 1 << 16

# A step sequence gamma_1, gamma_2, ...: an array (gammas[i] = gamma_{i+1}), a number (a constant step: every sum in
# closed form, O(1)), or a function (start, stop) -> array of gamma_{start+1}..gamma_stop, read CHUNK steps at a time.
Steps = Union[np.ndarray, float, Callable[[int, int], np.ndarray]]


def ergodic_average(values: np.ndarray, weights: np.ndarray | None = None) -> float:
    """sum_k w_k v_k / sum_k w_k over the given iterates (the plain mean without weights); nan if there are none.

    With w_k = gamma_k this is the left-hand side of Theorem 1. Weights are rescaled by their maximum first, so
    equal weights (a constant step) give exactly the plain mean. Where the sum of finite values overflows (a diverging
    run's) the average is summed again as sum_k (w_k / sum_j w_j) v_k, whose terms cannot overflow, and kept within
    the values (their sum's rounding may pass the largest float)."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return math.nan
    w = None if weights is None else np.asarray(weights, dtype=float)
    with np.errstate(over="ignore"):
        if w is None:
            average = np.mean(values)
        else:
            w = w / w.max()
            average = np.sum(w * values) / np.sum(w)
        if np.isinf(average) and np.isfinite(values).all():  # the sum overflowed, not necessarily the average
            shares = values / len(values) if w is None else w / np.sum(w) * values
            average = np.clip(np.sum(shares), values.min(), values.max())  # an average lies within its values
    return float(average)


def _constant(gammas: Steps) -> np.float64 | None:
    """The step of a constant schedule given as a number (a float64: a huge step overflows to inf), else None."""
    return np.float64(gammas) if isinstance(gammas, (int, float, np.number)) else None


def _reader(gammas: Steps) -> Callable[[int, int], np.ndarray]:
    """gammas as a function (start, stop) -> gamma_{start+1}..gamma_stop (an array's slice is a view)."""
    if callable(gammas):
        return lambda start, stop: np.asarray(gammas(start, stop), dtype=float)
    value = _constant(gammas)
    if value is not None:
        return lambda start, stop: np.full(stop - start, value)
    array = np.asarray(gammas, dtype=float)
    return lambda start, stop: array[start:stop]


def _is_array(gammas: Steps) -> bool:
    return not (callable(gammas) or _constant(gammas) is not None)


def _count(gammas: Steps, K: int | None, beyond: int) -> int:
    """K if given, else the length of the array `gammas` less the `beyond` steps it holds past gamma_K."""
    if K is not None:
        return K
    if not _is_array(gammas):
        raise TypeError("K is required when the steps are a number or a function")
    return max(len(gammas) - beyond, 0)


def _blocks(K: int, T: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of consecutive blocks covering the 0-based k = 0..K-1, each of max(CHUNK, T) steps but the last:
    every block also reads at most T steps on one side, so it costs at most twice its length."""
    size = max(CHUNK, T, 1)
    for start in range(0, K, size):
        yield start, min(start + size, K)


def _condition_blocks(read: Callable[[int, int], np.ndarray], K: int, T: int, L: float, M: int) -> Iterator[np.ndarray]:
    """Theorem 1's condition for k = 1..K, block by block (read must reach gamma_{K+T})."""
    for start, stop in _blocks(K, T):
        n = stop - start
        g = read(start, stop + T)  # gamma_k..gamma_{k+T} for the block's k
        cumulative = np.concatenate(([0.0], np.cumsum(g)))
        ahead = cumulative[T + 1:T + 1 + n] - cumulative[1:1 + n]  # sum_{kappa=1..T} gamma_{k+kappa}
        g = g[:n]
        yield L * M * g + 2 * L**2 * M**2 * T * g * ahead


def _theorem1_sums(gammas: Steps, K: int, T: int, L: float, M: int) -> tuple[float, float]:
    """(sum_{k=1..K} gamma_k, sum_{k=1..K} (gamma_k^2 M L + 2 L^2 M^2 gamma_k sum_{j=k-T..k-1} gamma_j^2)), gamma_j = 0
    for j < 1. A constant gamma in closed form: the window holds min(k - 1, T) steps, and
    sum_{k=1..K} min(k - 1, T) = K (K - 1) / 2 if K <= T + 1, else T (T + 1) / 2 + T (K - 1 - T)."""
    value = _constant(gammas)
    if value is not None:
        windows = K * (K - 1) // 2 if K <= T + 1 else T * (T + 1) // 2 + T * (K - 1 - T)  # exact integers
        return np.float64(K * value), np.float64(K * value * value * M * L + 2 * L**2 * M**2 * value**3 * windows)
    read = _reader(gammas)
    weight = noise = np.float64(0.0)
    for start, stop in _blocks(K, T):
        n = stop - start
        g = read(max(start - T, 0), stop)
        squares = np.concatenate((np.zeros(max(T - start, 0)), g)) ** 2  # gamma_j^2 for j = k-T..k-1 of the block
        cumulative = np.concatenate(([0.0], np.cumsum(squares)))
        behind = cumulative[T:T + n] - cumulative[:n]
        g = g[len(g) - n:]
        noise += np.sum(squares[T:] * M * L + 2 * L**2 * M**2 * g * behind)
        weight += np.sum(g)
    return weight, noise


def theorem1_step_condition(gammas: Steps, T: int, L: float, M: int, K: int | None = None) -> np.ndarray:
    """Theorem 1's condition, left-hand side for k = 1..K (it must be <= 1 for every k):
    L M gamma_k + 2 L^2 M^2 T gamma_k sum_{kappa=1..T} gamma_{k+kappa}; `gammas` holds gamma_1..gamma_{K+T}
    (K = len(gammas) - T by default), or is a constant step or a function (see `Steps`) with K given."""
    K = _count(gammas, K, T)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflowing sum gives inf or nan: the condition fails
        return np.concatenate([np.zeros(0), *_condition_blocks(_reader(gammas), K, T, L, M)])


def _step_condition_holds(gammas: Steps, K: int, T: int, L: float, M: int) -> bool:
    """Every value of theorem1_step_condition is <= 1 (a constant step: all are L M gamma + 2 L^2 M^2 T^2 gamma^2);
    a value that overflows (inf, or nan from inf - inf) fails it."""
    value = _constant(gammas)
    with np.errstate(over="ignore", invalid="ignore"):
        if value is not None:
            return K <= 0 or bool(L * M * value + 2 * L**2 * M**2 * T * value * (T * value) <= 1.0)
        return all(bool(np.all(block <= 1.0)) for block in _condition_blocks(_reader(gammas), K, T, L, M))


def theorem1_bound(gammas: Steps, T: int, L: float, M: int, sigma_sq: float, gap: float, K: int | None = None) -> float:
    """Theorem 1: sum_k gamma_k E||grad f(x_k)||^2 / sum_k gamma_k is at most
    [2 gap + sum_{k=1..K} (gamma_k^2 M L + 2 L^2 M^2 gamma_k sum_{j=k-T..k-1} gamma_j^2) sigma^2] / (M sum_k gamma_k),
    with gamma_j = 0 for j < 1 (no update precedes x_1); `gammas` holds gamma_1..gamma_K (K = len(gammas) by
    default), or is a constant step or a function (see `Steps`) with K given. A bound that overflows is inf."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        weight, noise = _theorem1_sums(gammas, _count(gammas, K, 0), T, L, M)
        bound = float((2 * gap + (noise * sigma_sq if sigma_sq else 0.0)) / (M * weight))
    # nan here comes from inf - inf or inf / inf: steps so large that a sum of them, and so the bound, overflowed
    return math.inf if math.isnan(bound) and math.isfinite(gap) and math.isfinite(sigma_sq) else bound


def corollary2_bound(gap: float, L: float, M: int, K: int, sigma_sq: float) -> float:
    """Corollary 2: with gamma = sqrt(gap / (M L K sigma^2)),
    (1/K) sum_k E||grad f(x_k)||^2 <= 4 sqrt(gap L / (M K)) sigma."""
    return 4 * math.sqrt(gap * L / (M * K)) * math.sqrt(sigma_sq)


def corollary2_min_iterations(gap: float, L: float, M: int, T: int, sigma_sq: float) -> float:
    """Corollary 2's condition on K: K >= 4 M L gap (T + 1)^2 / sigma^2."""
    return 4 * M * L * gap * (T + 1) ** 2 / sigma_sq


def bound_summary(algorithm: str | None, policy: str, gammas: Steps, K: int, T: int, L: float, M: int,
                  sigma_sq: float, gap: float) -> dict[str, Any]:
    """The bound fields of a run's summary.json, with T the run's measured maximum staleness.

    `gammas` is an array of gamma_1..gamma_{K+T} (the schedule beyond K enters Theorem 1's condition; it is checked
    for k = 1..len(gammas) - T), or the whole schedule as a constant step or a function (see `Steps`; checked for
    k = 1..K): memory O(CHUNK + T) then, whatever K is. The step policy
    "corollary" is bounded by Corollary 2 (conditions: Theorem 1's step condition and K >= 4 M L gap (T+1)^2 / sigma^2),
    every other policy by Theorem 1 (condition: the step condition). `theorem1_bound` is Theorem 1 on the run's
    steps whatever the policy. AsySG-incon has no bound here, nor has an `algorithm` of None (SVRG, proximal steps,
    SAPALM; see docs/checks.md).
    """
    if algorithm not in BOUNDED_ALGORITHMS:
        return {"bound": None, "bound_statement": None, "bound_preconditions_hold": None,
                "bound_step_condition": None, "bound_k_condition": None, "theorem1_bound": None}
    step_condition = _step_condition_holds(gammas, _count(gammas, None, T) if _is_array(gammas) else K, T, L, M)
    theorem1 = theorem1_bound(gammas, T, L, M, sigma_sq, gap, K)
    if policy == "corollary":
        k_condition = K >= corollary2_min_iterations(gap, L, M, T, sigma_sq)
        statement, bound = "Corollary 2", corollary2_bound(gap, L, M, K, sigma_sq)
        holds = step_condition and k_condition
    else:
        k_condition, statement, bound, holds = None, "Theorem 1", theorem1, step_condition
    return {"bound": bound, "bound_statement": statement, "bound_preconditions_hold": holds,
            "bound_step_condition": step_condition, "bound_k_condition": k_condition, "theorem1_bound": theorem1}
