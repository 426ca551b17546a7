"""Logistic regression with a nonconvex regularizer."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import expit

from models import datasets
from models.base import BOUND, LinearFiniteSum, ParameterError, check_choice, check_int, check_real

SYNTHETIC_N, SYNTHETIC_DIM, SYNTHETIC_LABEL_NOISE = 2000, 100, 0.1


class NonconvexLogistic(LinearFiniteSum):
    """f(x) = (1/n) sum_i log(1 + exp(-y_i a_i.x)) + reg * sum_j x_j^2 / (1 + x_j^2), y_i in {-1, +1}.

    Data: "synthetic" (datasets.classification from data_seed: a_i ~ N(0, I/dim), planted labels, each flipped
    w.p. label_noise) or "digits" (scikit-learn's digits, pixel / 16 plus a bias column, y = +1 for 0-4, n = 1797,
    dim = 65; n, dim and label_noise must keep their defaults and data_seed is unused). x0 = 0.

    - smoothness L = ||A||_2^2 / (4n) + 2 reg (BOUND): the logistic loss has phi'' <= 1/4, and
      |d^2/dt^2 t^2/(1+t^2)| = |2 - 6t^2| / (1+t^2)^3 <= 2.
    - variance sigma^2 = (1/n) sum_i ||a_i||^2 (BOUND): the regularizer cancels in G - grad f, and
      E||g_i - g||^2 <= E||g_i||^2 with ||g_i|| = sigmoid(-y_i a_i.x) ||a_i|| <= ||a_i||.
    - f_star = 0 (BOUND): both terms are non-negative.
    """

    name = "nonconvex-logistic"

    def __init__(
        self,
        *,
        data: str = "synthetic",
        n: int = SYNTHETIC_N,
        dim: int = SYNTHETIC_DIM,
        reg: float = 0.001,
        label_noise: float = SYNTHETIC_LABEL_NOISE,
        data_seed: int = 0,
    ) -> None:
        data = check_choice("data", data, ("synthetic", "digits"))
        n, dim = check_int("n", n, 1), check_int("dim", dim, 1)
        self.reg = check_real("reg", reg, 0.0)
        label_noise = check_real("label_noise", label_noise, 0.0, 0.5)
        data_seed = check_int("data_seed", data_seed, 0)
        if data == "digits":
            for param, value, default in (("n", n, SYNTHETIC_N), ("dim", dim, SYNTHETIC_DIM),
                                          ("label_noise", label_noise, SYNTHETIC_LABEL_NOISE)):
                if value != default:
                    raise ParameterError(param, value, f"only for data = 'synthetic' (digits fixes it; keep {default})")
            self._set_data(*datasets.digits_binary())
        else:
            self._set_data(*datasets.classification(np.random.default_rng(data_seed), n, dim, label_noise))
        self._two_reg = 2.0 * self.reg
        self.x0 = np.zeros(self.dim)
        self.smoothness = self._gram_norm() / 4.0 + 2.0 * self.reg
        self.variance = float(np.mean(self._row_sq))
        self.f_star = 0.0
        self.constant_kinds = {"smoothness": BOUND, "variance": BOUND, "f_star": BOUND}

    def _phi(self, t: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.logaddexp(0.0, -y * t)

    def _dphi(self, t: np.ndarray, y: np.ndarray) -> np.ndarray:
        return -y * expit(-y * t)

    def _dphi_scalar(self, t: float, y: float) -> float:
        m = y * t  # -y sigmoid(-m), with exp of a non-positive argument only
        if m > 0.0:
            e = math.exp(-m)
            return -y * e / (1.0 + e)
        return -y / (1.0 + math.exp(m))

    def _reg(self, x: np.ndarray) -> float:
        s = x / np.hypot(1.0, x)  # x^2 / (1 + x^2) = s^2, without overflow for large x
        return self.reg * float(s @ s)

    def _add_reg_grad(self, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        """g += 2 reg x / (1 + x^2)^2, dividing twice by 1 + x^2 so that (1 + x^2)^2 cannot overflow."""
        if self._two_reg == 0.0:
            return g
        q = x * x
        q += 1.0
        r = x / q
        r /= q
        r *= self._two_reg
        g += r
        return g
