"""Mutation testing of asgd's core with mutmut, one module at a time with the tests that concern it.

    pip install -e ".[test,mutation]"
    python tools/mutation.py                      # every module below, in order
    python tools/mutation.py analysis/bounds.py   # some of them
    python tools/mutation.py --list               # the modules and their tests
    python tools/mutation.py --survivors sim/run.py   # only the last pass's survivors, against today's tests
    python tools/mutation.py --mutants 'sim.run.x*lose*' sim/run.py   # only the mutants matching a pattern

Each module runs in its own copy of the tracked files (`git ls-files`, so a clean clone's files) under
--work (default /tmp/asgd-mutation/<module>), where mutmut keeps its results: rerunning on the same tree resumes
(another commit or change starts afresh), and
`cd <work dir> && python -m mutmut show NAME` prints a mutant's diff. Per module this prints the mutants killed
(a test failed, or timed out) and survived, and writes the surviving mutants' diffs to <work dir>/survivors.txt.
docs/mutation.md has the last measured scores and the equivalent survivors. Not part of CI: a models/ module takes
4 to 10 minutes on 2 loaded cores, scenarios/schema.py (913 mutants) and the sim/ modules far longer.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# tests/test_golden.py pins every example run bit for bit: it kills the mutants that change a run without breaking
# a property (a default, a constant the corollary step uses, the noise hash), in models/ and sim/. GOLDEN_EXAMPLES
# is its 44 example-scenario cases without the 80 random clusters (a -k expression, see config()): the random
# clusters use the same objectives, steps and protocols as the examples, and running them for every mutant
# made a mutant of a widely used function take 30 s and more.
GOLDEN = "tests/test_golden.py"
GOLDEN_EXAMPLES = "tests/test_golden.py::examples"
ENGINE_TESTS = ["tests/test_engine.py", "tests/test_schedule.py", "tests/test_schedule_incon.py", "tests/test_incon.py",
                "tests/test_wait_tightness.py", "tests/test_metrics_rows.py", GOLDEN_EXAMPLES]
CLOSED_FORM_TESTS = ["tests/test_schedule.py", "tests/test_scan.py", "tests/test_epoch_schedule.py",
                     "tests/test_schedule_incon.py", "tests/test_metrics_rows.py", GOLDEN]
# the protocols also run under failures and lost messages, with SVRG's epochs and against the closed forms (an
# independent implementation of the same schedules: tests/test_scan.py, tests/test_epoch_schedule.py)
PROTOCOL_TESTS = ENGINE_TESTS + ["tests/test_algorithms.py", "tests/test_staleness_methods.py",
                                 "tests/test_wait_admission.py", "tests/test_failures.py",
                                 "tests/test_cancel_failures.py", "tests/test_idle_time.py", "tests/test_scan.py",
                                 "tests/test_epoch_schedule.py"]
CLUSTER_TESTS = ENGINE_TESTS + ["tests/test_clusters.py", "tests/test_failures.py", "tests/test_distributions.py"]
OBJECTIVE_TESTS = ["tests/test_objectives.py", "tests/test_positive_parameters.py", GOLDEN_EXAMPLES]
UPDATE_TESTS = OBJECTIVE_TESTS + ["tests/test_algorithms.py", "tests/test_staleness_methods.py",
                                  "tests/test_analysis.py"]
SCENARIO_TESTS = ["tests/test_scenarios.py", "tests/test_positive_parameters.py", "tests/test_bad_input_messages.py"]
# the schema also reads the cluster's failures, speed and groups: the tests of those tables' bad input live with
# their features
SCHEMA_TESTS = SCENARIO_TESTS + ["tests/test_failures.py", "tests/test_clusters.py", "tests/test_staleness_methods.py"]

# module -> the test files run against its mutants (mutmut then runs, for each mutant, only the tests among these
# that execute the mutated function). Modules least likely to change come first.
MODULES: dict[str, list[str]] = {
    "analysis/bounds.py": ["tests/test_analysis.py", "tests/test_bounds_by_hand.py", GOLDEN],
    "analysis/speedup.py": ["tests/test_analysis.py", "tests/test_speedup_by_hand.py"],
    "scenarios/schema.py": SCHEMA_TESTS,
    "scenarios/algorithms.py": SCHEMA_TESTS,  # the [algorithm] table, split out of the schema
    "scenarios/validate.py": SCENARIO_TESTS,
    "models/logistic.py": OBJECTIVE_TESTS,
    "models/robust.py": OBJECTIVE_TESTS,
    "models/rosenbrock.py": OBJECTIVE_TESTS,
    "models/mlp.py": OBJECTIVE_TESTS + ["tests/test_mlp.py"],  # its start, probes and constants, built afresh
    "models/phase_retrieval.py": OBJECTIVE_TESTS,
    "models/base.py": OBJECTIVE_TESTS,
    "models/datasets.py": OBJECTIVE_TESTS,
    "models/values.py": OBJECTIVE_TESTS + SCENARIO_TESTS,  # the scenario keys are checked with it too
    "models/regularizers.py": OBJECTIVE_TESTS + ["tests/test_algorithms.py"],
    "models/updates/__init__.py": UPDATE_TESTS,
    "models/updates/apply.py": UPDATE_TESTS,
    "models/updates/steps.py": UPDATE_TESTS + ["tests/test_bounds_by_hand.py"],
    "models/updates/estimators.py": UPDATE_TESTS,
    "models/updates/compensation.py": UPDATE_TESTS,
    "sim/closed_form/con.py": CLOSED_FORM_TESTS,
    "sim/closed_form/scan.py": CLOSED_FORM_TESTS,
    "sim/closed_form/epochs.py": CLOSED_FORM_TESTS,
    "sim/closed_form/incon.py": CLOSED_FORM_TESTS,
    "sim/closed_form/ring.py": CLOSED_FORM_TESTS + ["tests/test_engine.py"],
    "sim/recorded.py": ["tests/test_recorded.py"],
    # the store's own tests, in process; tests/test_sweep.py (sweeps in subprocesses, a dask cluster: minutes for
    # each surviving mutant) is left to the re-run of the survivors
    "sim/frontends/store.py": ["tests/test_store.py", "tests/test_store_interrupted.py"],
    "sim/engine.py": ENGINE_TESTS,
    "sim/run.py": ENGINE_TESTS,
    # its own brute-force references, the replay's and the lockstep batch's iterate stores and the golden examples
    # (every engine test runs the store, so with ENGINE_TESTS each surviving mutant would run them all)
    "sim/iterates.py": ["tests/test_iterates.py", "tests/test_replay_bits.py", "tests/test_lockstep.py",
                        GOLDEN_EXAMPLES],
    "sim/recording.py": ENGINE_TESTS + ["tests/test_recording.py"],  # its parts by hand (idle time, event log, ...)
    "sim/replay.py": ["tests/test_engine.py", "tests/test_incon.py", "tests/test_replay_bits.py", "tests/test_cli.py"],
    "sim/protocols/con.py": PROTOCOL_TESTS,
    "sim/protocols/incon.py": PROTOCOL_TESTS,
    "sim/protocols/shared_memory.py": PROTOCOL_TESTS,
    "sim/protocols/sync.py": PROTOCOL_TESTS,
    "sim/protocols/waiters.py": PROTOCOL_TESTS,
    "sim/protocols/epochs.py": PROTOCOL_TESTS,
    "sim/protocols/cancel.py": PROTOCOL_TESTS + ["tests/test_compare.py"],
    "sim/cluster/workers.py": CLUSTER_TESTS,
    "sim/cluster/streams.py": CLUSTER_TESTS,
    "sim/cluster/speed.py": CLUSTER_TESTS + ["tests/test_speedup_by_hand.py"],
    "sim/cluster/failures.py": CLUSTER_TESTS + ["tests/test_cancel_failures.py"],
}

# the packages copied into mutmut's tree (the module under test is the only one mutated)
SOURCES = ["sim", "models", "scenarios", "analysis"]


# Long statistical checks (tens of thousands of updates, laws checked within standard errors) left out of every
# subset: under mutmut's tracing each took about a minute, run for every mutant that survives the rest; the
# hand-worked and oracle tests of the same files stay.
STATISTICAL = ["tests/test_failures.py::test_throughput_under_failures_is_the_alternating_renewal_share",
               "tests/test_failures.py::test_the_applied_fraction_of_pushed_gradients_is_one_minus_the_loss"]


def selection(tests: list[str]) -> list[str]:
    """pytest's arguments for a module's tests: GOLDEN_EXAMPLES becomes the golden file with its random clusters
    deselected, and the STATISTICAL checks of its files are deselected (mutmut then records, and reruns per mutant,
    only the tests selected here)."""
    files = list(dict.fromkeys(GOLDEN if test == GOLDEN_EXAMPLES else test for test in tests))
    slow = [arg for test in STATISTICAL if test.split("::")[0] in files for arg in ("--deselect", test)]
    return files + slow + (["-k", "not (golden_fingerprint and random)"] if GOLDEN_EXAMPLES in tests else [])


def config(module: str, tests: list[str]) -> str:
    """The [tool.mutmut] table for one module."""
    return "\n".join([
        "", "[tool.mutmut]",
        f"source_paths = {json.dumps(SOURCES)}",
        f"only_mutate = {json.dumps([module])}",
        f"pytest_add_cli_args_test_selection = {json.dumps(selection(tests))}",
        # no cache writes into the copy; hangs end at mutmut's own timeout, not pytest-timeout's default
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-o", "timeout=0"]', "",
    ])


def tree_state() -> str:
    """The commit and the uncommitted changes of the tracked files: a copy made from another state is stale."""
    git = lambda *args: subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True).stdout
    return hashlib.sha256(git("rev-parse", "HEAD") + git("diff", "HEAD")).hexdigest()


def prepare(module: str, work: Path) -> None:
    """A copy of the tracked files at `work` with mutmut configured for `module`; an earlier copy of the same tree
    and configuration is kept (mutmut resumes there), one of another is replaced."""
    stamp = f"{tree_state()} {json.dumps(MODULES[module])}"
    if (work / ".asgd-tree").exists() and (work / ".asgd-tree").read_text() == stamp:
        return
    shutil.rmtree(work, ignore_errors=True)
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        target = work / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    with open(work / "pyproject.toml", "a") as pyproject:
        pyproject.write(config(module, MODULES[module]))
    (work / ".asgd-tree").write_text(stamp)


def survivor_names(work: Path) -> list[str]:
    """The mutants the last pass in `work` left alive (survivors.txt's headers)."""
    path = work / "survivors.txt"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line[2:].split(":")[0] for line in lines if line.startswith("# ") and line.endswith(": survived")]


def measure(module: str, base: Path, workers: int, patterns: list[str], survivors: bool) -> dict:
    """Run mutmut on `module` (only the mutants matching `patterns`, or the last pass's survivors, if given); its
    counts, and the survivors' diffs in survivors.txt."""
    work = base / module.replace("/", "_").removesuffix(".py")
    if survivors:
        patterns = patterns + survivor_names(work)
        if not patterns:
            raise SystemExit(f"{module}: no survivors recorded in {work / 'survivors.txt'}")
    prepare(module, work)
    run = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(workers), *patterns],
                         cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    if "nothing matches" in run.stderr:
        raise SystemExit(f"{module}: no mutant matches {' '.join(patterns)}")
    if run.returncode:
        sys.stderr.write(run.stderr)
    subprocess.run([sys.executable, "-m", "mutmut", "export-cicd-stats"], cwd=work, capture_output=True, check=True)
    stats = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())
    results = subprocess.run([sys.executable, "-m", "mutmut", "results"], cwd=work, capture_output=True,
                             text=True, check=True).stdout
    survivors = [line.split(":")[0].strip() for line in results.splitlines() if line.strip().endswith(": survived")]
    with open(work / "survivors.txt", "w") as out:
        for name in survivors:
            out.write(subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=work, capture_output=True,
                                     text=True).stdout + "\n")
    killed = stats["killed"] + stats["timeout"]
    judged = killed + stats["survived"] + stats["suspicious"] + stats["no_tests"] + stats["segfault"]
    return {"module": module, "mutants": stats["total"], "judged": judged, "killed": killed,
            "survived": stats["survived"], "no_tests": stats["no_tests"], "work": str(work)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="modules to mutate (default: all)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run in parallel (default 2)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/asgd-mutation"), help="where the copies go")
    parser.add_argument("--list", action="store_true", help="print the modules and their tests, run nothing")
    parser.add_argument("--mutants", action="append", default=[], metavar="PATTERN",
                        help="run only the mutants whose names match (an fnmatch pattern, named as by `mutmut results`;"
                             " repeatable)")
    parser.add_argument("--survivors", action="store_true",
                        help="run only the mutants the module's last pass left alive (its survivors.txt), in a fresh "
                             "copy of today's tree: the re-run after new tests")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"not a configured module: {', '.join(unknown)} (see --list)")
    if args.list:
        for module, tests in MODULES.items():
            print(module, shlex.join(selection(tests)))
        return 0
    for module in args.modules or MODULES:
        r = measure(module, args.work, args.jobs, args.mutants, args.survivors)
        score = r["killed"] / r["judged"] if r["judged"] else float("nan")
        print(f"{r['module']}: {r['killed']} of {r['judged']} killed ({score:.1%}), {r['survived']} survived, "
              f"{r['no_tests']} without tests, {r['mutants'] - r['judged']} not run; {r['work']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
