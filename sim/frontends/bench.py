"""`asgd bench [--quick] [--scale]`: one table of performance figures, each a ratio measured in this process run.

- reference: a naive serial numpy SGD loop on nonconvex-logistic (d = 100, n = 2000, K = 50 000), the objective's
  stochastic gradient written out below (no simulation); its time per gradient is the unit of the run rows.
- run: `simulate` of AsySG-con, W = 16 workers, exponential compute, trace on, the same K: wall time per gradient
  over the reference's (objective construction and metric recording included). The same for "mlp", over a serial
  loop of that objective's own stochastic_grad. This cluster has a closed-form schedule (sim/closed_form/con.py); the
  same run on the SimPy engine (timing="simpy", the same result bit for bit) is shown for comparison.
- batched replicates: `simulate_batch` of the same scenario over 16 seeds (trace off, as a sweep runs them; K / 5
  iterations each): the reference's time per gradient over the batch's wall time per replicate gradient (a
  throughput ratio: higher is better). The same for "mlp".
- methods: `simulate` of each new method (METHODS: l1 prox on AsySG-con, SVRG on AsySG-con, SAPALM on shared
  memory, policy drop, Ringmaster with cancel, DC-ASGD-a; W = 16, trace on, the same K) over a naive serial numpy
  loop of the same method written out below (seconds per gradient, full passes included on both sides for SVRG; a
  dropping method's gradients include the dropped ones, each as cheap as a simulated arrival; DC-ASGD's loop uses a
  fixed delay).
- memory: how far one simulation raises the peak resident set size (Linux: VmHWM) of a fresh subprocess over its
  RSS before the run: per added gradient from K = 10^5 to 10^6 without the trace (flat: about 0), and the trace's
  bytes per gradient at K = 10^6.
- sweep throughput: the same sweep (8 runs) with --jobs 2 over --jobs 1, worker processes already started.
- compare: the runs of `asgd compare` on the quickstart (4 methods x 8 steps x 4 seeds), one by one over batched
  as compare's executors run them (sim/frontends/bench_compare.py; one repetition: 128 runs).

Timings are the best of REPEATS interleaved repetitions, so that a busy machine slows both sides of a ratio alike.
--quick scales K down about 25-fold (for tests; its figures are not meaningful). --scale prints the scaling table of
sim/frontends/bench_scale.py instead (cost per gradient against the number of workers). Exit code 0: the table is a
report.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.special import expit

REPEATS = 5
REPLICATES = 16       # seeds in the batched-replicates row
BATCHED_SHORTER = 5   # the batched row runs K / 5 iterations per seed (16 seeds: 3.2 K gradients in all)
FULL = {"iterations": 50_000, "memory": (100_000, 1_000_000), "sweep": (8, 20_000), "repeats": REPEATS}
QUICK = {"iterations": 2_000, "memory": (4_000, 40_000), "sweep": (4, 1_000), "repeats": 1}
ROOT = Path(__file__).resolve().parents[2]


def reference_grad(A: np.ndarray, y: np.ndarray, reg: float, x: np.ndarray, i: int) -> np.ndarray:
    """nonconvex-logistic's gradient of sample i (models/logistic.py):
    -y_i sigmoid(-y_i a_i.x) a_i + 2 reg x / (1 + x^2)^2."""
    a, b = A[i], y[i]
    return -b * expit(-b * (a @ x)) * a + 2.0 * reg * x / (1.0 + x * x) ** 2


def _reference_logistic(objective, iterations: int, gamma: float) -> float:
    """Seconds for naive serial SGD with the written-out gradient: each iteration draws its sample, then steps."""
    A, y, reg = objective._A, objective._b, objective.reg
    rng = np.random.default_rng(0)
    x = objective.x0.copy()
    started = time.perf_counter()
    for _ in range(iterations):
        x = x - gamma * reference_grad(A, y, reg, x, rng.integers(objective.n_samples))
    return time.perf_counter() - started


def _soft_threshold(z: np.ndarray, threshold: float) -> np.ndarray:
    return np.sign(z) * np.maximum(np.abs(z) - threshold, 0.0)


def _reference_prox_l1(objective, iterations: int, gamma: float) -> float:
    """Seconds for naive serial proximal SGD with an l1 penalty (weight PROX_WEIGHT): the step, then soft thresholding."""
    A, y, reg = objective._A, objective._b, objective.reg
    rng = np.random.default_rng(0)
    x = objective.x0.copy()
    started = time.perf_counter()
    for _ in range(iterations):
        x = _soft_threshold(x - gamma * reference_grad(A, y, reg, x, rng.integers(objective.n_samples)),
                            gamma * PROX_WEIGHT)
    return time.perf_counter() - started


def _reference_svrg(objective, iterations: int, gamma: float) -> float:
    """Seconds for naive serial SVRG (epochs of SVRG_EPOCH steps): a written-out full gradient at each snapshot, then
    steps along g_i(x) - g_i(x~) + grad f(x~)."""
    A, y, reg, n = objective._A, objective._b, objective.reg, objective.n_samples
    rng = np.random.default_rng(0)
    x = objective.x0.copy()
    started = time.perf_counter()
    for k in range(iterations):
        if k % SVRG_EPOCH == 0:
            snapshot = x
            mu = (-y * expit(-y * (A @ x))) @ A / n + 2.0 * reg * x / (1.0 + x * x) ** 2
        i = rng.integers(n)
        x = x - gamma * (reference_grad(A, y, reg, x, i) - reference_grad(A, y, reg, snapshot, i) + mu)
    return time.perf_counter() - started


def _reference_sapalm(objective, iterations: int, gamma: float) -> float:
    """Seconds for naive serial block-coordinate proximal SGD (SAPALM without asynchrony, SAPALM_BLOCKS blocks, l1
    weight PROX_WEIGHT): draw a block and a sample, step and soft-threshold that block."""
    A, y, reg = objective._A, objective._b, objective.reg
    bounds = [j * objective.dim // SAPALM_BLOCKS for j in range(SAPALM_BLOCKS + 1)]
    rng = np.random.default_rng(0)
    x = objective.x0.copy()
    started = time.perf_counter()
    for _ in range(iterations):
        j = rng.integers(SAPALM_BLOCKS)
        block = slice(bounds[j], bounds[j + 1])
        g = reference_grad(A, y, reg, x, rng.integers(objective.n_samples))
        x[block] = _soft_threshold(x[block] - gamma * g[block], gamma * PROX_WEIGHT)
    return time.perf_counter() - started


def _reference_dc_asgd(objective, iterations: int, gamma: float) -> float:
    """Seconds for naive DC-ASGD-a with a fixed delay of DC_DELAY steps (the gradient at the iterate DC_DELAY steps
    back, compensated by lambda_0 / sqrt(MeanSquare + eps) g * g * (x - x_read), MeanSquare the moving mean of g * g)."""
    A, y, reg = objective._A, objective._b, objective.reg
    rng = np.random.default_rng(0)
    x = objective.x0.copy()
    past = deque([x] * DC_DELAY)
    mean_square = np.zeros_like(x)
    started = time.perf_counter()
    for _ in range(iterations):
        x_read = past.popleft()
        g = reference_grad(A, y, reg, x_read, rng.integers(objective.n_samples))
        mean_square = DC_MOMENTUM * mean_square + (1.0 - DC_MOMENTUM) * g * g
        x = x - gamma * (g + DC_LAMBDA / np.sqrt(mean_square + 1e-7) * g * g * (x - x_read))
        past.append(x)
    return time.perf_counter() - started


def _reference_objective(objective, iterations: int, gamma: float) -> float:
    """Seconds for naive serial SGD with the objective's own stochastic_grad, drawing a sample each iteration."""
    rng = np.random.default_rng(0)
    x = objective.x0.copy()
    started = time.perf_counter()
    for _ in range(iterations):
        x = x - gamma * objective.stochastic_grad(x, objective.sample(rng, 1))
    return time.perf_counter() - started


PROX_WEIGHT = 1e-3
SVRG_EPOCH = 2000
SAPALM_BLOCKS = 10
DROP_BOUND = 4        # policy drop's T, and Ringmaster's R
DC_DELAY, DC_LAMBDA, DC_MOMENTUM = 15, 2.0, 0.95  # the DC-ASGD row: W - 1, and the paper's DC-ASGD-a setting
METHODS = {  # bench row -> (extra [algorithm] keys, its naive loop, the target ratio)
    "l1 prox, AsySG-con": ({"regularizer": {"name": "l1", "weight": PROX_WEIGHT}}, _reference_prox_l1, 1.5),
    f"SVRG (epoch {SVRG_EPOCH}), AsySG-con": ({"estimator": {"name": "svrg", "epoch": SVRG_EPOCH}}, _reference_svrg,
                                              1.5),
    f"SAPALM ({SAPALM_BLOCKS} blocks, l1), shared memory": (
        {"name": "sapalm", "blocks": SAPALM_BLOCKS, "regularizer": {"name": "l1", "weight": PROX_WEIGHT}},
        _reference_sapalm, 1.5),
    f"policy drop (T = {DROP_BOUND}), AsySG-con, per gradient dropped ones included": (
        {"staleness": {"bound": DROP_BOUND, "policy": "drop"}}, _reference_logistic, 1.5),
    f"Ringmaster (R = {DROP_BOUND}, cancel = false), per gradient dropped ones included": (
        {"name": "ringmaster", "threshold": DROP_BOUND}, _reference_logistic, 1.5),
    f"DC-ASGD-a (naive loop: fixed delay {DC_DELAY})": (
        {"name": "dc-asgd", "compensation": {"lambda": DC_LAMBDA, "momentum": DC_MOMENTUM}}, _reference_dc_asgd, 2),
}


def _scenario(objective: str, iterations: int, trace: bool = True, staleness: dict | None = None, **algorithm):
    from scenarios import parse

    return parse({"name": "bench", "objective": {"name": objective},
                  "algorithm": {"name": "asysg-con", "iterations": iterations, "step": 0.01, **algorithm},
                  "cluster": {"workers": 16, "compute": {"dist": "exponential", "mean": 1.0}},
                  **({} if staleness is None else {"staleness": staleness}),
                  "record": {"trace": trace, "every": iterations}})  # metrics at k = 0 and K only


def _run_seconds_per_gradient(objective: str, iterations: int, timing: str = "auto", **algorithm) -> float:
    from sim import simulate

    started = time.perf_counter()
    result = simulate(_scenario(objective, iterations, **algorithm), timing=timing)
    return (time.perf_counter() - started) / result.summary["gradients"]


def _methods_over_reference(iterations: int, repeats: int) -> list[float]:
    """For each of METHODS: its run (the bench's cluster, nonconvex-logistic) over its own naive loop, seconds per
    gradient, best of `repeats` each."""
    from scenarios import build_objective

    objective = build_objective(_scenario("nonconvex-logistic", iterations))
    ratios = []
    for keys, reference, _ in METHODS.values():
        _run_seconds_per_gradient("nonconvex-logistic", 100, **keys)  # warm-up
        ref = run = float("inf")
        for _ in range(repeats):
            ref = min(ref, reference(objective, iterations, 0.01) / iterations)
            run = min(run, _run_seconds_per_gradient("nonconvex-logistic", iterations, **keys))
        ratios.append(run / ref)
    return ratios


def _batched_seconds_per_gradient(objective: str, iterations: int) -> float:
    """Wall seconds of simulate_batch over REPLICATES seeds (trace off, as in a sweep) per replicate gradient."""
    from sim import simulate_batch

    started = time.perf_counter()
    results = simulate_batch(_scenario(objective, iterations, trace=False), list(range(REPLICATES)))
    return (time.perf_counter() - started) / sum(r.summary["gradients"] for r in results)


def _run_over_reference(name: str, iterations: int, repeats: int,
                        reference: Callable) -> tuple[float, float, float, float]:
    """(best reference seconds per gradient, best run / best reference, the same with the SimPy engine, best
    reference / best batched replicate gradient) for objective `name`; the batch runs K / BATCHED_SHORTER
    iterations per seed."""
    from scenarios import build_objective

    objective = build_objective(_scenario(name, iterations))
    _run_seconds_per_gradient(name, 100)  # warm-up: imports, caches
    ref = run = engine = batched = float("inf")
    for _ in range(repeats):
        ref = min(ref, reference(objective, iterations, 0.01) / iterations)
        run = min(run, _run_seconds_per_gradient(name, iterations))
        engine = min(engine, _run_seconds_per_gradient(name, iterations, timing="simpy"))
        batched = min(batched, _batched_seconds_per_gradient(name, iterations // BATCHED_SHORTER))
    return ref, run / ref, engine / ref, ref / batched


def peak_rss_child(iterations: int, trace: bool) -> None:
    """In a subprocess: run the logistic bench scenario; print its gradients and its peak RSS over the RSS it
    started from, in bytes (Linux: VmHWM, reset first through /proc/self/clear_refs; elsewhere ru_maxrss)."""
    from sim import simulate

    scenario = _scenario("nonconvex-logistic", iterations, trace)
    before = _reset_peak_rss()
    gradients = simulate(scenario).summary["gradients"]
    print(gradients, _peak_rss() - before)


def _reset_peak_rss() -> int:
    """Reset the peak RSS to the current RSS where the OS allows it; returns the peak RSS in bytes."""
    if Path("/proc/self/clear_refs").exists():
        Path("/proc/self/clear_refs").write_text("5")
    return _peak_rss()


def _peak_rss() -> int:
    status = Path("/proc/self/status")
    if status.exists():
        return int(re.search(r"VmHWM:\s+(\d+) kB", status.read_text()).group(1)) * 1024
    import resource  # ru_maxrss: bytes on macOS, KiB elsewhere

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def _peak_growth(runs: list[tuple[int, bool]]) -> list[tuple[int, int]]:
    """(gradients, peak RSS growth) of each (K, trace) run, each in its own fresh subprocess, run side by side."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    code = "import sys; from sim.frontends.bench import peak_rss_child; peak_rss_child(int(sys.argv[1]), sys.argv[2] == 'on')"
    children = [subprocess.Popen([sys.executable, "-c", code, str(k), "on" if trace else "off"], env=env,
                                 stdout=subprocess.PIPE, text=True) for k, trace in runs]
    results = []
    for child in children:
        out, _ = child.communicate()
        if child.returncode:
            raise RuntimeError(f"the memory subprocess failed with exit code {child.returncode}")
        gradients, growth = out.split()
        results.append((int(gradients), int(growth)))
    return results


def _sweep_speedup(runs: int, iterations: int, repeats: int) -> float:
    """Seconds of a sweep of `runs` seeds with --jobs 1 over --jobs 2 (best of `repeats`)."""
    from sim.frontends.sweep import run_sweep

    quickstart = ROOT / "scenarios" / "quickstart.toml"
    overrides = {"algorithm.iterations": iterations}
    best = {1: float("inf"), 2: float("inf")}
    with tempfile.TemporaryDirectory(prefix="asgd-bench-") as tmp:
        run_sweep(quickstart, [], {"algorithm.iterations": 10}, Path(tmp) / "warm-up", 2, jobs=2, quiet=True)
        for repeat in range(repeats):
            for jobs in best:
                started = time.perf_counter()
                run_sweep(quickstart, [], overrides, Path(tmp) / f"{jobs}-{repeat}", runs, jobs=jobs, quiet=True)
                best[jobs] = min(best[jobs], time.perf_counter() - started)
    return best[1] / best[2]


def measure(quick: bool = False) -> list[tuple[str, str, str, str]]:
    """The table rows: (measure, figure, target, verdict)."""
    size = QUICK if quick else FULL
    k, repeats = size["iterations"], size["repeats"]

    def row(label: str, value: float, unit: str, target: float | None, at_most: bool = True) -> tuple[str, str, str, str]:
        if target is None:
            return (label, f"{value:.3g}{unit}", "(for comparison)", "")
        ok = value <= target if at_most else value >= target
        return (label, f"{value:.3g}{unit}", f"{'<=' if at_most else '>='} {target:g}{unit}", "ok" if ok else "MISSED")

    ref, logistic, logistic_engine, logistic_batched = _run_over_reference("nonconvex-logistic", k, repeats,
                                                                           _reference_logistic)
    _, mlp, mlp_engine, mlp_batched = _run_over_reference("mlp", k, repeats, _reference_objective)
    methods = _methods_over_reference(k, repeats)
    kb = k // BATCHED_SHORTER
    speedup = _sweep_speedup(*size["sweep"], repeats)
    small, large = size["memory"]
    (g_small, off_small), (g_large, off_large), (g_traced, on_large) = _peak_growth(
        [(small, False), (large, False), (large, True)])
    return [
        (f"reference: naive numpy SGD loop (draws a sample, steps), nonconvex-logistic d=100 n=2000, K={k}",
         f"{ref * 1e6:.3g} us/gradient",
         "(the unit)", ""),
        row(f"run / reference: AsySG-con W=16, exponential, trace on, metrics at 0 and K, K={k}", logistic, "x", 1.5),
        row("run / reference, the same run on the SimPy engine (timing='simpy')", logistic_engine, "x", None),
        row(f"reference / batched replicates: simulate_batch of {REPLICATES} seeds, trace off, K={kb} each, per "
            "replicate gradient", logistic_batched, "x", 3, at_most=False),
        row(f"run / reference, mlp (reference: its stochastic_grad in a loop), K={k}", mlp, "x", 1.5),
        row("run / reference, mlp, on the SimPy engine (timing='simpy')", mlp_engine, "x", None),
        row(f"reference / batched replicates, mlp: {REPLICATES} seeds, trace off, K={kb} each", mlp_batched, "x", 3,
            at_most=False),
        *[row(f"run / its naive loop: {name}, W=16, trace on, K={k}", ratio, "x", target)
          for (name, (_, _, target)), ratio in zip(METHODS.items(), methods)],
        row(f"memory, trace off: peak RSS growth of a run, K={small} -> {large}, per added gradient",
            (off_large - off_small) / (g_large - g_small), " B", 1),
        row(f"memory, trace on: peak RSS growth over trace off at K={large}, per gradient",
            (on_large - off_large) / g_traced, " B", 64),
        row(f"sweep throughput, {size['sweep'][0]} runs of K={size['sweep'][1]}: --jobs 2 / --jobs 1", speedup, "x",
            1.7, at_most=False),
        compare_row(quick, row),
    ]


def compare_row(quick: bool, row: Callable) -> tuple[str, str, str, str]:
    """The compare row (sim/frontends/bench_compare.py): its runs one by one over batched as compare runs them."""
    from sim.frontends.bench_compare import METHODS, SEEDS, compare_speedup

    iterations, repeats = (50, 1) if quick else (1000, 1)
    ratio, runs = compare_speedup(iterations, repeats)
    return row(f"compare of {len(METHODS)} methods x 8 steps x {SEEDS} seeds ({runs} runs, quickstart, K={iterations}):"
               " one by one / batched (steps and seeds in lockstep)", ratio, "x", 3, at_most=False)


def format_table(rows: list[tuple[str, str, str, str]], quick: bool) -> str:
    """A title line (machine, versions, repeats), then the rows in columns under their headers."""
    from sim.frontends.tables import table

    title = (f"asgd bench{' --quick (K scaled down: figures not meaningful)' if quick else ''}: "
             f"{os.cpu_count()} cores (os.cpu_count()), Python {sys.version.split()[0]}, numpy {np.__version__}; "
             f"timings best of {QUICK['repeats'] if quick else REPEATS}; "
             "memory: peak RSS (VmHWM) of a subprocess during the run over its RSS before")
    return title + "\n" + table(("measure", "figure", "target", "verdict"), rows, markdown=False)


def cmd_bench(args: argparse.Namespace) -> int:
    if args.scale:
        from sim.frontends.bench_scale import format_scale, measure_scale

        print(format_scale(measure_scale(args.quick), args.quick))
        return 0
    print(format_table(measure(args.quick), args.quick))
    return 0


def add_commands(commands) -> None:
    bench = commands.add_parser("bench", help="print the performance table (ratios measured in this run)")
    bench.add_argument("--quick", action="store_true", help="scale K down (for tests; figures not meaningful)")
    bench.add_argument("--scale", action="store_true",
                       help="instead: cost per gradient of each protocol at W = 10 to 10,000 (sim/frontends/bench_scale.py)")
    bench.set_defaults(handler=cmd_bench)
