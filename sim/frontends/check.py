"""`asgd check SCENARIO.toml`: a scenario's empirical rate, bound and speedup against Lian et al. (2015).

The scenario runs with the corollary step over a grid of iteration counts K and seeds, at its own worker count
(checks 1, bound, and 2, rate) and over a grid of worker counts W (checks 3, speedup, and 4, worker limit); the
four checks are printed and a report (report.md, runs.csv, PNG plots) is written to --out. The runs go through
the executors of `asgd sweep` (--jobs J local processes or --scheduler ADDRESS). Exit 0 when no check fails, 1 when
one fails or a run raised (then no report is written). See docs/checks.md.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scenarios import Scenario, build_objective, load, parse, parse_override, to_toml
from scenarios.errors import ScenarioError
from sim.frontends.sweep import add_executor_flags, check_seeds, jobs_of, placement

if TYPE_CHECKING:
    import pandas as pd

RECORD_POINTS = 200          # metrics rows per run: the ergodic average is their mean
DEFAULT_K = (3000, 48000)    # doubling from --k-min to --k-max
DEFAULT_WORKERS = "1,2,4,8,16,32"
DEFAULT_SEEDS = 3
FAILURES_SHOWN = 5


@dataclass
class GridRun:
    status: str              # ok | diverged | failed (the run raised)
    error: str | None        # failed: "ExceptionType: message"
    summary: dict[str, Any]  # the run's summary.json (non-finite numbers null; empty if failed)
    metrics: pd.DataFrame    # its recorded metrics (no columns if failed)
    staleness: pd.DataFrame  # applied gradients by staleness: columns staleness, count


def run_grid(points: list[tuple[Scenario, int]], jobs: int = 1, scheduler: str | None = None,
             quiet: bool = False) -> list[GridRun]:
    """Simulate every (scenario, seed) with the executors of `asgd sweep` (sim.frontends.executors: in this process if
    jobs = 1, else in `jobs` local processes, or on the Dask cluster at `scheduler`), showing its progress display
    unless quiet; one GridRun per point, in order, whatever the executor. A run that raises is a failed GridRun."""
    from sim.frontends.executors import executor
    from sim.frontends.progress import Progress
    from sim.recording import staleness_table
    from sim.frontends.store import Outcome, decode_record, run_id
    from sim.frontends.sweep import run_tasks

    ids, tasks, records = [], {}, {}
    for scenario, seed in points:
        text = to_toml(parse({**scenario.resolved, "seed": seed}))
        ids.append(run_id(text))
        tasks[ids[-1]] = (ids[-1], text)

    def keep(outcome: Outcome) -> None:
        records[outcome.run_id] = decode_record(outcome.result)

    with executor(jobs, scheduler) as execute:
        progress = Progress(len(tasks), label="asgd check", quiet=quiet, count_failures=True)
        run_tasks(execute, list(tasks.values()), keep, progress)
    return [GridRun(r.status, r.error, r.summary, r.metrics.to_pandas(), staleness_table(r.staleness).to_pandas())
            for r in map(records.__getitem__, ids)]


def variant(base: Scenario, iterations: int, workers: int) -> Scenario:
    """`base` with K = iterations, the corollary step, W = workers (sync: M = W too), RECORD_POINTS metrics rows
    and no trace."""
    data = copy.deepcopy(base.resolved)
    algorithm, cluster = data["algorithm"], data["cluster"]
    algorithm["iterations"] = iterations
    algorithm["step"] = {"policy": "corollary"}
    if workers != cluster["workers"]:
        if any(isinstance(group["workers"], list) for group in cluster.get("groups", [])):
            raise ScenarioError("cluster.groups", "[...]", "asgd check varies cluster.workers, which a group of fixed "
                                                           "worker ids does not scale with: select its members by share "
                                                           "or rank (workers = { share = 0.25 }, { last = 2 }) or drop "
                                                           "the groups with --set 'cluster.groups=[]'")
        cluster["workers"] = workers  # sync: M = W follows (the resolved scenario leaves its batch implied)
    data["record"] = {"every": max(1, iterations // RECORD_POINTS), "trace": False}
    return parse(data)


def _integers(text: str, flag: str, example: str) -> list[int]:
    try:
        values = sorted({int(item) for item in text.split(",")})
    except ValueError:
        values = []
    if not values or values[0] < 1:
        raise ScenarioError(flag, text, f"must be a comma-separated list of integers >= 1, e.g. {example}")
    return values


def _k_grid(args: argparse.Namespace) -> list[int]:
    if args.k_grid is not None:
        ks = _integers(args.k_grid, "--k-grid", "1000,4000,16000")
    else:
        if not 1 <= args.k_min <= args.k_max:
            raise ScenarioError("--k-min", args.k_min, f"must be >= 1 and <= --k-max ({args.k_max})")
        ks = [args.k_min * 2**i for i in range(64) if args.k_min * 2**i <= args.k_max]
    if len(ks) < 2:
        raise ScenarioError("--k-grid", ",".join(map(str, ks)), "needs at least two iteration counts to fit a rate")
    return ks


def _validate(args: argparse.Namespace, base: Scenario) -> tuple[list[int], list[int]]:
    """The K and W grids; bad flags or a scenario without a corollary step raise ScenarioError."""
    from models.updates import corollary_step
    from sim.run import build_algorithm

    ks = _k_grid(args)
    workers = _integers(args.workers, "--workers", DEFAULT_WORKERS)
    if workers[0] != 1:
        raise ScenarioError("--workers", args.workers,
                            "must include 1: the serial run every speedup is measured against")
    if args.seeds < 1:
        raise ScenarioError("--seeds", args.seeds, "must be an integer >= 1 (2 or more for confidence intervals)")
    check_seeds(base.seed, args.seeds)
    if not 0 < args.threshold <= 1:
        raise ScenarioError("--threshold", args.threshold, "must be an efficiency in (0, 1]")
    if not 0 <= args.tolerance < 0.5:
        raise ScenarioError("--tolerance", args.tolerance, "must be in [0, 0.5)")
    algorithm = base.algorithm
    objective = build_objective(base)  # outside the try: its ScenarioError (a ValueError) names its own key
    try:
        corollary_step(objective, algorithm.batch, ks[0], algorithm.minibatch)
    except ValueError as error:
        raise ScenarioError("objective", base.objective["name"],
                            f"asgd check runs the corollary step: {error}") from None
    build_algorithm(variant(base, ks[0], workers[0]), objective)  # the largest corollary step: MCP's concavity
    return ks, sorted(set(workers) | {base.cluster.workers})


def cmd_check(args: argparse.Namespace) -> int:
    from analysis.checks import FAIL
    from sim.frontends.check_report import FILES, Report
    from sim.frontends.rundir import check_out_dir, out_path, staged_paths

    out = out_path(args.out, "runs/check-NAME")
    base = load(args.scenario, dict(parse_override(text) for text in args.set))
    ks, workers = _validate(args, base)
    out = out or Path("runs") / f"check-{base.name}"
    check_out_dir(out, "report.md", "an asgd check report", staged_paths(out, FILES))
    if args.scheduler is not None:
        from sim.frontends.executors import probe_scheduler

        probe_scheduler(args.scheduler)  # before the first line is printed
    points = [(variant(base, k, w), base.seed + i) for k in ks for w in workers for i in range(args.seeds)]
    jobs = jobs_of(args)
    print(f"asgd check {base.name}: {len(ks)} K x {len(workers)} W x {args.seeds} seeds = {len(points)} runs "
          f"{placement(jobs, args.scheduler)}", file=sys.stderr)
    started = time.perf_counter()
    grid_runs = run_grid(points, jobs, args.scheduler)
    failed = [(scenario, seed, run) for (scenario, seed), run in zip(points, grid_runs) if run.status == "failed"]
    if failed:
        print(format_failures(base.name, failed, len(points), out))
        return 1
    report = Report.build(base, grid_runs, args.threshold, args.tolerance, time.perf_counter() - started)
    print(report.terminal())
    report.write(out)
    print(f"report written to {out}")
    return 1 if any(check.verdict == FAIL for check in report.checks) else 0


def format_failures(name: str, failed: list[tuple[Scenario, int, GridRun]], total: int, out: Path) -> str:
    """The message for runs that raised: the checks need every run, so none is made and no report written."""
    lines = [f"asgd check {name}: {len(failed)} of {total} runs failed (raised an error): no checks made, "
             f"nothing written to {out}"]
    for scenario, seed, run in failed[:FAILURES_SHOWN]:
        lines.append(f"  failed: K = {scenario.algorithm.iterations}, W = {scenario.cluster.workers}, "
                     f"seed {seed}: {run.error}")
    if len(failed) > FAILURES_SHOWN:
        lines.append(f"  ... and {len(failed) - FAILURES_SHOWN} more failed runs")
    return "\n".join(lines)


def add_commands(commands) -> None:
    check = commands.add_parser("check", help="empirical rate, bound and speedup against Lian et al. (2015); "
                                              "exit 1 if a check fails or a run raises")
    check.add_argument("scenario", metavar="SCENARIO.toml")
    check.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                       help="override a scenario key with a TOML literal (repeatable), as for `asgd run`")
    check.add_argument("--seeds", type=int, default=DEFAULT_SEEDS,
                       help=f"seeds per grid point (default {DEFAULT_SEEDS})")
    check.add_argument("--k-min", type=int, default=DEFAULT_K[0], help=f"smallest K (default {DEFAULT_K[0]})")
    check.add_argument("--k-max", type=int, default=DEFAULT_K[1],
                       help=f"largest K; the grid doubles from --k-min (default {DEFAULT_K[1]})")
    check.add_argument("--k-grid", metavar="K1,K2,...", help="explicit iteration counts (replaces --k-min/--k-max)")
    check.add_argument("--workers", default=DEFAULT_WORKERS, metavar="W1,W2,...",
                       help=f"worker counts of the speedup grid, 1 included (default {DEFAULT_WORKERS})")
    check.add_argument("--threshold", type=float, default=0.8,
                       help="efficiency (speedup / W) that counts as near-linear (default 0.8)")
    check.add_argument("--tolerance", type=float, default=0.1,
                       help="tolerance on the exponents -1/2 (rate) and 1/2 (worker limit) (default 0.1)")
    add_executor_flags(check)
    check.add_argument("--out", metavar="DIR", help="report directory (default runs/check-NAME)")
    check.set_defaults(handler=cmd_check)

