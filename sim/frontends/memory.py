"""The memory a run or a sweep will hold, estimated before it starts; what cannot fit in the machine's memory is bad
input (naming the key to change and the estimate).

Estimates (measured on this code, rounded up; see README "Memory"):
- the trace: TRACE_BYTES (57 B) per single-sample gradient at its peak (48 B of typed arrays, sim/recording.py; the
  bench measured 56.7 B of peak RSS per gradient), 8 B per further sample, and for asysg-incon its further columns;
  a run holds at least K M gradients (dropped ones come on top);
- the metrics: METRICS_ROW_BYTES per recorded iterate (a row of Python numbers while the run goes on, then a table);
- a sweep's bookkeeping: SWEEP_BYTES_PER_RUN per run of the plan (its resolved scenario and run id, then its row of
  runs.parquet and its staleness counts): from 500 to 2500 seeds of a small scenario, peak RSS grew by 11 KB per run.
"""

from __future__ import annotations

import os

from scenarios import Scenario, ScenarioError

TRACE_BYTES = 57              # per single-sample gradient, at its peak
SAMPLE_BYTES = 8              # per further sample of a gradient (int64)
INCON_TRACE_BYTES = 28        # asysg-incon's further columns per gradient, besides 8 B per coordinate written
METRICS_ROW_BYTES = 300       # per recorded iterate
SWEEP_BYTES_PER_RUN = 16_384  # per run of a sweep's plan


CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")  # v2, v1


def machine_memory() -> int | None:
    """The memory this process may use, in bytes: the machine's physical memory, or the container's (cgroup) limit
    if lower; None where the system tells neither."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError):
        physical = None
    limits = [physical] if physical is not None else []
    for path in CGROUP_LIMITS:
        try:
            with open(path) as file:
                limits.append(int(file.read().strip()))  # "max" (no limit) is not a number
        except (OSError, ValueError):
            continue
    return min(limits) if limits else None


def human(size: float) -> str:
    """Bytes as a short figure: 48 GB, 3.1 MB, ..."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if size < 1000 or unit == "PB":
            return f"{size:.3g} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def run_bytes(scenario: Scenario) -> tuple[int, int]:
    """The estimated memory of a run's trace (0 without one) and of its metrics, in bytes."""
    algorithm = scenario.algorithm
    gradients = algorithm.iterations * algorithm.batch
    per_gradient = TRACE_BYTES + SAMPLE_BYTES * (algorithm.minibatch - 1)
    if algorithm.protocol == "asysg-incon":
        per_gradient += INCON_TRACE_BYTES + 8 * algorithm.block
    trace = gradients * per_gradient if scenario.record.trace else 0
    metrics = (algorithm.iterations // scenario.record.every + 2) * METRICS_ROW_BYTES
    return trace, metrics


def check_run_memory(scenario: Scenario, copies: int = 1, where: str = "") -> None:
    """Refuse a run whose trace and metrics (times `copies` held at once) cannot fit in the machine's memory,
    naming record.trace / algorithm.iterations or record.every (whichever needs more) and the estimate."""
    memory = machine_memory()
    trace, metrics = run_bytes(scenario)
    total = copies * (trace + metrics)
    if memory is None or total <= memory:
        return
    algorithm = scenario.algorithm
    held = f"{copies} runs held at once{where}, each" if copies > 1 else "the run"
    if trace >= metrics:
        gradients = algorithm.iterations * algorithm.batch
        raise ScenarioError("algorithm.iterations", algorithm.iterations,
                            f"{held} would keep a trace of about {human(trace)} ({human(trace / gradients)} per "
                            f"gradient x {gradients} gradients, K x M), {human(total)} in all, more than this "
                            f"machine's memory ({human(memory)}): set record.trace = false or lower "
                            f"algorithm.iterations")
    raise ScenarioError("record.every", scenario.record.every,
                        f"{held} would record {algorithm.iterations // scenario.record.every + 1} iterates, about "
                        f"{human(metrics)} of metrics ({METRICS_ROW_BYTES} B each), {human(total)} in all, more "
                        f"than this machine's memory ({human(memory)}): raise record.every")


def check_sweep_size(points: int, seeds: int) -> None:
    """Refuse a sweep whose plan alone (SWEEP_BYTES_PER_RUN per run) cannot fit in the machine's memory, before it
    is made."""
    memory = machine_memory()
    total = points * seeds * SWEEP_BYTES_PER_RUN
    if memory is not None and total > memory:
        raise ScenarioError("--seeds", seeds, f"{points} grid points x {seeds} seeds = {points * seeds} runs need "
                                              f"about {human(total)} to plan and consolidate ({human(SWEEP_BYTES_PER_RUN)} "
                                              f"per run), more than this machine's memory ({human(memory)}): lower "
                                              f"--seeds or split the grid")
