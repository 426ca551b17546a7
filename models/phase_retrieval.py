"""Noiseless real phase retrieval with Gaussian measurements."""

from __future__ import annotations

import numpy as np

from models import datasets
from models.base import EXACT, LOCAL_BOUND, LinearFiniteSum, check_int, check_real


class PhaseRetrieval(LinearFiniteSum):
    """f(x) = (1/(4n)) sum_i ((a_i.x)^2 - y_i)^2, y_i = (a_i.x_true)^2, a_i ~ N(0, I), ||x_true|| = 1.

    Data and x0 (a uniform point of the unit sphere; not 0, a stationary point) come from data_seed.
    Per sample, with t = a_i.x: gradient g_i = (t^2 - y_i) t a_i, Hessian (3t^2 - y_i) a_i a_i^T.
    The constants hold on the ball ||x|| <= radius (radius >= 1 = ||x_true||), which random_point samples;
    on it t^2 <= s_i = radius^2 ||a_i||^2.

    - smoothness L = max(3 radius^2 ||A^T diag(||a_i||^2) A|| / n, ||A^T diag(y) A|| / n) (LOCAL_BOUND): the Hessian
      is P - Q with P = (3/n) sum t_i^2 a_i a_i^T and Q = (1/n) sum y_i a_i a_i^T both PSD, so its norm is at most
      max(||P||, ||Q||), and v^T P v <= (3 radius^2 / n) sum ||a_i||^2 (a_i.v)^2.
    - variance sigma^2 = radius^2 ||A^T diag(||a_i||^2 m_i) A|| / n, m_i = max(y_i, s_i - y_i)^2 (LOCAL_BOUND):
      E||g_i - g||^2 <= E||g_i||^2 = (1/n) sum (t_i^2 - y_i)^2 ||a_i||^2 t_i^2 and (t_i^2 - y_i)^2 <= m_i.
    - f_star = 0 (EXACT), attained at x_star = x_true (and -x_true).
    """

    name = "phase-retrieval"

    def __init__(self, *, n: int = 500, dim: int = 20, radius: float = 2.0, data_seed: int = 0) -> None:
        n, dim = check_int("n", n, 1), check_int("dim", dim, 1)
        self.radius = check_real("radius", radius, 1.0)
        rng = np.random.default_rng(check_int("data_seed", data_seed, 0))
        A, self.x_star = datasets.phase_measurements(rng, n, dim)
        y = (A @ self.x_star) ** 2
        self._set_data(A, y)
        self.x0 = datasets.unit_vector(rng, dim)
        r_sq = self.radius**2
        s = r_sq * self._row_sq
        self.smoothness = max(3.0 * r_sq * self._gram_norm(self._row_sq), self._gram_norm(y))
        self.variance = r_sq * self._gram_norm(self._row_sq * np.maximum(y, s - y) ** 2)
        self.f_star = 0.0
        self.constant_kinds = {"smoothness": LOCAL_BOUND, "variance": LOCAL_BOUND, "f_star": EXACT}

    def random_point(self, rng: np.random.Generator) -> np.ndarray:
        """Uniform on the ball ||x|| <= radius."""
        return datasets.unit_vector(rng, self.dim) * (self.radius * rng.random() ** (1.0 / self.dim))

    def _phi(self, t: np.ndarray, y: np.ndarray) -> np.ndarray:
        r = t * t - y
        return 0.25 * r * r

    def _dphi(self, t: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (t * t - y) * t
