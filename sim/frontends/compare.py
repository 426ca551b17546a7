"""`asgd compare`: which method reaches the target first on this cluster and objective, each with a fairly tuned step.

    asgd compare SCENARIO.toml [--algorithms A,B,...] [--target EPS] [--seeds N] [--grid KEY.PATH=V1,...]
                 [--steps V1,V2,... | START:STOP:xFACTOR] [--tuning-seeds T] [--tuning-records R]
                 [--jobs J | --scheduler ADDRESS] [--out DIR]

Methods: scenarios.methods (default: every method that applies to the objective and the cluster; the others are
listed as not applicable, with the reason). Each method runs on the scenario switched to it (scenarios.switch).

Fair tuning, the same for every method:
- budget: the scenario's stochastic-gradient budget, its iterations x batch, so a method summing B gradients per
  update runs iterations x batch / B updates (rounded up): sync gets as many gradient evaluations as the others;
- steps: one log-spaced grid of constant steps, by default the scenario's own first step gamma_0 (the corollary
  step resolved) times 2^-4, 2^-3, ..., 2^3 (STEP_FACTORS), or --steps;
- tuning seeds: S + 1,000,000 + j for j < T (S the scenario's seed, T = --tuning-seeds), disjoint from the reported
  seeds S .. S + N - 1 (--seeds N); each method's step is chosen on them (analysis.compare.choose_steps), at each
  grid point, and only the chosen step runs on the reported seeds. A best step at an end of the grid is flagged;
- tuning runs record metrics at R = --tuning-records points of their budget (tuning_every), the reported runs at the
  scenario's own record.every; runs that differ only in seed and step share one schedule per seed and step in
  lockstep (sim.engine.simulate_replicates).

Target (--target EPS, else TARGET_FRACTION of the smallest stationarity at x_0 among the tuning runs) and the
measures: analysis.compare. The runs go through the sweep machinery (sim.frontends.executors and .store): local
processes or Dask, bit for bit the same, resumable (rerun the command: finished runs are reused from DIR/.runs).

Writes DIR/report.md, DIR/results.parquet (one row per method, grid point and reported seed), DIR/tuning.parquet
(every tuning run), DIR/plots/*.png. Exit codes: 0 every run finished (ok or diverged), 1 a run failed, 2 bad input
(nothing is run), 130 interrupted.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.compare import (TARGET_FRACTION, choose_steps, fixed_computation_orders, plot_curves, plot_times,
                              plot_what_if, rank, time_to_target)
from analysis.plots import plot_staleness
from scenarios import ScenarioError, build_objective, load
from scenarios.distributions import Constant, Scaled
from scenarios.methods import BY_NAME, METHODS, SYNC_BASELINE, Method, why_not
from scenarios.types import Scenario
from sim.frontends.grid import Axis, parse_axis, parse_grid, product
from sim.frontends.progress import Progress
from sim.frontends.provenance import provenance
from sim.frontends.sweep import _positive, add_executor_flags, check_seeds, jobs_of, placement, plan, run_tasks
from sim.frontends.tables import table

STEP_FACTORS = tuple(2.0**p for p in range(-4, 4))  # the default step grid: gamma_0 times these
TUNING_SEED_OFFSET = 1_000_000
TUNING_RECORDS = 20  # metrics rows of a tuning run by default (tuning_every): its budget in 20 equal parts
MAX_SEEDS = 1000  # reported seeds stay below the tuning seeds
CHOSEN_BY = ("compare", "algorithm.name", "algorithm.step", "algorithm.iterations", "algorithm.estimator",
             "algorithm.blocks")  # keys compare sets itself: not --grid axes
PLOTS = "plots"
REPORT, TABLES = "report.md", ("results.parquet", "tuning.parquet")
POINT_PLOTS = CURVES, TIMES, STALENESS = "curves", "time-to-target", "staleness"  # per grid point (_point_plot)


@dataclass(frozen=True)
class Entry:
    """One planned run: its method, grid point (index per axis), step and seed."""

    method: str
    point: tuple[int, ...]
    step: float
    seed: int
    run_id: str
    scenario: str


@dataclass
class Comparison:
    """What a compare measured: the reported and tuning runs (results.parquet, tuning.parquet), the chosen steps,
    the target, the step grid, the methods not applicable, and the curves and staleness of the reported runs."""

    results: pd.DataFrame
    tuning: pd.DataFrame
    chosen: pd.DataFrame
    target: float
    steps: tuple[float, ...]
    skipped: dict[str, str]
    keys: list[str]
    curves: pd.DataFrame
    staleness: dict[str, dict[str, pd.DataFrame]]  # by grid point, then method
    theory: dict[str, Any] | None
    failed: int
    executed: int
    seconds: float
    tuning_records: int  # R: a tuning run records metrics every ceil(K / R) updates (tuning_every)


def methods_for(scenario: str | Path, names: list[str] | None, points: list[dict[str, Any]]
                ) -> tuple[list[Method], dict[str, str]]:
    """The methods to compare and, of the default list, those not applicable, with why. A method named in
    `names` that does not apply is bad input."""
    base = load(scenario, points[0])
    objective = build_objective(base)
    chosen, skipped = [], {}
    for method in [BY_NAME[name] for name in names] if names else METHODS:
        why = why_not(method, objective, base.algorithm.regularizer["name"])
        if why is None:
            why = _refused(scenario, method, objective, points)
        if why is not None and names:
            raise ScenarioError("--algorithms", method.name, f"does not apply to this scenario: {why}")
        if why is None:
            chosen.append(method)
        else:
            skipped[method.name] = why
    if not chosen:
        raise ScenarioError("--algorithms", ",".join(names or [m.name for m in METHODS]),
                            "no method applies to this scenario")
    return chosen, skipped


def _refused(scenario: str | Path, method: Method, objective, points: list[dict[str, Any]]) -> str | None:
    """Why the scenario refuses `method` at one of the grid points ("refused by the scenario: ..."), or None."""
    try:
        for point in points:
            load(scenario, {**point, **method.parts(objective)}, switch=True)
    except ScenarioError as error:
        return f"refused by the scenario: {error}"
    return None


def step_grid(base: Scenario, text: str | None) -> tuple[float, ...]:
    """The step grid: --steps (at least two positive values), else gamma_0 of the scenario times STEP_FACTORS."""
    if text is not None:
        axis = parse_axis(f"algorithm.step={text}")
        if len(axis.values) < 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
                                           and math.isfinite(v) for v in axis.values):
            raise ScenarioError("--steps", text, "must be at least two positive numbers, e.g. 0.01,0.1,1 or "
                                                 "0.01:1:x2 (a geometric range)")
        return tuple(sorted(float(v) for v in axis.values))
    from sim.run import build_algorithm

    gamma0 = build_algorithm(base, build_objective(base))[0].gamma(0)
    return tuple(float(f"{gamma0 * factor:.6g}") for factor in STEP_FACTORS)


def budget(scenario: str | Path, point: dict[str, Any], parts: dict[str, Any]) -> int:
    """The method's updates for the scenario's gradient budget, iterations x batch at this grid point."""
    base = load(scenario, point)
    method = load(scenario, {**point, **parts}, switch=True)
    return max(1, -(-base.algorithm.iterations * base.algorithm.batch // method.algorithm.batch))


def plan_runs(scenario: str | Path, methods: list[Method], axes: list[Axis], steps: dict[tuple, float] | tuple[float, ...],
              first_seed: int, seeds: int, records: int = TUNING_RECORDS) -> list[Entry]:
    """Every run of one phase: per method and grid point, each step (a tuple: the tuning grid, whose runs record
    metrics at `records` points: tuning_every) or the chosen one (a dict by (method, point)), each with the seeds
    first_seed .. first_seed + seeds - 1."""
    entries = []
    for method in methods:
        for point in product(axes):
            fixed = {axis.key: axis.values[i] for axis, i in zip(axes, point)}
            parts = method.parts(build_objective(load(scenario, fixed)))
            updates = budget(scenario, fixed, parts)
            tuning = {} if isinstance(steps, dict) else {
                "record.every": tuning_every(load(scenario, {**fixed, **parts, "algorithm.iterations": updates},
                                                  switch=True), records)}
            for step in steps if isinstance(steps, tuple) else (steps[method.name, point],):
                overrides = {**fixed, **parts, **tuning, "algorithm.iterations": updates, "algorithm.step": step,
                             "seed": first_seed}
                for run in plan(scenario, [], overrides, seeds, switch=True):
                    entries.append(Entry(method.name, point, step, run.seed, run.run_id, run.scenario))
    return entries


def tuning_every(method: Scenario, records: int) -> int:
    """A tuning run's record.every: its K updates in `records` equal parts (metrics at k = 0, every, ..., K), or
    the scenario's own grid where that is coarser. The tuning ranks steps a factor of 2 apart; its time to target
    is read on this grid (a resolution of 1 / records of the budget), its final stationarity at K exactly. The
    full-gradient metrics are most of a run's cost that no batching shares (a full pass per row), so the 8 x T
    tuning runs take them on this grid (--tuning-records, default TUNING_RECORDS), the reported runs on the
    scenario's own."""
    K = method.algorithm.iterations
    return max(method.record.every, -(-K // records))


def measure(entries: list[Entry], store, axes: list[Axis], target: float | None = None
            ) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """One row per entry (its method, grid cells, seed, step and measures; target None: the measures to target are
    left out) and each run's metrics table by run id."""
    rows, curves = [], {}
    cells = [axis.cells() for axis in axes]
    for entry in entries:
        record = store.record(entry.run_id)
        summary = record.summary
        row = {"algorithm": entry.method, **{axis.key: cells[j][entry.point[j]] for j, axis in enumerate(axes)},
               "seed": entry.seed, "step": entry.step, "status": record.status, "run_id": entry.run_id,
               "point": str(entry.point)}
        if record.status != "failed":
            curves[entry.run_id] = record.metrics.to_pandas()
            per_gradient = summary["evaluations"] / summary["gradients"] if summary["gradients"] else 1.0
            if target is not None:
                row.update(zip(("time_to_target", "evaluations_to_target", "reached"),
                               time_to_target(curves[entry.run_id], target, per_gradient)))
            row.update({key: summary[key] for key in ("sim_time", "evaluations", "gradients", "dropped",
                                                      "mean_staleness", "max_staleness", "final_stationarity")})
            row["wasted_fraction"] = wasted_fraction(summary)
            row["idle_worker_time"] = summary["idle_worker_time"]
            row["idle_fraction"] = idle_fraction(summary)
            row["staleness_counts"] = list(record.staleness)
        rows.append(row)
    return pd.DataFrame(rows), curves


def wasted_fraction(summary: dict) -> float:
    """The share of the gradients computed that no update used: dropped at the server, cancelled (Ringmaster) or
    lost on the network, over the gradients that reached the server plus the cancelled and lost ones."""
    wasted = summary.get("cancelled", 0) + summary.get("lost_messages", 0)
    computed = summary["gradients"] + wasted
    return (summary["dropped"] + wasted) / computed if computed else 0.0


def idle_fraction(summary: dict) -> float:
    """The share of the worker-time W x sim_time the workers spent idle (summary idle_worker_time: waiting for a
    pull, the barrier or a write, or down), 0 for a run that took no time."""
    worker_time = summary["workers"] * summary["sim_time"]
    return summary["idle_worker_time"] / worker_time if worker_time > 0 else 0.0


def fixed_taus(base: Scenario) -> list[float] | None:
    """Per worker, the constant time of one stochastic gradient (pull, compute, push) when every worker's times are
    constant (the fixed computation model: constant distributions, a group's slowdown included, no stragglers, no
    server time), else None."""
    timings = base.cluster.timings
    if any(t.straggler_probability > 0 for t in timings) or not base.cluster.server.is_zero:
        return None
    taus = []
    for timing in timings:
        parts = [_constant(d) for d in (timing.compute, timing.downlink, timing.uplink)]
        if None in parts:
            return None
        taus.append(sum(parts))
    return taus


def _constant(distribution) -> float | None:
    """The value of a constant distribution (or a constant scaled by a group's slowdown), else None."""
    if isinstance(distribution, Scaled):
        base = _constant(distribution.base)
        return None if base is None else distribution.factor * base
    return distribution.value if isinstance(distribution, Constant) else None


def run_compare(scenario: str | Path, out: str | Path, names: list[str] | None = None, target: float | None = None,
                seeds: int = 5, axes: list[Axis] | None = None, steps_text: str | None = None,
                tuning_seeds: int = 2, jobs: int = 1, scheduler: str | None = None, quiet: bool = False,
                command: list[str] | None = None, tuning_records: int = TUNING_RECORDS) -> Comparison:
    """Tune every method's step on the tuning seeds, run the chosen steps on the reported seeds, measure; see the
    module docstring. Writes only DIR/.runs (the report: write_report)."""
    from sim.frontends.executors import executor
    from sim.frontends.rundir import check_out_dir
    from sim.frontends.store import STORE_KIND, STORE_MARKER, Store

    started = time.perf_counter()
    axes = axes or []
    for axis in axes:
        if axis.key in CHOSEN_BY or axis.key.startswith("algorithm.step."):
            raise ScenarioError("--grid", axis.key, "compare sets it itself (methods: --algorithms, steps: --steps); "
                                                    "grid a cluster or objective key, e.g. cluster.workers=4,8,16")
    if seeds > MAX_SEEDS:
        raise ScenarioError("--seeds", seeds, f"must be at most {MAX_SEEDS} (tuning seeds start at S + "
                                              f"{TUNING_SEED_OFFSET})")
    plan(scenario, axes, {})  # every grid point of the scenario as it is is valid (else one message naming it)
    points = [{axis.key: axis.values[i] for axis, i in zip(axes, point)} for point in product(axes)]
    base = load(scenario, points[0])
    _check_straggler_axes(scenario, axes, points)
    check_seeds(base.seed, TUNING_SEED_OFFSET + tuning_seeds)
    methods, skipped = methods_for(scenario, names, points)
    steps = step_grid(base, steps_text)
    tuning_plan = plan_runs(scenario, methods, axes, steps, base.seed + TUNING_SEED_OFFSET, tuning_seeds,
                            tuning_records)
    check_out_dir(Path(out), STORE_MARKER, STORE_KIND,
                  Store(Path(out)).written() + report_paths(Path(out), [axis.key for axis in axes], len(points)))
    executed = 0
    with executor(jobs, scheduler) as execute, Store(Path(out)) as store:
        def run(entries: list[Entry], phase: str) -> None:
            nonlocal executed
            todo = list({e.run_id: (e.run_id, e.scenario) for e in entries if not store.done(e.run_id)}.values())
            total = len({e.run_id for e in entries})
            if not quiet:
                print(f"asgd compare: {phase}: {total} runs, {total - len(todo)} done earlier, {len(todo)} to run "
                      f"{placement(jobs, scheduler)}", file=sys.stderr)
            progress = Progress(total, total - len(todo), label=f"asgd compare ({phase})", quiet=quiet,
                                count_failures=True)
            run_tasks(execute, todo, store.put, progress)
            executed += len(todo)

        run(tuning_plan, f"tuning {len(methods)} methods x {len(steps)} steps x {tuning_seeds} seeds")
        tuning, tuning_curves = measure(tuning_plan, store, axes)
        if target is None:
            starts = [curve["stationarity"].iloc[0] for curve in tuning_curves.values() if len(curve)]
            target = TARGET_FRACTION * float(min(starts)) if starts else math.nan
        tuning, _ = measure(tuning_plan, store, axes, target)
        keys = [axis.key for axis in axes]
        ok = tuning[tuning["status"] != "failed"].copy()
        chosen = choose_steps(ok, ["algorithm", *keys], steps) if len(ok) else pd.DataFrame()
        by_point = {}
        cells = [axis.cells() for axis in axes]
        for method in methods:
            for point in product(axes):
                match = chosen[(chosen["algorithm"] == method.name) & np.logical_and.reduce(
                    [chosen[key] == cells[j][point[j]] for j, key in enumerate(keys)] or [True])] if len(chosen) else []
                by_point[method.name, point] = float(match["step"].iloc[0]) if len(match) else steps[0]
        reported_plan = plan_runs(scenario, [m for m in methods], axes, by_point, base.seed, seeds)
        run(reported_plan, f"{len(methods)} methods at their chosen steps x {seeds} seeds")
        results, curves = measure(reported_plan, store, axes, target)
    failed = int((results["status"] == "failed").sum() + (tuning["status"] == "failed").sum())
    curve_rows = []
    staleness: dict[str, dict[str, pd.DataFrame]] = {}  # by grid point, then method = {}
    for entry in reported_plan:
        if entry.run_id in curves:
            curve = curves[entry.run_id][["time", "gradients", "stationarity"]].assign(
                algorithm=entry.method, point=str(entry.point), run_id=entry.run_id)
            curve_rows.append(curve)
    for (method, point), rows in results[results["status"] != "failed"].groupby(["algorithm", "point"], sort=False):
        counts = np.zeros(max(len(c) for c in rows["staleness_counts"]), dtype=np.int64)
        for c in rows["staleness_counts"]:
            counts[:len(c)] += np.asarray(c, dtype=np.int64)
        staleness.setdefault(point, {})[method] = pd.DataFrame({"staleness": np.arange(len(counts)), "count": counts})
    taus = fixed_taus(base)
    theory = None
    if taus is not None and not axes and math.isfinite(target):
        theory = fixed_computation_orders(taus, build_objective(base).variance, target)
    return Comparison(results, tuning, chosen, target, steps, skipped, keys,
                      pd.concat(curve_rows, ignore_index=True) if curve_rows else pd.DataFrame(),
                      staleness, theory, failed, executed, time.perf_counter() - started, tuning_records)


def _check_straggler_axes(scenario: str | Path, axes: list[Axis], points: list[dict[str, Any]]) -> None:
    """A what-if over the stragglers' slowdown where no worker straggles (cluster.stragglers.probability 0 at every
    grid point) would compare equal clusters: bad input, saying what to grid instead."""
    for axis in axes:
        if axis.key == "cluster.stragglers.slowdown" and not any(
                timing.straggler_probability > 0 for point in points for timing in load(scenario, point).cluster.timings):
            raise ScenarioError("--grid", f"{axis.key}={','.join(axis.labels)}", "changes nothing: no worker straggles "
                                "(cluster.stragglers.probability is 0); set the probability in the scenario, or grid "
                                "a slow group's slowdown, e.g. cluster.groups.0.slowdown=1,5,10")


def ranked_tables(comparison: Comparison) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    """Per grid point (its cells), analysis.compare.rank of its reported runs that did not fail."""
    results = comparison.results[comparison.results["status"] != "failed"]
    if results.empty:
        return []
    keys = comparison.keys
    groups = results.groupby(keys, sort=False) if keys else [((), results)]
    out = []
    for cells, rows in groups:
        cells = cells if isinstance(cells, tuple) else (cells,)
        out.append((dict(zip(keys, cells)), rank(rows, SYNC_BASELINE)))
    return out


def format_table(ranked: pd.DataFrame, chosen: pd.DataFrame, cells: dict[str, Any], markdown: bool) -> str:
    headers = ["rank", "method", "step", "time to target (median [interval])", "evaluations to target",
               "reached", "speedup over sync", "wasted", "idle", "mean staleness"]
    rows = []
    for i, row in ranked.iterrows():
        edge = _edge(chosen, row["algorithm"], cells)
        rows.append([i + 1, row["algorithm"],
                     f"{row['step']:.4g}" + (f" ({edge} of grid)" if edge else ""),
                     _time(row), _number(row["evaluations_median"]), f"{row['reached']}/{row['seeds']}",
                     "-" if math.isnan(row["speedup"]) else f"{row['speedup']:.2f}x",
                     f"{100 * row['wasted_fraction']:.1f}%", f"{100 * row['idle_fraction']:.1f}%",
                     f"{row['mean_staleness']:.2f}"])
    return table(headers, rows, markdown)


def _edge(chosen: pd.DataFrame, algorithm: str, cells: dict[str, Any]) -> str:
    if chosen.empty:
        return ""
    mask = chosen["algorithm"] == algorithm
    for key, value in cells.items():
        mask &= chosen[key] == value
    return str(chosen.loc[mask, "edge"].iloc[0]) if mask.any() else ""


def _time(row: pd.Series) -> str:
    if not math.isfinite(row["time_median"]):
        return "not reached"
    interval = (f" [{_number(row['time_low'])}, {_number(row['time_high'])}]" if math.isfinite(row["time_low"])
                else "")
    return f"{_number(row['time_median'])}{interval}"


def _number(value: float) -> str:
    return "inf" if not math.isfinite(value) else f"{value:.4g}"


def write_report(out: Path, comparison: Comparison, scenario: str | Path, command: list[str] | None) -> list[str]:
    """report.md, results.parquet, tuning.parquet and plots/*.png into `out`; returns the plot names."""
    from sim.frontends.rundir import staged
    from sim.frontends.store import replacing, write_atomic

    figures = _figures(comparison)
    with staged(out / PLOTS) as staging:
        for name, figure in figures.items():
            FigureCanvasAgg(figure).print_png(staging / name)
    for name, frame in zip(TABLES, (comparison.results, comparison.tuning)):
        with replacing(out / name) as temporary:
            frame.drop(columns=["staleness_counts", "point"], errors="ignore").to_parquet(temporary, index=False)
    write_atomic(out / REPORT, _markdown(comparison, scenario, command, list(figures)).encode())
    return list(figures)


def report_paths(out: Path, keys: list[str], points: int) -> list[Path]:
    """The longest paths write_report writes in `out` for a comparison over the grid `keys` with `points` grid points
    (for check_out_dir)."""
    from sim.frontends.rundir import LARGEST_PID, staged_paths
    from sim.frontends.store import _temporary

    files = [out / name for name in (REPORT, *TABLES)]
    plots = [*(_point_plot(name, points - 1, bool(keys)) for name in POINT_PLOTS), *map(_what_if, keys)]
    return [*files, *(_temporary(file, LARGEST_PID) for file in files), *staged_paths(out / PLOTS, plots)]


def _point_plot(name: str, index: int, keyed: bool) -> str:
    """The file name of a plot of grid point `index` (numbered if there is a grid)."""
    return f"{name}-{index}.png" if keyed else f"{name}.png"


def _what_if(key: str) -> str:
    return f"what-if-{key}.png"


def _figures(comparison: Comparison) -> dict[str, Figure]:
    figures: dict[str, Figure] = {}
    ranked = ranked_tables(comparison)
    for index, (cells, table_) in enumerate(ranked):
        where = f" ({', '.join(f'{k}={v}' for k, v in cells.items())})" if cells else ""
        results = comparison.results[comparison.results["status"] != "failed"]
        for key, value in cells.items():
            results = results[results[key] == value]
        point = _point_of(comparison, cells)
        figure = Figure(figsize=(8, 5), layout="constrained")
        curves = comparison.curves[comparison.curves["point"] == point] if not comparison.curves.empty else None
        if curves is not None and len(curves):
            plot_curves(figure.subplots(), curves, comparison.target)
            figure.axes[0].set_title(figure.axes[0].get_title() + where)
            figures[_point_plot(CURVES, index, bool(comparison.keys))] = figure
        figure = Figure(figsize=(8, 5), layout="constrained")
        plot_times(figure.subplots(), table_, results)
        figure.axes[0].set_title(figure.axes[0].get_title() + where, fontsize="small")
        figures[_point_plot(TIMES, index, bool(comparison.keys))] = figure
        histograms = {m: h for m, h in comparison.staleness.get(point, {}).items() if h["count"].sum()}
        if histograms:
            figure = Figure(figsize=(8, 5), layout="constrained")
            plot_staleness(figure.subplots(), histograms)
            figure.axes[0].set_title(f"Staleness of the applied gradients, reported seeds pooled{where}",
                                     fontsize="small")
            figures[_point_plot(STALENESS, index, bool(comparison.keys))] = figure
    numeric = [k for k in comparison.keys if pd.api.types.is_numeric_dtype(comparison.results[k])]
    for key in numeric:
        summary = pd.concat([t.assign(**cells) for cells, t in ranked], ignore_index=True)
        figure = Figure(figsize=(8, 5), layout="constrained")
        plot_what_if(figure.subplots(), summary, key)
        figures[_what_if(key)] = figure
    return figures


def _point_of(comparison: Comparison, cells: dict[str, Any]) -> str:
    """The grid point (index per axis) of these cells: the reported results' order is the plan's."""
    results = comparison.results
    mask = np.ones(len(results), dtype=bool)
    for key, value in cells.items():
        mask &= (results[key] == value).to_numpy()
    return results.loc[mask, "point"].iloc[0]


def _markdown(comparison: Comparison, scenario: str | Path, command: list[str] | None, plots: list[str]) -> str:
    steps = comparison.steps
    lines = [f"# Which algorithm for {scenario}?", "",
             f"- command: `{provenance(command)['command'] or '(Python API)'}`",
             f"- target: stationarity <= {comparison.target:.4g}"
             + ("" if "--target" in (command or []) else
                f" ({TARGET_FRACTION:g} x the stationarity at x_0; --target sets it)"),
             f"- step grid: {len(steps)} log-spaced constant steps from {steps[0]:.4g} to {steps[-1]:.4g}, the same "
             "for every method, with the same budget of stochastic gradients (the scenario's iterations x batch)",
             f"- steps chosen on the tuning seeds S + {TUNING_SEED_OFFSET} + j, disjoint from the reported seeds "
             "(largest share reaching the target, then smallest median time, then smallest median final "
             "stationarity); a step at an end of the grid is flagged: widen --steps that way",
             f"- tuning runs record their metrics at {comparison.tuning_records} equal parts of their budget (their "
             "time to target is read on that grid: --tuning-records); the reported runs at the scenario's own "
             "`record.every`",
             f"- runs: {len(comparison.results)} reported, {len(comparison.tuning)} tuning; "
             f"{comparison.failed} failed", ""]
    lines += ["Methods (scenarios.methods):", ""] + [f"- {name}: {BY_NAME[name].doc}"
                                                   for name in dict.fromkeys(comparison.results["algorithm"])] + [""]
    if comparison.skipped:
        lines += ["Not applicable here:", ""] + [f"- {name}: {why}" for name, why in comparison.skipped.items()] + [""]
    for cells, ranked in ranked_tables(comparison):
        where = ", ".join(f"`{k}` = {v}" for k, v in cells.items())
        lines += [f"## Ranking{' at ' + where if where else ''}", "",
                  "Median over the reported seeds with the order-statistic interval of the median "
                  "([min, max] with fewer than 6 seeds); `wasted`: the gradients computed that no update used "
                  "(dropped at the server, cancelled, lost) over those computed; `idle`: the worker-time the "
                  "workers spent idle (waiting for a pull, the barrier or a write, or down) over W x the simulated "
                  "time; both averaged over the seeds; speedup: sync's median time to target over the method's.", "",
                  format_table(ranked, comparison.chosen, cells, markdown=True), ""]
    if comparison.theory is not None:
        theory = comparison.theory
        measured = _measured_ratio(comparison)
        lines += ["## Theory beside the measurement (fixed computation model)", "",
                  "Every worker's time per stochastic gradient is constant here, the fixed computation model of the "
                  "Ringmaster poster (Maranjyan, Tyurin, Richtarik 2025, Table 1). Its time complexities are ORDERS, "
                  "NOT NUMBERS: up to unknown constants, so only ratios and the best m are predictions.", "",
                  f"- asynchronous SGD (all n = {theory['workers']} workers): tau_h(n) (1/eps + sigma^2/(n eps^2))",
                  f"- Ringmaster ASGD and the lower bound: min over m of tau_h(m) (1/eps + sigma^2/(m eps^2)); "
                  f"predicted best m = {theory['best_m']} fastest workers",
                  f"- predicted ratio asynchronous SGD / optimal = {theory['ratio']:.3g} (order)",
                  f"- measured: {measured}", ""]
    lines += ["## Plots", ""] + [f"![{name}]({PLOTS}/{name})" for name in plots]
    return "\n".join(lines) + "\n"


def _measured_ratio(comparison: Comparison) -> str:
    """What can be set beside the predicted ratio: asysg-con is asynchronous SGD; the optimal methods (Ringmaster,
    Rennala) are not in this comparison until they exist."""
    ranked = ranked_tables(comparison)
    if not ranked:
        return "no finished runs"
    table_ = ranked[0][1]
    times = dict(zip(table_["algorithm"], table_["time_median"]))
    if "asysg-con" not in times:
        return "asysg-con (asynchronous SGD) was not run"
    best = min(times.values())
    return (f"asysg-con (asynchronous SGD) median time over the best measured method's: {times['asysg-con'] / best:.3g}"
            " (no Ringmaster or Rennala method is implemented yet, so the optimal order has no measured counterpart)")


def cmd_compare(args: argparse.Namespace) -> int:
    from sim.frontends.rundir import out_path

    names = _algorithms(args.algorithms)
    if args.target is not None and not (math.isfinite(args.target) and args.target > 0):
        raise ScenarioError("--target", args.target, "must be a finite number > 0 (a stationarity value)")
    axes = parse_grid(args.grid)
    out = out_path(args.out, "runs/compare-NAME")
    if out is None:
        out = Path("runs") / f"compare-{load(args.scenario).name}"
    try:
        comparison = run_compare(args.scenario, out, names, args.target, args.seeds, axes, args.steps,
                                 args.tuning_seeds, jobs_of(args), args.scheduler, command=args.argv,
                                 tuning_records=args.tuning_records)
    except KeyboardInterrupt as stop:  # Interrupted while runs ran, a bare KeyboardInterrupt before or after
        print(f"asgd compare: {stop or 'interrupted'}; rerun the same command to resume (finished runs are kept in "
              f"{out / '.runs'})", file=sys.stderr)
        return 130
    plots = write_report(out, comparison, args.scenario, args.argv)
    for cells, ranked in ranked_tables(comparison):
        where = ", ".join(f"{k}={v}" for k, v in cells.items())
        print(f"asgd compare: target stationarity {comparison.target:.4g}{'; ' + where if where else ''}")
        print(format_table(ranked, comparison.chosen, cells, markdown=False))
    for name, why in comparison.skipped.items():
        print(f"  not applicable: {name}: {why}")
    print(f"  {comparison.executed} runs now, in {comparison.seconds:.1f} s; written to {out}: report.md, "
          f"results.parquet, tuning.parquet and {len(plots)} plots")
    return 1 if comparison.failed else 0


def _algorithms(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [name.strip() for name in text.split(",")]
    known = ", ".join(method.name for method in METHODS)
    for name in names:
        if name not in BY_NAME:
            raise ScenarioError("--algorithms", text, f"{name!r} is not a method; known: {known}")
    if len(set(names)) != len(names):
        raise ScenarioError("--algorithms", text, "names a method twice")
    return names


def add_commands(commands) -> None:
    compare = commands.add_parser(
        "compare", help="which algorithm reaches a target first on this cluster (steps tuned fairly)",
        description="Run every applicable method on SCENARIO's cluster and objective, tune each one's step on the same "
                    "grid and budget, and rank them by simulated time to the target. Exit codes: 0 done, 1 a run "
                    "failed, 2 bad input, 130 interrupted. See README, 'Which algorithm for my cluster?'.")
    compare.add_argument("scenario", metavar="SCENARIO.toml")
    compare.add_argument("--algorithms", metavar="A,B,...",
                         help=f"methods to compare (default: all that apply): {', '.join(m.name for m in METHODS)}")
    compare.add_argument("--target", type=float, metavar="EPS",
                         help=f"stationarity target (default: {TARGET_FRACTION:g} x its value at x_0)")
    compare.add_argument("--seeds", type=_positive, default=5, metavar="N", help="reported seeds S..S+N-1 (default 5)")
    compare.add_argument("--tuning-seeds", type=_positive, default=2, metavar="T",
                         help="seeds the steps are tuned on (default 2), disjoint from the reported ones")
    compare.add_argument("--tuning-records", type=_positive, default=TUNING_RECORDS, metavar="R",
                         help=f"a tuning run records metrics every ceil(K / R) of its K updates (default R = "
                              f"{TUNING_RECORDS}), and its time to target is read there; each row costs a full "
                              "gradient")
    compare.add_argument("--steps", metavar="V1,V2,...", help="the step grid (default: the scenario's step gamma_0 x "
                                                             "2^-4 .. 2^3); ranges as in --grid, e.g. 0.01:1:x2")
    compare.add_argument("--grid", action="append", default=[], metavar="KEY.PATH=V1,V2,...",
                         help="what-if axis, e.g. cluster.workers=4,8,16 (repeatable)")
    add_executor_flags(compare)
    compare.add_argument("--out", metavar="DIR", help="the report directory (default runs/compare-NAME; rerun to "
                                                      "resume)")
    compare.set_defaults(handler=cmd_compare)
