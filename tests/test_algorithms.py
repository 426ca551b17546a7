"""Algorithms as parts: regularizers (conformance, prox optimality, known points), proximal steps, SVRG and SAPALM
(reductions bit for bit, ground truths, replay, determinism, batch = single, closed form = engine)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.regularizers import L1, MCP, REGULARIZERS, Box, Regularizer
from models.updates import SVRG, Algorithm, DelayCompensation, LockstepSVRG, step_schedule
from scenarios import build_objective, parse
from sim import simulate
from sim.engine import simulate_batch
from tests.helpers import SMALL_OBJECTIVE, assert_identical_runs, assert_replays, assert_same_table

CONSTANT = {"dist": "constant", "value": 1.0}
EXAMPLES = {  # one instance per registered regularizer (the conformance tests cover the whole registry)
    "none": Regularizer(),
    "l1": L1(weight=0.3),
    "mcp": MCP(weight=0.4, concavity=2.5),
    "box": Box(low=-0.7, high=0.2),
}
IDENTITIES = [Regularizer(), L1(weight=0.0), MCP(weight=0.0, concavity=1.0), Box(low=-np.inf, high=np.inf)]
FLOATS = st.floats(-1e6, 1e6, allow_nan=False)


def run_scenario(algorithm: str = "asysg-con", workers: int = 3, iterations: int = 60, seed: int = 0,
                 compute: dict | None = None, staleness: dict | None = None, record: dict | None = None,
                 cluster: dict | None = None, objective: dict | None = None, **keys: Any):
    """A small scenario with extra [algorithm] keys (regularizer, estimator, blocks, ...)."""
    data: dict[str, Any] = {
        "name": "parts", "seed": seed, "objective": objective or dict(SMALL_OBJECTIVE),
        "algorithm": {"name": algorithm, "iterations": iterations, "step": 0.05, **keys},
        "cluster": {"workers": workers, "compute": compute or {"dist": "exponential", "mean": 1.0}, **(cluster or {})},
        "record": record or {"every": 1},
    }
    if algorithm != "sync":
        data["staleness"] = staleness or {}
    return parse(data)


def assert_same_run(first, second, skip_metrics=()) -> None:
    """Same final iterate, trace and metrics bit for bit (summaries name different parts)."""
    assert first.x_final.tobytes() == second.x_final.tobytes()
    assert first.trace_table.equals(second.trace_table)
    keep = [c for c in first.metrics_table.column_names if c not in skip_metrics]
    assert_same_table(first.metrics_table.select(keep), second.metrics_table.select(keep))


# --- every regularizer: the conformance suite ----------------------------------------------------------------

def test_every_registered_regularizer_has_an_example():
    assert set(EXAMPLES) == set(REGULARIZERS)


@pytest.mark.parametrize("name", sorted(REGULARIZERS))
@settings(max_examples=40, deadline=None)
@given(z=FLOATS, gamma=st.floats(0.01, 2.0))
def test_prox_minimizes_the_prox_objective_against_a_fine_search(name, z, gamma):
    """prox_{gamma h}(z) = argmin_x p(x) + (x - z)^2 / (2 gamma): no point of a fine grid around it does better."""
    regularizer = EXAMPLES[name]
    if regularizer.check_step(gamma) is not None:
        gamma = 0.5 * regularizer.concavity
    z = z / 1e5  # the grid's interesting region
    x = float(regularizer.prox(np.array([z]), gamma)[0])

    def objective(points):
        values = np.array([regularizer.value(np.array([p])) for p in points])
        return values + (points - z) ** 2 / (2 * gamma)

    grid = np.concatenate([np.linspace(min(x, z) - 2, max(x, z) + 2, 4001), [x]])
    values = objective(grid)
    assert values[-1] <= values[:-1].min() + 1e-9 * (1 + abs(values[-1]))


@pytest.mark.parametrize("name", sorted(REGULARIZERS))
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), gamma=st.floats(0.01, 2.0))
def test_prox_rows_of_a_batch_and_in_place_equal_single_calls_bitwise(name, seed, gamma):
    regularizer = EXAMPLES[name]
    if regularizer.check_step(gamma) is not None:
        gamma = 0.5 * regularizer.concavity
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((4, 7)) * 10.0 ** rng.integers(-3, 3, size=(4, 7))
    z[0, :3] = [0.0, -0.0, np.inf]
    batch = regularizer.prox(z, gamma)
    for row, expected in zip(z, batch):
        assert regularizer.prox(row, gamma).tobytes() == expected.tobytes()
    in_place = z.copy()
    assert regularizer.prox(in_place, gamma, out=in_place) is in_place and in_place.tobytes() == batch.tobytes()
    assert z.tobytes() == z.copy().tobytes()


@pytest.mark.parametrize("regularizer", IDENTITIES, ids=lambda r: f"{r.name}-identity")
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), gamma=st.floats(1e-3, 0.9))
def test_weight_zero_and_the_infinite_box_are_the_identity_bitwise(regularizer, seed, gamma):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(20) * 10.0 ** rng.integers(-300, 300, size=20)
    z[:4] = [0.0, -0.0, np.inf, -np.inf]
    assert regularizer.prox(z, gamma).tobytes() == z.tobytes()


def test_known_points():
    soft = L1(weight=1.0)
    assert soft.prox(np.array([0.0, 0.5, -0.5, 2.0, -3.0]), 1.0).tolist() == [0.0, 0.0, -0.0, 1.0, -2.0]
    mcp = MCP(weight=1.0, concavity=4.0)  # gamma = 2: 0 up to 2, (|z| - 2) / (1 - 1/2) up to 4, z beyond
    assert mcp.prox(np.array([1.5, -2.0, 3.0, -3.5, 4.5, -6.0]), 2.0).tolist() == [0.0, -0.0, 2.0, -3.0, 4.5, -6.0]
    assert mcp.value(np.array([1.0, 10.0])) == (1.0 - 1.0 / 8.0) + 4.0 / 2.0
    box = Box(low=-1.0, high=0.5)
    assert box.prox(np.array([-2.0, 0.0, 0.7]), 0.3).tolist() == [-1.0, 0.0, 0.5]
    assert box.value(np.array([0.0, 0.5])) == 0.0 and box.value(np.array([0.6])) == np.inf
    assert MCP(weight=1.0, concavity=0.5).check_step(0.5) is not None and mcp.check_step(2.0) is None


@pytest.mark.parametrize("regularizer", IDENTITIES, ids=lambda r: f"{r.name}-identity")
def test_weight_zero_and_the_infinite_box_are_worth_zero(regularizer):
    assert regularizer.value(np.array([-3.0, 0.0, 2.5e10])) == 0.0


@pytest.mark.parametrize("build", [lambda w: L1(weight=w), lambda w: MCP(weight=w, concavity=1.0)], ids=["l1", "mcp"])
@pytest.mark.parametrize("weight", [-0.5, np.inf, np.nan])
def test_a_bad_weight_is_refused_naming_it(build, weight):
    with pytest.raises(ValueError) as info:
        build(weight)
    assert str(info.value) == f"weight = {float(weight)!r}: must be a finite number >= 0"


def test_the_box_is_closed_may_be_a_point_and_is_never_empty_or_at_infinity():
    """[low, high] holds its ends (value 0 there); low = high is a point (everything projects onto it); an empty
    box or one at +-inf only (low = high = +-inf) is refused."""
    box = Box(low=-1.0, high=0.5)
    assert box.value(np.array([-1.0, 0.5])) == 0.0 and box.value(np.array([np.nextafter(-1.0, -2.0)])) == np.inf
    point = Box(low=0.5, high=0.5)
    assert point.prox(np.array([-3.0, 0.5, 7.0]), 0.1).tolist() == [0.5, 0.5, 0.5]
    for low, high in ((1.0, 0.0), (np.inf, np.inf), (-np.inf, -np.inf), (np.nan, 0.0), (0.0, np.nan)):
        with pytest.raises(ValueError, match="need low <= high, low < inf, high > -inf"):
            Box(low=low, high=high)


# --- proximal steps --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm,regularizer", [
    ("asysg-con", {"name": "l1", "weight": 0.0}), ("asysg-con", {"name": "mcp", "weight": 0.0, "concavity": 1.0}),
    ("sync", {"name": "box", "low": -np.inf, "high": np.inf}), ("asysg-incon", {"name": "l1", "weight": 0.0})])
def test_a_regularizer_of_weight_zero_or_an_infinite_box_is_the_plain_run(algorithm, regularizer):
    plain = simulate(run_scenario(algorithm, seed=3))
    regularized = simulate(run_scenario(algorithm, seed=3, regularizer=regularizer))
    assert_same_run(plain, regularized, skip_metrics=("stationarity",))


def test_without_a_regularizer_stationarity_is_grad_norm_sq_and_objective_is_loss():
    result = simulate(run_scenario(iterations=30))
    metrics = result.metrics_table
    assert metrics["stationarity"].equals(metrics["grad_norm_sq"]) and metrics["objective"].equals(metrics["loss"])
    assert result.summary["ergodic_stationarity"] == result.summary["ergodic_grad_norm_sq"]
    assert result.summary["evaluations"] == result.summary["gradients"]


def test_prox_sgd_with_one_worker_is_a_written_out_serial_loop():
    weight, gamma = 0.02, 0.05
    result = simulate(run_scenario(workers=1, iterations=50, regularizer={"name": "l1", "weight": weight}))
    objective = build_objective(result.scenario)
    x = objective.x0.copy()
    for samples in result.trace["samples"]:
        z = x - gamma * objective.stochastic_grad(x, np.array(samples))
        x = np.sign(z) * np.maximum(np.abs(z) - gamma * weight, 0.0)
    assert np.array_equal(x, result.x_final) and x.tobytes() == result.x_final.tobytes()
    metrics = result.metrics
    assert (metrics["objective"] > metrics["loss"]).any() and not metrics["stationarity"].equals(metrics["grad_norm_sq"])


def test_an_l1_weight_above_every_per_sample_gradient_at_zero_keeps_x_exactly_zero():
    objective = build_objective(run_scenario())
    largest = max(np.abs(objective.stochastic_grad(objective.x0, np.array([i]))).max()
                  for i in range(objective.n_samples))
    result = simulate(run_scenario(workers=4, batch=2, regularizer={"name": "l1", "weight": 2.01 * largest},
                                   staleness={"bound": 3}))
    assert not result.x_final.any()
    assert (result.metrics["stationarity"] == 0.0).all()  # x = 0 is stationary for f + h


@pytest.mark.parametrize("algorithm", ["asysg-con", "sync", "asysg-incon"])
def test_box_iterates_never_leave_the_box(algorithm):
    for iterations in (1, 7, 40):
        x = simulate(run_scenario(algorithm, iterations=iterations, step=2.0,
                                  regularizer={"name": "box", "low": -0.05, "high": 0.02})).x_final
        assert ((x >= -0.05) & (x <= 0.02)).all()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), gamma=st.floats(1e-3, 1.0))
def test_the_server_update_is_the_gradient_step_then_the_prox(seed, gamma):
    rng = np.random.default_rng(seed)
    x, d = rng.standard_normal(6), rng.standard_normal(6)
    box = Box(low=-0.1, high=0.3)
    algorithm = Algorithm(build_objective(run_scenario()), lambda k: gamma, regularizer=box)
    assert algorithm.step(x, d.copy(), gamma).tobytes() == box.prox(x - gamma * d, gamma).tobytes()


# --- the new algorithms: replay, determinism, batch = single, closed form = engine ------------------------------

NEW = {
    "prox-l1-con": dict(regularizer={"name": "l1", "weight": 0.01}),
    "prox-mcp-con-wait": dict(regularizer={"name": "mcp", "weight": 0.01, "concavity": 1.0}, staleness={"bound": 2}),
    "prox-box-sync": dict(algorithm="sync", regularizer={"name": "box", "low": -0.1, "high": 0.1}),
    "svrg-con": dict(estimator={"name": "svrg", "epoch": 7}, batch=2),
    "svrg-con-drop": dict(estimator={"name": "svrg", "epoch": 5}, staleness={"bound": 1, "policy": "drop"}),
    "svrg-sync-l1": dict(algorithm="sync", estimator={"name": "svrg", "epoch": 4},
                         regularizer={"name": "l1", "weight": 0.01}),
    "svrg-incon": dict(algorithm="asysg-incon", estimator={"name": "svrg", "epoch": 6}, batch=2,
                       cluster={"read": {"dist": "constant", "value": 0.3}}),
    "sapalm": dict(algorithm="sapalm", blocks=2, regularizer={"name": "l1", "weight": 0.01},
                   cluster={"read": {"dist": "exponential", "mean": 0.5}}, staleness={"bound": 3}),
}


@pytest.mark.parametrize("name", sorted(NEW))
def test_new_algorithms_replay_and_are_deterministic(name, tmp_path):
    scenario = run_scenario(**NEW[name])
    first = simulate(scenario)
    assert first.summary["status"] == "ok" and first.summary["iterations"] == 60
    assert_identical_runs(first, simulate(scenario))
    assert_replays(first, tmp_path / "run")


@pytest.mark.parametrize("name", ["prox-l1-con", "prox-mcp-con-wait", "prox-box-sync", "svrg-con"])
def test_new_algorithms_in_a_batch_equal_single_runs(name):
    scenario = run_scenario(**NEW[name])
    for timing in ("auto", "simpy"):
        for batched, seed in zip(simulate_batch(scenario, [1, 2, 3], timing=timing), [1, 2, 3]):
            assert_identical_runs(batched, simulate(scenario, seed, timing=timing))


def test_proximal_steps_keep_the_closed_form_and_it_equals_the_engine():
    scenario = run_scenario(workers=5, batch=2, regularizer={"name": "mcp", "weight": 0.02, "concavity": 0.5})
    from sim.closed_form.con import closed_form
    assert closed_form(scenario)
    assert_identical_runs(simulate(scenario, timing="auto"), simulate(scenario, timing="simpy"))


# --- SVRG ----------------------------------------------------------------------------------------------------

def test_svrg_with_epoch_one_one_worker_and_no_latency_is_full_gradient_descent():
    result = simulate(run_scenario(workers=1, iterations=25, compute=CONSTANT, estimator={"name": "svrg", "epoch": 1}))
    objective = build_objective(result.scenario)
    x = objective.x0.copy()
    for _ in range(25):
        x = x - 0.05 * objective.grad(x)
    assert x.tobytes() == result.x_final.tobytes()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 4))
def test_the_svrg_estimator_at_the_snapshot_is_the_full_gradient(seed, size):
    objective = build_objective(run_scenario())
    rng = np.random.default_rng(seed)
    svrg = SVRG(objective, epoch=3)
    snapshot = rng.standard_normal(objective.dim)
    svrg.advanced(3, snapshot)
    samples = objective.sample(rng, size)
    assert svrg.gradient(snapshot, samples).tobytes() == (objective.grad(snapshot) + 0.0).tobytes()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), batch=st.integers(1, 4))
def test_the_svrg_direction_is_its_gradients_summed_in_arrival_order(seed, batch):
    """direction = v_1 + v_2 + ... (left to right), v_m = (G(x_m; xi_m) - G(x~; xi_m)) + grad f(x~), bit for bit."""
    objective = build_objective(run_scenario())
    rng = np.random.default_rng(seed)
    svrg = SVRG(objective, epoch=2)
    snapshot = rng.standard_normal(objective.dim)
    svrg.advanced(4, snapshot)
    points = [rng.standard_normal(objective.dim) for _ in range(batch)]
    samples = [objective.sample(rng, 2) for _ in range(batch)]
    by_hand = [(objective.stochastic_grad(x, xi) - objective.stochastic_grad(snapshot, xi)) + objective.grad(snapshot)
               for x, xi in zip(points, samples)]
    expected = by_hand[0]
    for v in by_hand[1:]:
        expected = expected + v
    assert svrg.direction(points, samples).tobytes() == expected.tobytes()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), replicates=st.integers(2, 4), batch=st.integers(1, 3))
def test_lockstep_svrg_rows_are_each_replicates_own_direction(seed, replicates, batch):
    """Row r of LockstepSVRG.directions is replicate r's SVRG.direction bit for bit, each at its own snapshot; at an
    epoch's start (version % epoch == 0) every replicate takes its own next snapshot, and in between none does."""
    objective = build_objective(run_scenario())
    rng = np.random.default_rng(seed)
    singles = [SVRG(objective, epoch=3) for _ in range(replicates)]
    twins = [SVRG(objective, epoch=3) for _ in range(replicates)]
    lockstep = LockstepSVRG(twins)
    for version in (3, 4, 6):
        x = rng.standard_normal((replicates, objective.dim))
        for single, row in zip(singles, x):
            single.advanced(version, row.copy())
        lockstep.advanced(version, x)
        points = rng.standard_normal((replicates * batch, objective.dim))
        samples = objective.sample(rng, replicates * batch)[:, None]
        rows = lockstep.directions(points, samples, batch)
        for r, single in enumerate(singles):
            part = slice(r * batch, (r + 1) * batch)
            assert rows[r].tobytes() == single.direction(list(points[part]), list(samples[part])).tobytes()
            assert twins[r].snapshot.tobytes() == single.snapshot.tobytes()


def test_a_decaying_step_is_update_ks_own_on_every_update_path():
    """With gamma_k = c / sqrt(k + 1), update k steps by gamma_k whichever path it takes: a compensated update
    (DC-ASGD: x - gamma_k sum_m (g_m + lambda g_m g_m (x - x_m))), R replicates at once (row r = the single update),
    and a coordinate write (x - gamma_k d on S only); written out by hand."""
    objective = build_objective(run_scenario())
    rng = np.random.default_rng(5)
    k, gamma, batch = 5, 0.7 / np.sqrt(6.0), 2
    x = rng.standard_normal(objective.dim)
    points = [rng.standard_normal(objective.dim) for _ in range(batch)]
    samples = [objective.sample(rng, 1) for _ in range(batch)]
    gradients = [objective.stochastic_grad(p, xi) for p, xi in zip(points, samples)]

    compensated = Algorithm(objective, step_schedule("decay", None, 0.7), compensation=DelayCompensation(0.5))
    by_hand = [g + (x - p) * g * g * 0.5 for g, p in zip(gradients, points)]
    np.testing.assert_allclose(compensated.update(x, points, samples, k), x - gamma * (by_hand[0] + by_hand[1]),
                               rtol=1e-14)

    plain = Algorithm(objective, step_schedule("decay", None, 0.7))
    xs = np.stack([x, x + 1.0])
    rows = plain.updates(xs, np.stack(points + points), np.stack(samples + samples), batch, k)
    for r in range(2):
        assert rows[r].tobytes() == plain.update(xs[r], points, samples, k).tobytes()
    np.testing.assert_allclose(rows[0], x - gamma * (gradients[0] + gradients[1]), rtol=1e-14)

    coordinates = np.array([0, 3])
    written = plain.write(x, points, samples, coordinates, k)
    expected = x.copy()
    expected[coordinates] -= gamma * (gradients[0] + gradients[1])[coordinates]
    assert written.tobytes() == expected.tobytes()


def test_svrg_epochs_drain_and_cost_their_full_pass():
    """Every gradient of epoch e was read at or after its snapshot x_{e m}; constant compute 1 with W = 1 and M = 1:
    each inner gradient takes 2 (two evaluations), each snapshot round n / W = 64; evaluations count both."""
    epoch, K = 4, 12
    result = simulate(run_scenario(workers=1, iterations=K, compute=CONSTANT, estimator={"name": "svrg", "epoch": epoch}))
    trace = result.trace
    assert (trace["read_version"] >= trace["update"] - trace["update"] % epoch).all()
    assert result.summary["sim_time"] == K * 2.0 + (K // epoch) * 64.0
    assert result.summary["evaluations"] == 2 * K + (K // epoch) * 64
    many = simulate(run_scenario(workers=4, iterations=40, batch=2, estimator={"name": "svrg", "epoch": 5}))
    updates, versions = many.trace["update"], many.trace["read_version"]
    assert (versions >= updates - updates % 5).all()


# --- SAPALM --------------------------------------------------------------------------------------------------

def test_sapalm_with_singleton_blocks_and_no_regularizer_is_asysg_incon_with_block_one():
    cluster = {"read": {"dist": "exponential", "mean": 0.5}}
    incon = simulate(run_scenario("asysg-incon", workers=4, cluster=cluster, staleness={"bound": 4}))
    sapalm = simulate(run_scenario("sapalm", workers=4, cluster=cluster, staleness={"bound": 4}, blocks=5))
    assert_same_run(incon, sapalm)


def test_sapalm_writes_one_whole_contiguous_block_per_update():
    result = simulate(run_scenario("sapalm", blocks=2, iterations=40))
    written = result.trace_table["coordinates"].to_pylist()
    assert {tuple(c) for c in written} == {(0, 1), (2, 3, 4)}


# --- bad input, through the command line -----------------------------------------------------------------------

NEW_KEYS_BAD = [
    (['algorithm.estimator={name="svrg", epoch=0}'], ["algorithm.estimator.epoch", "0", ">= 1"]),
    (['algorithm.estimator={name="svrg"}'], ["algorithm.estimator.epoch", "required"]),
    (['algorithm.estimator="saga"'], ["algorithm.estimator", "saga", "svrg"]),
    (['algorithm.estimator={name="svrg", epoch=5, lag=1}'], ["algorithm.estimator.lag", "unknown key"]),
    (['algorithm.regularizer={name="lasso"}'], ["algorithm.regularizer.name", "lasso", "'l1'"]),
    (['algorithm.regularizer={name="l1"}'], ["algorithm.regularizer.weight", "required"]),
    (['algorithm.regularizer={name="l1", weight=-1.0}'], ["algorithm.regularizer", "weight", ">= 0"]),
    (['algorithm.regularizer={name="l1", weight=true}'], ["algorithm.regularizer.weight", "True", "finite number"]),
    (['algorithm.regularizer={name="l1", weight=inf}'], ["algorithm.regularizer.weight", "inf", "finite number"]),
    (['algorithm.regularizer={name="box", low=1.0, high=0.0}'], ["algorithm.regularizer", "low <= high"]),
    (["algorithm.step=0.5", 'algorithm.regularizer={name="mcp", weight=0.1, concavity=0.2}'],
     ["algorithm.step", "concavity", "0.2"]),
    (["algorithm.step=0.5", 'algorithm.regularizer={name="mcp", weight=0.1, concavity=0.0}'],
     ["algorithm.regularizer", "concavity", "> 0"]),
    (['algorithm.regularizer={name="mcp", weight=0.1, concavity=1e-9}'],  # the corollary step, resolved at run time
     ["algorithm.step", "corollary", "concavity"]),
    (["algorithm.blocks=4"], ["algorithm.blocks", "'sapalm'", "not 'asysg-con'"]),
    (['algorithm.name="sapalm"', "algorithm.block=2"], ["algorithm.block", "'asysg-incon'", "not 'sapalm'"]),
    (['algorithm.name="sapalm"', "algorithm.blocks=101"], ["algorithm.blocks", "101", "dimension, 100"]),
    (['algorithm.name="sapalm"', "algorithm.blocks=0"], ["algorithm.blocks", "0", ">= 1"]),
    (['objective={name="noisy-rosenbrock"}', 'algorithm.estimator={name="svrg", epoch=5}'],
     ["algorithm.estimator", "noisy-rosenbrock", "finite sum"]),
]


@pytest.mark.parametrize("settings_,words", NEW_KEYS_BAD, ids=[str(i) for i in range(len(NEW_KEYS_BAD))])
def test_new_keys_with_wrong_types_ranges_or_combinations_exit_2_with_one_line(settings_, words, tmp_path, capsys):
    from tests.test_cli import assert_settings_bad

    assert_settings_bad(settings_, words, tmp_path, capsys)


# --- asgd check for every algorithm -----------------------------------------------------------------------------

def test_new_algorithms_have_no_bound_and_the_paper_algorithms_keep_theirs():
    for keys in (NEW["prox-l1-con"], NEW["svrg-con"], NEW["sapalm"]):
        summary = simulate(run_scenario(iterations=20, **keys)).summary
        assert summary["bound"] is None and summary["bound_statement"] is None
    assert simulate(run_scenario(iterations=20)).summary["bound_statement"] == "Theorem 1"


def test_the_speedup_check_without_a_bound_is_taken_at_the_smallest_parallel_w_of_the_whole_grid():
    import pandas as pd

    from analysis.checks import FAIL, NA, PASS, speedup_check
    from analysis.speedup import worker_limit

    grid = pd.DataFrame({"workers": [1, 2, 4] * 2, "iterations": [100] * 3 + [200] * 3,
                         "preconditions": [False] * 6, "iteration_efficiency": [1.0, 0.9, 0.3, 1.0, 0.85, 0.2],
                         "time_efficiency": [1.0, 0.9, 0.3, 1.0, 0.85, 0.2]})
    grid["iteration_efficiency_low"] = grid["iteration_efficiency"] - 0.01
    grid["iteration_efficiency_high"] = grid["iteration_efficiency"] + 0.01
    limits = {kind: worker_limit(grid, f"{kind}_efficiency", 0.8) for kind in ("iteration", "time")}
    assert speedup_check(grid, limits, 0.8).verdict == NA  # bounded: no K met the preconditions
    assert speedup_check(grid, limits, 0.8, bounded=False).verdict == PASS
    grid.loc[4, ["iteration_efficiency", "iteration_efficiency_high"]] = 0.5
    assert speedup_check(grid, limits, 0.8, bounded=False).verdict == FAIL


def test_check_measures_on_the_stationarity_measure():
    import pandas as pd

    from analysis.speedup import cells

    runs = pd.DataFrame({"workers": [1, 1], "planned_iterations": [10, 10], "status": ["ok", "ok"],
                         "ergodic_grad_norm_sq": [1.0, 1.0], "ergodic_stationarity": [4.0, 6.0], "gradients": [10, 10],
                         "dropped": [0, 0], "sim_time": [1.0, 1.0], "bound": [None, None],
                         "bound_preconditions_hold": [None, None], "max_staleness": [0, 0]})
    assert cells(runs)["ergodic"].tolist() == [5.0]
    assert cells(runs.drop(columns="ergodic_stationarity"))["ergodic"].tolist() == [1.0]


def test_asgd_check_gives_verdicts_for_a_new_algorithm(tmp_path, capsys):
    from pathlib import Path

    from sim.frontends.cli import main

    example = Path(__file__).resolve().parents[1] / "scenarios" / "prox-l1.toml"
    code = main(["check", str(example), "--k-grid", "200,400", "--workers", "1,2", "--seeds", "2", "--jobs", "1",
                 "--set", "cluster.workers=2", "--out", str(tmp_path / "check")])
    printed = capsys.readouterr().out
    assert code in (0, 1) and "bound: none implemented; measure: squared gradient mapping" in printed
    rows = {line.split("|")[1].strip(): line.split("|")[-2].strip() for line in printed.splitlines()
            if line.startswith("| ") and line.count("|") == 5}
    assert rows["bound"] == "n/a" and rows["rate"] in ("pass", "FAIL") and rows["speedup"] in ("pass", "FAIL")


def test_replay_refuses_an_svrg_trace_whose_read_precedes_its_epochs_snapshot(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from scenarios.errors import ScenarioError
    from sim.frontends.rundir import write_run
    from sim.replay import replay

    result = simulate(run_scenario(**NEW["svrg-con"]))
    write_run(tmp_path / "run", result)
    trace = result.trace_table
    versions = trace["read_version"].to_numpy().copy()
    row = int(np.flatnonzero(trace["update"].to_numpy() == 7)[0])  # update 7 opens epoch 2 (epoch 7)
    versions[row] = 6
    pq.write_table(trace.set_column(2, "read_version", pa.array(versions)), tmp_path / "run" / "trace.parquet")
    with pytest.raises(ScenarioError, match="read_version 6, not in 7..7"):
        replay(tmp_path / "run")


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**63), dim=st.integers(1, 2**40))
def test_a_single_coordinate_drawn_by_integers_is_numpys_choice_without_replacement(seed, dim):
    """CoordinateStream's block-1 fast path draws what rng.choice(dim, size=1, replace=False) draws, draw by draw."""
    from sim.cluster.streams import Purpose, stream
    from sim.cluster.workers import CoordinateStream

    fast, reference = CoordinateStream(dim, 1, seed, 3), stream(seed, Purpose.COORDINATES, 3)
    for _ in range(20):
        assert fast().tolist() == reference.choice(dim, size=1, replace=False).tolist()


# --- every step rule: the conformance suite ----------------------------------------------------------------------

STEP_EXAMPLES = {"constant": (0.3, None), "decay": (None, 0.7)}


def test_every_registered_step_rule_has_an_example():
    from models.updates import STEP_RULES

    assert set(STEP_EXAMPLES) == set(STEP_RULES)


@pytest.mark.parametrize("policy", sorted(STEP_EXAMPLES))
def test_step_rules_are_positive_non_increasing_and_their_arrays_are_their_values(policy):
    """largest_step (MCP's check) is the first step only for non-increasing rules; step_sizes (the bounds' arrays)
    must give the schedule's values bit for bit, from any start."""
    from models.updates import largest_step, step_schedule, step_sizes

    value, c = STEP_EXAMPLES[policy]
    gamma = step_schedule(policy, value, c)
    steps = [gamma(k) for k in range(200)]
    assert all(s > 0 for s in steps) and all(a >= b for a, b in zip(steps, steps[1:]))
    assert largest_step(policy, value, c) == max(steps)
    assert step_sizes(policy, value, c, 150, start=50).tolist() == steps[50:]


def test_asgd_check_refuses_an_mcp_concavity_below_its_corollary_steps_before_running(tmp_path, capsys):
    from tests.test_cli import QUICKSTART, _assert_bad_input

    _assert_bad_input(["check", QUICKSTART, "--k-grid", "100,200", "--workers", "1,2", "--set",
                       'algorithm.regularizer={name="mcp", weight=0.1, concavity=1e-9}'],
                      ["algorithm.step", "corollary", "concavity"], tmp_path, capsys)
