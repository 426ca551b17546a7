"""A one-hidden-layer tanh network with softmax cross-entropy on scikit-learn's digits."""

from __future__ import annotations

import math

import numpy as np

from models import datasets
from models.base import BOUND, ESTIMATE, Objective, check_int, check_real

N_CLASSES = 10
PERTURBATION = 0.5  # random_point: x0 + PERTURBATION * (per-layer Glorot std) * N(0, I)
PROBES = 3          # random points, besides x0, where L and sigma^2 are estimated
POWER_ITERATIONS = 30
HVP_STEP = 1e-5     # central-difference step of the Hessian-vector products


class MLP(Objective):
    """f(x) = (1/n) sum_i -log softmax(W2 tanh(W1 u_i + b1) + b2)[c_i] + (reg/2) ||x||^2 on the digits
    (u_i = pixels / 16 in R^64, c_i in 0..9, n = 1797).

    Layout of x (row-major): W1 (hidden x 64), b1 (hidden), W2 (10 x hidden), b2 (10);
    dim = 64 hidden + hidden + 10 hidden + 10. x0 (from init_seed): Glorot normal weights, std sqrt(2 / (fan_in + fan_out)),
    zero biases. random_point: x0 + 0.5 * (its layer's Glorot std) * N(0, I).

    - smoothness L (ESTIMATE): the largest Hessian spectral norm found by 30 power iterations, with Hessian-vector
      products by central differences of the exact gradient, at x0 and 3 random_point's (seeded by init_seed).
    - variance sigma^2 (ESTIMATE): the largest exact variance (1/n) sum_i ||g_i(x) - grad f(x)||^2 of the
      single-sample gradient over the same points.
    - f_star = 0 (BOUND): cross-entropy and the L2 term are non-negative.
    """

    name = "mlp"

    def __init__(self, *, hidden: int = 32, reg: float = 0.0, init_seed: int = 0) -> None:
        hidden = check_int("hidden", hidden, 1)
        self.reg = check_real("reg", reg, 0.0)
        init_seed = check_int("init_seed", init_seed, 0)
        self._U, self._labels = datasets.digits()
        self.n_samples, n_in = self._U.shape
        self._shapes = ((hidden, n_in), (hidden,), (N_CLASSES, hidden), (N_CLASSES,))
        self._bounds = np.cumsum([0] + [math.prod(shape) for shape in self._shapes]).tolist()
        self.dim = self._bounds[-1]
        std1, std2 = math.sqrt(2.0 / (n_in + hidden)), math.sqrt(2.0 / (hidden + N_CLASSES))
        self._scale = np.concatenate([np.full(size, std) for size, std in
                                      zip(np.diff(self._bounds), (std1, std1, std2, std2))])
        is_weight = np.concatenate([np.full(size, w) for size, w in zip(np.diff(self._bounds), (1.0, 0.0, 1.0, 0.0))])
        self.x0 = is_weight * self._scale * np.random.default_rng(init_seed).standard_normal(self.dim)
        probe_rng = np.random.default_rng([init_seed, 1])
        points = [self.x0] + [self.random_point(probe_rng) for _ in range(PROBES)]
        self.smoothness = max(self._hessian_norm(x, probe_rng) for x in points)
        self.variance = max(self._sample_variance(x) for x in points)
        self.f_star = 0.0
        self.constant_kinds = {"smoothness": ESTIMATE, "variance": ESTIMATE, "f_star": BOUND}

    def random_point(self, rng: np.random.Generator) -> np.ndarray:
        """x0 + 0.5 * (layer Glorot std) * N(0, I): the region where L and sigma^2 were estimated."""
        return self.x0 + PERTURBATION * self._scale * rng.standard_normal(self.dim)

    def _split(self, x: np.ndarray) -> list[np.ndarray]:
        """Views W1, b1, W2, b2 of the flat vector x (of each row, for rows x of shape (R, dim))."""
        return [x[..., lo:hi].reshape(*x.shape[:-1], *shape) for lo, hi, shape in zip(self._bounds, self._bounds[1:], self._shapes)]

    def _forward(self, x: np.ndarray, rows: np.ndarray | slice) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For the data rows: inputs U, hidden H = tanh(U W1^T + b1), softmax probabilities P of H W2^T + b2, and
        log P[i, c_i]. With R points x (R, dim) and rows (R, b), every array gains a leading axis R, and each matrix
        product is a stacked one: per point, the BLAS call of the single point."""
        W1, b1, W2, b2 = self._split(x)
        U, labels = self._U[rows], self._labels[rows]
        H = np.tanh(U @ np.swapaxes(W1, -1, -2) + b1[..., None, :])
        Z = H @ np.swapaxes(W2, -1, -2) + b2[..., None, :]
        Z -= Z.max(axis=-1, keepdims=True)
        P = np.exp(Z)
        total = P.sum(axis=-1, keepdims=True)
        P /= total
        return U, H, P, np.take_along_axis(Z, labels[..., None], axis=-1)[..., 0] - np.log(total[..., 0])

    def _deltas(self, x: np.ndarray, rows: np.ndarray | slice) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """U, H and the per-sample backpropagated errors D2 = P - onehot(c) (output), D1 = (D2 W2) * (1 - H^2) (hidden)."""
        U, H, P, _ = self._forward(x, rows)
        return self._backward(x, rows, U, H, P)

    def _backward(self, x: np.ndarray, rows: np.ndarray | slice, U: np.ndarray, H: np.ndarray,
                  P: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """_deltas from the forward pass's U, H, P (P becomes D2, in place)."""
        D2 = P
        label = self._labels[rows][..., None]
        np.put_along_axis(D2, label, np.take_along_axis(D2, label, axis=-1) - 1.0, axis=-1)
        D1 = D2 @ self._split(x)[2]
        D1 *= 1.0 - H * H
        return U, H, D1, D2

    def _summed_grad(self, U: np.ndarray, H: np.ndarray, D1: np.ndarray, D2: np.ndarray) -> np.ndarray:
        """sum_i of the per-sample cross-entropy gradients, packed: (D1^T U, sum D1, D2^T H, sum D2) (per point)."""
        g = np.empty((*D1.shape[:-2], self.dim))
        gW1, gb1, gW2, gb2 = self._split(g)
        np.matmul(np.swapaxes(D1, -1, -2), U, out=gW1)
        D1.sum(axis=-2, out=gb1)
        np.matmul(np.swapaxes(D2, -1, -2), H, out=gW2)
        D2.sum(axis=-2, out=gb2)
        return g

    def _mean_grad(self, x: np.ndarray, rows: np.ndarray | slice, count: int, deltas: tuple | None = None) -> np.ndarray:
        """The mean gradient over `rows` (`count` of them), from their `deltas` when already computed."""
        g = self._summed_grad(*(deltas or self._deltas(x, rows)))
        g /= count
        if self.reg:
            g += self.reg * x
        return g

    def loss(self, x: np.ndarray) -> float:
        return self._loss(x, self._forward(x, slice(None))[3])

    def _loss(self, x: np.ndarray, log_picked: np.ndarray) -> float:
        return -float(np.mean(log_picked)) + 0.5 * self.reg * float(x @ x)

    def grad(self, x: np.ndarray) -> np.ndarray:
        return self._mean_grad(x, slice(None), self.n_samples)

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """One forward pass for both."""
        U, H, P, log_picked = self._forward(x, slice(None))
        deltas = self._backward(x, slice(None), U, H, P)
        return self._loss(x, log_picked), self._mean_grad(x, slice(None), self.n_samples, deltas)

    def stochastic_grad(self, x: np.ndarray, samples: np.ndarray) -> np.ndarray:
        return self._mean_grad(x, samples, len(samples))

    def stochastic_grads(self, points: np.ndarray, samples: np.ndarray) -> np.ndarray:
        """stochastic_grad of every row at once: the same operations with a leading axis R (stacked products)."""
        return self._mean_grad(points, samples, samples.shape[1])

    def _hessian_norm(self, x: np.ndarray, rng: np.random.Generator) -> float:
        """Power iteration on the Hessian at x, Hv = (grad(x + h v) - grad(x - h v)) / 2h; returns ||Hv|| for the last unit v."""
        v = rng.standard_normal(self.dim)
        v /= np.linalg.norm(v)
        norm = 0.0
        for _ in range(POWER_ITERATIONS):
            hv = (self.grad(x + HVP_STEP * v) - self.grad(x - HVP_STEP * v)) / (2.0 * HVP_STEP)
            norm = float(np.linalg.norm(hv))
            v = hv / norm
        return norm

    def _sample_variance(self, x: np.ndarray) -> float:
        """(1/n) sum_i ||g_i - mean g||^2 over all samples (the L2 term cancels), with ||g_i||^2 =
        ||D1_i||^2 (||u_i||^2 + 1) + ||D2_i||^2 (||h_i||^2 + 1) (outer products: norms multiply)."""
        U, H, D1, D2 = self._deltas(x, slice(None))
        sq = np.sum(D1 * D1, axis=1) * (1.0 + np.sum(U * U, axis=1)) + np.sum(D2 * D2, axis=1) * (1.0 + np.sum(H * H, axis=1))
        mean = self._summed_grad(U, H, D1, D2) / self.n_samples
        return float(np.mean(sq) - mean @ mean)
