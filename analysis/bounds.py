"""The bounds of Lian, Huang, Li, Liu (NeurIPS 2015) on the ergodic average of ||grad f(x_k)||^2 for AsySG-con.

Notation of the paper (1-based k): M gradients summed per update, staleness <= T, L-smooth f, sigma^2 the variance
of one stochastic gradient G, gap = f(x_1) - f*. Step sizes are passed as arrays gamma[i] = gamma_{i+1}; every sum
over the K steps is a difference of cumulative sums, so a bound costs O(K) whatever T is.

The theorems stay valid with the objectives' stated constants when those are bounds (L and sigma^2 from above,
f* from below): both sides of every condition and the bounds only grow with L, sigma^2 and the gap.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# Algorithms the AsySG-con theorems cover: sync is AsySG-con with M = W and T = 0.
BOUNDED_ALGORITHMS = ("asysg-con", "sync")


def ergodic_average(values: np.ndarray, weights: np.ndarray | None = None) -> float:
    """sum_k w_k v_k / sum_k w_k over the given iterates (the plain mean without weights); nan if there are none.

    With w_k = gamma_k this is the left-hand side of Theorem 1. Weights are rescaled by their maximum first, so
    equal weights (a constant step) give exactly the plain mean."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return math.nan
    if weights is None:
        return float(np.mean(values))
    w = np.asarray(weights, dtype=float)
    w = w / w.max()
    return float(np.sum(w * values) / np.sum(w))


def _window_sums(values: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """sum(values[start[i]:stop[i]]) for every i, from one cumulative sum (indices clipped to the array)."""
    cumulative = np.concatenate(([0.0], np.cumsum(values)))
    n = len(values)
    return cumulative[np.clip(stop, 0, n)] - cumulative[np.clip(start, 0, n)]


def theorem1_step_condition(gammas: np.ndarray, T: int, L: float, M: int) -> np.ndarray:
    """Theorem 1's condition, left-hand side for k = 1..len(gammas) - T (it must be <= 1 for every k):
    L M gamma_k + 2 L^2 M^2 T gamma_k sum_{kappa=1..T} gamma_{k+kappa}; `gammas` holds gamma_1..gamma_{K+T}."""
    gammas = np.asarray(gammas, dtype=float)
    i = np.arange(len(gammas) - T)  # 0-based index of gamma_k
    ahead = _window_sums(gammas, i + 1, i + T + 1)
    g = gammas[: len(i)]
    return L * M * g + 2 * L**2 * M**2 * T * g * ahead


def theorem1_bound(gammas: np.ndarray, T: int, L: float, M: int, sigma_sq: float, gap: float) -> float:
    """Theorem 1: sum_k gamma_k E||grad f(x_k)||^2 / sum_k gamma_k is at most
    [2 gap + sum_{k=1..K} (gamma_k^2 M L + 2 L^2 M^2 gamma_k sum_{j=k-T..k-1} gamma_j^2) sigma^2] / (M sum_k gamma_k),
    with gamma_j = 0 for j < 1 (no update precedes x_1); `gammas` holds gamma_1..gamma_K."""
    gammas = np.asarray(gammas, dtype=float)
    i = np.arange(len(gammas))
    behind = _window_sums(gammas**2, i - T, i)
    noise = np.sum(gammas**2 * M * L + 2 * L**2 * M**2 * gammas * behind) * sigma_sq
    return float((2 * gap + noise) / (M * np.sum(gammas)))


def corollary2_bound(gap: float, L: float, M: int, K: int, sigma_sq: float) -> float:
    """Corollary 2: with gamma = sqrt(gap / (M L K sigma^2)),
    (1/K) sum_k E||grad f(x_k)||^2 <= 4 sqrt(gap L / (M K)) sigma."""
    return 4 * math.sqrt(gap * L / (M * K)) * math.sqrt(sigma_sq)


def corollary2_min_iterations(gap: float, L: float, M: int, T: int, sigma_sq: float) -> float:
    """Corollary 2's condition on K: K >= 4 M L gap (T + 1)^2 / sigma^2."""
    return 4 * M * L * gap * (T + 1) ** 2 / sigma_sq


def bound_summary(algorithm: str, policy: str, gammas: np.ndarray, K: int, T: int, L: float, M: int,
                  sigma_sq: float, gap: float) -> dict[str, Any]:
    """The bound fields of a run's summary.json, with T the run's measured maximum staleness.

    `gammas` holds gamma_1..gamma_{K+T} (the schedule beyond K enters Theorem 1's condition). The step policy
    "corollary" is bounded by Corollary 2 (conditions: Theorem 1's step condition and K >= 4 M L gap (T+1)^2 / sigma^2),
    every other policy by Theorem 1 (condition: the step condition). `theorem1_bound` is Theorem 1 on the run's
    steps whatever the policy. AsySG-incon has no bound here (see docs/checks.md).
    """
    if algorithm not in BOUNDED_ALGORITHMS:
        return {"bound": None, "bound_statement": None, "bound_preconditions_hold": None,
                "bound_step_condition": None, "bound_k_condition": None, "theorem1_bound": None}
    step_condition = bool(np.all(theorem1_step_condition(gammas, T, L, M) <= 1.0))
    theorem1 = theorem1_bound(gammas[:K], T, L, M, sigma_sq, gap)
    if policy == "corollary":
        k_condition = K >= corollary2_min_iterations(gap, L, M, T, sigma_sq)
        statement, bound = "Corollary 2", corollary2_bound(gap, L, M, K, sigma_sq)
        holds = step_condition and k_condition
    else:
        k_condition, statement, bound, holds = None, "Theorem 1", theorem1, step_condition
    return {"bound": bound, "bound_statement": statement, "bound_preconditions_hold": holds,
            "bound_step_condition": step_condition, "bound_k_condition": k_condition, "theorem1_bound": theorem1}
