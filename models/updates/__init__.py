"""The update math of every algorithm as parts: an estimator (estimators.py), a step rule (steps.py) and a server
update (apply.py: the gradient step, then a regularizer's prox, models/regularizers.py), built once per run into one
`Algorithm` that the SimPy engine (sim/run.py), the closed-form ring (sim/closed_form/ring.py) and `asgd replay` all
call. Pure numpy with explicit state, no SimPy.

The fixed pipeline of an update k: (1) the estimator sums its gradients' directions in arrival order; (2) the step
gamma_k scales the sum (every rule of STEP_RULES gives the M gradients one step, so it factors out); (3) the server
update applies it: x_{k+1} = prox_{gamma_k h}(x_k - gamma_k sum_m v_m), or on the written coordinates only for a
shared-memory write; (4) the estimator sees x_{k+1} (SVRG's snapshot). A staleness-dependent step rule
(STALENESS_RULES) gives gradient m its own step gamma_m = rule(tau_m), tau_m = k - read_version: when the M steps are
equal the update is the one above with gamma_k = gamma_1; otherwise x_{k+1} = x_k - sum_m gamma_m v_m (summed left to
right, each term gamma_m * v_m, then subtracted as sgd_step with step 1; no regularizer then: scenarios/algorithms).
DC-ASGD's compensation (compensation.py) replaces each v_m by its compensated value, in arrival order, before the
steps. Without a regularizer and with the plain estimator this is
literally sgd_step(x_k, summed_gradient(...), gamma_k), today's AsySG-con update.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from models.base import Objective
from models.regularizers import REGULARIZERS, Regularizer
from models.updates.apply import coordinate_prox_step, coordinate_step, prox_step, sgd_step
from models.updates.compensation import DelayCompensation
from models.updates.estimators import ESTIMATORS, SG, SVRG, LockstepSVRG, summed_gradient, summed_gradients
from models.updates.steps import (STALENESS_POLICIES, STALENESS_RULES, STEP_RULES, corollary_step, largest_step,
                                  staleness_rule, step_schedule, step_sizes)


class Algorithm:
    """One run's update math: `gamma(k)`, the estimator (with its state) and the regularizer (None: h = 0)."""

    def __init__(self, objective: Objective, gamma: Callable[[int], float], estimator: SG | SVRG | None = None,
                 regularizer: Regularizer | None = None, stale_step: Callable[[int], float] | None = None,
                 compensation: DelayCompensation | None = None) -> None:
        self.objective = objective
        self.gamma = gamma
        self.stale_step = stale_step  # staleness -> step (STALENESS_RULES), None: every gradient of update k gets gamma(k)
        self.compensation = compensation  # DC-ASGD (compensation.py): each gradient compensated before its step
        self.estimator = estimator if estimator is not None else SG(objective)
        self.regularizer = regularizer if regularizer is not None and regularizer.name != "none" else None
        self.direction = self.estimator.direction
        self.advanced = self.estimator.advanced
        self.epoch = getattr(self.estimator, "epoch", None)  # SVRG's: `advanced` keeps a snapshot every epoch updates
        # step(x, direction, gamma, out=None): the server update of the whole vector, x - gamma d, then the prox (in
        # `direction` or `out`); bound once, as it runs at every update
        self.step = sgd_step if self.regularizer is None else functools.partial(prox_step, self.regularizer)

    def update(self, x: np.ndarray, points: Sequence[np.ndarray], samples: Sequence[np.ndarray], k: int,
               versions: Sequence[int] = ()) -> np.ndarray:
        """x_{k+1} from x = x_k and the update's gradients at `points` (read as x_{versions[m]}) with `samples` (a new
        array)."""
        if self.stale_step is None and self.compensation is None:
            return self.step(x, self.direction(points, samples), self.gamma(k))
        gradients = [self.estimator.gradient(point, sample) for point, sample in zip(points, samples)]
        if self.compensation is not None:
            gradients = [self.compensation.compensate(g, x, point) for g, point in zip(gradients, points)]
        gammas = [self.gamma(k)] if self.stale_step is None else [self.stale_step(k - v) for v in versions]
        if all(gamma == gammas[0] for gamma in gammas):
            total = gradients[0]
            for m in range(1, len(gradients)):
                total = total + gradients[m]
            return self.step(x, total, gammas[0])
        total = gammas[0] * gradients[0]
        for m in range(1, len(gradients)):
            total = total + gammas[m] * gradients[m]
        return sgd_step(x, total, 1.0)

    def updates(self, x: np.ndarray, points: np.ndarray, samples: np.ndarray, batch: int, k: int) -> np.ndarray:
        """`update` for R replicates at update k (x (R, d), `batch` rows of points per replicate), row r bitwise
        equal to `update` on replicate r. Only a stateless estimator batches here (SVRG's snapshots advance on the
        ring only: sim/closed_form/ring.py, estimators.LockstepSVRG)."""
        return self.step(x, self.estimator.directions(points, samples, batch), self.gamma(k))

    def write(self, x: np.ndarray, points: Sequence[np.ndarray], samples: Sequence[np.ndarray],
              coordinates: np.ndarray, k: int) -> np.ndarray:
        """A shared-memory write: x_{k+1} = x_k on every coordinate but S = `coordinates`, where it is the server
        update's value (AsySG-incon; SAPALM's block prox)."""
        return self.write_step(x, self.direction(points, samples), self.gamma(k), coordinates)

    def write_step(self, x: np.ndarray, direction: np.ndarray, gamma: float, coordinates: np.ndarray) -> np.ndarray:
        """`write` from the direction: the server update of the coordinates S = `coordinates` only (a new array)."""
        if self.regularizer is None:
            return coordinate_step(x, direction, gamma, coordinates)
        return coordinate_prox_step(self.regularizer, x, direction, gamma, coordinates)

    def stationarity(self, x: np.ndarray, gradient: np.ndarray, gradient_norm_sq: float, gamma: float) -> float:
        """||G_gamma(x)||^2 for the gradient mapping G_gamma(x) = (x - prox_{gamma h}(x - gamma grad f(x))) / gamma;
        without a regularizer it is grad f(x), and `gradient_norm_sq` is returned as is."""
        if self.regularizer is None:
            return gradient_norm_sq
        mapping = x - self.regularizer.prox(x - gamma * gradient, gamma)
        mapping /= gamma
        return float(mapping @ mapping)

    def penalty(self, x: np.ndarray) -> float:
        """h(x)."""
        return 0.0 if self.regularizer is None else self.regularizer.value(x)


__all__ = ["Algorithm", "DelayCompensation", "ESTIMATORS", "LockstepSVRG", "REGULARIZERS", "SG", "STALENESS_POLICIES", "STALENESS_RULES", "STEP_RULES", "SVRG", "coordinate_prox_step",
           "coordinate_step", "corollary_step", "largest_step", "prox_step", "sgd_step", "staleness_rule", "step_schedule", "step_sizes",
           "summed_gradient", "summed_gradients"]
