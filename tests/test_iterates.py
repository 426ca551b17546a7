"""sim/iterates.py against brute-force references: the store keeps x_v exactly while reads hold it, an inconsistent
read takes each coordinate from the iterate current when it was read, and an update is the algorithm's step from
the held iterates (a batch of replicates bitwise as each alone)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenarios import build_objective, parse
from sim.iterates import (IterateStore, apply_con_update, apply_con_updates, apply_incon_update, release_read,
                          torn_read)
from sim.run import build_algorithm
from tests.helpers import scenario


def test_a_new_store_holds_a_float_copy_of_x0_at_its_version():
    x0 = np.array([1, 2, 3])
    store = IterateStore(x0, version=5)
    x0[0] = 7
    assert store.version == 5 and len(store) == 1 and store._holds == {5: 0}
    assert store.current.dtype == np.float64 and store.current.tolist() == [1.0, 2.0, 3.0]
    assert store.get(5) is store.current and IterateStore(x0).version == 0


OPERATIONS = st.lists(st.tuples(st.sampled_from(["hold", "release", "advance"]), st.integers(0, 8),
                                st.integers(1, 3)), max_size=60)


@settings(max_examples=200, deadline=None)
@given(OPERATIONS)
def test_the_store_keeps_an_iterate_exactly_while_a_read_holds_it_or_it_is_current(operations):
    """A reference count per version, checked against a brute-force model after every step: x_v is kept iff v is
    the current version or reads of it are outstanding, and `get` gives the very array `advance` was given."""
    store, holds = IterateStore(np.zeros(2)), {}
    values = {0: store.current}
    for operation, offset, count in operations:
        version = store.version + offset - 4  # older versions, the current one and a few not computed yet
        if operation == "hold" and version >= store.version:  # a read holds the current iterate (or a later one)
            assert (store.hold(version, count) if count > 1 else store.hold(version)) == version
            holds[version] = holds.get(version, 0) + count
        elif operation == "release" and version in values and holds.get(version, 0) > 0:  # a read of x_v ends
            store.release(version)
            holds[version] -= 1
        elif operation == "advance":
            x = np.full(2, float(store.version + 1))
            store.advance(x)
            values[store.version] = x
        kept = {v for v in values if v == store.version or holds.get(v, 0) > 0}
        assert len(store) == len(kept) and store.version == max(values)
        for v in kept:
            assert store.get(v) is values[v]
        for v in set(values) - kept:
            with pytest.raises(KeyError):
                store.get(v)
    assert store.current is store.get(store.version)


def test_a_version_held_before_it_is_computed_is_kept_when_it_is():
    store = IterateStore(np.zeros(1))
    store.hold(2, 2)
    store.advance(np.ones(1))
    store.advance(np.full(1, 2.0))
    store.advance(np.full(1, 3.0))
    assert len(store) == 2 and store.get(2)[0] == 2.0
    store.release(2)
    assert len(store) == 2
    store.release(2)
    assert len(store) == 1 and store.version == 3


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 7), st.data())
def test_a_torn_read_takes_each_coordinate_from_the_iterate_current_when_it_was_read(dim, data):
    """Coordinate i of xhat is x_{first + #{n : landed_at[n] <= i}}[i] (brute force, coordinate by coordinate)."""
    first = data.draw(st.integers(0, 3))
    landed_at = sorted(data.draw(st.lists(st.integers(0, dim), max_size=4)))
    store = IterateStore(np.arange(dim) + 100.0, version=first)
    for n in range(1, len(landed_at) + 1):
        store.hold(store.version)
        store.advance(np.arange(dim) + 100.0 * (n + 1))
    xhat = torn_read(store, first, np.array(landed_at, dtype=np.int64))
    expected = [store.get(first + sum(landed <= i for landed in landed_at))[i] for i in range(dim)]
    assert xhat.tolist() == expected


def test_a_finished_incon_read_releases_every_version_it_spanned_once():
    store = IterateStore(np.zeros(1), version=3)
    for version in range(3, 7):
        store.hold(version, 2)
    store.advance(np.ones(1))
    store.advance(np.ones(1))
    store.advance(np.ones(1))
    store.advance(np.ones(1))
    release_read(store, 4, 2)
    assert store._holds == {3: 2, 4: 1, 5: 1, 6: 1, 7: 0}


def small(estimator: dict | None = None, **kwargs):
    s = scenario(workers=2, iterations=10, **kwargs)
    if estimator is not None:
        s = parse({**s.resolved, "algorithm": {**s.resolved["algorithm"], "estimator": estimator}})
    objective = build_objective(s)
    return objective, build_algorithm(s, objective)[0]


def test_an_update_steps_from_x_k_along_the_gradients_at_the_held_iterates_and_releases_them():
    objective, algorithm = small(step=0.25)
    rng = np.random.default_rng(3)
    store = IterateStore(objective.x0)
    xs = [store.current]
    for version in range(1, 4):
        xs.append(xs[-1] + rng.normal(size=objective.dim))
        store.advance(xs[-1])
        store.hold(version, 2 if version == 1 else 1 if version == 3 else 0)  # two reads of x_1, one of x_3
    samples = [np.array([5]), np.array([9])]
    apply_con_update(store, algorithm, [1, 3], samples)
    gradients = objective.stochastic_grad(xs[1], samples[0]) + objective.stochastic_grad(xs[3], samples[1])
    assert store.version == 4 and store.current.tobytes() == (xs[3] - 0.25 * gradients).tobytes()
    assert store._holds == {1: 1, 4: 0} and len(store) == 2 and store.get(1) is xs[1]


@pytest.mark.parametrize("step", [0.25, {"policy": "decay", "c": 0.5},  # gamma_1 = 0.5 / sqrt(2)
                                  {"policy": "delay-adaptive", "rule": "mishchenko", "value": 50.0}])
def test_replicates_updated_as_one_batch_are_bitwise_each_updated_alone(step):
    """Update 1 of three replicates, each summing gradients at x_0 and x_1: with a delay-adaptive step the two get
    their own steps (1 / (2 L) at staleness 0, 1 / (4 L) at staleness 1), which only replicates run one by one
    apply."""
    objective, algorithm = small(step=step)
    rng = np.random.default_rng(4)
    starts = [objective.x0 + rng.normal(size=objective.dim) for _ in range(3)]
    batched, alone = [IterateStore(x) for x in starts], [IterateStore(x) for x in starts]
    for stores in (batched, alone):
        for store in stores:
            store.hold(0)
            store.advance(store.current + 1.0)
            store.hold(1)
    versions = [0, 1] * 3
    samples = [np.array([i]) for i in range(6)]
    apply_con_updates(batched, algorithm, versions, samples)
    for i, store in enumerate(alone):
        apply_con_update(store, algorithm, versions[2 * i:2 * i + 2], samples[2 * i:2 * i + 2])
    for a, b in zip(batched, alone):
        assert a.version == b.version == 2 and a.current.tobytes() == b.current.tobytes()
        assert a._holds == b._holds == {2: 0} and len(a) == 1
    assert len({store.current.tobytes() for store in batched}) == 3
    x, start = batched[0].current, starts[0] + 1.0
    g = [objective.stochastic_grad(point, sample) for point, sample in zip((starts[0], start), samples[:2])]
    if isinstance(step, float):
        assert x.tobytes() == (start - step * (g[0] + g[1])).tobytes()
    elif step["policy"] == "decay":
        assert x.tobytes() == (start - 0.5 / np.sqrt(2.0) * (g[0] + g[1])).tobytes()
    else:  # x_1 - (gamma(tau=1) g_0 + gamma(tau=0) g_1), each gradient with its own step
        gamma = algorithm.stale_step
        assert gamma(1) == 1 / (4 * objective.smoothness) < gamma(0) == 1 / (2 * objective.smoothness) < 50.0
        assert x.tobytes() == (start - (gamma(1) * g[0] + gamma(0) * g[1])).tobytes()


def test_a_shared_memory_write_changes_only_its_coordinates_from_the_torn_read():
    objective, algorithm = small(step=0.5, algorithm="asysg-incon", block=2)
    store = IterateStore(objective.x0)
    store.hold(0)
    store.hold(1)
    x1 = objective.x0 + 1.0
    store.advance(x1)
    landed_at = np.array([3])
    xhat = np.concatenate([objective.x0[:3], x1[3:]])
    coordinates = np.array([1, 4])
    apply_incon_update(store, algorithm, 0, landed_at, [np.array([7])], coordinates)
    expected = x1.copy()
    expected[coordinates] -= 0.5 * objective.stochastic_grad(xhat, np.array([7]))[coordinates]
    assert store.version == 2 and store.current.tobytes() == expected.tobytes()
    assert store._holds == {2: 0} and len(store) == 1


@pytest.mark.parametrize("protocol", ["asysg-con", "asysg-incon"])
def test_updates_step_with_gamma_k_and_take_svrg_snapshots_where_epochs_start(protocol):
    """SVRG with epochs of 3 updates (a parameter server, or a shared memory writing coordinates 0 and 3): x_3 is the
    next snapshot (and no other x_k), and update 3, reading x_3 itself, steps along v = (G(x_3) - G(x~)) +
    grad f(x~) = grad f(x_3) with gamma_3 = 0.5 / sqrt(4)."""
    incon = protocol == "asysg-incon"
    objective, algorithm = small(step={"policy": "decay", "c": 0.5}, algorithm=protocol,
                                 estimator={"name": "svrg", "epoch": 3}, **({"block": 2} if incon else {}))
    estimator = algorithm.estimator
    store, x0 = IterateStore(objective.x0), estimator.snapshot.copy()
    coordinates = np.array([0, 3]) if incon else np.arange(objective.dim)
    for k in range(4):
        store.hold(k)
        x, samples = store.current, [np.array([k])]
        if incon:
            apply_incon_update(store, algorithm, k, np.array([], dtype=np.int32), samples, coordinates)
        else:
            apply_con_update(store, algorithm, [k], samples)
        assert estimator.snapshot is store.current if k == 2 else estimator.snapshot.tobytes() == \
            (x0 if k < 2 else x).tobytes()
    expected = x.copy()
    expected[coordinates] -= 0.25 * objective.grad(x)[coordinates]
    assert store.version == 4 and store.current.tobytes() == expected.tobytes()
