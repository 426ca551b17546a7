"""`asgd sweep`: one scenario over a grid of overrides and seeds, into a resumable result store.

    asgd sweep SCENARIO.toml [--grid KEY.PATH=V1,V2,...]... [--seeds N] [--jobs J | --scheduler ADDRESS]
               [--set KEY.PATH=VALUE]... [--trace] --out DIR

The runs: every point of the cartesian product of the --grid axes (value syntax and ranges: sim.frontends.grid), each with
the seeds S, S+1, ..., S+N-1, S the seed of the point's scenario (its `seed`, or --set seed=S). A run's scenario is
the file with record.trace = false, the --set overrides, the grid point, its seed and, with --trace,
record.trace = true applied in this order. Every grid point is validated, its objective built, before anything runs.

Results, resuming and run ids: sim.frontends.store. Rerunning the same command after an interruption (Ctrl-C, kill -9)
reuses every finished run and gives the results of an uninterrupted sweep.

Exit codes: 0 every run finished, with status ok, diverged or overflow (a divergence is a result, e.g. of too large a
step; overflow: the simulated clock went past the largest float);
1 some run failed (it raised: recorded with its error, and run again when the sweep is rerun); 2 bad input
(nothing is run); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import closing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from scenarios import ScenarioError, build_objective, load, parse_override, to_toml
from scenarios.schema import INT64_MAX
from sim.frontends.grid import Axis, parse_grid, product
from sim.frontends.memory import check_run_memory, check_sweep_size
from sim.frontends.progress import Progress
from sim.frontends.provenance import provenance
from sim.frontends.store import STATUSES, Outcome, run_id

if TYPE_CHECKING:
    from sim.frontends.executors import Execute, Task


@dataclass(frozen=True)
class PlannedRun:
    point: tuple[int, ...]  # index of its value on each grid axis
    seed: int
    run_id: str
    scenario: str           # fully resolved, TOML


@dataclass
class SweepReport:
    runs: pa.Table          # runs.parquet
    executed: int           # runs simulated by this sweep
    reused: int             # runs finished by an earlier one
    seconds: float


class Interrupted(KeyboardInterrupt):
    def __init__(self, finished: int, total: int) -> None:
        super().__init__(f"interrupted with {finished} of {total} runs finished")


def plan(scenario: str | Path, axes: list[Axis], overrides: dict[str, Any], seeds: int = 1,
         trace: bool = False, held: tuple[int, str] = (1, ""), switch: bool = False) -> list[PlannedRun]:
    """Every run of the sweep, grid point by grid point (the first axis varies slowest), seeds innermost. A grid over
    algorithm.name (or `switch`: asgd compare) lets each method's own defaults replace the file's keys it cannot use
    (scenarios.switch).
    Raises one ScenarioError if any grid point is invalid, or if the plan, or held = (copies, how) runs of a grid
    point held at once, cannot fit in the machine's memory (sim.frontends.memory)."""
    for key in overrides:
        if key in {axis.key for axis in axes}:
            raise ScenarioError("--set", key, "is also a --grid key: give its values with --grid only")
    points, runs, invalid, objectives = product(axes), [], [], set()
    check_sweep_size(len(points), seeds)
    for point in points:
        fixed = {"record.trace": False, **overrides, **{axis.key: axis.values[i] for axis, i in zip(axes, point)}}
        if trace:
            fixed["record.trace"] = True
        try:
            base = load(scenario, fixed, switch=switch or "algorithm.name" in {axis.key for axis in axes})
            objective = json.dumps(base.resolved["objective"], sort_keys=True)
            if objective not in objectives:
                build_objective(base)
                objectives.add(objective)
            check_run_memory(base, *held)
        except ScenarioError as error:
            invalid.append((point, error))
            continue
        check_seeds(base.seed, seeds)
        head, _, tail = to_toml(base).partition(f"\nseed = {base.seed}\n")  # the name before it is one line
        for seed in range(base.seed, base.seed + seeds):
            text = f"{head}\nseed = {seed}\n{tail}"  # = to_toml(load(scenario, {**fixed, "seed": seed}))
            runs.append(PlannedRun(point, seed, run_id(text), text))
    if invalid:
        point, error = invalid[0]
        where = ", ".join(f"{axis.key}={axis.labels[i]}" for axis, i in zip(axes, point))
        more = f"; {len(invalid) - 1} more of the {len(points)} grid points are invalid" if len(invalid) > 1 else ""
        allowed = f"{error.allowed} (grid point {where}{more})" if axes else error.allowed
        raise ScenarioError(error.path, error.value, allowed)
    return runs


def check_seeds(first: int, seeds: int) -> None:
    """The seeds first .. first + seeds - 1 of --seeds must all be valid seeds (at most INT64_MAX)."""
    if first + seeds - 1 > INT64_MAX:
        raise ScenarioError("--seeds", seeds, f"seeds {first}..{first + seeds - 1} go beyond the largest seed, "
                                              f"{INT64_MAX}: lower --seeds or the scenario's seed")


def run_sweep(scenario: str | Path, axes: list[Axis], overrides: dict[str, Any], out: str | Path, seeds: int = 1,
              trace: bool = False, jobs: int = 1, scheduler: str | None = None, quiet: bool = False,
              command: list[str] | None = None) -> SweepReport:
    """Plan the sweep, run what is not done yet, consolidate the results into `out`; see the module docstring.
    `command`: the asgd command line's arguments, recorded in sweep.json."""
    from sim.frontends.executors import MAX_CHUNK, executor
    from sim.frontends.report import report_paths
    from sim.frontends.rundir import check_out_dir
    from sim.frontends.store import STORE_KIND, STORE_MARKER, Store

    started = time.perf_counter()
    batch = min(MAX_CHUNK, seeds)
    held = (1, "") if scheduler else (jobs * batch, f" ({jobs} process{'es' if jobs > 1 else ''}, each running up to "
                                                   f"{batch} seeds of a grid point as one batch)")
    runs = plan(scenario, axes, overrides, seeds, trace, held)
    written = Store(Path(out)).written() + report_paths(Path(out), [axis.key for axis in axes])  # cmd_sweep's report
    check_out_dir(Path(out), STORE_MARKER, STORE_KIND, written)  # a bad --out stops before any worker starts
    with executor(jobs, scheduler) as execute, Store(Path(out)) as store:  # nothing is written before it connects
        todo = list({run.run_id: (run.run_id, run.scenario) for run in runs
                     if not store.done(run.run_id, trace)}.values())
        total = len({run.run_id for run in runs})
        if not quiet:
            print(f"asgd sweep: {total} runs, {total - len(todo)} done earlier, {len(todo)} to run "
                  f"{placement(jobs, scheduler)}", file=sys.stderr)
        columns = [axis.cells() for axis in axes]
        cells = {axis.key: [columns[j][run.point[j]] for run in runs] for j, axis in enumerate(axes)}
        manifest = {"scenario": str(scenario), "grid": {axis.key: list(axis.labels) for axis in axes},
                    "set": overrides, "seeds": seeds, "trace": trace, "command": provenance(command)["command"]}
        store.write_plan([(run.run_id, run.seed) for run in runs], cells, manifest)
        progress = Progress(total, total - len(todo), label="asgd sweep", quiet=quiet, count_failures=True)
        run_tasks(execute, todo, store.put, progress)
        table = store.consolidate([(run.run_id, run.seed) for run in runs], cells, manifest)
    return SweepReport(table, len(todo), total - len(todo), time.perf_counter() - started)


def run_tasks(execute: Execute, tasks: list[Task], keep: Callable[[Outcome], None], progress: Progress) -> None:
    """Run `tasks` with an executor's `execute` (sim.frontends.executors.executor), handing each outcome to `keep` as it
    arrives and counting it in `progress`: the one loop running the runs of `asgd sweep` and `asgd check`.
    Ctrl-C stops the executor's workers and raises Interrupted."""
    try:
        with closing(execute(tasks)) as outcomes:
            for outcome in outcomes:
                keep(outcome)
                progress.advance(failed=outcome.status == "failed")
    except KeyboardInterrupt:
        raise Interrupted(progress.done, progress.total) from None
    finally:
        progress.close()


def placement(jobs: int, scheduler: str | None) -> str:
    """Where the runs go, for the first line a command prints."""
    return f"on {scheduler}" if scheduler else f"in {jobs} process{'es' if jobs > 1 else ''}"


def format_report(report: SweepReport, out: Path, shown: int = 5) -> str:
    statuses = report.runs.column("status").to_pylist()
    counts = ", ".join(f"{statuses.count(s)} {s}" for s in STATUSES if s != "overflow" or s in statuses)
    lines = [f"asgd sweep: {len(statuses)} runs ({counts}); {report.executed} run now, {report.reused} reused, "
             f"in {report.seconds:.1f} s", f"  written to {out}: runs.parquet, curves.parquet, staleness.parquet"]
    failed = [row for row in report.runs.to_pylist() if row["status"] == "failed"]
    for row in failed[:shown]:
        lines.append(f"  failed: run {row['run_id']} (seed {row['seed']}): {row['error']}")
    if len(failed) > shown:
        lines.append(f"  ... and {len(failed) - shown} more failed runs: see the error column of runs.parquet")
    return "\n".join(lines)


def cmd_sweep(args: argparse.Namespace) -> int:
    from sim.frontends.rundir import out_path

    out = out_path(args.out)
    axes = parse_grid(args.grid)
    overrides = dict(parse_override(text) for text in args.set)
    try:
        report = run_sweep(args.scenario, axes, overrides, out, args.seeds, args.trace, jobs_of(args), args.scheduler,
                           command=args.argv)
    except KeyboardInterrupt as stop:  # Interrupted while runs ran, a bare KeyboardInterrupt before or after
        print(f"asgd sweep: {stop or 'interrupted'}; rerun the same command to resume (finished runs are kept in "
              f"{out / '.runs'})", file=sys.stderr)
        return 130
    print(format_report(report, out))
    from sim.frontends.report import load_sweep, render

    print(render(out, load_sweep(out), head=False))
    return 1 if "failed" in report.runs.column("status").to_pylist() else 0


def jobs_of(args: argparse.Namespace) -> int:
    """--jobs, by default the CPU count."""
    return args.jobs or os.cpu_count() or 1


def add_executor_flags(parser: argparse.ArgumentParser) -> None:
    """--jobs J | --scheduler ADDRESS, for the commands whose runs go through sim.frontends.executors."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=_positive, metavar="J", help="local processes (default: the CPU count; 1 runs in "
                                                                   "this process)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="run on the Dask cluster of this scheduler, "
                                                               "e.g. tcp://HOST:8786")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer >= 1")
    return value


def add_commands(commands) -> None:
    sweep = commands.add_parser(
        "sweep", help="run a scenario over a grid of overrides and seeds (resumable)",
        description="Run SCENARIO at every point of the cartesian product of the --grid axes, each with --seeds seeds, "
                    "into DIR; rerun the same command to resume. Exit codes: 0 every run finished (ok or diverged), "
                    "1 a run failed, 2 bad input, 130 interrupted. See docs/sweeps.md.")
    sweep.add_argument("scenario", metavar="SCENARIO.toml")
    sweep.add_argument("--grid", action="append", default=[], metavar="KEY.PATH=V1,V2,...",
                       help="a grid axis: TOML literals or ranges START:STOP:xFACTOR / START:STOP:+STEP (repeatable: "
                            "the cartesian product is run)")
    sweep.add_argument("--seeds", type=_positive, default=1, metavar="N",
                       help="seeds per grid point: S..S+N-1 (default 1)")
    add_executor_flags(sweep)
    sweep.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                       help="override a scenario key for every run (repeatable)")
    sweep.add_argument("--trace", action="store_true", help="keep each run's trace, in DIR/traces/RUN_ID.parquet")
    sweep.add_argument("--out", required=True, metavar="DIR", help="the sweep directory (created; reused to resume)")
    sweep.set_defaults(handler=cmd_sweep)
