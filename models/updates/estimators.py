"""Estimators: the direction an update's gradients give, sum_m v_m, summed left to right in arrival order.

- "sg" (Lian et al. 2015): v_m = G(x_m; xi_m), the stochastic gradient at the point its worker read.
- "svrg" (Reddi et al. 2016, asynchronous as in Huo and Huang 2016 / Fang and Lin 2017, the standard definition
  since those two could not be read here): v_m = (G(x_m; xi_m) - G(x~; xi_m)) + mu, x~ the snapshot of the
  update's epoch and mu = grad f(x~) its exact full gradient.

An estimator's state is a deterministic fold over the applied iterates (`advanced` after every update, in update
order), so `asgd replay` rebuilds it by applying the same updates.
"""

from __future__ import annotations

import functools

from collections.abc import Sequence

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


class SG:
    """The plain stochastic gradient: one evaluation of G per gradient, no state."""

    name = "sg"
    evaluations = 1  # evaluations of G per gradient

    def __init__(self, objective: Objective) -> None:
        self.objective = objective
        # direction(points, samples): the update's gradients summed (summed_gradient), bound once: it runs at every
        # update
        self.direction = functools.partial(summed_gradient, objective)

    def gradient(self, point: np.ndarray, samples: np.ndarray) -> np.ndarray:
        """v = G(point; xi), one gradient's direction (a new array)."""
        return self.objective.stochastic_grad(point, samples)

    def directions(self, points: np.ndarray, samples: np.ndarray, batch: int) -> np.ndarray:
        """direction for R replicates at once (rows of (R * batch, d)); row r bitwise equal to direction's."""
        return summed_gradients(self.objective, points, samples, batch)

    def advanced(self, version: int, x: np.ndarray) -> None:
        """x_version was applied (nothing to keep)."""


class SVRG:
    """SVRG's inner estimator with epochs of `epoch` updates: the snapshot of update k is x~ = x_{k - k mod epoch},
    mu = grad f(x~) computed (exactly, once) when first needed."""

    name = "svrg"
    evaluations = 2  # G(x_read; xi) and G(x~; xi)

    def __init__(self, objective: Objective, epoch: int) -> None:
        self.objective = objective
        self.epoch = epoch
        self.snapshot = np.array(objective.x0, dtype=np.float64)
        self._mu: np.ndarray | None = None

    @property
    def mu(self) -> np.ndarray:
        """grad f(x~), exact."""
        if self._mu is None:
            self._mu = self.objective.grad(self.snapshot)
        return self._mu

    def gradient(self, point: np.ndarray, samples: np.ndarray) -> np.ndarray:
        """v = (G(point; xi) - G(x~; xi)) + mu, a new array."""
        v = self.objective.stochastic_grad(point, samples)
        v -= self.objective.stochastic_grad(self.snapshot, samples)
        v += self.mu
        return v

    def direction(self, points: Sequence[np.ndarray], samples: Sequence[np.ndarray]) -> np.ndarray:
        total = self.gradient(points[0], samples[0])
        for m in range(1, len(points)):
            total = total + self.gradient(points[m], samples[m])
        return total

    def advanced(self, version: int, x: np.ndarray) -> None:
        """x_version was applied: it is the next snapshot when an epoch starts there."""
        if version % self.epoch == 0:
            self.snapshot, self._mu = x, None


class LockstepSVRG:
    """The SVRG estimators of R replicates stepped together (sim.run.lockstep): each keeps its own snapshot and mu,
    and row r of `directions` is replicate r's `direction`, bit for bit (the same elementwise operations on rows
    of objective.stochastic_grads, which equal stochastic_grad's)."""

    name = "svrg"
    evaluations = SVRG.evaluations
    direction = None  # one replicate's: each estimator's own (only `directions` is stepped in lockstep)

    def __init__(self, estimators: Sequence[SVRG]) -> None:
        self.estimators = list(estimators)
        self.objective = estimators[0].objective
        self.epoch = estimators[0].epoch
        self._stacked: tuple[np.ndarray, np.ndarray] | None = None  # this epoch's x~_r and mu_r, (R, d) each

    def directions(self, points: np.ndarray, samples: np.ndarray, batch: int) -> np.ndarray:
        """(R, d): replicate r's sum of its `batch` consecutive rows' v = (G(x; xi) - G(x~_r; xi)) + mu_r."""
        if self._stacked is None:
            self._stacked = (np.array([e.snapshot for e in self.estimators]), np.array([e.mu for e in self.estimators]))
        snapshots, mus = (np.repeat(rows, batch, axis=0) for rows in self._stacked)
        v = self.objective.stochastic_grads(points, samples)
        v -= self.objective.stochastic_grads(snapshots, samples)
        v += mus
        v = v.reshape(len(self.estimators), batch, -1)
        total = v[:, 0]
        for m in range(1, batch):
            total = total + v[:, m]
        return total

    def advanced(self, version: int, x: np.ndarray) -> None:
        """x_version of every replicate (R, d) was applied (at an epoch's start, each one's next snapshot)."""
        for estimator, row in zip(self.estimators, x):
            estimator.advanced(version, row.copy())
        if version % self.epoch == 0:
            self._stacked = None


ESTIMATORS = {"sg": SG, "svrg": SVRG}
