"""The `asgd` command line. Exit codes: 0 success, 1 a check failed (or a run diverged or its clock overflowed, or an
output could not be written), 2 bad input, 130 interrupted (^C), 141 the reader of the output left early (a broken
pipe)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any


LONG_RUN = 20_000  # updates: `asgd run` shows its progress from this many on


def _overrides(sets: list[str], seed: int | None) -> dict[str, Any]:
    from scenarios import parse_override

    overrides = dict(parse_override(text) for text in sets)
    if seed is not None:
        overrides["seed"] = seed
    return overrides


def cmd_run(args: argparse.Namespace) -> int:
    from scenarios import build_objective, load, to_toml
    from sim import simulate
    from sim.frontends.memory import check_run_memory
    from sim.frontends.progress import Progress
    from sim.frontends.rundir import check_out_dir, check_same_run, out_path, write_run

    out = out_path(args.out, "runs/NAME-seedN")
    scenario = load(args.scenario, _overrides(args.set, args.seed))
    build_objective(scenario)  # parameters it cannot be built with are bad input, before anything is shown or written
    check_run_memory(scenario)
    out = out or Path("runs") / f"{scenario.name}-seed{scenario.seed}"
    check_out_dir(out)
    check_same_run(out, to_toml(scenario), args.force)
    iterations = scenario.algorithm.iterations
    progress = Progress(iterations, label="asgd run", unit="update", quiet=iterations < LONG_RUN)
    try:
        result = simulate(scenario, progress=progress.advance_to, timing=args.timing)
    finally:
        progress.close()
    write_run(out, result, args.argv, force=args.force)
    print(format_summary(result.summary, out))
    return 0 if result.summary["status"] == "ok" else 1


def format_summary(s: dict[str, Any], out: Path) -> str:
    rate = f"  ({s['updates_per_time']:.4g} updates per unit time)" if s["updates_per_time"] else ""
    lines = [
        f"{s['scenario']} (seed {s['seed']}): {s['algorithm']} on {s['objective']}, {s['workers']} workers, "
        f"M = {s['batch']}: {s['status'].upper()}",
        f"  iterations      {s['iterations']} updates from {s['gradients']} gradients ({s['dropped']} dropped)",
        *([f"  discarded work  {s['dropped']} gradients discarded, {s['dropped_time']:.6g} worker-time wasted; "
           f"{s['cancelled']} computations cancelled, {s['cancelled_time']:.6g} worker-time lost (from each read on)"]
          if "dropped_time" in s else []),
        f"  simulated time  {s['sim_time']:.6g}{rate}",
        f"  final loss      {s['final_loss']:.6g}   ||grad f||^2 {s['final_grad_norm_sq']:.4g}"
        f"   ergodic mean {s['ergodic_grad_norm_sq']:.4g}",
        f"  stationarity    final {s['final_stationarity']:.4g}   ergodic mean {s['ergodic_stationarity']:.4g}"
        f"   objective f + h {s['final_objective']:.6g}   ({s['evaluations']} sample-gradient evaluations)",
        f"  staleness       mean {s['mean_staleness']:.3f}, p50 {s['staleness_p50']}, p90 {s['staleness_p90']}, "
        f"p99 {s['staleness_p99']}, max {s['max_staleness']}",
        *([f"  cluster events  {s['failures']} failures, {s['lost_messages']} lost messages, {s['speed_switches']} "
           f"speed switches; lost work {s['lost_worker_time']:.6g} worker time (events.parquet)"]
          if s['failures'] or s['lost_messages'] or s['speed_switches'] else []),
        f"  wall time       {s['wall_seconds']:.2f} s",
        f"  written to      {out}",
    ]
    return "\n".join(lines)


def cmd_replay(args: argparse.Namespace) -> int:
    if args.timing:
        return _replay_timing(args.run_dir)
    from sim.replay import replay

    outcome = replay(args.run_dir)
    if outcome.reproduced:
        print(f"reproduced: {outcome.updates} updates re-applied, final iterate identical bit for bit; every derivable "
              f"trace column consistent")
        return 0
    differing = int((outcome.x.view("u8") != outcome.expected.view("u8")).sum()) if outcome.x.shape == outcome.expected.shape else "all"
    print(f"NOT reproduced: {outcome.updates} updates re-applied, {differing} coordinates of the final iterate differ")
    return 1


def _replay_timing(run_dir: str) -> int:
    """`asgd replay --timing`: the run re-simulated on the SimPy engine, compared file by file."""
    from sim.frontends.memory import check_run_memory
    from sim.frontends.progress import Progress
    from sim.replay import replay_timing, scenario_of

    scenario = scenario_of(run_dir)
    check_run_memory(scenario, 2, " (the recorded run and the re-simulated one)")
    iterations = scenario.algorithm.iterations
    progress = Progress(iterations, label="asgd replay", unit="update", quiet=iterations < LONG_RUN)
    try:
        outcome = replay_timing(run_dir, progress.advance_to)
    finally:
        progress.close()
    if outcome.reproduced:
        print(f"reproduced: the run re-simulated from scenario.toml on the SimPy engine ({outcome.updates} updates) "
              f"gives its trace, metrics and final iterate bit for bit and its summary (but wall_seconds)")
        return 0
    print(f"NOT reproduced: the run re-simulated from scenario.toml on the SimPy engine differs: "
          f"{'; '.join(outcome.differences)}")
    return 1


def add_commands(commands) -> None:
    """`run` and `replay`; further commands live in their own modules (see COMMAND_MODULES)."""
    from sim.closed_form.con import TIMINGS

    run = commands.add_parser("run", help="simulate one scenario and write its run directory")
    run.add_argument("scenario", metavar="SCENARIO.toml")
    run.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                     help="override a scenario key with a TOML literal, e.g. cluster.workers=16 (repeatable)")
    run.add_argument("--seed", type=int, help="the run's seed (default: the scenario's)")
    run.add_argument("--out", metavar="DIR", help="run directory (default: runs/NAME-seedSEED)")
    run.add_argument("--force", action="store_true",
                     help="replace the run directory even if it holds another run (by default only a run of the same "
                          "resolved scenario and seed replaces it)")
    run.add_argument("--timing", choices=TIMINGS, default="auto",
                     help="auto: a closed-form schedule where the scenario has one, else the SimPy engine; simpy: "
                          "always the engine (the same run, bit for bit)")
    run.set_defaults(handler=cmd_run)

    rep = commands.add_parser("replay", help="certify a run directory: check every derivable trace column and re-apply "
                                             "the recorded updates without SimPy; exit 0 iff the final iterate is "
                                             "reproduced bit for bit")
    rep.add_argument("run_dir", metavar="RUN_DIR")
    rep.add_argument("--timing", action="store_true",
                     help="instead, re-simulate the run from its scenario.toml and seed on the SimPy engine and compare "
                          "the whole trace (times, workers, versions, samples), the metrics, the summary and the final "
                          "iterate bit for bit; exit 0 iff all equal")
    rep.set_defaults(handler=cmd_replay)


# Each module has add_commands(subparsers), registering its commands with a `handler(args) -> exit code`.
COMMAND_MODULES = ["sim.frontends.cli", "sim.frontends.sweep", "sim.frontends.report", "sim.frontends.bench",
                   "sim.frontends.check", "sim.frontends.compare"]


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="asgd", description="Discrete-event simulator of asynchronous SGD.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command of `argv` (default: the command line's); its exit code. The command modules, and what they
    import, are imported here (this module imports nothing heavy), so that a ^C from then on exits 130 with one line
    and no traceback (before, while Python starts, it prints Python's traceback)."""
    name = "asgd"
    try:
        args = build_parser().parse_args(argv)
        name = f"asgd {args.command}"
        args.argv = list(sys.argv[1:] if argv is None else argv)  # the command line, for provenance
        return _handle(args)
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left (`asgd run ... | head`): what was written stays; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush does not fail again
        return 141  # 128 + SIGPIPE, as a shell reports a command killed by it


def _handle(args: argparse.Namespace) -> int:
    """The exit code of args' command: 2 for bad input (ScenarioError), 1 for an output it could not write."""
    from scenarios.errors import ScenarioError, WriteError

    try:
        return args.handler(args)
    except ScenarioError as error:
        print(f"asgd {args.command}: error: {error}", file=sys.stderr)
        return 2
    except WriteError as error:
        print(f"asgd {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
