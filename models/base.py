"""The Objective interface every benchmark problem implements, its parameter errors and checks, and the
shared finite sum of per-sample losses of a linear predictor a_i.x."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
from threadpoolctl import threadpool_limits

from models.values import choice_rule, integer_rule, is_choice, is_integer, is_real, real_rule

# How a stated constant is known: labels for Objective.constant_kinds.
EXACT = "exact"
BOUND = "bound"              # a proven upper bound (for f_star: a proven lower bound)
LOCAL_BOUND = "local bound"  # a proven bound on the region Objective.random_point samples from
ESTIMATE = "estimate"        # a numerical estimate, documented in the objective's docstring


def one_blas_thread():
    """A context with BLAS on one thread: the reductions inside matrix products then run in one fixed order, so
    results (an eigenvalue for L, full gradients) do not depend on the machine's core count or process layout."""
    return threadpool_limits(limits=1, user_api="blas")


class ParameterError(ValueError):
    """An objective parameter is invalid; `param` is its name inside the [objective] table."""

    def __init__(self, param: str, value: Any, allowed: str) -> None:
        self.param, self.value, self.allowed = param, value, allowed
        super().__init__(f"{param} = {value!r}: {allowed}")


def check_int(param: str, value: Any, low: int) -> int:
    """`value` as an int >= low (bools refused); otherwise ParameterError."""
    if is_integer(value, low):
        return int(value)
    raise ParameterError(param, value, integer_rule(low))


def check_real(param: str, value: Any, low: float, high: float | None = None, *, open_low: bool = False) -> float:
    """`value` as a finite float in [low, high] ((low, high] if open_low; bools refused); otherwise ParameterError."""
    if is_real(value, low, high, open_low):
        return float(value)
    raise ParameterError(param, value, real_rule(low, high, open_low))


def check_choice(param: str, value: Any, choices: tuple[str, ...]) -> str:
    """`value` if it is one of `choices`; otherwise ParameterError."""
    if is_choice(value, choices):
        return value
    raise ParameterError(param, value, choice_rule(choices))


class Objective(ABC):
    """f(x) = E_xi F(x; xi), with exact f, grad f and an unbiased stochastic gradient keyed by integer samples.

    Subclasses set `name` and, in __init__ (keyword-only parameters with defaults), `dim`, `x0`,
    `smoothness` (L), `variance` (sigma^2, of a single-sample stochastic gradient), `f_star`, and
    `constant_kinds` (one of EXACT, BOUND, LOCAL_BOUND, ESTIMATE per constant).
    `n_samples` is the size of the finite sum (xi uniform on 0..n-1), or None for a noise model
    whose samples are arbitrary int64 keys.
    """

    name: ClassVar[str]
    dim: int
    x0: np.ndarray
    smoothness: float
    variance: float
    f_star: float
    constant_kinds: dict[str, str]
    n_samples: int | None
    x_star: np.ndarray | None = None  # a minimizer, where known (f(x_star) = f_star when f_star is EXACT)

    @abstractmethod
    def loss(self, x: np.ndarray) -> float:
        """f(x)."""

    @abstractmethod
    def grad(self, x: np.ndarray) -> np.ndarray:
        """The exact full gradient of f at x."""

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """(f(x), grad f(x)), sharing work where the objective can; bitwise equal to (loss(x), grad(x))."""
        return self.loss(x), self.grad(x)

    @abstractmethod
    def stochastic_grad(self, x: np.ndarray, samples: np.ndarray) -> np.ndarray:
        """G(x; xi) = mean over the int64 indices in `samples` of the per-sample gradients; deterministic in (x, samples).
        Returns a new array, sharing no memory with x or the objective: the engine updates it in place (sgd_step)."""

    def stochastic_grads(self, points: np.ndarray, samples: np.ndarray) -> np.ndarray:
        """Row r = stochastic_grad(points[r], samples[r]) bitwise, for points (R, dim) and samples (R, b): the gradients
        of R independent replicates evaluated together, in a new array. Objectives override this with one vectorized
        evaluation whose every row runs the same floating-point operations as stochastic_grad (tests/test_objectives.py checks it)."""
        return np.stack([self.stochastic_grad(x, xi) for x, xi in zip(points, samples)])

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw `size` sample indices (int64): uniform on 0..n-1 for a finite sum, uniform int64 keys otherwise."""
        high = self.n_samples if self.n_samples is not None else 2**62
        return rng.integers(0, high, size=size, dtype=np.int64)

    def random_point(self, rng: np.random.Generator) -> np.ndarray:
        """A random point of the region where the stated constants hold (near x0 unless the objective says otherwise)."""
        return self.x0 + rng.normal(size=self.dim)



class LinearFiniteSum(Objective):
    """f(x) = (1/n) sum_i phi(a_i.x, b_i) + r(x); per-sample gradient phi'(a_i.x, b_i) a_i + grad r(x).

    Subclasses call `_set_data(A, b)` and implement phi and phi' elementwise (`_phi`, `_dphi`); `_dphi_scalar` (phi' on
    Python floats, the single-sample fast path) defaults to `_dphi`. A regularizer r overrides `_reg`, `_add_reg_grad`.
    """

    def _set_data(self, A: np.ndarray, b: np.ndarray) -> None:
        self._A = np.ascontiguousarray(A, dtype=np.float64)
        self._b = np.ascontiguousarray(b, dtype=np.float64)
        self._b_list = self._b.tolist()
        self.n_samples, self.dim = self._A.shape
        self._row_sq = np.einsum("ij,ij->i", self._A, self._A)  # ||a_i||^2

    def _gram_norm(self, weights: np.ndarray | None = None) -> float:
        """||A^T diag(weights) A||_2 / n for weights >= 0 (all ones if None): the top eigenvalue of a PSD matrix."""
        weighted = self._A if weights is None else weights[:, None] * self._A
        return float(np.linalg.eigvalsh(self._A.T @ weighted)[-1]) / self.n_samples

    @abstractmethod
    def _phi(self, t: np.ndarray, b: np.ndarray) -> np.ndarray:
        """phi(t_i, b_i), elementwise."""

    @abstractmethod
    def _dphi(self, t: np.ndarray, b: np.ndarray) -> np.ndarray:
        """d phi / dt (t_i, b_i), elementwise."""

    def _dphi_scalar(self, t: float, b: float) -> float:
        """d phi / dt (t, b) on Python floats; by default `_dphi`, whose formula must then also work on floats."""
        return self._dphi(t, b)

    def _reg(self, x: np.ndarray) -> float:
        """r(x)."""
        return 0.0

    def _add_reg_grad(self, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        """g + grad r(x), in place in g (a fresh array); elementwise, so x and g may also be rows (R, dim)."""
        return g

    def loss(self, x: np.ndarray) -> float:
        return self._loss(x, self._A @ x)

    def grad(self, x: np.ndarray) -> np.ndarray:
        return self._grad(x, self._A @ x)

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        margins = self._A @ x
        return self._loss(x, margins), self._grad(x, margins)

    def _loss(self, x: np.ndarray, margins: np.ndarray) -> float:
        """f(x) from the margins a_i.x."""
        return float(np.mean(self._phi(margins, self._b))) + self._reg(x)

    def _grad(self, x: np.ndarray, margins: np.ndarray) -> np.ndarray:
        """grad f(x) from the margins a_i.x."""
        g = self._dphi(margins, self._b) @ self._A
        g /= self.n_samples
        return self._add_reg_grad(x, g)

    def stochastic_grad(self, x: np.ndarray, samples: np.ndarray) -> np.ndarray:
        if len(samples) == 1:
            i = samples[0]
            a = self._A[i]
            g = a * self._dphi_scalar(float(a.dot(x)), self._b_list[i])  # a.dot: the same ddot as a @ x, less overhead
        else:
            rows = self._A[samples]
            g = self._dphi(rows @ x, self._b[samples]) @ rows
            g /= len(samples)
        return self._add_reg_grad(x, g)

    def stochastic_grads(self, points: np.ndarray, samples: np.ndarray) -> np.ndarray:
        """stochastic_grad row by row, vectorized: stacked matrix products make the same BLAS call per row as
        stochastic_grad's `a @ x` (or `rows @ x` and `phi' @ rows`), phi' of one sample goes through `_dphi_scalar`
        as there, and the rest is elementwise."""
        rows = self._A[samples]                                  # (R, b, dim)
        margins = np.matmul(rows, points[:, :, None])[:, :, 0]   # (R, b)
        if samples.shape[1] == 1:
            coefficients = [self._dphi_scalar(t, self._b_list[i]) for t, i in zip(margins[:, 0].tolist(), samples[:, 0].tolist())]
            g = rows[:, 0, :] * np.array(coefficients)[:, None]
        else:
            g = np.matmul(self._dphi(margins, self._b[samples])[:, None, :], rows)[:, 0, :]
            g /= samples.shape[1]
        return self._add_reg_grad(points, g)
