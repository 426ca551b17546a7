"""Step rules: gamma_k for the 0-based update index k, as small pure functions (Lian et al. 2015, Corollary 2 and
Theorem 1's schedules).

A rule is one function `rule(value, c) -> (k -> gamma_k)` and one line of STEP_RULES; the scenario's "corollary"
policy resolves to "constant" first (sim/run.resolve_step). Every rule of STEP_RULES gives all M gradients of an
update the same step, so gamma factors out of the sum and the update is apply.sgd_step(x, sum of gradients, gamma_k).

The rules of STALENESS_RULES give each gradient its own step from its staleness tau = update - read_version (asgd's
convention: 0 for a gradient read from the iterate it updates): one function `rule(value, L, concurrency) -> (tau ->
gamma)` and one registry line each. Their nominal step gamma_k (the one STEP_RULES-style schedule a run records, e.g.
for the gradient mapping) is `value`, the step of a fresh gradient and the largest any gradient gets.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from models.base import Objective


def corollary_step(objective: Objective, batch: int, iterations: int, minibatch: int) -> float:
    """Corollary 2: gamma = sqrt((f(x_1) - f*) / (M L K sigma^2)), sigma^2 the variance of one G (a minibatch mean)."""
    gap = objective.loss(objective.x0) - objective.f_star
    sigma_sq = objective.variance / minibatch
    if not (gap > 0 and sigma_sq > 0):
        raise ValueError(f"the corollary step needs f(x_1) - f* > 0 and sigma^2 > 0 (got {gap}, {sigma_sq})")
    return math.sqrt(gap / (batch * objective.smoothness * iterations * sigma_sq))


def constant(value: float | None, c: float | None) -> Callable[[int], float]:
    """gamma_k = value."""
    assert value is not None
    return lambda k: value


def decay(value: float | None, c: float | None) -> Callable[[int], float]:
    """gamma_k = c / sqrt(k + 1) (the paper's c / sqrt(k), k >= 1)."""
    assert c is not None
    return lambda k: c / math.sqrt(k + 1)


def staleness_aware(value: float, smoothness: float, concurrency: int) -> Callable[[int], float]:
    """Zhang, Gupta, Lian, Liu 2016: alpha = alpha_0 / tau for a gradient of staleness tau >= 1, alpha_0 at tau = 0
    (value = alpha_0; their tau is asgd's staleness)."""
    return lambda tau: value if tau == 0 else value / tau


def mishchenko(value: float, smoothness: float, concurrency: int) -> Callable[[int], float]:
    """Mishchenko, Bach, Even, Woodworth 2022, Theorem 3's delay-adaptive part: gamma_k = min{gamma, 1 / (2 L tau(k))}
    with their delay tau(k) = asgd staleness + 1 (>= 1: no division by zero)."""
    return lambda tau: min(value, 1.0 / (2.0 * smoothness * (tau + 1)))


def koloskova(value: float, smoothness: float, concurrency: int) -> Callable[[int], float]:
    """Koloskova, Stich, Jaggi 2022, Theorem 8: eta_t = eta while the delay tau_t <= tau_C (the concurrency), beyond
    it min{eta, 1 / (4 L tau_t)} (the largest value the theorem allows; tau_t > tau_C >= 1). Their delay is asgd's
    staleness."""
    return lambda tau: value if tau <= concurrency else min(value, 1.0 / (4.0 * smoothness * tau))


STALENESS_POLICIES = ("staleness-aware", "delay-adaptive")  # algorithm.step policies whose steps follow the staleness


def staleness_rule(policy: str, rule: str | None) -> str | None:
    """The STALENESS_RULES entry of a step policy (delay-adaptive: its `rule`), None for a policy of STEP_RULES."""
    return rule if policy == "delay-adaptive" else policy if policy in STALENESS_POLICIES else None


STALENESS_RULES: dict[str, Callable[[float, float, int], Callable[[int], float]]] = {
    "staleness-aware": staleness_aware,
    "mishchenko": mishchenko,
    "koloskova": koloskova,
}


STEP_RULES: dict[str, Callable[[float | None, float | None], Callable[[int], float]]] = {
    "constant": constant,
    "decay": decay,
}


def step_schedule(policy: str, value: float | None, c: float | None) -> Callable[[int], float]:
    """gamma_k of the resolved step policy (STEP_RULES); a staleness-dependent policy's nominal step, `value`."""
    return constant(value, c) if policy in STALENESS_POLICIES else STEP_RULES[policy](value, c)


def largest_step(policy: str, value: float | None, c: float | None) -> float:
    """max_k gamma_k of the resolved policy: its first step (every rule here is non-increasing)."""
    return step_schedule(policy, value, c)(0)


def step_sizes(policy: str, value: float | None, c: float | None, count: int, start: int = 0) -> np.ndarray:
    """step_schedule's gamma_k for k = start..start+count-1 as one array (the paper's gamma_{start+1} onwards);
    a block equals the same slice of a longer array exactly."""
    if policy == "decay":
        return c / np.sqrt(np.arange(start + 1, start + count + 1, dtype=float))
    return np.full(count, value, dtype=float)
