"""Server updates: how an update's direction (the estimator's sum of gradients) and step change the iterate.

The order of operations is fixed, so every bit is defined: first the gradient step x - gamma d (computed as
x + (-gamma) d, the same bits), then the regularizer's prox on the result (on the written coordinates only for a
coordinate or block write). Without a regularizer the update is exactly sgd_step / coordinate_step.
"""

from __future__ import annotations

import numpy as np

from models.regularizers import Regularizer


def sgd_step(x: np.ndarray, direction: np.ndarray, gamma: float, out: np.ndarray | None = None) -> np.ndarray:
    """x - gamma * direction, computed as x + (-gamma) * direction (the same bits: IEEE negation is exact), in
    `direction` (scaled in place) or in `out`; x is left untouched unless it is `out`."""
    direction *= -gamma
    return np.add(direction, x, out=direction if out is None else out)


def prox_step(regularizer: Regularizer, x: np.ndarray, direction: np.ndarray, gamma: float,
              out: np.ndarray | None = None) -> np.ndarray:
    """prox_{gamma h}(x - gamma * direction) (proximal gradient step), in `direction` or `out` like sgd_step."""
    z = sgd_step(x, direction, gamma, out)
    return regularizer.prox(z, gamma, out=z)


def coordinate_step(x: np.ndarray, direction: np.ndarray, gamma: float, coordinates: np.ndarray) -> np.ndarray:
    """x - gamma * [direction]_S for the coordinates S (a new array; x is left untouched, other coordinates copied)."""
    x_next = x.copy()
    x_next[coordinates] = x[coordinates] - gamma * direction[coordinates]
    return x_next


def coordinate_prox_step(regularizer: Regularizer, x: np.ndarray, direction: np.ndarray, gamma: float,
                         coordinates: np.ndarray) -> np.ndarray:
    """coordinate_step, then prox_{gamma h} on the coordinates S only (h separable: SAPALM's block prox)."""
    x_next = coordinate_step(x, direction, gamma, coordinates)
    x_next[coordinates] = regularizer.prox(x_next[coordinates], gamma)
    return x_next
