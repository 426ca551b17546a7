"""Methods that fight staleness (issue 12): staleness-dependent steps (Zhang et al. 2016; Mishchenko et al. 2022;
Koloskova et al. 2022): their reductions to the constant step bit for bit, a written-out update, replay, determinism,
batch = single and bad input."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from models.updates import STALENESS_RULES
from scenarios import build_objective
from sim import simulate
from sim.engine import simulate_batch
from tests.helpers import assert_identical_runs, assert_replays, assert_reproducible
from tests.test_algorithms import assert_same_run, run_scenario

STALE_STEPS = {  # algorithm.step tables, one per rule of STALENESS_RULES
    "staleness-aware": {"policy": "staleness-aware", "value": 0.05},
    "mishchenko": {"policy": "delay-adaptive", "value": 0.05, "rule": "mishchenko"},
    "koloskova": {"policy": "delay-adaptive", "value": 0.05, "rule": "koloskova"},
}
# a smoothness L that makes the delay-adaptive rules bite at small staleness (the test objective states L ~ 0.3)
SMALL_L = 25.0


def test_every_staleness_rule_has_an_example():
    assert set(STALE_STEPS) == set(STALENESS_RULES)


@pytest.mark.parametrize("rule", sorted(STALENESS_RULES))
@settings(max_examples=30, deadline=None)
@given(value=st.floats(1e-4, 10.0), smoothness=st.floats(1e-3, 1e3), concurrency=st.integers(1, 20))
def test_staleness_rules_are_positive_at_most_their_value_and_non_increasing(rule, value, smoothness, concurrency):
    step = STALENESS_RULES[rule](value, smoothness, concurrency)
    steps = [step(tau) for tau in range(60)]
    assert all(0 < s <= value for s in steps) and all(a >= b for a, b in zip(steps, steps[1:]))


def test_the_rules_are_the_sources_formulas_in_asgd_staleness():
    aware, mishchenko, koloskova = (STALENESS_RULES[r](0.5, 0.25, 3) for r in ("staleness-aware", "mishchenko",
                                                                                "koloskova"))
    assert [aware(t) for t in (0, 1, 2, 4)] == [0.5, 0.5, 0.25, 0.125]
    assert [mishchenko(t) for t in (0, 1, 3, 7)] == [0.5, 0.5, 0.5, 0.25]  # min{0.5, 1 / (2 L (tau + 1))}
    assert [koloskova(t) for t in (0, 3, 4, 8)] == [0.5, 0.5, 0.25, 0.125]  # beyond 3: min{0.5, 1 / (4 L tau)}


@pytest.mark.parametrize("rule", sorted(STALE_STEPS))
@pytest.mark.parametrize("algorithm,batch", [("asysg-con", 1), ("asysg-con", 2), ("sync", None)])
def test_with_staleness_zero_every_rule_is_the_constant_step_bitwise(rule, algorithm, batch):
    """One worker (or sync) reads only the current iterate: every gradient has staleness 0 and the step `value`
    (Mishchenko's 1 / (2 L) is above it on this objective)."""
    keys = {} if batch is None else {"batch": batch}
    workers = 1 if algorithm == "asysg-con" else 3
    constant = simulate(run_scenario(algorithm, workers=workers, **keys))
    stale = simulate(run_scenario(algorithm, workers=workers, step=STALE_STEPS[rule], **keys))
    assert stale.summary["max_staleness"] == 0
    assert_same_run(constant, stale)


def test_koloskova_with_a_concurrency_above_every_staleness_is_the_constant_step_bitwise():
    constant = simulate(run_scenario(workers=6, batch=2))
    above = constant.summary["max_staleness"]
    assert above > 2
    step = {**STALE_STEPS["koloskova"], "concurrency": above}
    assert_same_run(constant, simulate(run_scenario(workers=6, batch=2, step=step)))


@pytest.mark.parametrize("rule", sorted(STALE_STEPS))
def test_each_gradient_gets_its_own_step_as_written_out_from_the_trace(rule, monkeypatch):
    """x_{k+1} = x_k - sum_m gamma(tau_m) G(x_{v_m}; xi_m), summed left to right, tau_m = k - v_m: a loop over the
    trace with the rule's own function; the steps differ within updates, and from the constant run."""
    scenario = run_scenario(workers=5, batch=2, iterations=40, step=STALE_STEPS[rule])
    objective = copy.copy(build_objective(scenario))  # build_objective caches: change a copy
    objective.smoothness = SMALL_L  # the rules bite: the run and the loop both read L from the objective
    monkeypatch.setattr("sim.engine.build_objective", lambda _: objective)
    result = simulate(scenario)
    step = STALENESS_RULES[rule](0.05, SMALL_L, 5)
    trace = result.trace_table.to_pandas()
    trace = trace[trace["applied"]]
    xs = [np.array(objective.x0, dtype=np.float64)]
    differing = 0
    for k, rows in trace.groupby("update", sort=True):
        gammas = [step(k - v) for v in rows["read_version"]]
        gradients = [objective.stochastic_grad(xs[v], np.asarray(samples))
                     for v, samples in zip(rows["read_version"], rows["samples"])]
        if len(set(gammas)) == 1:  # equal steps factor out: today's x_k - gamma (sum of gradients)
            xs.append(xs[-1] - gammas[0] * sum(gradients[1:], gradients[0]))
            continue
        differing += 1
        total = gammas[0] * gradients[0]
        for gamma, gradient in zip(gammas[1:], gradients[1:]):
            total = total + gamma * gradient
        xs.append(xs[-1] - total)
    assert differing > 0
    assert result.x_final.tobytes() == xs[-1].tobytes()


@pytest.mark.parametrize("rule", sorted(STALE_STEPS))
def test_staleness_steps_replay_are_deterministic_and_batch_equals_single(rule, tmp_path):
    scenario = run_scenario(workers=4, batch=2, step=STALE_STEPS[rule], staleness={"bound": 3, "policy": "drop"})
    first = simulate(scenario)
    assert first.summary["status"] == "ok" and first.summary["bound"] is None
    assert_reproducible(first, scenario, tmp_path / "run")


STEP_BAD = [
    (['algorithm.step={policy="delay-adaptive", value=0.1}'], ["algorithm.step.rule", "required"]),
    (['algorithm.step={policy="delay-adaptive", value=0.1, rule="zhang"}'], ["algorithm.step.rule", "zhang",
                                                                             "koloskova"]),
    (['algorithm.step={policy="delay-adaptive", value=0.1, rule="mishchenko", concurrency=3}'],
     ["algorithm.step.concurrency", "koloskova"]),
    (['algorithm.step={policy="delay-adaptive", value=0.1, rule="koloskova", concurrency=0}'],
     ["algorithm.step.concurrency", ">= 1"]),
    (['algorithm.step={policy="staleness-aware", value=-1}'], ["algorithm.step.value", "> 0"]),
    (['algorithm.step={policy="staleness-aware", value=0.1, c=2}'], ["algorithm.step", "c"]),
    (['algorithm.name="asysg-incon"', 'algorithm.step={policy="staleness-aware", value=0.1}'],
     ["algorithm.step.policy", "asysg-con", "shared-memory"]),
    (['algorithm.batch=2', 'algorithm.regularizer={name="l1", weight=0.01}',
      'algorithm.step={policy="staleness-aware", value=0.1}'], ["algorithm.step.policy", "regularizer", "batch"]),
]


@pytest.mark.parametrize("settings_,words", STEP_BAD, ids=[str(i) for i in range(len(STEP_BAD))])
def test_bad_staleness_steps_exit_2_with_one_line(settings_, words, tmp_path, capsys):
    from tests.test_cli import assert_settings_bad

    assert_settings_bad(settings_, words, tmp_path, capsys)


# --- DC-ASGD (Zheng et al. 2017) --------------------------------------------------------------------------------

DC_C = {"lambda": 0.5}
DC_A = {"lambda": 0.3, "momentum": 0.9, "epsilon": 1e-3}


@pytest.mark.parametrize("compensation", [{"lambda": 0.0}, {"lambda": 0.0, "momentum": 0.95}], ids=["c", "a"])
@pytest.mark.parametrize("batch", [1, 2])
def test_dc_asgd_with_lambda_zero_is_asysg_con_bitwise(compensation, batch):
    plain = simulate(run_scenario(workers=4, batch=batch))
    assert plain.summary["max_staleness"] > 0
    assert_same_run(plain, simulate(run_scenario(workers=4, batch=batch, compensation=compensation)))


@pytest.mark.parametrize("compensation", [DC_C, DC_A], ids=["c", "a"])
def test_dc_asgd_with_one_worker_is_serial_sgd_bitwise(compensation):
    """One worker reads the iterate it updates: x_now - x_read = 0, no correction."""
    assert_same_run(simulate(run_scenario(workers=1)), simulate(run_scenario("dc-asgd", workers=1,
                                                                             compensation=compensation)))


@pytest.mark.parametrize("compensation", [DC_C, DC_A], ids=["c", "a"])
def test_dc_asgd_is_the_papers_update_written_out_from_the_trace(compensation):
    """x_{k+1} = x_k - gamma sum_m (g_m + lambda_t g_m g_m (x_k - x_{v_m})), lambda_t = lambda_0 or lambda_0 /
    sqrt(MeanSquare(t) + eps), MeanSquare(t) = m MeanSquare(t - 1) + (1 - m) g_t^2, in the trace's order."""
    scenario = run_scenario("dc-asgd", workers=5, batch=2, iterations=40, compensation=compensation)
    result = simulate(scenario)
    objective = build_objective(scenario)
    trace = result.trace_table.to_pandas()
    trace = trace[trace["applied"]]
    xs = [np.array(objective.x0, dtype=np.float64)]
    mean_square = np.zeros(objective.dim)
    for _, rows in trace.groupby("update", sort=True):
        total = None
        for v, samples in zip(rows["read_version"], rows["samples"]):
            g = objective.stochastic_grad(xs[v], np.asarray(samples))
            if "momentum" in compensation:
                mean_square = compensation["momentum"] * mean_square + (1 - compensation["momentum"]) * (g * g)
                lam = compensation["lambda"] / np.sqrt(mean_square + compensation["epsilon"])
            else:
                lam = compensation["lambda"]
            compensated = g + ((xs[-1] - xs[v]) * g * g) * lam
            total = compensated if total is None else total + compensated
        xs.append(xs[-1] - 0.05 * total)
    assert result.x_final.tobytes() == xs[-1].tobytes()
    assert result.x_final.tobytes() != simulate(run_scenario(workers=5, batch=2, iterations=40)).x_final.tobytes()


@pytest.mark.parametrize("compensation", [DC_C, DC_A], ids=["c", "a"])
def test_dc_asgd_replays_is_deterministic_and_batch_equals_single(compensation, tmp_path):
    scenario = run_scenario("dc-asgd", workers=4, compensation=compensation, staleness={"bound": 2},
                            step={"policy": "staleness-aware", "value": 0.05})
    first = simulate(scenario)
    assert first.summary["status"] == "ok" and first.summary["bound"] is None
    assert first.summary["compensation"] == compensation
    assert_identical_runs(first, simulate(scenario))
    assert_replays(first, tmp_path / "run")
    for batched, seed in zip(simulate_batch(scenario, [1, 2]), [1, 2]):
        assert_identical_runs(batched, simulate(scenario, seed))


def test_the_dc_asgd_preset_defaults_to_dc_asgd_c_with_the_papers_lambda():
    assert run_scenario("dc-asgd").resolved["algorithm"]["compensation"] == {"lambda": 0.04}
    assert "compensation" not in run_scenario().resolved["algorithm"]


DC_BAD = [
    (['algorithm.name="sync"', "algorithm.batch=8", "algorithm.compensation={lambda=0.1}"], ["algorithm.compensation", "dc-asgd", "sync"]),
    (['algorithm.name="asysg-incon"', "algorithm.compensation={lambda=0.1}"],
     ["algorithm.compensation", "dc-asgd", "asysg-incon"]),
    (['algorithm.estimator={name="svrg", epoch=5}', "algorithm.compensation={lambda=0.1}"],
     ["algorithm.compensation", "algorithm.estimator", "sg"]),
    (["algorithm.compensation={lambda=0.1, epsilon=1e-3}"], ["algorithm.compensation.epsilon", "momentum"]),
    (["algorithm.compensation={lambda=0.1, momentum=1}"], ["algorithm.compensation.momentum", "[0, 1)"]),
    (["algorithm.compensation={lambda=-0.1}"], ["algorithm.compensation.lambda", ">= 0"]),
    (["algorithm.compensation={lambda=0.1, beta=1}"], ["algorithm.compensation", "beta"]),
]


@pytest.mark.parametrize("settings_,words", DC_BAD, ids=[str(i) for i in range(len(DC_BAD))])
def test_bad_compensation_exits_2_with_one_line(settings_, words, tmp_path, capsys):
    test_bad_staleness_steps_exit_2_with_one_line(settings_, words, tmp_path, capsys)


# --- Rennala SGD (Tyurin, Richtarik 2023) and Ringmaster ASGD (Maranjyan, Tyurin, Richtarik 2025) ---------------

def _applied(result):
    trace = result.trace_table.to_pandas()
    return trace[trace["applied"]], trace[~trace["applied"]]


def _counting_events(monkeypatch) -> list[int]:
    """Count every event SimPy schedules from now on."""
    import simpy

    count = [0]
    schedule = simpy.Environment.schedule

    def counted(self, *args, **kwargs):
        count[0] += 1
        return schedule(self, *args, **kwargs)

    monkeypatch.setattr(simpy.Environment, "schedule", counted)
    return count


@pytest.mark.parametrize("cancel", [False, True])
def test_ringmaster_with_a_threshold_above_every_staleness_is_asysg_con_bitwise(cancel, monkeypatch):
    """... with and without cancel, and the cancel bookkeeping schedules no SimPy event then (on the engine: without
    cancel the run takes the closed-form scan, tests/test_scan.py). R > K: a computation
    still running when the run ends may be staler than every applied gradient, and would be cancelled at R."""
    events = _counting_events(monkeypatch)
    plain = simulate(run_scenario(workers=6), timing="simpy")
    plain_events, events[0] = events[0], 0
    ringmaster = simulate(run_scenario("ringmaster", workers=6, threshold=61, cancel=cancel), timing="simpy")
    assert plain.summary["iterations"] == 60 and plain.summary["max_staleness"] > 2
    assert events[0] == plain_events
    assert ringmaster.summary["dropped"] == 0 and ringmaster.summary["dropped_time"] == 0.0
    assert ringmaster.summary["cancelled"] == 0 and ringmaster.summary["cancelled_time"] == 0.0
    assert_same_run(plain, ringmaster)
    assert ringmaster.events_table.num_rows == 0  # no cancel logged


@pytest.mark.parametrize("cancel", [False, True])
def test_ringmaster_with_threshold_one_and_one_worker_is_serial_sgd_bitwise(cancel):
    assert_same_run(simulate(run_scenario(workers=1)),
                    simulate(run_scenario("ringmaster", workers=1, threshold=1, cancel=cancel)))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), workers=st.integers(2, 6), threshold=st.integers(1, 3),
       uplink=st.sampled_from([None, {"dist": "exponential", "mean": 0.3}]))
@example(seed=8521639, workers=2, threshold=3, uplink={"dist": "exponential", "mean": 0.3})  # cancels nothing
def test_every_cancelled_computation_is_logged_and_none_is_applied(seed, workers, threshold, uplink):
    cluster = {} if uplink is None else {"uplink": uplink}
    result = simulate(run_scenario("ringmaster", workers=workers, threshold=threshold, cancel=True, seed=seed,
                                   iterations=40, cluster=cluster))
    events = result.events_table.to_pandas()
    applied, dropped = _applied(result)
    summary = result.summary
    assert summary["cancelled"] == len(events) and (events["kind"] == "cancel").all()
    # a few workers far apart may never reach staleness 2 or 3 in 40 updates; at R = 1 the first update applied
    # cancels the computations of every other worker (continuous latencies: no tie)
    assert len(events) > 0 or threshold > 1
    assert summary["cancelled_time"] == pytest.approx(float(events["lost_time"].sum()))
    assert summary["evaluations"] == summary["gradients"] + summary["cancelled"]
    assert (applied["staleness"] < threshold).all()
    cancelled = set(zip(events["worker"], events["read_version"], events["time"] - events["lost_time"]))
    traced = set(zip(result.trace["worker"], result.trace["read_version"], result.trace["t_read"]))
    assert not cancelled & traced  # a cancelled computation never reaches the server
    # a computation is cancelled when its staleness reaches R: at an update's time, read R updates before
    times = np.concatenate([applied.groupby("update")["t_apply"].first().to_numpy()])
    for time, version in zip(events["time"], events["read_version"]):
        assert time == times[version + threshold - 1]


@pytest.mark.parametrize("batch", [1, 3])
def test_rennala_with_one_worker_is_serial_minibatch_sgd_bitwise(batch):
    """One worker computes S gradients at x_k one after another: x_{k+1} = x_k - gamma sum_{m<=S} G(x_k; xi_m)."""
    serial = simulate(run_scenario(workers=1, batch=batch))
    rennala = simulate(run_scenario("rennala", workers=1, batch=batch))
    assert rennala.summary["dropped"] == 0
    assert_same_run(serial, rennala)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), workers=st.integers(1, 6), threshold=st.integers(1, 4))
def test_ringmaster_never_applies_a_gradient_of_staleness_threshold_or_more(seed, workers, threshold):
    result = simulate(run_scenario("ringmaster", workers=workers, threshold=threshold, seed=seed, iterations=40))
    applied, dropped = _applied(result)
    assert (applied["staleness"] < threshold).all() and (dropped["staleness"] >= threshold).all()
    assert result.summary["dropped"] == len(dropped)
    assert result.summary["dropped_time"] == pytest.approx(float((dropped["t_apply"] - dropped["t_read"]).sum()))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), workers=st.integers(1, 6), batch=st.integers(1, 4))
def test_rennala_applies_only_fresh_gradients_exactly_s_per_update(seed, workers, batch):
    result = simulate(run_scenario("rennala", workers=workers, batch=batch, seed=seed, iterations=30))
    applied, dropped = _applied(result)
    assert (applied["staleness"] == 0).all() and (dropped["staleness"] >= 1).all()
    assert (applied.groupby("update").size() == batch).all() and len(applied) == 30 * batch


@pytest.mark.parametrize("workers", [1, 4])
def test_rennala_with_s_one_and_equal_constant_compute_updates_once_per_compute_time(workers):
    result = simulate(run_scenario("rennala", workers=workers, compute={"dist": "constant", "value": 2.5}))
    applied, _ = _applied(result)
    times = applied.groupby("update")["t_apply"].first().to_numpy()
    assert times.tolist() == [2.5 * (k + 1) for k in range(60)]


@pytest.mark.parametrize("cancel", [False, True])
@settings(max_examples=25, deadline=None)
@given(taus=st.lists(st.floats(0.1, 10.0), min_size=1, max_size=6), threshold=st.integers(1, 5),
       seed=st.integers(0, 1000))
def test_ringmaster_lemma_1_any_r_consecutive_updates_take_at_most_t_of_r(cancel, taus, threshold, seed):
    """Lemma 1 (fixed computation model, worker i computing in tau_i, no latency): any R consecutive updates take at
    most t(R) = 2 min_m ((1/m) sum_{i<=m} 1/tau_i)^-1 (1 + R/m), the tau_i sorted."""
    groups = [{"workers": [i], "compute": {"dist": "constant", "value": tau}} for i, tau in enumerate(taus)]
    result = simulate(run_scenario("ringmaster", workers=len(taus), threshold=threshold, seed=seed, iterations=50,
                                   cluster={"groups": groups}, cancel=cancel))
    ordered = sorted(taus)
    t_r = 2 * min((1 / (sum(1 / t for t in ordered[:m]) / m)) * (1 + threshold / m) for m in range(1, len(taus) + 1))
    applied, _ = _applied(result)
    times = np.concatenate([[0.0], applied.groupby("update")["t_apply"].first().to_numpy()])
    assert (times[threshold:] - times[:-threshold]).max() <= t_r * (1 + 1e-12)


@pytest.mark.parametrize("name,keys", [("rennala", {"batch": 3}), ("ringmaster", {"threshold": 2}),
                                       ("ringmaster", {"threshold": 2, "cancel": True})])
def test_dropping_presets_replay_are_deterministic_and_batch_equals_single(name, keys, tmp_path):
    scenario = run_scenario(name, workers=5, **keys)
    first = simulate(scenario)
    assert first.summary["status"] == "ok" and first.summary["bound"] is None
    assert first.summary["dropped"] + first.summary["cancelled"] > 0
    assert first.summary["staleness_policy"] == "drop"
    assert_reproducible(first, scenario, tmp_path / "run")


DROPPING_BAD = [
    (['algorithm.name="ringmaster"', "staleness={}"], ["algorithm.threshold", "required"]),
    (['algorithm.name="ringmaster"', "staleness={}", "algorithm.threshold=0"], ["algorithm.threshold", ">= 1"]),
    (['algorithm.name="ringmaster"', "staleness={}", "algorithm.threshold=2", "algorithm.batch=2"],
     ["algorithm.batch", "ringmaster", "1"]),
    (['algorithm.name="ringmaster"', "staleness={}", "algorithm.threshold=2", "algorithm.cancel=1"],
     ["algorithm.cancel", "true or false"]),
    (["algorithm.cancel=false"], ["algorithm.cancel", "ringmaster"]),
    (['algorithm.name="rennala"'], ["staleness.bound", "rennala"]),
    (["algorithm.threshold=3"], ["algorithm.threshold", "ringmaster", "asysg-con"]),
]


@pytest.mark.parametrize("settings_,words", DROPPING_BAD, ids=[str(i) for i in range(len(DROPPING_BAD))])
def test_bad_dropping_presets_exit_2_with_one_line(settings_, words, tmp_path, capsys):
    test_bad_staleness_steps_exit_2_with_one_line(settings_, words, tmp_path, capsys)


# --- the closed form (sim/closed_form): staleness-dependent steps and DC-ASGD ride it ---------------------------

@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), workers=st.integers(1, 8), batch=st.integers(1, 3),
       method=st.sampled_from(["staleness-aware", "mishchenko", "koloskova", "dc-c", "dc-a"]))
def test_staleness_steps_and_dc_asgd_on_the_closed_form_equal_the_engine_bitwise(seed, workers, batch, method):
    from sim.closed_form.con import closed_form

    keys = ({"compensation": DC_C if method == "dc-c" else DC_A} if method.startswith("dc")
            else {"step": STALE_STEPS[method]})
    scenario = run_scenario(workers=workers, batch=batch, seed=seed, iterations=40, **keys)
    assert closed_form(scenario)
    assert_identical_runs(simulate(scenario, timing="auto"), simulate(scenario, timing="simpy"))


def test_staleness_steps_in_a_lockstep_batch_on_the_closed_form_equal_single_runs():
    scenario = run_scenario(workers=6, batch=2, step=STALE_STEPS["staleness-aware"])
    for batched, seed in zip(simulate_batch(scenario, [1, 2, 3]), [1, 2, 3]):
        assert_identical_runs(batched, simulate(scenario, seed))


def test_ringmaster_cancelling_with_svrg_is_bad_input():
    """A cancelled computation would outlive its SVRG epoch: refused, naming algorithm.cancel."""
    from scenarios import ScenarioError, parse

    data = {"objective": {"name": "nonconvex-logistic", "n": 64, "dim": 5},
            "algorithm": {"name": "ringmaster", "threshold": 3, "cancel": True,
                          "estimator": {"name": "svrg", "epoch": 10}}}
    with pytest.raises(ScenarioError, match="algorithm.cancel"):
        parse(data)
    data["algorithm"]["cancel"] = False
    assert parse(data).algorithm.estimator.name == "svrg"
