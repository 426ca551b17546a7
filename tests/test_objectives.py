"""Conformance suite for every objective in models.OBJECTIVES (at small sizes), plus objective-specific checks."""

from __future__ import annotations

import functools
import inspect
import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import BOUND, ESTIMATE, EXACT, LOCAL_BOUND, OBJECTIVES, Objective, ParameterError, get_objective, objective_params

# Small parameters for every registered objective; the digits variant of the logistic objective is an extra case.
SMALL = {
    "nonconvex-logistic": {"n": 40, "dim": 6},
    "robust-regression": {"n": 40, "dim": 6},
    "noisy-rosenbrock": {"dim": 5},
    "mlp": {"hidden": 3},
    "phase-retrieval": {"n": 40, "dim": 5},
}
# Every float parameter that enters a gradient (test_every_gradient_parameter_has_a_case) at a non-default value,
# so that the finite-difference and conformance checks exercise it: the regularizers, curvature, noises, data.
PARAMETER_CASES = {
    "nonconvex-logistic-params": ("nonconvex-logistic", {"n": 40, "dim": 6, "reg": 0.5, "label_noise": 0.3}),
    "robust-regression-params": ("robust-regression", {"n": 40, "dim": 6, "outliers": 0.3, "noise": 0.5}),
    "noisy-rosenbrock-params": ("noisy-rosenbrock", {"dim": 5, "curvature": 3.0, "noise": 0.5}),
    "mlp-params": ("mlp", {"hidden": 3, "reg": 0.3}),
}
CASES = {name: (name, params) for name, params in SMALL.items()} | {
    "nonconvex-logistic-digits": ("nonconvex-logistic", {"data": "digits"}),
} | PARAMETER_CASES
# A stated constant may be exceeded by this factor before it counts as contradicted (estimates get slack).
ALLOWED = {EXACT: 1 + 1e-9, BOUND: 1 + 1e-9, LOCAL_BOUND: 1 + 1e-9, ESTIMATE: 2.0}
SEEDS = st.integers(0, 2**32 - 1)


def build(case: str) -> Objective:
    """The case's objective, built afresh: mutmut runs a mutant's tests only if they call the mutated function (a
    constructor behind a cache is called by none) and forks them from a process that ran them unmutated. The mlp's
    cases, which take 0.2 s to build, are cached."""
    name, params = CASES[case]
    return _cached(case) if name == "mlp" else get_objective(name, **params)


@functools.cache
def _cached(case: str) -> Objective:
    name, params = CASES[case]
    return get_objective(name, **params)


FINITE = [case for case in CASES if build(case).n_samples is not None]
NOISE = [case for case in CASES if build(case).n_samples is None]
EXACT_MINIMUM = [case for case in CASES if build(case).constant_kinds["f_star"] == EXACT]


def one(i: int) -> np.ndarray:
    return np.array([i], dtype=np.int64)


def per_sample_grads(obj: Objective, x: np.ndarray) -> np.ndarray:
    """G(x; i) for i = 0..n-1, one call each, as rows."""
    return np.stack([obj.stochastic_grad(x, one(i)) for i in range(obj.n_samples)])


def top_curvature_direction(obj: Objective, x: np.ndarray, iterations: int = 30) -> np.ndarray:
    """A unit vector near the top eigenvector (in |eigenvalue|) of the Hessian at x: power iteration on grad differences."""
    v = np.random.default_rng(0).standard_normal(obj.dim)
    step = 1e-6 * (1.0 + np.linalg.norm(x))
    for _ in range(iterations):
        v /= np.linalg.norm(v)
        v = (obj.grad(x + step * v) - obj.grad(x - step * v)) / (2 * step)
    return v / np.linalg.norm(v)


# ---- registry and parameters ---------------------------------------------------------------------------------------

def test_registry_holds_the_five_objectives():
    assert set(OBJECTIVES) == {"nonconvex-logistic", "robust-regression", "noisy-rosenbrock", "mlp", "phase-retrieval"}
    assert set(SMALL) == set(OBJECTIVES)
    for name, cls in OBJECTIVES.items():
        assert issubclass(cls, Objective) and cls.name == name


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_params_are_keyword_only_with_scalar_defaults(name):
    parameters = list(inspect.signature(OBJECTIVES[name].__init__).parameters.values())[1:]
    assert parameters and all(p.kind is p.KEYWORD_ONLY for p in parameters)
    params = objective_params(name)
    assert list(params) == [p.name for p in parameters]
    assert all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in params.values())


def check_attributes(obj: Objective) -> None:
    assert isinstance(obj.dim, int) and obj.dim >= 1
    assert obj.x0.dtype == np.float64 and obj.x0.shape == (obj.dim,) and np.all(np.isfinite(obj.x0))
    assert math.isfinite(obj.smoothness) and obj.smoothness > 0
    assert math.isfinite(obj.variance) and obj.variance >= 0
    assert math.isfinite(obj.f_star)
    assert obj.n_samples is None or (isinstance(obj.n_samples, int) and obj.n_samples >= 1)
    assert set(obj.constant_kinds) == {"smoothness", "variance", "f_star"}
    assert set(obj.constant_kinds.values()) <= {EXACT, BOUND, LOCAL_BOUND, ESTIMATE}
    if LOCAL_BOUND in obj.constant_kinds.values():
        assert type(obj).random_point is not Objective.random_point, "a LOCAL_BOUND needs random_point on its region"
    loss = obj.loss(obj.x0)
    assert isinstance(loss, float) and loss >= obj.f_star


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_defaults_build(name):
    check_attributes(get_objective(name))


@pytest.mark.parametrize("case", CASES)
def test_attributes(case):
    check_attributes(build(case))


BAD_PARAMS = [
    ("nonconvex-logistic", "data", "mnist"),
    ("nonconvex-logistic", "n", 0),
    ("nonconvex-logistic", "n", 2.5),
    ("nonconvex-logistic", "dim", True),
    ("nonconvex-logistic", "reg", -0.1),
    ("nonconvex-logistic", "reg", "0.1"),
    ("nonconvex-logistic", "label_noise", 0.6),
    ("nonconvex-logistic", "data_seed", -1),
    ("robust-regression", "outliers", 1.5),
    ("robust-regression", "noise", float("nan")),
    ("robust-regression", "n", -3),
    ("noisy-rosenbrock", "dim", 1),
    ("noisy-rosenbrock", "noise", -1.0),
    ("noisy-rosenbrock", "curvature", 0.0),
    ("noisy-rosenbrock", "radius", 0.5),
    ("noisy-rosenbrock", "radius", float("inf")),
    ("noisy-rosenbrock", "radius", 10**400),
    ("mlp", "hidden", 0),
    ("mlp", "hidden", 3.0),
    ("mlp", "reg", -1.0),
    ("mlp", "init_seed", "0"),
    ("phase-retrieval", "radius", 0.9),
    ("phase-retrieval", "n", 0),
    ("phase-retrieval", "dim", None),
    ("phase-retrieval", "data_seed", 1.5),
]


@pytest.mark.parametrize(("name", "param", "value"), BAD_PARAMS)
def test_bad_params_raise_parameter_error_naming_the_param(name, param, value):
    with pytest.raises(ParameterError) as info:
        get_objective(name, **{param: value})
    assert info.value.param == param and str(info.value).startswith(f"{param} = ")


def test_every_objective_has_bad_param_cases():
    assert {name for name, _, _ in BAD_PARAMS} == set(OBJECTIVES)


@pytest.mark.parametrize(("param", "value", "default"), [("n", 100, 2000), ("dim", 7, 100), ("label_noise", 0.2, 0.1)])
def test_digits_refuses_synthetic_only_params(param, value, default):
    with pytest.raises(ParameterError) as info:
        get_objective("nonconvex-logistic", data="digits", **{param: value})
    assert info.value.param == param
    assert str(info.value) == f"{param} = {value!r}: only for data = 'synthetic' (digits fixes it; keep {default})"


SEEDED = [(name, param) for name in sorted(OBJECTIVES) for param in objective_params(name) if param.endswith("_seed")]


@pytest.mark.parametrize(("name", "param"), SEEDED)
def test_data_and_start_are_a_pure_function_of_their_seed(name, param):
    """The same seed builds the same objective bit for bit (so a run is a function of its scenario); another seed
    another one."""
    small = SMALL[name]
    first, again = get_objective(name, **small, **{param: 5}), get_objective(name, **small, **{param: 5})
    other = get_objective(name, **small, **{param: 6})
    x = first.random_point(np.random.default_rng(0))
    assert first.x0.tobytes() == again.x0.tobytes() and first.grad(x).tobytes() == again.grad(x).tobytes()
    assert first.loss(x) == again.loss(x) and first.smoothness == again.smoothness
    assert (first.x0.tobytes(), first.grad(x).tobytes()) != (other.x0.tobytes(), other.grad(x).tobytes())


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_a_call_without_parameters_builds_the_advertised_defaults(name):
    """objective_params (what the scenario schema fills in and documents) are the defaults a bare call uses: the
    same data, start, constants and gradients bit for bit (the mlp at its small size: its default one takes seconds
    to build)."""
    sizes = SMALL[name] if name == "mlp" else {}
    bare, explicit = get_objective(name, **sizes), get_objective(name, **(objective_params(name) | sizes))
    x = explicit.random_point(np.random.default_rng(1))
    samples = explicit.sample(np.random.default_rng(2), 3)
    assert bare.x0.tobytes() == explicit.x0.tobytes()
    for attribute in ("dim", "n_samples", "smoothness", "variance", "f_star"):
        assert getattr(bare, attribute) == getattr(explicit, attribute), attribute
    assert bare.loss(x) == explicit.loss(x)
    assert bare.grad(x).tobytes() == explicit.grad(x).tobytes()
    assert bare.stochastic_grad(x, samples).tobytes() == explicit.stochastic_grad(x, samples).tobytes()


def test_get_objective_refuses_unknown_names_and_params():
    with pytest.raises(ParameterError) as info:
        get_objective("no-such-objective")
    assert info.value.param == "name"
    with pytest.raises(ParameterError) as info:
        get_objective("mlp", hiden=3)
    assert info.value.param == "hiden"


def test_models_do_not_import_simpy():
    code = "import sys, models; models.get_objective('noisy-rosenbrock'); assert 'simpy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=pathlib.Path(__file__).resolve().parents[1])


# ---- gradients -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES)
@settings(max_examples=5, deadline=None)
@given(seed=SEEDS)
def test_grad_matches_central_differences(case, seed):
    obj = build(case)
    x = obj.random_point(np.random.default_rng(seed))
    g = obj.grad(x)
    fd = np.empty(obj.dim)
    for j in range(obj.dim):
        h = 1e-6 * max(1.0, abs(x[j]))
        up, down = x.copy(), x.copy()
        up[j] += h
        down[j] -= h
        fd[j] = (obj.loss(up) - obj.loss(down)) / (up[j] - down[j])
    scale = 1.0 + np.max(np.abs(g)) + abs(obj.loss(x))
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-7 * scale)


# Each parameter at the ends of its allowed range (n, dim, hidden: 1; rosenbrock's dim: 2; radii: 1).
LIMITS = [
    ("nonconvex-logistic", {"n": 1, "dim": 1, "reg": 0.0, "label_noise": 0.0, "data_seed": 0}),
    ("nonconvex-logistic", {"n": 3, "dim": 2, "label_noise": 0.5}),
    ("robust-regression", {"n": 1, "dim": 1, "outliers": 0.0, "noise": 0.0, "data_seed": 0}),
    ("robust-regression", {"n": 3, "dim": 2, "outliers": 1.0}),
    ("noisy-rosenbrock", {"dim": 2, "noise": 0.0, "radius": 1.0}),
    ("noisy-rosenbrock", {"curvature": 1e-9}),
    ("mlp", {"hidden": 1, "reg": 0.0, "init_seed": 0}),
    ("phase-retrieval", {"n": 1, "dim": 1, "radius": 1.0, "data_seed": 0}),
]


@pytest.mark.parametrize("name, params", LIMITS)
def test_parameters_at_the_ends_of_their_range_build(name, params):
    check_attributes(get_objective(name, **params))


def test_logistic_smoothness_is_attained_at_zero():
    """At x = 0 the Hessian is A^T A / (4n) + 2 reg I (phi''(0) = 1/4, the regularizer's second derivative 2): its
    norm is the stated bound L = ||A||^2 / (4n) + 2 reg exactly, so a wrong term of L shows."""
    for params in ({"n": 40, "dim": 6, "reg": 0.5}, {"n": 40, "dim": 6, "reg": 0.0}):
        obj = get_objective("nonconvex-logistic", **params)
        h, basis = 1e-5, np.eye(obj.dim)
        hessian = np.stack([(obj.grad(h * e) - obj.grad(-h * e)) / (2 * h) for e in basis])  # central differences
        assert np.linalg.norm(hessian, 2) == pytest.approx(obj.smoothness, rel=1e-6)


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_every_gradient_parameter_has_a_case(name):
    """A float parameter whose change moves grad f or G at the small size is set to a value other than its default
    in a case, so a wrong factor on it (a doubled regularizer) fails the finite differences."""
    defaults, small = objective_params(name), get_objective(name, **SMALL[name])
    rng = np.random.default_rng(0)
    x, samples = small.random_point(rng), small.sample(rng, 3)
    for param, default in defaults.items():
        if not isinstance(default, float):
            continue
        changed = get_objective(name, **SMALL[name], **{param: default + 0.25})
        if np.array_equal(changed.grad(x), small.grad(x)) and \
                np.array_equal(changed.stochastic_grad(x, samples), small.stochastic_grad(x, samples)):
            continue
        assert any(objective == name and params.get(param, default) not in (default, 0.0)
                   for objective, params in CASES.values()), f"{name}.{param} enters the gradient but has no case"


@pytest.mark.parametrize("case", FINITE)
@settings(max_examples=5, deadline=None)
@given(seed=SEEDS)
def test_finite_sum_stochastic_grads_average_to_grad(case, seed):
    obj = build(case)
    rng = np.random.default_rng(seed)
    x = obj.random_point(rng)
    g = obj.grad(x)
    per = per_sample_grads(obj, x)
    atol = 1e-10 * (1.0 + np.max(np.abs(per)))
    np.testing.assert_allclose(per.mean(axis=0), g, rtol=1e-9, atol=atol)
    np.testing.assert_allclose(obj.stochastic_grad(x, np.arange(obj.n_samples)), g, rtol=1e-9, atol=atol)
    np.testing.assert_allclose(obj.stochastic_grad(x, rng.permutation(obj.n_samples)), g, rtol=1e-9, atol=atol)


@pytest.mark.parametrize("case", NOISE)
@pytest.mark.parametrize("seed", [0, 1])
def test_noise_model_mean_and_variance(case, seed):
    obj = build(case)
    rng = np.random.default_rng(seed)
    x = obj.random_point(rng)
    keys = obj.sample(rng, 4000)
    g = obj.grad(x)
    per = np.stack([obj.stochastic_grad(x, keys[k:k + 1]) for k in range(len(keys))])
    batch = obj.stochastic_grad(x, keys)
    np.testing.assert_allclose(batch, per.mean(axis=0), rtol=1e-9, atol=1e-9 * (1 + np.max(np.abs(g))))
    sd = math.sqrt(obj.variance / obj.dim)  # per coordinate
    assert np.max(np.abs(batch - g)) < 5 * sd / math.sqrt(len(keys))  # the mean approaches grad f
    dev = per - g
    assert abs(np.mean(np.sum(dev * dev, axis=1)) / obj.variance - 1) < 0.1  # E||G - grad f||^2 = sigma^2
    z = dev / sd
    correlation = z.T @ z / len(keys) - np.eye(obj.dim)
    assert np.max(np.abs(correlation)) < 5 / math.sqrt(len(keys))  # coordinates independent, unit variance
    assert abs(np.mean(z**4) - 3) < 0.3  # Gaussian kurtosis


@pytest.mark.parametrize("case", CASES)
@settings(max_examples=5, deadline=None)
@given(seed=SEEDS)
def test_stochastic_grad_is_deterministic_and_accepts_duplicates(case, seed):
    obj = build(case)
    rng = np.random.default_rng(seed)
    x = obj.random_point(rng)
    x_before = x.copy()
    block = obj.sample(rng, 8)
    samples = block[2:5]
    g1 = obj.stochastic_grad(x, samples)
    g2 = obj.stochastic_grad(x.copy(), samples.copy())
    assert g1.shape == (obj.dim,) and g1.dtype == np.float64
    assert np.array_equal(g1, g2) and np.array_equal(x, x_before)
    assert not np.shares_memory(g1, x) and not np.shares_memory(g1, g2)
    g1[:] = np.nan  # a fresh array (the engine updates it in place): changing it changes nothing else
    assert np.array_equal(obj.stochastic_grad(x, samples), g2)
    i, j = samples[0], samples[1]
    gi, gj = obj.stochastic_grad(x, one(i)), obj.stochastic_grad(x, one(j))
    assert np.array_equal(obj.stochastic_grad(x, block[2:3]), gi)
    tol = {"rtol": 1e-9, "atol": 1e-12 * (1.0 + np.max(np.abs(gi)) + np.max(np.abs(gj)))}
    np.testing.assert_allclose(obj.stochastic_grad(x, np.array([i, i], dtype=np.int64)), gi, **tol)
    np.testing.assert_allclose(obj.stochastic_grad(x, np.array([i, j, i], dtype=np.int64)), (2 * gi + gj) / 3, **tol)


@pytest.mark.parametrize("case", [*CASES, *(f"{name}-default" for name in SMALL)])
@settings(max_examples=4, deadline=None)
@given(seed=SEEDS, replicates=st.integers(1, 17), minibatch=st.sampled_from([1, 1, 2, 5]))
def test_stochastic_grads_rows_equal_stochastic_grad_bitwise(case, seed, replicates, minibatch):
    """The batched-replicates fast path: row r is stochastic_grad(points[r], samples[r]), bit for bit, at the small
    sizes and at each objective's default size (where the BLAS calls are the bench's)."""
    obj = build(case) if case in CASES else default(case.removesuffix("-default"))
    rng = np.random.default_rng(seed)
    points = np.stack([obj.random_point(rng) for _ in range(replicates)])
    points[0] *= 1e3  # far from the region too: large margins, saturated sigmoids
    samples = obj.sample(rng, replicates * minibatch).reshape(replicates, minibatch)
    rows = obj.stochastic_grads(points, samples)
    assert rows.shape == (replicates, obj.dim) and rows.dtype == np.float64
    assert not np.shares_memory(rows, points)
    for r in range(replicates):
        assert rows[r].tobytes() == obj.stochastic_grad(points[r], samples[r]).tobytes(), f"row {r} differs"


@functools.cache
def default(name: str) -> Objective:
    return get_objective(name)


# ---- stated constants ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES)
@settings(max_examples=5, deadline=None)
@given(seed=SEEDS)
def test_smoothness_is_not_contradicted(case, seed):
    obj = build(case)
    rng = np.random.default_rng(seed)
    allowed = obj.smoothness * ALLOWED[obj.constant_kinds["smoothness"]]
    x, y = obj.random_point(rng), obj.random_point(rng)
    assert np.linalg.norm(obj.grad(x) - obj.grad(y)) <= allowed * np.linalg.norm(x - y)
    close = x + 1e-3 * (y - x)
    assert np.linalg.norm(obj.grad(x) - obj.grad(close)) <= allowed * np.linalg.norm(x - close)
    v, h = top_curvature_direction(obj, x), 1e-5
    assert np.linalg.norm(obj.grad(x + h * v) - obj.grad(x - h * v)) <= allowed * 2 * h


@pytest.mark.parametrize("case", FINITE)
@settings(max_examples=5, deadline=None)
@given(seed=SEEDS)
def test_variance_is_not_contradicted(case, seed):
    obj = build(case)
    allowed = obj.variance * ALLOWED[obj.constant_kinds["variance"]]
    for x in (obj.x0, obj.random_point(np.random.default_rng(seed))):
        dev = per_sample_grads(obj, x) - obj.grad(x)
        assert np.mean(np.sum(dev * dev, axis=1)) <= allowed


@pytest.mark.parametrize("case", CASES)
@settings(max_examples=10, deadline=None)
@given(seed=SEEDS)
def test_loss_is_at_least_f_star(case, seed):
    obj = build(case)
    assert obj.loss(obj.random_point(np.random.default_rng(seed))) >= obj.f_star
    assert obj.loss(obj.x0) >= obj.f_star


@pytest.mark.parametrize("case", EXACT_MINIMUM)
def test_exact_f_star_is_attained(case):
    obj = build(case)
    assert obj.x_star is not None and obj.x_star.shape == (obj.dim,)
    assert abs(obj.loss(obj.x_star) - obj.f_star) <= 1e-12
    assert np.linalg.norm(obj.grad(obj.x_star)) <= 1e-10


@pytest.mark.parametrize("case", CASES)
def test_sample_is_int64_in_range_and_reproducible(case):
    obj = build(case)
    a, b = obj.sample(np.random.default_rng(3), 500), obj.sample(np.random.default_rng(3), 500)
    assert a.dtype == np.int64 and a.shape == (500,) and np.array_equal(a, b)
    assert len(np.unique(a)) > 1 and np.all(a >= 0)
    if obj.n_samples is not None:
        assert np.all(a < obj.n_samples)


# ---- objective-specific checks -------------------------------------------------------------------------------------

@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("case", ["nonconvex-logistic", "nonconvex-logistic-digits"])
def test_logistic_at_zero_and_for_huge_x(case):
    obj = build(case)
    assert obj.loss(np.zeros(obj.dim)) == pytest.approx(math.log(2), rel=1e-14)
    x = 1e100 * np.where(np.arange(obj.dim) % 2 == 0, 1.0, -1.0)
    assert math.isfinite(obj.loss(x)) and obj.loss(x) > 0
    assert np.all(np.isfinite(obj.grad(x))) and np.all(np.isfinite(obj.stochastic_grad(x, one(0))))


def test_logistic_digits_data():
    obj = build("nonconvex-logistic-digits")
    assert (obj.n_samples, obj.dim) == (1797, 65)
    assert np.all(obj._A[:, -1] == 1.0) and 0.0 <= obj._A.min() and obj._A.max() <= 1.0
    assert set(np.unique(obj._b)) == {-1.0, 1.0}


def test_rosenbrock_start_minimizer_and_additive_noise():
    obj = build("noisy-rosenbrock")
    assert np.array_equal(obj.x0, [-1.2, 1.0, -1.2, 1.0, -1.2])
    assert np.array_equal(get_objective("noisy-rosenbrock", dim=3, radius=1.1).x0, [-1.1, 1.0, -1.1])
    assert obj.loss(np.ones(obj.dim)) == 0.0 and not np.any(obj.grad(np.ones(obj.dim)))
    rng = np.random.default_rng(0)
    x, y, keys = obj.random_point(rng), obj.random_point(rng), obj.sample(rng, 2)
    np.testing.assert_allclose(obj.stochastic_grad(x, keys) - obj.grad(x), obj.stochastic_grad(y, keys) - obj.grad(y),
                               atol=1e-9)
    assert not np.allclose(obj.stochastic_grad(x, keys[:1]), obj.stochastic_grad(x, keys[1:]))


def test_rosenbrock_smoothness_is_the_largest_gershgorin_row_by_hand():
    """On [-r, r]^d: the first row's bound 12 c r^2 + 4 c r + 2 plus |H_01| <= 4 c r, the last row's 2 c + 4 c r, a
    middle row both; so L is the first row's at d = 2 and the sum at d >= 3."""
    c, r = 3.0, 1.5
    first, last = 12 * c * r * r + 8 * c * r + 2, 2 * c + 4 * c * r  # 119, 24
    for dim, expected in ((2, first), (3, first + last), (6, first + last)):
        assert get_objective("noisy-rosenbrock", dim=dim, curvature=c, radius=r).smoothness == expected, dim


def test_rosenbrock_random_point_is_uniform_on_its_box():
    """random_point samples [-r, r]^d uniformly: inside the box, mean 0 and variance r^2 / 3 per coordinate."""
    obj = get_objective("noisy-rosenbrock", dim=4, radius=1.5)
    rng = np.random.default_rng(0)
    points = np.stack([obj.random_point(rng) for _ in range(4000)])
    assert np.all(np.abs(points) <= 1.5)
    np.testing.assert_allclose(points.mean(axis=0), 0.0, atol=0.06)  # 4 standard errors (0.87 / sqrt 4000 = 0.014)
    np.testing.assert_allclose(points.var(axis=0), 1.5**2 / 3, rtol=0.05)


def test_phase_retrieval_signal_start_and_region():
    obj = build("phase-retrieval")
    assert np.linalg.norm(obj.x_star) == pytest.approx(1.0)
    assert obj.loss(-obj.x_star) == pytest.approx(0.0, abs=1e-14)
    assert not np.any(obj.grad(np.zeros(obj.dim)))  # 0 is stationary, so x0 is not 0
    assert 0 < np.linalg.norm(obj.x0) <= obj.radius and obj.loss(obj.x0) > 0
    rng = np.random.default_rng(0)
    assert all(np.linalg.norm(obj.random_point(rng)) <= obj.radius for _ in range(100))


@pytest.mark.parametrize("radius", [1.0, 1.5, 3.0])
@pytest.mark.parametrize("data_seed", [0, 3, 4])  # one measurement a = 0.13, 2.04, -0.65
def test_phase_retrieval_constants_by_hand_for_one_measurement(data_seed, radius):
    """n = dim = 1, one measurement a: y = a^2 (x_true = +-1), f(0) = y^2 / 4 = a^4 / 4; on |x| <= r, P = 3 r^2 a^4 >= Q
    = a^4, so L = 3 r^2 a^4; s = r^2 a^2, m = max(a^2, s - a^2)^2, sigma^2 = r^2 a^2 (a^2 m) = r^2 a^8 max(1, r^2 - 1)^2."""
    obj = get_objective("phase-retrieval", n=1, dim=1, radius=radius, data_seed=data_seed)
    a4 = 4.0 * obj.loss(np.zeros(1))
    assert obj.smoothness == pytest.approx(3.0 * radius**2 * a4, rel=1e-12)
    assert obj.variance == pytest.approx(radius**2 * a4 * a4 * max(1.0, radius**2 - 1.0) ** 2, rel=1e-12)


def test_phase_retrieval_random_point_is_uniform_on_its_ball():
    """random_point samples ||x|| <= r uniformly: P(||x|| <= rho) = (rho / r)^d, so E||x|| = r d / (d + 1) and an
    eighth of the points lie within r / 2 at d = 3."""
    obj = get_objective("phase-retrieval", n=5, dim=3, radius=2.0)
    rng = np.random.default_rng(0)
    norms = np.array([np.linalg.norm(obj.random_point(rng)) for _ in range(4000)])
    assert np.all(norms <= 2.0)
    assert norms.mean() == pytest.approx(1.5, abs=0.03)  # standard error 0.39 / sqrt 4000 = 0.006
    assert np.mean(norms <= 1.0) == pytest.approx(1 / 8, abs=0.025)


def test_synthetic_data_follow_their_stated_laws():
    """models/datasets.py on 20,000 rows of dim 4, the same seed with and without each effect (the draws come in a
    fixed order, so the difference is the effect alone): rows a_i ~ N(0, I/dim) (E||a_i||^2 = 1); labels +-1, half
    each; label_noise flips that fraction of them; the regression noise is noise * N(0, 1); a fraction `outliers`
    of the targets gets N(0, 10^2) on top."""
    from models import datasets

    rng = np.random.default_rng
    n, dim = 20000, 4
    A, y = datasets.classification(rng(0), n, dim, 0.0)
    _, flipped = datasets.classification(rng(0), n, dim, 0.3)
    assert np.mean(np.sum(A * A, axis=1)) == pytest.approx(1.0, abs=0.03)
    assert set(np.unique(y)) == {-1.0, 1.0} and np.mean(y == 1.0) == pytest.approx(0.5, abs=0.02)
    assert np.mean(flipped != y) == pytest.approx(0.3, abs=0.02)
    A, clean = datasets.regression(rng(0), n, dim, 0.0, 0.0)
    _, noisy = datasets.regression(rng(0), n, dim, 0.0, 0.5)
    _, outlying = datasets.regression(rng(0), n, dim, 0.2, 0.0)
    assert np.mean(np.sum(A * A, axis=1)) == pytest.approx(1.0, abs=0.03) and abs(np.mean(clean)) < 0.05
    assert np.std(noisy - clean) == pytest.approx(0.5, rel=0.03) and abs(np.mean(noisy - clean)) < 0.02
    gross = (outlying - clean)[outlying != clean]
    assert len(gross) / n == pytest.approx(0.2, abs=0.02) and np.std(gross) == pytest.approx(10.0, rel=0.05)


def test_digits_binary_splits_zero_to_four_from_five_to_nine():
    from models import datasets

    A, y = datasets.digits_binary()
    assert A.shape == (1797, 65) and np.all(A[:, -1] == 1.0) and A[:, :64].max() == 1.0
    assert int(np.sum(y == 1.0)) == 901 and int(np.sum(y == -1.0)) == 896  # 178 + 182 + 177 + 183 + 181 images of 0-4


def test_mlp_layout_and_regularizer():
    obj, hidden = build("mlp"), SMALL["mlp"]["hidden"]
    assert obj.dim == 64 * hidden + hidden + 10 * hidden + 10
    assert obj.loss(np.zeros(obj.dim)) == pytest.approx(math.log(10), rel=1e-14)
    assert not np.any(obj.x0[64 * hidden:65 * hidden]) and not np.any(obj.x0[-10:])  # biases b1, b2 start at 0
    regularized = get_objective("mlp", hidden=hidden, reg=0.5)
    assert regularized.loss(obj.x0) - obj.loss(obj.x0) == pytest.approx(0.25 * obj.x0 @ obj.x0, rel=1e-9)


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_value_and_grad_is_loss_and_grad_bitwise(name):
    objective = get_objective(name)
    x = objective.random_point(np.random.default_rng(5))
    value, gradient = objective.value_and_grad(x)
    assert value == objective.loss(x)
    assert gradient.tobytes() == objective.grad(x).tobytes()


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS, gamma=st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False))
def test_sgd_step_in_place_is_x_minus_gamma_direction_bitwise(seed, gamma):
    """The fast in-place update x + (-gamma) d has the bits of the textbook x - gamma d (huge values and infs too),
    in d or in a given output array."""
    from models.updates import sgd_step

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(50) * 10.0 ** rng.integers(-300, 300, size=50)
    d = rng.standard_normal(50) * 10.0 ** rng.integers(-300, 300, size=50)
    d[::7] = np.inf
    x_before = x.copy()
    with np.errstate(all="ignore"):
        expected = x - gamma * d
        direction = d.copy()
        assert sgd_step(x, direction, gamma) is direction and direction.tobytes() == expected.tobytes()  # no new array
        out = np.empty_like(x)
        assert sgd_step(x, d.copy(), gamma, out=out) is out and out.tobytes() == expected.tobytes()
    assert x.tobytes() == x_before.tobytes()


class PlainQuadratic(Objective):
    """A plug-in written against the base class alone: f(x) = ||x||^2 / 2 over d = 3, G(x; i) = x + e_(i mod 3)
    - 1/3 (zero mean over i uniform on 0..2); it keeps the base's value_and_grad, stochastic_grads and random_point."""

    name = "plain-quadratic"

    def __init__(self) -> None:
        self.dim, self.x0, self.n_samples = 3, np.array([1.0, -2.0, 0.5]), 3
        self.smoothness, self.variance, self.f_star = 1.0, 2.0 / 3.0, 0.0
        self.constant_kinds = {"smoothness": EXACT, "variance": EXACT, "f_star": EXACT}

    def loss(self, x: np.ndarray) -> float:
        return 0.5 * float(x @ x)

    def grad(self, x: np.ndarray) -> np.ndarray:
        return x.copy()

    def stochastic_grad(self, x: np.ndarray, samples: np.ndarray) -> np.ndarray:
        return x + np.bincount(samples % 3, minlength=3) / len(samples) - 1.0 / 3.0


def test_a_plug_in_gets_batched_gradients_and_random_points_from_the_base_class():
    """Objective's defaults, which every registered objective overrides: stochastic_grads stacks stochastic_grad's
    rows bit for bit in a new (R, dim) array; value_and_grad is (loss, grad); random_point is x0 + N(0, I), so
    over 4000 draws p - x0 has mean 0 and identity covariance (a shift shared by the coordinates would correlate
    them)."""
    obj = PlainQuadratic()
    rng = np.random.default_rng(0)
    points = rng.normal(size=(5, 3))
    samples = np.array([[0, 4], [1, 1], [2, 7], [5, 3], [0, 0]], dtype=np.int64)
    rows = obj.stochastic_grads(points, samples)
    assert rows.shape == (5, 3) and not np.shares_memory(rows, points)
    expected = points + np.array([[0.5, 0.5, 0], [0, 1, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [1, 0, 0]]) - 1.0 / 3.0
    for r in range(5):
        assert rows[r].tobytes() == obj.stochastic_grad(points[r], samples[r]).tobytes() == expected[r].tobytes()
    value, gradient = obj.value_and_grad(obj.x0)
    assert value == 2.625 and gradient.tolist() == [1.0, -2.0, 0.5]
    offsets = np.stack([obj.random_point(rng) for _ in range(4000)]) - obj.x0
    np.testing.assert_allclose(offsets.mean(axis=0), 0.0, atol=0.07)  # 4 standard errors
    np.testing.assert_allclose(np.cov(offsets.T), np.eye(3), atol=0.1)
