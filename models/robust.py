"""Robust linear regression with the Cauchy-type loss log(1 + r^2/2)."""

from __future__ import annotations

import numpy as np

from models import datasets
from models.base import BOUND, LinearFiniteSum, check_int, check_real


class RobustRegression(LinearFiniteSum):
    """f(x) = (1/n) sum_i phi(a_i.x - b_i), phi(r) = log(1 + r^2/2) (nonconvex for |r| > sqrt 2).

    Data (datasets.regression from data_seed): a_i ~ N(0, I/dim), b_i = a_i.x_true + noise N(0, 1), and a fraction
    `outliers` of the b_i carries a gross error ~ N(0, 10^2). x0 = 0.
    phi'(r) = 2r / (2 + r^2), |phi'| <= 1/sqrt 2; phi''(r) = (4 - 2r^2) / (2 + r^2)^2, |phi''| <= 1.

    - smoothness L = ||A||_2^2 / n (BOUND): grad^2 f = (1/n) A^T diag(phi'') A.
    - variance sigma^2 = (1/n) sum_i ||a_i||^2 / 2 (BOUND): E||g_i - g||^2 <= E||g_i||^2, ||g_i|| <= ||a_i|| / sqrt 2.
    - f_star = 0 (BOUND): phi >= 0.
    """

    name = "robust-regression"

    def __init__(self, *, n: int = 2000, dim: int = 100, outliers: float = 0.1, noise: float = 0.1, data_seed: int = 0) -> None:
        n, dim = check_int("n", n, 1), check_int("dim", dim, 1)
        outliers = check_real("outliers", outliers, 0.0, 1.0)
        noise = check_real("noise", noise, 0.0)
        data_seed = check_int("data_seed", data_seed, 0)
        self._set_data(*datasets.regression(np.random.default_rng(data_seed), n, dim, outliers, noise))
        self.x0 = np.zeros(self.dim)
        self.smoothness = self._gram_norm()
        self.variance = float(np.mean(self._row_sq)) / 2.0
        self.f_star = 0.0
        self.constant_kinds = {"smoothness": BOUND, "variance": BOUND, "f_star": BOUND}

    def _phi(self, t: np.ndarray, b: np.ndarray) -> np.ndarray:
        r = t - b
        return np.log1p(0.5 * r * r)

    def _dphi(self, t: np.ndarray, b: np.ndarray) -> np.ndarray:
        r = t - b
        return r / (1.0 + 0.5 * r * r)
