"""DC-ASGD's delay compensation (Zheng et al. 2017, Algorithm 2, eq. 9 and 14): a gradient g read at x_read and
applied to x_now becomes

    g + lambda_t * g * g * (x_now - x_read)      (elementwise products)

computed in this fixed order: c = x_now - x_read; c *= g; c *= g; c *= lambda_t; g + c (a new array). DC-ASGD-c
takes lambda_t = lambda_0; DC-ASGD-a takes lambda_t = lambda_0 / sqrt(MeanSquare(t) + epsilon), elementwise, with
MeanSquare(t) = m MeanSquare(t - 1) + (1 - m) g_t * g_t (MeanSquare(0) = 0), g_t the t-th compensated gradient's raw
gradient in the order the server applies them. The mean square is a fold over the applied gradients in update order
(never traced), so `asgd replay` rebuilds it by applying the same updates. Only elementwise, exactly rounded
operations: every bit is defined.
"""

from __future__ import annotations

import numpy as np


class DelayCompensation:
    """The compensation of one run: `lambda_` (lambda_0), and for DC-ASGD-a `momentum` (m) and `epsilon`."""

    def __init__(self, lambda_: float, momentum: float | None = None, epsilon: float | None = None) -> None:
        self.lambda_ = lambda_
        self.momentum = momentum
        self.epsilon = epsilon
        self.mean_square: np.ndarray | None = None  # DC-ASGD-a's MeanSquare(t), created at the first gradient

    def compensate(self, gradient: np.ndarray, x_now: np.ndarray, x_read: np.ndarray) -> np.ndarray:
        """g + lambda_t g * g * (x_now - x_read) (a new array), advancing DC-ASGD-a's mean square by g first."""
        correction = x_now - x_read
        correction *= gradient
        correction *= gradient
        correction *= self._lambda(gradient)
        return gradient + correction

    def _lambda(self, gradient: np.ndarray) -> float | np.ndarray:
        """lambda_t: lambda_0 (DC-ASGD-c), or lambda_0 / sqrt(MeanSquare(t) + epsilon) after folding g in (DC-ASGD-a)."""
        if self.momentum is None:
            return self.lambda_
        square = gradient * gradient
        square *= 1.0 - self.momentum
        if self.mean_square is None:
            self.mean_square = square
        else:
            self.mean_square *= self.momentum
            self.mean_square += square
        return self.lambda_ / np.sqrt(self.mean_square + self.epsilon)
