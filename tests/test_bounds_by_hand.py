"""Theorem 1's step condition at T > 1 for each step policy (constant, corollary, decay), against values computed by
hand: L M gamma_k + 2 L^2 M^2 T gamma_k sum_{kappa=1..T} gamma_{k+kappa} <= 1 for every k (Lian et al. 2015, Theorem 1).
Each case sits on both sides of the condition's threshold, so a wrong power of T, M or L flips a verdict."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from analysis.bounds import bound_summary, theorem1_bound, theorem1_step_condition
from models.updates import step_sizes

L, M, T, K = 0.5, 3, 3, 50  # neither L nor M at 1 or 2, where L^2 = 1/L^2 or M^2 = 2M would hide a wrong power
SIGMA_SQ, GAP = 1.0, 0.5


# constant gamma: L M g + 2 L^2 M^2 T g (T g) = 1.5 g + 40.5 g^2 at L = 0.5, M = 3, T = 3 (threshold g = 0.1397)
@pytest.mark.parametrize("policy", ["constant", "corollary"])
@pytest.mark.parametrize("gamma, lhs", [(0.13, 0.195 + 40.5 * 0.0169), (0.15, 0.225 + 40.5 * 0.0225)])
def test_constant_step_condition_by_hand(policy, gamma, lhs):
    summary = bound_summary("asysg-con", policy, gamma, K, T, L, M, SIGMA_SQ, GAP)
    assert summary["bound_step_condition"] is (lhs <= 1)
    as_array = theorem1_step_condition(np.full(K + T, gamma), T, L, M)
    assert as_array == pytest.approx(np.full(K, lhs), rel=1e-12)
    as_function = theorem1_step_condition(lambda start, stop: np.full(stop - start, gamma), T, L, M, K=K)
    assert as_function == pytest.approx(np.full(K, lhs), rel=1e-12)


def decay_lhs(c: float, k: int) -> float:
    """The condition at 1-based k for gamma_k = c / sqrt(k), L = 0.5, M = 3, T = 3, summed by hand."""
    g = [c / math.sqrt(j) for j in range(k, k + T + 1)]
    return 1.5 * g[0] + 2 * 0.25 * 9 * 3 * g[0] * (g[1] + g[2] + g[3])


# decay: the largest value is at k = 1: 1.5 c + 13.5 c^2 (1/sqrt2 + 1/sqrt3 + 1/2) = 1.5 c + 24.09 c^2 (threshold c = 0.1748)
@pytest.mark.parametrize("c, holds", [(0.16, True), (0.19, False)])
def test_decay_step_condition_by_hand(c, holds):
    assert decay_lhs(0.16, 1) == pytest.approx(1.5 * 0.16 + 13.5 * 0.16**2 * (2**-0.5 + 3**-0.5 + 0.5))
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
    assert lhs == pytest.approx([0.15 + 13.5 * 0.01, 0.0, 0.0, 0.15 + 13.5 * 0.01, 0.15], rel=1e-12)


def test_the_condition_holds_at_exactly_1():
    # L = M = T = 1, gamma = 0.5: 0.5 + 2 * 0.5 * 0.5 = 1 exactly, which meets "<= 1"
    for gammas in (0.5, np.full(11, 0.5)):
        assert bound_summary("asysg-con", "constant", gammas, 10, 1, 1.0, 1, SIGMA_SQ, GAP)["bound_step_condition"]


def test_a_huge_step_fails_the_condition_without_a_warning_also_at_t_0():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for gammas in (1e300, np.full(K, 1e300)):
            assert bound_summary("asysg-con", "constant", gammas, K, 0, L, M, SIGMA_SQ, GAP)["bound_step_condition"] is False


@settings(max_examples=200, deadline=None)
@given(st.floats(1e-4, 10.0), st.integers(1, 30), st.integers(0, 6), st.floats(0.1, 10.0), st.integers(1, 8))
def test_a_constant_step_as_a_number_or_as_an_array_gives_one_verdict(gamma, k, t, l, m):
    """The closed form for a constant step against the sums over its array, for every K and T."""
    lhs = l * m * gamma + 2 * l**2 * m**2 * t**2 * gamma**2
    assume(abs(lhs - 1) > 1e-9)  # rounding may tip a value at the threshold either way
    as_number = bound_summary("asysg-con", "constant", gamma, k, t, l, m, SIGMA_SQ, GAP)["bound_step_condition"]
    as_array = bound_summary("asysg-con", "constant", np.full(k + t, gamma), k, t, l, m, SIGMA_SQ, GAP)
    assert as_number is as_array["bound_step_condition"] is (lhs <= 1)


def test_an_array_is_checked_up_to_its_length_less_t_beyond_k():
    # K = 10, T = 2, 20 steps: the condition covers k = 1..18, so gamma_15 = 10 fails it though k > K
    gammas = np.full(20, 0.01)
    gammas[14] = 10.0
    assert bound_summary("asysg-con", "constant", gammas, 10, 2, L, M, SIGMA_SQ, GAP)["bound_step_condition"] is False
    gammas[14] = 0.01
    assert bound_summary("asysg-con", "constant", gammas, 10, 2, L, M, SIGMA_SQ, GAP)["bound_step_condition"] is True


def test_corollary_preconditions_need_both_conditions_and_k_may_equal_its_minimum():
    # K_min = 4 M L gap (T + 1)^2 / sigma^2 = 16 exactly at M = L = gap = T = sigma^2 = 1
    at_minimum = bound_summary("asysg-con", "corollary", 0.01, 16, 1, 1.0, 1, 1.0, 1.0)
    assert at_minimum["bound_k_condition"] is True and at_minimum["bound_preconditions_hold"] is True
    below = bound_summary("asysg-con", "corollary", 0.01, 15, 1, 1.0, 1, 1.0, 1.0)
    assert below["bound_step_condition"] is True and below["bound_k_condition"] is False
    assert below["bound_preconditions_hold"] is False
    step_fails = bound_summary("asysg-con", "corollary", 10.0, 16, 1, 1.0, 1, 1.0, 1.0)
    assert step_fails["bound_k_condition"] is True and step_fails["bound_preconditions_hold"] is False


def test_asysg_incon_has_every_bound_field_and_all_are_none():
    con = bound_summary("asysg-con", "constant", 0.01, K, T, L, M, SIGMA_SQ, GAP)
    incon = bound_summary("asysg-incon", "constant", 0.01, K, T, L, M, SIGMA_SQ, GAP)
    assert set(incon) == set(con) and all(value is None for value in incon.values())


def test_the_condition_of_steps_so_large_that_sums_overflow_is_inf_or_nan_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lhs = theorem1_step_condition(np.full(K + T, 1e307), T, L, M)  # sums overflow, inf - inf in the windows
    assert not np.any(lhs <= 1.0) and np.isinf(lhs).any()


def test_without_noise_theorem1_is_the_gap_term_alone():
    # sigma^2 = 0: 2 gap / (M sum gamma) whatever the noise sum, even one that overflows
    assert theorem1_bound(np.full(10, 0.1), T, L, M, 0.0, GAP) == pytest.approx(2 * GAP / (M * 1.0), rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert theorem1_bound(np.full(10, 1e200), T, L, M, 0.0, GAP) == pytest.approx(2 * GAP / (M * 1e201))


def test_k_is_required_for_a_number_or_a_function_and_a_short_array_has_no_k():
    with pytest.raises(TypeError, match="K is required"):
        theorem1_step_condition(0.1, T, L, M)
    with pytest.raises(TypeError, match="K is required"):
        theorem1_bound(lambda start, stop: np.full(stop - start, 0.1), T, L, M, SIGMA_SQ, GAP)
    assert len(theorem1_step_condition(np.full(T, 0.1), T, L, M)) == 0  # gamma_1..gamma_{K+T} with K = 0
