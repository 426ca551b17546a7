"""The mlp's start, random points and estimated constants against their stated laws and brute-force references.

Every test builds its network afresh: mutmut runs a constructor's mutants only through the tests that call the
constructor, and tests/test_objectives.py caches its mlp cases (docs/mutation.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import models.mlp
from models import BOUND, get_objective, objective_params
from models.base import Objective

N_IN, N_CLASSES = 64, 10


def layers(x: np.ndarray, hidden: int) -> list[np.ndarray]:
    """W1, b1, W2, b2 of x (the last axis), by the documented layout: 64 hidden, hidden, 10 hidden, 10."""
    bounds = np.cumsum([0, N_IN * hidden, hidden, N_CLASSES * hidden, N_CLASSES])
    return [x[..., lo:hi] for lo, hi in zip(bounds, bounds[1:])]


def glorot(hidden: int) -> list[float]:
    """Each layer's Glorot std sqrt(2 / (fan_in + fan_out)), for W1, b1, W2, b2."""
    first, second = math.sqrt(2.0 / (N_IN + hidden)), math.sqrt(2.0 / (hidden + N_CLASSES))
    return [first, first, second, second]


def finite_difference_hessian(obj: Objective, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """The Hessian at x, column j = (grad(x + h e_j) - grad(x - h e_j)) / 2h."""
    return np.stack([(obj.grad(x + h * e) - obj.grad(x - h * e)) / (2 * h) for e in np.eye(obj.dim)], axis=1)


def brute_force_variance(obj: Objective, x: np.ndarray) -> float:
    """(1/n) sum_i ||g_i - mean g||^2 over the n single-sample gradients, one stochastic_grad call each."""
    rows = np.stack([obj.stochastic_grad(x, np.array([i])) for i in range(obj.n_samples)])
    deviations = rows - rows.mean(axis=0)
    return float(np.mean(np.sum(deviations * deviations, axis=1)))


def test_a_bare_call_builds_the_advertised_size_with_glorot_weights_zero_biases_and_f_star_0():
    """get_objective("mlp") has the advertised hidden width; its x0 has zero biases and weights of mean 0 and
    layer std sqrt(2 / (fan_in + fan_out)) (2048 and 320 weights: 4 standard errors of slack); f_star is the bound 0
    (cross-entropy >= 0)."""
    obj, hidden = get_objective("mlp"), objective_params("mlp")["hidden"]
    assert obj.dim == N_IN * hidden + hidden + N_CLASSES * hidden + N_CLASSES
    W1, b1, W2, b2 = layers(obj.x0, hidden)
    assert not np.any(b1) and not np.any(b2)
    for weights, std in ((W1, glorot(hidden)[0]), (W2, glorot(hidden)[2])):
        z = weights / std
        assert abs(np.mean(z)) < 4 / math.sqrt(z.size)
        assert abs(np.std(z) - 1.0) < 4 / math.sqrt(2 * z.size)
    assert obj.f_star == 0.0 and obj.constant_kinds["f_star"] == BOUND


def test_random_point_is_x0_plus_half_the_layer_std_times_a_standard_normal():
    """random_point(rng) is x0 + 0.5 * layer std * rng.standard_normal(dim), bit for bit (the probes of L and
    sigma^2 are such draws); (random_point - x0) / (0.5 * layer std) over 2,000 draws: mean 0 and covariance I per
    coordinate (235 of them at hidden = 3; slack of 5 standard errors)."""
    hidden, draws = 3, 2000
    obj = get_objective("mlp", hidden=hidden)
    scale = 0.5 * np.concatenate([np.full(layer.size, std) for layer, std in zip(layers(obj.x0, hidden),
                                                                                  glorot(hidden))])
    expected = obj.x0 + scale * np.random.default_rng(6).standard_normal(obj.dim)
    assert obj.random_point(np.random.default_rng(6)).tobytes() == expected.tobytes()
    rng = np.random.default_rng(7)
    points = np.stack([obj.random_point(rng) for _ in range(draws)])
    z = (points - obj.x0) / scale
    assert np.max(np.abs(z.mean(axis=0))) < 5 / math.sqrt(draws)
    assert np.max(np.abs(z.T @ z / draws - np.eye(obj.dim))) < 5 * math.sqrt(2 / draws)


def test_hessian_norm_is_the_power_iteration_from_the_rngs_normal_draw():
    """_hessian_norm(x, rng) after k iterations is ||H v_k|| with v_1 = the rng's N(0, I) draw normalized and
    v_{k+1} = H v_k / ||H v_k||, H the Hessian by finite differences column by column (hidden = 2, dim 160); after
    the 30 iterations of the estimate it is H's spectral norm, approached from below (within 1e-3 here)."""
    obj = get_objective("mlp", hidden=2)
    x = obj.random_point(np.random.default_rng(3))
    hessian = finite_difference_hessian(obj, x)
    v = np.random.default_rng(4).standard_normal(obj.dim)
    with pytest.MonkeyPatch.context() as patch:
        for iterations in range(1, 4):
            v = hessian @ (v / np.linalg.norm(v))
            patch.setattr(models.mlp, "POWER_ITERATIONS", iterations)
            assert obj._hessian_norm(x, np.random.default_rng(4)) == pytest.approx(np.linalg.norm(v), rel=1e-7)
    spectral = np.linalg.norm(hessian, 2)
    assert (1 - 1e-3) * spectral <= obj._hessian_norm(x, np.random.default_rng(4)) <= (1 + 1e-9) * spectral


@pytest.mark.parametrize("reg", [0.0, 0.3])
def test_sample_variance_is_the_brute_force_variance_of_the_single_sample_gradients(reg):
    """_sample_variance(x), from norms of outer products, equals (1/n) sum_i ||g_i - mean g||^2 over the 1,797
    stochastic_grad rows, at x0 and a random point (the L2 term, in every row, cancels)."""
    obj = get_objective("mlp", hidden=2, reg=reg)
    for x in (obj.x0, obj.random_point(np.random.default_rng(3))):
        assert obj._sample_variance(x) == pytest.approx(brute_force_variance(obj, x), rel=1e-10)


@pytest.mark.parametrize("init_seed", [0, 1, 2])
def test_constants_are_the_largest_at_x0_and_three_probes_seeded_by_init_seed(init_seed):
    """smoothness: the largest Hessian spectral norm (finite differences, up to the power iteration's accuracy),
    variance: the largest brute-force variance, over x0 and the first 3 random_point's of
    default_rng([init_seed, 1]) (hidden = 1)."""
    obj = get_objective("mlp", hidden=1, init_seed=init_seed)
    rng = np.random.default_rng([init_seed, 1])
    points = [obj.x0] + [obj.random_point(rng) for _ in range(3)]
    largest = max(np.linalg.norm(finite_difference_hessian(obj, x), 2) for x in points)
    assert obj.smoothness == pytest.approx(largest, rel=1e-6)
    assert obj.variance == pytest.approx(max(brute_force_variance(obj, x) for x in points), rel=1e-10)
