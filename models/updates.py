"""Update rules and step-size schedules as small pure functions, shared by the engine and `asgd replay`.

AsySG-con (Lian et al. 2015, eq. 2): x_{k+1} = x_k - gamma_k * sum_{m=1..M} G(x_{k - tau_{k,m}}; xi_{k,m}).
AsySG-incon (Section 4): x_{k+1} = x_k - gamma_k * [sum_{m=1..M} G(xhat_{k,m}; xi_{k,m})]_{S_k}: only the coordinates
S_k change (S_k = {i_k} in the paper); the simulator reads once per update, xhat_{k,m} = xhat_k (sim/protocols/shared_memory.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from models.base import Objective


def summed_gradient(objective: Objective, points: Sequence[np.ndarray], samples: Sequence[np.ndarray]) -> np.ndarray:
    """sum_m G(points[m]; samples[m]), summed left to right in the given (arrival) order."""
    total = objective.stochastic_grad(points[0], samples[0])
    for m in range(1, len(points)):
        total = total + objective.stochastic_grad(points[m], samples[m])
    return total


def summed_gradients(objective: Objective, points: np.ndarray, samples: np.ndarray, batch: int) -> np.ndarray:
    """summed_gradient for R groups of `batch` consecutive rows of points (R * batch, d) and samples, as one
    objective.stochastic_grads call: row r of the (R, d) result is group r's sum, bit for bit."""
    gradients = objective.stochastic_grads(points, samples).reshape(len(points) // batch, batch, -1)
    total = gradients[:, 0]
    for m in range(1, batch):
        total = total + gradients[:, m]
    return total


def sgd_step(x: np.ndarray, direction: np.ndarray, gamma: float, out: np.ndarray | None = None) -> np.ndarray:
    """x - gamma * direction, computed as x + (-gamma) * direction (the same bits: IEEE negation is exact), in
    `direction` (scaled in place) or in `out`; x is left untouched unless it is `out`."""
    direction *= -gamma
    return np.add(direction, x, out=direction if out is None else out)


def coordinate_step(x: np.ndarray, direction: np.ndarray, gamma: float, coordinates: np.ndarray) -> np.ndarray:
    """x - gamma * [direction]_S for the coordinates S (a new array; x is left untouched, other coordinates copied)."""
    x_next = x.copy()
    x_next[coordinates] = x[coordinates] - gamma * direction[coordinates]
    return x_next


def corollary_step(objective: Objective, batch: int, iterations: int, minibatch: int) -> float:
    """Corollary 2: gamma = sqrt((f(x_1) - f*) / (M L K sigma^2)), sigma^2 the variance of one G (a minibatch mean)."""
    gap = objective.loss(objective.x0) - objective.f_star
    sigma_sq = objective.variance / minibatch
    if not (gap > 0 and sigma_sq > 0):
        raise ValueError(f"the corollary step needs f(x_1) - f* > 0 and sigma^2 > 0 (got {gap}, {sigma_sq})")
    return math.sqrt(gap / (batch * objective.smoothness * iterations * sigma_sq))


def step_schedule(policy: str, value: float | None, c: float | None) -> Callable[[int], float]:
    """gamma_k for the 0-based update index k: constant `value`, or `c / sqrt(k + 1)` (the paper's c / sqrt(k), k >= 1)."""
    if policy == "decay":
        assert c is not None
        return lambda k: c / math.sqrt(k + 1)
    assert value is not None
    return lambda k: value


def step_sizes(policy: str, value: float | None, c: float | None, count: int, start: int = 0) -> np.ndarray:
    """step_schedule's gamma_k for k = start..start+count-1 as one array (the paper's gamma_{start+1} onwards);
    a block equals the same slice of a longer array exactly."""
    if policy == "decay":
        return c / np.sqrt(np.arange(start + 1, start + count + 1, dtype=float))
    return np.full(count, value, dtype=float)
