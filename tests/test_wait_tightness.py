"""Policy "wait" is tight, against a brute-force reference on small random clusters: a pull held at the server could
not have proceeded (admitting it, no assignment of the outstanding gradients to the coming updates, M per update,
keeps every staleness <= T, tried over all orders), and a congested cluster does reach staleness T.

The reference reads the run from outside: each worker's pull requests are its previous gradient's arrival plus its
downlink draw (the worker's own streams, drawn in the engine's order), the outstanding gradients at an instant are
the trace's reads not yet applied. It checks each held pull when it was requested and at every update until it
was answered (only updates make room)."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import simulate
from sim.cluster.workers import WorkerClock
from tests.helpers import scenario

LATENCY = {"dist": "exponential", "mean": 0.3}


def brute_force_feasible(versions: list[int], next_update: int, batch: int, bound: int) -> bool:
    """Some order of the gradients, the i-th entering update next_update + i // batch, keeps each within the bound."""
    return any(all(next_update + i // batch - v <= bound for i, v in enumerate(order))
               for order in set(itertools.permutations(versions)))


def requests_and_arrivals(s, seed: int, reads) -> tuple[list[float], list[float]]:
    """Per read of one worker (in order): when its pull reached the server, and when its gradient arrived there."""
    clock = WorkerClock(s.cluster.timings[reads.iloc[0]["worker"]], seed, int(reads.iloc[0]["worker"]))
    n = len(reads)
    down = clock.downlink.take(n) if clock.downlink is not None else np.zeros(n)
    up = clock.uplink.take(n) if clock.uplink is not None else np.zeros(n)
    arrivals = (reads["t_read"].to_numpy() + clock.computes(n) + up).tolist()
    requests = [start + d for start, d in zip([0.0, *arrivals[:-1]], down)]
    return requests, arrivals


def held_pulls_that_could_have_proceeded(s, seed: int) -> tuple[list[str], int, int]:
    """(the violations found, the held pulls checked, the run's largest staleness)."""
    trace = simulate(s, seed=seed).trace
    batch, bound = s.algorithm.batch, s.staleness.bound
    applied_at = trace.groupby("update")["t_apply"].first().sort_index().to_numpy()
    reads = trace.sort_values(["worker", "t_read", "read_version"], kind="stable")
    timeline = {worker: requests_and_arrivals(s, seed, group) for worker, group in reads.groupby("worker")}
    if len(timeline) < s.cluster.workers:
        return [], 0, int(trace["staleness"].max())
    # before the first worker's last traced gradient arrives, every read made is in the trace
    complete_until = min(arrivals[-1] for _, arrivals in timeline.values())
    violations, checked = [], 0
    t_read, version, update, worker = (reads[c].to_numpy() for c in ("t_read", "read_version", "update", "worker"))
    for w, (requests, _) in timeline.items():
        rows = np.flatnonzero(worker == w)
        for row, requested in zip(rows, requests):
            applied = int(np.searchsorted(applied_at, t_read[row], side="right"))
            assert version[row] == applied, "the reference's instants disagree with the trace"
            if requested >= t_read[row] or t_read[row] >= complete_until:
                continue
            updates_meanwhile = applied_at[(applied_at > requested) & (applied_at < t_read[row])]
            for instant in [requested, *updates_meanwhile]:
                applied = int(np.searchsorted(applied_at, instant, side="right"))
                others = (t_read <= instant) & (update >= applied)  # the held read itself is later
                checked += 1
                if brute_force_feasible([*version[others].tolist(), applied], applied, batch, bound):
                    violations.append(f"worker {w}: pull at {requested:.4f} held at {instant:.4f} until "
                                      f"{t_read[row]:.4f}, yet feasible with {len(version[others])} outstanding")
    return violations, checked, int(trace["staleness"].max())


@st.composite
def congested_clusters(draw):
    """(W, M, T, network, seed) with W > M (T + 1): more workers than the bound lets compute at once."""
    batch = draw(st.integers(1, 2))
    bound = draw(st.integers(0, 2 if batch == 1 else 1))  # at most 6 workers: the brute force tries n! orders
    workers = draw(st.integers(batch * (bound + 1) + 1, min(6, batch * (bound + 1) + 3)))
    # M = 1, T = 0 without a downlink: the worker whose push frees the one place pulls at that instant, before the
    # held ones, so one worker makes every read and the others none (the reference needs a read of each worker)
    network = draw(st.sampled_from(["both"] if batch == 1 and bound == 0 else ["none", "uplink", "both"]))
    return workers, batch, bound, network, draw(st.integers(0, 2**16))


def congested_scenario(workers: int, batch: int, bound: int, network: str):
    latencies = {"none": {}, "uplink": {"uplink": LATENCY}, "both": {"uplink": LATENCY, "downlink": LATENCY}}
    return scenario(workers=workers, iterations=60, batch=batch, bound=bound, **latencies[network])


@settings(max_examples=25, deadline=None)
@given(congested_clusters())
def test_policy_wait_holds_a_pull_only_when_it_could_not_meet_the_bound(case):
    *cluster, seed = case
    s = congested_scenario(*cluster)
    violations, checked, largest = held_pulls_that_could_have_proceeded(s, seed)
    assert not violations, violations[:3]
    assert checked > 0  # congested: pulls were held
    assert largest == s.staleness.bound  # and the bound is reached
