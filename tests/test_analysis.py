"""analysis/: the bounds against hand-computed values and naive sums, the fits against synthetic data with a known
exponent, the speedups against a synthetic grid with known efficiencies, and the bound fields of a run's summary."""

from __future__ import annotations

import math
from pathlib import Path
import subprocess
import sys
import tracemalloc
import warnings
from types import SimpleNamespace
from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import bounds
from analysis.bounds import (CHUNK, bound_summary, corollary2_bound, corollary2_min_iterations, ergodic_average,
                             theorem1_bound, theorem1_step_condition)
from analysis.checks import rate_check, worker_limit_check
from analysis.speedup import cells, speedups, worker_limit
from analysis.stats import mean_ci, power_fit
from models.updates import corollary_step, step_schedule, step_sizes
from scenarios import build_objective
from scenarios.types import Step
from sim import simulate
from sim.engine import _bounds
from tests.helpers import scenario


def test_theorem1_bound_by_hand():
    # K = 3, T = 1, L = 2, M = 1, sigma^2 = 4, gap = 1.5, gamma = (0.1, 0.2, 0.3); gamma_0 = 0.
    # k=1: 0.1^2*1*2 = 0.02; k=2: 0.2^2*2 + 2*4*1*0.2*0.1^2 = 0.08 + 0.016; k=3: 0.3^2*2 + 2*4*0.3*0.2^2 = 0.18 + 0.096
    expected = (2 * 1.5 + (0.02 + 0.08 + 0.016 + 0.18 + 0.096) * 4) / (1 * 0.6)
    assert theorem1_bound(np.array([0.1, 0.2, 0.3]), 1, 2.0, 1, 4.0, 1.5) == pytest.approx(expected, rel=1e-12)
    # K = 4, T = 2, L = 1, M = 2, sigma^2 = 1, gap = 0.5: windows {}, {1}, {1, 2}, {2, 3}
    noise = (0.01 * 2) + (0.04 * 2 + 8 * 0.2 * 0.01) + (0.09 * 2 + 8 * 0.3 * 0.05) + (0.16 * 2 + 8 * 0.4 * 0.13)
    assert theorem1_bound(np.array([0.1, 0.2, 0.3, 0.4]), 2, 1.0, 2, 1.0, 0.5) == pytest.approx((1 + noise) / 2.0)


def test_theorem1_step_condition_by_hand():
    # gamma_1..gamma_{K+T} = 0.1..0.5, K = 3, T = 2, L = 1, M = 2: L M g_k + 2 L^2 M^2 T g_k (g_{k+1} + g_{k+2})
    lhs = theorem1_step_condition(np.array([0.1, 0.2, 0.3, 0.4, 0.5]), 2, 1.0, 2)
    assert lhs == pytest.approx([0.2 + 16 * 0.1 * 0.5, 0.4 + 16 * 0.2 * 0.7, 0.6 + 16 * 0.3 * 0.9])


def test_corollary2_by_hand():
    assert corollary2_bound(2.0, 3.0, 4, 100, 9.0) == pytest.approx(4 * math.sqrt(2 * 3 / 400) * 3)
    assert corollary2_min_iterations(2.0, 3.0, 4, 5, 9.0) == pytest.approx(4 * 4 * 3 * 2 * 36 / 9)


def naive_bound(g: np.ndarray, T: int, L: float, M: int, s2: float, gap: float) -> float:
    total = 0.0
    for k in range(len(g)):
        behind = sum(g[j] ** 2 for j in range(max(0, k - T), k))
        total += g[k] ** 2 * M * L + 2 * L**2 * M**2 * g[k] * behind
    return (2 * gap + total * s2) / (M * sum(g))


def naive_condition(g: np.ndarray, T: int, L: float, M: int) -> list[float]:
    return [L * M * g[k] + 2 * L**2 * M**2 * T * g[k] * sum(g[k + 1:k + T + 1]) for k in range(len(g) - T)]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(1e-4, 1.0), min_size=1, max_size=40), st.integers(0, 12), st.floats(0.01, 10),
       st.integers(1, 8), st.floats(0.01, 10), st.floats(0.0, 10), st.sampled_from([CHUNK, 1, 2, 3, 5, 16]))
def test_vectorized_sums_equal_the_naive_double_loops(gammas, T, L, M, s2, gap, chunk):
    g = np.array(gammas)
    with patch.object(bounds, "CHUNK", chunk):  # blocks of `chunk` steps (of max(chunk, T) when T is larger)
        assert theorem1_bound(g, T, L, M, s2, gap) == pytest.approx(naive_bound(g, T, L, M, s2, gap), rel=1e-9)
        if len(g) > T:
            assert theorem1_step_condition(g, T, L, M) == pytest.approx(naive_condition(g, T, L, M), rel=1e-9)


def windows_by_loop(K: int, T: int) -> int:
    """sum_{k=1..K} min(k - 1, T): the steps in Theorem 1's window before x_k, counted one by one."""
    return sum(len([j for j in range(k - T, k) if j >= 1]) for k in range(1, K + 1))


@pytest.mark.parametrize("K", [1, 2, 3, 10, 257, 5000])
@pytest.mark.parametrize("T", [0, 1, 2, 9, 40, 300])
def test_constant_step_closed_forms_equal_the_direct_sums(K, T):
    """A constant step given as a number: Theorem 1's sums in closed form equal the block-by-block sums over the same
    steps as an array (including T >= K, where every window is cut short by gamma_j = 0 for j < 1)."""
    L, M, s2, gap = 1.7, 3, 0.6, 2.5
    assert bounds._theorem1_sums(0.5, K, T, L, M)[1] == pytest.approx(
        K * 0.25 * M * L + 2 * L**2 * M**2 * 0.125 * windows_by_loop(K, T), rel=1e-14)
    for gamma in (1e-4, 0.05, 3.0):  # the step condition holds for the first, fails for the last
        steps = np.full(K + T, gamma)
        closed = theorem1_bound(gamma, T, L, M, s2, gap, K=K)
        assert closed == pytest.approx(theorem1_bound(steps[:K], T, L, M, s2, gap), rel=1e-12)
        if K <= 257:
            assert closed == pytest.approx(naive_bound(steps[:K], T, L, M, s2, gap), rel=1e-12)
        for policy in ("constant", "corollary"):
            closed_form = bound_summary("asysg-con", policy, gamma, K, T, L, M, s2, gap)
            summed = bound_summary("asysg-con", policy, steps, K, T, L, M, s2, gap)
            numbers = [key for key, value in summed.items() if isinstance(value, float)]
            assert {k: closed_form[k] for k in numbers} == pytest.approx({k: summed[k] for k in numbers}, rel=1e-12)
            assert {k: v for k, v in closed_form.items() if k not in numbers} == \
                {k: v for k, v in summed.items() if k not in numbers}
    lhs = L * M * 0.05 + 2 * L**2 * M**2 * T**2 * 0.05**2
    assert theorem1_step_condition(0.05, T, L, M, K=K) == pytest.approx(np.full(K, lhs), rel=1e-12)
    assert bound_summary("sync", "constant", 1e-4, K, T, L, M, s2, gap)["bound_step_condition"] is True
    assert bound_summary("sync", "constant", 3.0, K, T, L, M, s2, gap)["bound_step_condition"] is False


def decay(c: float):
    """The engine's decaying schedule as a function of a block (start, stop)."""
    return lambda start, stop: step_sizes("decay", None, c, stop - start, start)


@pytest.mark.parametrize("chunk, K, T", [
    (4, 1, 0), (4, 3, 2), (4, 4, 1), (4, 5, 3), (4, 9, 4), (4, 13, 9), (7, 30, 0), (7, 30, 20), (1, 12, 3),
    (CHUNK, CHUNK - 1, 5), (CHUNK, CHUNK, 1), (CHUNK, CHUNK + 1, 5), (CHUNK, 2 * CHUNK + 1, 64), (CHUNK, 3 * CHUNK, 0),
    (CHUNK, CHUNK + 1, CHUNK + 3)])
def test_chunked_sums_equal_the_all_at_once_sums(chunk, K, T):
    """The decaying step read block by block (CHUNK steps, the T before or after carried by reading them again)
    gives Theorem 1's bound and condition of the whole array summed at once (one block: the former implementation),
    up to the summation order; steps computed per block equal the whole array's slices exactly.

    The condition's window sums are differences of cumulative sums, each off by about (steps summed) x eps relative:
    up to K + T steps at once, at most CHUNK + T in blocks. So beyond one block the blocks are the more accurate and
    the two agree to 1e-11 only; both are compared with the windows summed directly there."""
    L, M, s2, gap = 2.0, 2, 1.5, 0.8
    steps = step_sizes("decay", None, 0.3, K + T)
    assert step_sizes("decay", None, 0.3, K, T).tolist() == steps[T:].tolist()
    with patch.object(bounds, "CHUNK", K + T + 1):
        whole_bound = theorem1_bound(steps[:K], T, L, M, s2, gap)
        whole_condition = theorem1_step_condition(steps, T, L, M)
        whole_summary = bound_summary("asysg-con", "decay", steps, K, T, L, M, s2, gap)
    rel = 1e-12 if K <= CHUNK + 1 else 1e-11
    if K > CHUNK + 1:
        ahead = np.lib.stride_tricks.sliding_window_view(steps[1:], T).sum(axis=1)[:K] if T else np.zeros(K)
        direct = L * M * steps[:K] + 2 * L**2 * M**2 * T * steps[:K] * ahead
        assert whole_condition == pytest.approx(direct, rel=1e-11, abs=0)
    with patch.object(bounds, "CHUNK", chunk):
        for gammas in (steps, decay(0.3)):
            assert theorem1_bound(gammas, T, L, M, s2, gap, K=K) == pytest.approx(whole_bound, rel=1e-12, abs=0)
            condition = theorem1_step_condition(gammas, T, L, M, K=K)
            assert condition == pytest.approx(whole_condition, rel=rel, abs=0)
            if K > CHUNK + 1:
                assert condition == pytest.approx(direct, rel=1e-11, abs=0)
            assert bound_summary("asysg-con", "decay", gammas, K, T, L, M, s2, gap) == whole_summary | {
                "bound": pytest.approx(whole_bound, rel=1e-12, abs=0),
                "theorem1_bound": pytest.approx(whole_bound, rel=1e-12, abs=0)}
    if K <= 30:
        assert whole_bound == pytest.approx(naive_bound(steps[:K], T, L, M, s2, gap), rel=1e-12)
        assert whole_condition == pytest.approx(naive_condition(steps, T, L, M), rel=1e-12)


def test_the_summary_bounds_need_memory_flat_in_k():
    """The bound fields of a run of K = 10^7 updates (the engine's own helper on a finished run's state): a few MB at
    most (about 3 MB for the decaying step, nothing for a constant one), where arrays of K steps would take ~600 MB."""
    K = 10**7
    objective = SimpleNamespace(smoothness=2.0, variance=3.0, f_star=0.0)
    for policy, step in (("constant", Step("constant", value=1e-4)), ("corollary", Step("constant", value=1e-4)),
                         ("decay", Step("decay", c=1e-3))):
        algorithm = SimpleNamespace(name="asysg-con", step=Step(policy), batch=1, minibatch=1,
                                    estimator=SimpleNamespace(name="sg"), regularizer={"name": "none"},
                                    compensation=None)
        run = SimpleNamespace(objective=objective, staleness=SimpleNamespace(max=15), step=step, f_x0=1.0)
        tracemalloc.start()
        try:
            summary = _bounds(SimpleNamespace(algorithm=algorithm), run, K)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 16 * 2**20, (policy, peak)
        assert summary["bound_step_condition"] is True and 0 < summary["theorem1_bound"] < math.inf


@settings(max_examples=100, deadline=None)
@given(st.floats(1e-3, 1e3), st.integers(1, 16), st.integers(0, 50), st.floats(1e-3, 1e3), st.floats(1e-4, 3900.0),
       st.floats(1.0, 50.0))
def test_corollary2_follows_from_theorem1(L, M, T, s2, k_min, excess):
    """With the corollary step and K above Corollary 2's condition, Theorem 1's condition holds and its bound is
    below Corollary 2's: the corollary is a consequence of the theorem. The gap is drawn through the condition's
    K_min = 4 M L gap (T+1)^2 / sigma^2, so that every example has K = excess K_min + 1 <= 200,000."""
    gap = k_min * s2 / (4 * M * L * (T + 1) ** 2)
    K = int(math.ceil(excess * corollary2_min_iterations(gap, L, M, T, s2))) + 1
    assert K <= 200_000
    g = np.full(K + T, math.sqrt(gap / (M * L * K * s2)))
    assert theorem1_step_condition(g, T, L, M).max() <= 1 + 1e-12
    assert theorem1_bound(g[:K], T, L, M, s2, gap) <= corollary2_bound(gap, L, M, K, s2) * (1 + 1e-12)


def test_bound_summary_picks_the_statement_and_its_conditions():
    g = np.full(1010, 0.01)
    corollary = bound_summary("asysg-con", "corollary", g, 1000, 10, 1.0, 1, 1.0, 0.5)
    assert corollary["bound_statement"] == "Corollary 2"
    assert corollary["bound"] == corollary2_bound(0.5, 1.0, 1, 1000, 1.0)
    assert corollary["bound_k_condition"] is (1000 >= corollary2_min_iterations(0.5, 1.0, 1, 10, 1.0))
    constant = bound_summary("sync", "constant", g, 1000, 10, 1.0, 1, 1.0, 0.5)
    assert constant["bound_statement"] == "Theorem 1" and constant["bound_k_condition"] is None
    assert constant["bound"] == constant["theorem1_bound"] == theorem1_bound(g[:1000], 10, 1.0, 1, 1.0, 0.5)
    too_large = bound_summary("asysg-con", "constant", np.full(1010, 2.0), 1000, 10, 1.0, 1, 1.0, 0.5)
    assert too_large["bound_step_condition"] is False and too_large["bound_preconditions_hold"] is False
    assert bound_summary("asysg-incon", "corollary", g, 1000, 10, 1.0, 1, 1.0, 0.5)["bound"] is None


@pytest.mark.parametrize("gammas", [1e150, 1e308, np.full(1010, 1e200),
                                    lambda start, stop: np.full(stop - start, 1e300)])
def test_steps_so_large_that_the_bound_overflows_give_inf_and_fail_the_step_condition(gammas):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning either
        summary = bound_summary("asysg-con", "constant", gammas, 1000, 10, 1.0, 1, 1.0, 0.5)
    assert summary["bound"] == summary["theorem1_bound"] == math.inf
    assert summary["bound_step_condition"] is False and summary["bound_preconditions_hold"] is False


def test_tiny_steps_give_a_large_finite_bound_or_inf():
    summary = bound_summary("sync", "constant", 1e-300, 1000, 10, 1.0, 1, 1.0, 0.5)
    assert summary["bound"] == pytest.approx(2 * 0.5 / (1000 * 1e-300)) and summary["bound_preconditions_hold"] is True
    assert bound_summary("sync", "constant", 5e-324, 1000, 10, 1.0, 1, 1.0, 0.5)["bound"] == math.inf


LARGEST = float(np.finfo(float).max)


def test_ergodic_average():
    values = np.array([0.3, 0.1, 0.7, 0.2])
    assert ergodic_average(values, np.full(4, 0.05)) == ergodic_average(values) == np.mean(values)
    assert ergodic_average(values, np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx((0.3 + 0.2 + 2.1 + 0.8) / 10)
    assert math.isnan(ergodic_average(np.array([])))
    assert ergodic_average(np.full(3, LARGEST)) == ergodic_average(np.full(3, LARGEST), np.ones(3)) == LARGEST
    assert ergodic_average(np.array([LARGEST, 0.0])) == LARGEST / 2




@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, LARGEST), min_size=1, max_size=40).flatmap(
    lambda values: st.tuples(st.just(values), st.none() | st.lists(st.floats(1e-3, 1e3), min_size=len(values),
                                                                   max_size=len(values)))))
def test_an_ergodic_average_lies_within_its_values_even_where_their_sum_overflows(case):
    """A diverging run's gradient norms near the largest float overflow their sum, not their average: it stays
    finite, between the smallest and the largest value (to rounding), with no numpy overflow warning (an error here)."""
    values, weights = case
    average = ergodic_average(np.array(values), None if weights is None else np.array(weights))
    assert min(values) * (1 - 1e-12) <= average <= max(values) * (1 + 1e-12)


def test_a_diverging_runs_summary_is_computed_without_overflow_warnings(tmp_path):
    """Phase retrieval with a constant step of 0.5 diverges after a few updates whose squared gradient norms sum past
    the largest float (found by hypothesis in tests/test_schedule.py): the summary reports it diverged, with a finite
    ergodic average, and numpy warns of nothing (RuntimeWarnings are errors in this suite)."""
    from scenarios import load

    (tmp_path / "diverging.toml").write_text("""
        seed = 125
        objective = {name = "phase-retrieval", n = 40, dim = 5, radius = 2.0, data_seed = 0}
        algorithm = {name = "asysg-con", iterations = 30, minibatch = 3, step = {policy = "constant", value = 0.5}}
        [cluster]
        workers = 6
        compute = {dist = "lognormal", mean = 1.0, sigma = 1.0}
        downlink = {dist = "uniform", low = 0.5, high = 2.0}
        uplink = {dist = "uniform", low = 0.5, high = 2.0}
        groups = [{workers = [0], slowdown = 0.1}]""")
    summary = simulate(load(tmp_path / "diverging.toml")).summary
    assert summary["status"] == "diverged" and math.isfinite(summary["ergodic_grad_norm_sq"])

def test_step_sizes_match_the_schedule():
    for policy, value, c in (("constant", 0.3, None), ("decay", None, 0.7)):
        gamma = step_schedule(policy, value, c)
        assert step_sizes(policy, value, c, 50).tolist() == [gamma(k) for k in range(50)]
        assert step_sizes(policy, value, c, 20, 30).tolist() == [gamma(k) for k in range(30, 50)]


def test_corollary_step_by_hand_with_a_nonzero_f_star_and_its_refusals():
    """gamma = sqrt((f(x_1) - f*) / (M L K sigma^2 / b)) on a stand-in objective with f* != 0 (today's objectives all
    have f* = 0); no step when f(x_1) - f* <= 0 or sigma^2 = 0 (a clear ValueError, not a step of 0 or a crash)."""
    def stand_in(loss, variance):
        return SimpleNamespace(x0=None, loss=lambda x: loss, f_star=1.5, smoothness=2.0, variance=variance)

    assert corollary_step(stand_in(3.5, 8.0), 2, 100, 4) == math.sqrt((3.5 - 1.5) / (2 * 2.0 * 100 * 8.0 / 4))
    for loss, variance, got in ((1.5, 8.0, "0.0, 8.0"), (1.0, 8.0, "-0.5, 8.0"), (3.5, 0.0, "2.0, 0.0")):
        with pytest.raises(ValueError) as info:
            corollary_step(stand_in(loss, variance), 1, 100, 1)
        assert str(info.value) == f"the corollary step needs f(x_1) - f* > 0 and sigma^2 > 0 (got {got})"


def test_corollary_step_is_its_formula_and_is_recorded():
    s = scenario(workers=3, iterations=400, step={"policy": "corollary"}, bound=6)
    objective = build_objective(s)
    gap = objective.loss(objective.x0) - objective.f_star
    gamma = math.sqrt(gap / (1 * objective.smoothness * 400 * objective.variance))
    assert corollary_step(objective, 1, 400, 1) == pytest.approx(gamma, rel=1e-14)
    assert corollary_step(objective, 2, 400, 5) == pytest.approx(math.sqrt(gap / (2 * objective.smoothness * 400 *
                                                                                  objective.variance / 5)), rel=1e-14)
    result = simulate(s)
    summary = result.summary
    assert summary["step_value"] == summary["step_first"] == corollary_step(objective, 1, 400, 1)
    assert (result.metrics["step"] == summary["step_value"]).all()
    # a constant step: Theorem 1's weighted average is the plain ergodic average
    assert summary["weighted_ergodic_grad_norm_sq"] == summary["ergodic_grad_norm_sq"]
    assert summary["bound_statement"] == "Corollary 2"
    assert summary["bound"] == pytest.approx(corollary2_bound(gap, objective.smoothness, 1, 400, objective.variance))
    k_condition = 400 >= corollary2_min_iterations(gap, objective.smoothness, 1, summary["max_staleness"],
                                                   objective.variance)
    assert summary["bound_k_condition"] is k_condition and summary["max_staleness"] <= 6


def test_decaying_step_is_recorded_and_weights_the_ergodic_average():
    result = simulate(scenario(workers=2, iterations=300, step={"policy": "decay", "c": 0.5}))
    metrics, summary = result.metrics, result.summary
    assert metrics["step"].tolist() == pytest.approx(0.5 / np.sqrt(metrics["update"] + 1))
    before = metrics[metrics["update"] < 300]
    assert summary["weighted_ergodic_grad_norm_sq"] == pytest.approx(
        np.average(before["grad_norm_sq"], weights=before["step"]), rel=1e-12)
    assert summary["weighted_ergodic_grad_norm_sq"] != summary["ergodic_grad_norm_sq"]
    assert summary["step_c"] == 0.5 and summary["step_value"] is None and summary["bound_statement"] == "Theorem 1"
    gammas = step_sizes("decay", None, 0.5, 300 + summary["max_staleness"])
    gap = summary["f_x0"] - summary["f_star"]
    assert summary["bound"] == pytest.approx(
        theorem1_bound(gammas[:300], summary["max_staleness"], summary["smoothness"], 1, summary["variance"], gap))


def test_mean_ci_by_hand():
    mean, low, high = mean_ci(np.array([1.0, 2.0, 3.0]))
    half = 4.302652729911275 / math.sqrt(3)  # t_{0.975, 2} s / sqrt(n), s = 1
    assert (mean, low, high) == pytest.approx((2.0, 2.0 - half, 2.0 + half))
    assert math.isnan(mean_ci(np.array([5.0]))[1])


def test_power_fit_recovers_a_known_exponent_and_its_interval_covers_it():
    x = np.geomspace(1000, 64000, 7)
    exact = power_fit(x, 3.0 * x**-0.5)
    assert (exact.slope, math.exp(exact.intercept)) == pytest.approx((-0.5, 3.0))
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(400):
        fit = power_fit(x, 3.0 * x**-0.5 * np.exp(rng.normal(0, 0.05, len(x))))
        covered += fit.low <= -0.5 <= fit.high
    assert 0.91 <= covered / 400 <= 0.99  # a 95% interval


def synthetic_runs(penalty: dict[int, float]) -> pd.DataFrame:
    """Serial ergodic average 2 K^-1/2; W workers reach penalty[W] times it, with 1 gradient per update, no drops;
    times: the serial run 1 per gradient, W workers 1/W per gradient."""
    rows = []
    for k in (1000, 2000, 4000, 8000):
        for w, factor in penalty.items():
            for seed, noise in enumerate((0.99, 1.01)):
                rows.append({"workers": w, "planned_iterations": k, "iterations": k, "seed": seed, "status": "ok",
                             "ergodic_grad_norm_sq": factor * 2 * k**-0.5 * noise, "gradients": k, "dropped": 0,
                             "sim_time": k / w, "bound": 1.0, "bound_preconditions_hold": True, "max_staleness": w})
    return pd.DataFrame(rows)


def test_speedups_and_worker_limit_on_a_known_grid():
    # E_W = c_W E_1(K) with E_1 ~ K^-1/2: the serial run needs K / c_W^2 gradients, so efficiency = 1 / c_W^2
    penalty = {1: 1.0, 2: 1.0, 4: 1 / math.sqrt(0.9), 8: 1 / math.sqrt(0.7)}
    table = speedups(cells(synthetic_runs(penalty)))
    for w, factor in penalty.items():
        row = table[(table["workers"] == w) & (table["iterations"] == 4000)].iloc[0]
        assert row["iteration_efficiency"] == pytest.approx(1 / factor**2, rel=1e-9)
        assert row["time_efficiency"] == pytest.approx(1 / factor**2, rel=1e-9)
        if w > 1:  # the serial run is the reference: its efficiency is 1 without an interval
            assert row["iteration_efficiency_low"] < row["iteration_efficiency"] < row["iteration_efficiency_high"]
    limits = worker_limit(table, "iteration_efficiency", 0.8)
    # efficiency 0.9 at W = 4 and 0.7 at W = 8: 0.8 is crossed half way, at W* = 2^2.5
    assert limits["workers_limit"].tolist() == pytest.approx([2**2.5] * 4)
    assert not limits["censored"].any()
    censored = worker_limit(table, "iteration_efficiency", 0.5)
    assert censored["censored"].all() and (censored["workers_limit"] == 8).all()


def test_the_serial_run_is_the_reference_even_when_its_curve_is_not_monotone():
    # the serial average rises from K = 1000 to 2000 (noise); read back through the curve's running minimum its
    # K = 2000 point needs only the K = 1000 gradients: efficiency 0.5 for W = 1, and W* = 1 at K = 2000
    penalty = {1: 1.0, 2: 1.0, 4: 1 / math.sqrt(0.9), 8: 1 / math.sqrt(0.7)}
    runs = synthetic_runs(penalty)
    bump = (runs["workers"] == 1) & (runs["planned_iterations"] == 2000)
    runs.loc[bump, "ergodic_grad_norm_sq"] *= 1.6  # above the K = 1000 average 2 / sqrt(1000)
    table = speedups(cells(runs))
    serial = table[table["workers"] == 1]
    for column in ("iteration_speedup", "time_speedup", "iteration_efficiency", "time_efficiency",
                   "iteration_efficiency_low", "iteration_efficiency_high"):
        assert (serial[column] == 1.0).all(), column
    assert (serial["serial_gradients"] == serial["applied"]).all()
    at_2000 = table[table["iterations"] == 2000].set_index("workers")["iteration_efficiency"]
    assert (at_2000[[2, 4, 8]] >= 0.8).all()  # W = 2, 4, 8 are all near-linear at K = 2000 ...
    limits = worker_limit(table, "iteration_efficiency", 0.8).set_index("iterations")
    assert limits.loc[2000, "workers_limit"] == 8 and limits.loc[2000, "censored"]  # ... so W* >= 8 there


def test_worker_limit_never_stops_at_the_serial_run():
    table = pd.DataFrame({"iterations": 1000, "workers": [1, 2, 4], "iteration_efficiency": [0.5, 0.9, 0.6]})
    limit = worker_limit(table, "iteration_efficiency", 0.8).iloc[0]
    assert limit["workers_limit"] == pytest.approx(2 * 2 ** (1 / 3)) and not limit["censored"]


def test_worker_limit_check_fits_alpha_and_rate_check_judges_the_slope():
    limits = pd.DataFrame({"iterations": [1000, 4000, 16000, 64000], "workers_limit": [4.0, 8.0, 16.0, 32.0],
                           "censored": [False, False, False, True]})
    check = worker_limit_check(limits, 0.1)
    assert check.fit.slope == pytest.approx(0.5) and check.verdict == "pass" and "1 censored" in check.measured
    assert worker_limit_check(limits.assign(workers_limit=[4.0, 4.5, 5.0, 5.5]), 0.1).verdict == "FAIL"
    assert worker_limit_check(limits.assign(censored=True), 0.1).verdict == "n/a"
    grid = pd.DataFrame({"iterations": [1000, 4000, 16000], "ergodic": [1e-3, 0.6e-3, 0.36e-3]})
    assert rate_check(grid, 0.1).verdict == "FAIL"  # slope log(0.6)/log(4) = -0.37
    assert rate_check(grid, 0.15).verdict == "pass"
    assert rate_check(grid.assign(ergodic=[1e-3, np.inf, 1e-4]), 0.1).verdict == "FAIL"


def test_analysis_never_imports_the_engine():
    code = ("import sys, analysis.bounds, analysis.checks, analysis.plots, analysis.speedup, analysis.stats; "
            "print(sorted(m for m in sys.modules if m == 'simpy' or m.startswith('sim.') or m == 'sim'))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
