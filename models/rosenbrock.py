"""The chained Rosenbrock function with additive Gaussian gradient noise keyed by integer samples."""

from __future__ import annotations

import numpy as np

from models.base import EXACT, LOCAL_BOUND, Objective, check_int, check_real

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S27, _S30, _S31, _S32 = np.uint64(27), np.uint64(30), np.uint64(31), np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)
_TWO_PI = 2.0 * np.pi


def keyed_normals(keys: np.ndarray, dim: int) -> np.ndarray:
    """Standard normals, shape (len(keys), dim), a pure function of each int64 key.

    Counter c = key * m + j (j < m = ceil(dim / 2), wrapping uint64) -> z = splitmix64 output number c + 1,
    i.e. mix((c + 1) * golden gamma); its two 32-bit halves u1 in (0, 1], u2 in [0, 1) give the Box-Muller pair
    sqrt(-2 ln u1) (cos 2 pi u2, sin 2 pi u2).
    """
    m = (dim + 1) // 2
    z = keys.astype(np.uint64)[:, None] * np.uint64(m) + np.arange(1, m + 1, dtype=np.uint64)
    z *= _GOLDEN
    z ^= z >> _S30
    z *= _MIX1
    z ^= z >> _S27
    z *= _MIX2
    z ^= z >> _S31
    u1 = ((z >> _S32) + np.uint64(1)) * 2.0**-32
    angle = (z & _LOW32) * (_TWO_PI * 2.0**-32)
    r = np.sqrt(-2.0 * np.log(u1))
    return np.concatenate([r * np.cos(angle), r * np.sin(angle)], axis=1)[:, :dim]


class NoisyRosenbrock(Objective):
    """f(x) = sum_{i < d-1} [curvature (x_{i+1} - x_i^2)^2 + (1 - x_i)^2]; G(x; xi) = grad f(x) + noise * N_xi,
    N_xi ~ N(0, I_d) a deterministic function of the int64 key xi (keyed_normals). n_samples = None.

    - f_star = 0 (EXACT), at x_star = (1, ..., 1).
    - variance sigma^2 = d noise^2 (EXACT): E||noise N_xi||^2.
    - smoothness L = max_i Gershgorin row sum of |Hessian| over the box [-radius, radius]^d (LOCAL_BOUND;
      random_point samples the box): with c = curvature, r = radius, H_ii = [i < d-1](12c x_i^2 - 4c x_{i+1} + 2)
      + [i > 0] 2c and H_{i,i+1} = -4c x_i, so row i is at most [i < d-1](12c r^2 + 4cr + 2 + 4cr) + [i > 0](2c + 4cr).
    x0 = (-1.2, 1, -1.2, 1, ...) clipped into the box.
    """

    name = "noisy-rosenbrock"

    def __init__(self, *, dim: int = 10, noise: float = 1.0, curvature: float = 100.0, radius: float = 2.0) -> None:
        self.dim = check_int("dim", dim, 2)
        self.noise = check_real("noise", noise, 0.0)
        self.curvature = c = check_real("curvature", curvature, 0.0, open_low=True)
        self.radius = r = check_real("radius", radius, 1.0)
        self.n_samples = None
        self.x0 = np.clip(np.where(np.arange(self.dim) % 2 == 0, -1.2, 1.0), -r, r)
        self.x_star = np.ones(self.dim)
        rows = np.zeros(self.dim)
        rows[:-1] += 12 * c * r * r + 8 * c * r + 2
        rows[1:] += 2 * c + 4 * c * r
        self.smoothness = float(rows.max())
        self.variance = self.dim * self.noise**2
        self.f_star = 0.0
        self.constant_kinds = {"smoothness": LOCAL_BOUND, "variance": EXACT, "f_star": EXACT}

    def random_point(self, rng: np.random.Generator) -> np.ndarray:
        """Uniform on the box [-radius, radius]^d."""
        return rng.uniform(-self.radius, self.radius, size=self.dim)

    def loss(self, x: np.ndarray) -> float:
        u = x[:-1]
        w = x[1:] - u * u
        v = 1.0 - u
        return float(self.curvature * (w @ w) + v @ v)

    def grad(self, x: np.ndarray) -> np.ndarray:
        """grad f(x); elementwise along the last axis, so x may also be rows (R, dim)."""
        u = x[..., :-1]
        w = x[..., 1:] - u * u
        g = np.zeros(x.shape)
        g[..., :-1] = -4.0 * self.curvature * u * w - 2.0 * (1.0 - u)
        g[..., 1:] += 2.0 * self.curvature * w
        return g

    def stochastic_grad(self, x: np.ndarray, samples: np.ndarray) -> np.ndarray:
        g = self.grad(x)
        g += self.noise * keyed_normals(samples, self.dim).mean(axis=0)
        return g

    def stochastic_grads(self, points: np.ndarray, samples: np.ndarray) -> np.ndarray:
        """stochastic_grad row by row: the same elementwise operations, the noise of all R * b keys in one call."""
        g = self.grad(points)
        g += self.noise * keyed_normals(samples.ravel(), self.dim).reshape(*samples.shape, self.dim).mean(axis=1)
        return g
