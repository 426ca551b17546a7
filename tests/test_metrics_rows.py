"""The metrics contract: rows at k = 0, every, 2 every, ... and at the last update K, on every engine and protocol,
single runs and batched replicates, K a multiple of `record.every` or not."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import simulate, simulate_batch
from tests.helpers import scenario

PROTOCOLS = {
    "closed form": {},                                        # AsySG-con without a bound: the closed-form schedule
    "wait": {"bound": 2},                                     # the SimPy engine
    "drop": {"bound": 1, "policy": "drop"},
    "server": {"server": {"dist": "exponential", "mean": 0.1}},
    "incon": {"algorithm": "asysg-incon", "bound": 2},
    "sync": {"algorithm": "sync"},
}


def expected_updates(iterations: int, every: int) -> list[int]:
    return sorted({*range(0, iterations + 1, every), iterations})


@pytest.mark.parametrize("protocol", PROTOCOLS)
@settings(max_examples=6, deadline=None)
@given(iterations=st.integers(1, 40), every=st.integers(1, 12), workers=st.integers(1, 4))
def test_metrics_rows_are_the_multiples_of_every_and_the_last_update(protocol, iterations, every, workers):
    s = scenario(workers=workers, iterations=iterations, every=every, **PROTOCOLS[protocol])
    updates = simulate(s, seed=1).metrics["update"].tolist()
    assert updates == expected_updates(iterations, every)


@pytest.mark.parametrize("timing", ["auto", "simpy"])
@settings(max_examples=6, deadline=None)
@given(iterations=st.integers(1, 40), every=st.integers(1, 12), workers=st.integers(1, 4))
def test_batched_replicates_record_the_last_update_too(timing, iterations, every, workers):
    s = scenario(workers=workers, iterations=iterations, every=every)
    for result in simulate_batch(s, [0, 1, 2], timing=timing):
        assert result.metrics["update"].tolist() == expected_updates(iterations, every)
