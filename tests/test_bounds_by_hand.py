"""Theorem 1's step condition at T > 1 for each step policy (constant, corollary, decay), against values computed by
hand: L M gamma_k + 2 L^2 M^2 T gamma_k sum_{kappa=1..T} gamma_{k+kappa} <= 1 for every k (Lian et al. 2015, Theorem 1).
Each case sits on both sides of the condition's threshold, so a wrong power of T, M or L flips a verdict."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.bounds import bound_summary, theorem1_step_condition
from models.updates import step_sizes

L, M, T, K = 1.0, 2, 3, 50
SIGMA_SQ, GAP = 1.0, 0.5


# constant gamma: L M g + 2 L^2 M^2 T g (T g) = 2 g + 72 g^2 at L = 1, M = 2, T = 3 (threshold g = 0.10478...)
@pytest.mark.parametrize("policy", ["constant", "corollary"])
@pytest.mark.parametrize("gamma, lhs", [(0.1, 0.2 + 0.72), (0.11, 0.22 + 72 * 0.0121)])
def test_constant_step_condition_by_hand(policy, gamma, lhs):
    summary = bound_summary("asysg-con", policy, gamma, K, T, L, M, SIGMA_SQ, GAP)
    assert summary["bound_step_condition"] is (lhs <= 1)
    as_array = theorem1_step_condition(np.full(K + T, gamma), T, L, M)
    assert as_array == pytest.approx(np.full(K, lhs), rel=1e-12)
    as_function = theorem1_step_condition(lambda start, stop: np.full(stop - start, gamma), T, L, M, K=K)
    assert as_function == pytest.approx(np.full(K, lhs), rel=1e-12)


def decay_lhs(c: float, k: int) -> float:
    """The condition at 1-based k for gamma_k = c / sqrt(k), L = 1, M = 2, T = 3, summed by hand."""
    g = [c / math.sqrt(j) for j in range(k, k + T + 1)]
    return 2 * g[0] + 2 * 4 * 3 * g[0] * (g[1] + g[2] + g[3])


# decay: the largest value is at k = 1: 2 c + 24 c^2 (1/sqrt2 + 1/sqrt3 + 1/2) = 2 c + 42.827 c^2 (threshold c = 0.1314)
@pytest.mark.parametrize("c, holds", [(0.125, True), (0.14, False)])
def test_decay_step_condition_by_hand(c, holds):
    assert decay_lhs(0.125, 1) == pytest.approx(2 * 0.125 + 24 * 0.125**2 * (2**-0.5 + 3**-0.5 + 0.5))
    gammas = lambda start, stop: step_sizes("decay", None, c, stop - start, start)
    summary = bound_summary("asysg-con", "decay", gammas, K, T, L, M, SIGMA_SQ, GAP)
    assert summary["bound_step_condition"] is holds and summary["bound_preconditions_hold"] is holds
    lhs = theorem1_step_condition(gammas, T, L, M, K=K)
    assert lhs == pytest.approx([decay_lhs(c, k) for k in range(1, K + 1)], rel=1e-12)
    assert (decay_lhs(c, 1) <= 1) is holds


def test_the_condition_reads_the_t_steps_after_k():
    # T = 3: k = 1 sees gamma_2..gamma_4 (one 0.1), k = 4 sees gamma_5..gamma_7 (one 0.1), k = 5 sees only zeros
    gammas = np.array([0.1, 0.0, 0.0, 0.1, 0.1, 0.0, 0.0, 0.0])
    lhs = theorem1_step_condition(gammas, T, L, M)
    assert lhs == pytest.approx([0.2 + 24 * 0.01, 0.0, 0.0, 0.2 + 24 * 0.01, 0.2], rel=1e-12)
