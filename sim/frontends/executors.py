"""Where a sweep's runs execute: in this process (--jobs 1), in local worker processes (--jobs J), or on a Dask
cluster (--scheduler ADDRESS).

A run is given as (run id, fully resolved scenario as TOML text) and comes back as an Outcome: its encoded result
(Parquet bytes) and, if its scenario records one, its encoded trace. Runs travel in chunks of several per task,
so scheduling costs little; the runs within a chunk that differ only in their seed and constant step (the seeds of a
grid point, the steps `asgd compare` tunes) run as one batch (sim.simulate_replicates). Each
run is a pure function of its scenario text, so results do not depend on the executor, the number of processes,
the chunking or the batching; the client writes them, so a Dask cluster need not share a
filesystem with it. A chunk that fails as a whole (a worker died) comes back as failed runs.

Local workers start from a fork server that has imported this module (spawned where there is none) and exit when
the sweep process dies. A ^C at a terminal sends SIGINT to the pool's processes too, so none of them may print a
KeyboardInterrupt traceback: the pool is started with SIGINT blocked in the sweep process, so the fork server and
every worker inherit it blocked (a ^C stays pending in them) until they ignore it (the fork server once it has imported
this module, a worker in its initializer), which discards it; the sweep's own ^C is deferred until its tasks are
submitted. It then terminates its workers and waits until they are gone before it exits (a worker still starting up
would otherwise fail to unpickle the pool's semaphores, which the exiting sweep unlinks). Every run limits BLAS to
one thread itself (models.one_blas_thread), so results do not depend on where it runs.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import threading
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from functools import lru_cache, partial
from urllib.parse import urlsplit

from scenarios import ScenarioError, parse
from sim import simulate, simulate_batch, simulate_replicates
from sim.closed_form.con import closed_form
from sim.engine import same_but_seed_and_step
from sim.frontends.store import Outcome, encode_failure, encode_result, parquet_bytes

Task = tuple[str, str]  # run id, resolved scenario (TOML)
Execute = Callable[[list[Task]], Iterator[Outcome]]
MAX_CHUNK = 16          # runs per task at most
CHUNKS_PER_SLOT = 4     # tasks per worker slot at least, when there are enough runs: balances uneven run times
CONNECT_TIMEOUT = "10s"
PROBE_TIMEOUT = 3.0     # seconds: a TCP connection to the scheduler's address, tried before Dask's client connects
SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss")  # Dask's network protocols; an address without one is tcp://
DEFAULT_SCHEDULER_PORT = 8786
MIN_BATCH = 4           # replicates batched together at least on the SimPy engine: below, batching costs the
                        # cheapest objectives time; closed-form schedules (sim/closed_form/con.py) batch from 2 on


def run_one(task: Task) -> Outcome:
    """Simulate one run; an exception it raises makes it a failed run."""
    run_id, text = task
    try:
        result = simulate(parse(tomllib.loads(text)))
    except Exception as error:
        return Outcome(run_id, "failed", encode_failure(error, text), None)
    return _outcome(run_id, text, result)


def run_chunk(tasks: list[Task]) -> list[Outcome]:
    """Run a chunk's tasks, a grid point's replicates together (run_group)."""
    return [outcome for group in _replicate_groups(tasks) for outcome in run_group(group)]


def run_group(group: list[Task]) -> Iterator[Outcome]:
    """Runs that differ only in their seed and constant step: min_batch or more run as one batch
    (sim.simulate_batch, or sim.simulate_replicates when their steps differ: the same results), each alone if the
    batch raises; fewer run one by one."""
    if len(group) >= min_batch(group):
        try:
            resolved = [_resolved(text) for _, text in group]
            if all(r["algorithm"]["step"] == resolved[0]["algorithm"]["step"] for r in resolved):  # seeds only
                results = simulate_batch(parse(resolved[0]), [r["seed"] for r in resolved])
            else:
                results = simulate_replicates([parse(r) for r in resolved])
        except Exception:
            pass
        else:
            yield from (_outcome(run_id, text, result) for (run_id, text), result in zip(group, results))
            return
    yield from (run_one(task) for task in group)


def min_batch(group: list[Task]) -> int:
    """The fewest replicates worth a batch: 2 when their scenario has a closed-form schedule, else MIN_BATCH."""
    if len(group) < 2:
        return MIN_BATCH
    try:
        return 2 if closed_form(parse(_resolved(group[0][1]))) else MIN_BATCH
    except ScenarioError:  # its runs fail one by one (run_one), each with the message
        return MIN_BATCH


def _replicate_groups(tasks: list[Task]) -> list[list[Task]]:
    """`tasks` cut into runs of consecutive tasks whose scenarios are equal but for the seed and constant step
    (sim.engine.same_but_seed_and_step)."""
    groups: list[list[Task]] = []
    previous = None
    for task in tasks:  # the texts are the sweep's own to_toml output
        resolved = same_but_seed_and_step(_resolved(task[1]))
        if groups and resolved == previous:
            groups[-1].append(task)
        else:
            groups.append([task])
        previous = resolved
    return groups


@lru_cache(maxsize=1024)
def _resolved(text: str) -> dict:
    """The resolved scenario of a task's text, parsed once per text (chunked, _replicate_groups, min_batch and
    run_group all read it), the same dict each time: read only (scenarios.parse copies what it is given)."""
    return tomllib.loads(text)


def _outcome(run_id: str, text: str, result) -> Outcome:
    trace = parquet_bytes(result.trace_table) if result.scenario.record.trace else None
    return Outcome(run_id, result.summary["status"], encode_result(result, text), trace)


def chunked(tasks: list[Task], slots: int) -> list[list[Task]]:
    """`tasks` in chunks of about `size` runs (at most MAX_CHUNK, at least CHUNKS_PER_SLOT chunks per slot while runs
    suffice). A grid point's replicates stay together so that they can run as a batch: min_batch or more of them
    make chunks of their own, about max(size, min_batch) each, cut at the seed boundary nearest each even cut (a
    seed's steps share one schedule: sim.engine.simulate_replicates), and inside a seed only past MAX_CHUNK runs;
    the other runs are packed in plan order."""
    size = max(1, min(MAX_CHUNK, len(tasks) // (CHUNKS_PER_SLOT * slots)))
    chunks: list[list[Task]] = []
    loose: list[Task] = []
    for group in _replicate_groups(tasks):
        least = min_batch(group)
        if len(group) < least:
            loose += group
            continue
        group = sorted(group, key=lambda task: _resolved(task[1])["seed"])  # stable: each seed's steps in order
        pieces = max(len(group) // max(size, least), -(-len(group) // MAX_CHUNK))
        seeds = [0] + [i for i in range(1, len(group))
                       if _resolved(group[i][1])["seed"] != _resolved(group[i - 1][1])["seed"]] + [len(group)]
        cuts = sorted({min(seeds, key=lambda at: abs(at - len(group) * i // pieces)) for i in range(pieces + 1)})
        for lo, hi in zip(cuts, cuts[1:]):  # the seed boundary nearest each even cut; then at most MAX_CHUNK runs
            chunks += [group[start:min(start + MAX_CHUNK, hi)] for start in range(lo, hi, MAX_CHUNK)]
    return chunks + [loose[i:i + size] for i in range(0, len(loose), size)]


@contextmanager
def executor(jobs: int, scheduler: str | None = None) -> Iterator[Execute]:
    """A function running tasks and yielding their outcomes as they finish: in `jobs` local processes (this one if
    jobs = 1), or on the Dask scheduler at `scheduler`, connected to here (ScenarioError if it cannot be)."""
    if scheduler is None:
        yield _in_process if jobs == 1 else partial(_local, jobs=jobs)
        return
    try:
        from distributed import Client
    except ImportError:
        raise ScenarioError("--scheduler", scheduler, "needs Dask's distributed package: pip install 'asgd[cluster]'") from None
    probe_scheduler(scheduler)
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, ValueError, TypeError) as error:
        raise ScenarioError("--scheduler", scheduler, f"no Dask scheduler could be reached there ({error})") from None
    with client:
        yield partial(_dask, client)


def scheduler_address(text: str) -> tuple[str, int]:
    """The host and port of a --scheduler address, [SCHEME://]HOST[:PORT] (SCHEME one of SCHEDULER_SCHEMES, PORT by
    default 8786, an IPv6 host in brackets); anything else is bad input."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "tcp", text
    allowed = (f"must be an address [SCHEME://]HOST[:PORT] such as tcp://10.0.0.5:8786 "
               f"(SCHEME: {', '.join(SCHEDULER_SCHEMES)}; PORT 1..65535, default {DEFAULT_SCHEDULER_PORT})")
    if scheme not in SCHEDULER_SCHEMES or not rest or any(c in rest for c in "/?#@ \t\n\0"):
        raise ScenarioError("--scheduler", text, allowed)
    try:
        parts = urlsplit(f"tcp://{rest}")
        port = parts.port
    except ValueError:  # an unclosed [, a port that is no number or out of range
        raise ScenarioError("--scheduler", text, allowed) from None
    if not parts.hostname or port == 0:
        raise ScenarioError("--scheduler", text, allowed)
    return parts.hostname, port or DEFAULT_SCHEDULER_PORT


def probe_scheduler(text: str) -> None:
    """A well-formed --scheduler address where something accepts connections (within PROBE_TIMEOUT), checked
    before anything is written; else bad input."""
    host, port = scheduler_address(text)
    try:
        socket.create_connection((host, port), timeout=PROBE_TIMEOUT).close()
    except OSError as error:  # refused, unknown host, timeout
        reason = error.strerror or str(error) or type(error).__name__
        raise ScenarioError("--scheduler", text, f"no Dask scheduler could be reached there ({reason})") from None


def _in_process(tasks: list[Task]) -> Iterator[Outcome]:
    """Each outcome as soon as its run (or its batch) is done."""
    for chunk in chunked(tasks, 1):
        for group in _replicate_groups(chunk):
            yield from run_group(group)


def _local(tasks: list[Task], jobs: int) -> Iterator[Outcome]:
    chunks = chunked(tasks, jobs)
    if not chunks:
        return
    pool = ProcessPoolExecutor(min(jobs, len(chunks)), mp_context=_context(), initializer=_worker_start)
    try:
        with _sigint_deferred():  # the fork server and the workers start on the first submits
            futures = {pool.submit(run_chunk, chunk): chunk for chunk in chunks}
        for future in as_completed(futures):
            yield from _outcomes(future, futures[future])
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown()


@contextmanager
def _sigint_deferred() -> Iterator[None]:
    """SIGINT blocked in this thread, so that the processes started meanwhile inherit it blocked, and a ^C meanwhile
    (which another thread may take) raised as KeyboardInterrupt only once the block is done."""
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    unblocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, unblocked)
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel the pool's tasks, terminate its workers and wait until they are gone: a worker still starting must not
    outlive the parent's semaphores it is unpickling (they go when the parent exits)."""
    processes = list((pool._processes or {}).values())  # no public way to stop running tasks before Python 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join()


def _dask(client, tasks: list[Task]) -> Iterator[Outcome]:
    from distributed import as_completed as completed

    chunks = chunked(tasks, max(1, sum(client.nthreads().values())))
    futures = client.map(run_chunk, chunks, pure=False)
    chunk_of = {future.key: chunk for future, chunk in zip(futures, chunks)}
    try:
        for future in completed(futures, loop=client.loop):
            yield from _outcomes(future, chunk_of[future.key])
    except BaseException:
        client.cancel(futures)
        raise


def _outcomes(future, chunk: list[Task]) -> list[Outcome]:
    try:
        return future.result()
    except Exception as error:
        return [Outcome(run_id, "failed", encode_failure(error, text), None) for run_id, text in chunk]


def _worker_start() -> None:
    """In a local worker: ignore SIGINT, inherited blocked (an interrupted sweep stops its workers itself), and exit as
    soon as the sweep process is gone (say, killed with -9) rather than wait for tasks forever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, daemon=True).start()


def _exit_with_parent() -> None:
    multiprocessing.connection.wait([multiprocessing.parent_process().sentinel])
    os._exit(1)


def _context() -> multiprocessing.context.BaseContext:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context
