"""Policy "wait" at flat cost (sim/protocols/con.py, waiters.py) gives today's runs: the admission before issue 16
(tests/wait_oracle.py: every update wakes every waiting pull, which rescans the outstanding reads) is the oracle, on
random clusters of both protocols, full trace equality."""

from __future__ import annotations

import simpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import simulate, simulate_batch
from sim.protocols.waiters import ALWAYS, Waiters
from tests.helpers import assert_identical_runs, scenario
from tests.wait_oracle import use_oracle

ZERO = {"dist": "constant", "value": 0.0}
CONSTANT = st.sampled_from([{"dist": "constant", "value": v} for v in (1.0, 2.0, 3.0)])  # ties in SimPy's queue
TIMES = st.one_of(CONSTANT, st.sampled_from([
    {"dist": "exponential", "mean": 1.0},
    {"dist": "uniform", "low": 0.1, "high": 0.5},
    {"dist": "lognormal", "mean": 0.5, "sigma": 1.0},
]))


@st.composite
def clusters(draw):
    """A random cluster: W 1-40, M 1-4, T 0-20, policy wait or drop, AsySG-con (network, server time) or -incon
    (read time), constant latencies for ties, stragglers, a slow group."""
    algorithm = draw(st.sampled_from(["asysg-con", "asysg-con", "asysg-incon"]))
    workers = draw(st.integers(1, 40))
    cluster = {"compute": draw(TIMES)}
    if algorithm == "asysg-con":
        cluster["downlink"] = draw(st.one_of(st.just(ZERO), TIMES))
        cluster["uplink"] = draw(st.one_of(st.just(ZERO), TIMES))
        if draw(st.booleans()):
            cluster["server"] = draw(st.sampled_from([{"dist": "exponential", "mean": 0.05},
                                                      {"dist": "constant", "value": 0.5}]))
    else:
        cluster["read"] = draw(st.one_of(st.just(ZERO), TIMES))
    if draw(st.booleans()):
        cluster["stragglers"] = {"probability": 0.2, "slowdown": 4.0}
    if workers > 1 and draw(st.booleans()):
        cluster["groups"] = [{"workers": list(range(draw(st.integers(1, workers)))), "slowdown": 3.0}]
    return scenario(algorithm=algorithm, workers=workers, iterations=draw(st.integers(1, 150)),
                    batch=draw(st.integers(1, 4)), bound=draw(st.integers(0, 20)),
                    policy=draw(st.sampled_from(["wait", "wait", "drop"])), seed=draw(st.integers(0, 2**32)),
                    block=draw(st.integers(1, 3)) if algorithm == "asysg-incon" else None, **cluster)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_the_admission_gives_the_oracles_runs(scenario):
    with use_oracle():
        expected = simulate(scenario, timing="simpy")
    assert_identical_runs(simulate(scenario, timing="simpy"), expected)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(), st.lists(st.integers(0, 2**32), min_size=2, max_size=3))
def test_batched_replicates_give_the_oracles_runs(scenario, seeds):
    with use_oracle():
        expected = simulate_batch(scenario, seeds, timing="simpy")
    for got, want in zip(simulate_batch(scenario, seeds, timing="simpy"), expected):
        assert_identical_runs(got, want)


def test_the_oracle_differs_from_the_admission():
    """The comparison can fail: the oracle is a different implementation (it is what the test patches in)."""
    from sim.protocols import con

    with use_oracle():
        assert con.start.__module__ == "tests.wait_oracle"
    assert con.start.__module__ == "sim.protocols.con"


class _SharedEvent:
    """The plain way (before issue 16): one shared event per update; every waiter is resumed and re-checks."""

    def __init__(self, env: simpy.Environment, admissible) -> None:
        self.env = env
        self.event = None

    def wait(self, condition=None) -> simpy.Event:
        if self.event is None:
            self.event = self.env.event()
        return self.event

    def updated(self) -> None:
        if self.event is not None:
            self.event.succeed()
            self.event = None


class _Read:
    done = False


def _script_log(kind, starts, holds, rounds, updates, always):
    """Processes that start at starts[i] and `rounds` times: wait until a read is admissible (a budget > 0), read
    (budget - 1), hold for holds[i], push, and wait until their push is done (or, with always[i], wait for one
    update first); an updater applies one update at each time of `updates` (budget + 1, the oldest push done).
    Integer times: many ties. Returns who did what when."""
    env = simpy.Environment()
    budget, pushed, log = [1], [], []
    waiters = kind(env, lambda: budget[0] > 0)

    def process(i):
        yield env.timeout(starts[i])
        for _ in range(rounds):
            while not budget[0] > 0:
                yield waiters.wait()
            budget[0] -= 1
            log.append((env.now, i, "read"))
            yield env.timeout(holds[i])
            read = _Read()
            pushed.append(read)
            if always[i]:
                yield waiters.wait(ALWAYS)
                log.append((env.now, i, "update"))
            while not (read.done and budget[0] > 0):
                yield waiters.wait(read)
            log.append((env.now, i, "done"))

    def updater():
        for at in updates:
            yield env.timeout(at)
            budget[0] += 1
            if pushed:
                pushed.pop(0).done = True
            log.append((env.now, -1, "update"))
            waiters.updated()

    for i in range(len(starts)):
        env.process(process(i))
    env.process(updater())
    env.run()
    return log


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 12).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 3), min_size=n, max_size=n), st.lists(st.integers(0, 3), min_size=n, max_size=n),
    st.integers(1, 3), st.lists(st.integers(0, 2), min_size=1, max_size=30),
    st.lists(st.booleans(), min_size=n, max_size=n))))
def test_waiters_resume_whom_the_shared_event_resumes_in_its_order(script):
    assert _script_log(Waiters, *script) == _script_log(_SharedEvent, *script)


def test_waiters_resume_the_first_ones_that_may_go_on_and_keep_the_others_in_order():
    env = simpy.Environment()
    budget = [2]
    waiters = Waiters(env, lambda: budget[0] > 0)
    read = _Read()
    resumed: list[int] = []

    def process(index, condition):
        yield waiters.wait(condition)
        resumed.append(index)
        if condition is not ALWAYS:
            budget[0] -= 1  # a read started: one fewer may

    for index, condition in enumerate([read, None, ALWAYS, None, None, None]):
        env.process(process(index, condition))
    env.run()
    waiters.updated()
    env.run()
    assert resumed == [1, 2, 3]  # 0's read is not done; 1 and 3 take the budget; 2 goes on at any update
    read.done, budget[0] = True, 3
    waiters.updated()
    env.run()
    assert resumed == [1, 2, 3, 0, 4, 5]  # those that waited again kept their order: 0 (moved first), 4, 5
