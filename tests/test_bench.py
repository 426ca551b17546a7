"""`asgd bench`: every row is printed (no timing assertions), and its reference computes the objective's gradient."""

from __future__ import annotations

import numpy as np

from models import get_objective
from sim.frontends.bench import reference_grad
from sim.frontends.cli import main


def test_the_reference_gradient_is_the_objectives():
    objective = get_objective("nonconvex-logistic")
    x = np.random.default_rng(0).normal(size=objective.dim)
    for i in (0, 7, 1999):
        expected = objective.stochastic_grad(x, np.array([i]))
        assert np.allclose(reference_grad(objective._A, objective._b, objective.reg, x, i), expected, rtol=1e-12)


def test_bench_quick_prints_every_row(capsys):
    assert main(["bench", "--quick"]) == 0
    table = capsys.readouterr().out
    for row in ["cores", "reference: naive numpy SGD loop", "run / reference: AsySG-con",
                "the same run on the SimPy engine", "reference / batched replicates: simulate_batch of 16 seeds",
                "run / reference, mlp (", "run / reference, mlp, on the SimPy engine",
                "reference / batched replicates, mlp", "run / its naive loop: l1 prox, AsySG-con",
                "run / its naive loop: SVRG", "run / its naive loop: SAPALM", "run / its naive loop: policy drop",
                "run / its naive loop: Ringmaster", "run / its naive loop: DC-ASGD-a", "memory, trace off",
                "memory, trace on", "sweep throughput", "--jobs 2 / --jobs 1",
                "compare of 4 methods x 8 steps x 4 seeds"]:
        assert row in table, row
    assert table.count("\n") == 19  # the title, the header and 17 rows


def test_the_naive_loops_soft_threshold_is_the_l1_prox():
    """The soft threshold of the prox-SGD and SAPALM naive loops is models.regularizers.L1's prox."""
    from models.regularizers import L1
    from sim.frontends.bench import PROX_WEIGHT, _soft_threshold

    z = np.random.default_rng(1).normal(size=50) * 1e-3
    assert np.array_equal(_soft_threshold(z, 0.01 * PROX_WEIGHT), L1(weight=PROX_WEIGHT).prox(z, 0.01))


def test_bench_scale_quick_prints_a_row_per_protocol(capsys):
    from sim.frontends.bench_scale import PROTOCOLS, QUICK

    assert main(["bench", "--scale", "--quick"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("asgd bench --scale --quick")
    assert all(f"W={w} / W={QUICK['workers'][0]}" in lines[1] for w in QUICK["workers"][1:])
    assert [line[:len(label)] for line, (label, *_) in zip(lines[2:], PROTOCOLS)] == [label for label, *_ in PROTOCOLS]
    assert len(lines) == 2 + len(PROTOCOLS)
    for line in lines[2:]:
        assert line.split()[-1] in ("ok", "MISSED") and line.count("x") >= len(QUICK["workers"])


def test_the_scale_scenarios_run_the_same_gradients_at_every_size():
    """(Policy drop also counts the gradients it drops.)"""
    from sim import simulate
    from sim.frontends.bench_scale import PROTOCOLS, scale_scenario

    for _, algorithm, staleness, timing in PROTOCOLS:
        counts = {simulate(scale_scenario(algorithm, staleness, w, 48), timing=timing).summary["gradients"]
                  for w in (2, 4, 8)}
        assert counts == {48} or (staleness["policy"] == "drop" and 48 <= min(counts) <= max(counts) < 60), counts
