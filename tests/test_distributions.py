"""Conformance suite for every latency distribution, and the random streams they draw from."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenarios.distributions import DISTRIBUTIONS, parse_distribution
from scenarios.errors import ScenarioError
from sim.cluster.streams import Draws, Purpose, stream

# Valid parameters for every distribution (pareto with shape > 2, so its variance is finite).
VALID = {
    "constant": {"value": 2.0},
    "exponential": {"mean": 1.5},
    "shifted-exponential": {"shift": 0.5, "mean": 2.0},
    "lognormal": {"mean": 1.0, "sigma": 0.5},
    "gamma": {"shape": 2.0, "mean": 3.0},
    "uniform": {"low": 1.0, "high": 3.0},
    "pareto": {"shape": 3.5, "scale": 1.0},
}

# One out-of-range parameter per distribution: (parameter, value).
OUT_OF_RANGE = {
    "constant": ("value", -1.0),
    "exponential": ("mean", 0.0),
    "shifted-exponential": ("mean", 0.25),
    "lognormal": ("sigma", -0.5),
    "gamma": ("shape", 0.0),
    "uniform": ("high", 0.5),
    "pareto": ("scale", -1.0),
}

PATH = "cluster.compute"
N = 200_000


def make(name: str, **changes):
    return parse_distribution({"dist": name, **VALID[name], **changes}, PATH)


def test_every_distribution_is_covered():
    assert VALID.keys() == DISTRIBUTIONS.keys() == OUT_OF_RANGE.keys()


@pytest.mark.parametrize("name", DISTRIBUTIONS)
class TestConformance:
    def test_draws_are_nonnegative_float64(self, name):
        values = make(name).draw(np.random.default_rng(0), 1000)
        assert values.dtype == np.float64 and values.shape == (1000,)
        assert np.all(np.isfinite(values)) and np.all(values >= 0)

    def test_reproducible_from_a_seed(self, name):
        dist = make(name)
        first = dist.draw(np.random.default_rng(7), 100)
        np.testing.assert_array_equal(first, dist.draw(np.random.default_rng(7), 100))
        other = dist.draw(np.random.default_rng(8), 100)
        assert np.array_equal(first, other) == (name == "constant")

    def test_sample_mean_matches_mean(self, name):
        dist = make(name)
        values = dist.draw(np.random.default_rng(1), N)
        standard_error = values.std() / math.sqrt(N)
        assert abs(values.mean() - dist.mean) <= 5 * standard_error + 1e-12

    def test_spec_round_trips(self, name):
        dist = make(name)
        assert parse_distribution(dist.spec(), PATH) == dist

    @pytest.mark.parametrize("factor", [1.0, 2.5])
    def test_scaled(self, name, factor):
        dist = make(name)
        scaled = dist.scaled(factor)
        assert scaled.mean == pytest.approx(factor * dist.mean)
        np.testing.assert_allclose(scaled.draw(np.random.default_rng(3), 50), factor * dist.draw(np.random.default_rng(3), 50))

    def test_out_of_range_parameter(self, name):
        param, value = OUT_OF_RANGE[name]
        with pytest.raises(ScenarioError) as error:
            make(name, **{param: value})
        assert error.value.path == f"{PATH}.{param}" and f"{PATH}.{param} = {value!r}" in str(error.value)

    @pytest.mark.parametrize("bad", [True, "1.0", math.nan, math.inf, [1.0]])
    def test_non_number_parameter(self, name, bad):
        param = next(iter(VALID[name]))
        with pytest.raises(ScenarioError) as error:
            make(name, **{param: bad})
        assert error.value.path == f"{PATH}.{param}" and repr(bad) in str(error.value)

    def test_missing_parameter(self, name):
        param = next(iter(VALID[name]))
        spec = {"dist": name, **VALID[name]}
        del spec[param]
        with pytest.raises(ScenarioError, match=f"{PATH}.{param}"):
            parse_distribution(spec, PATH)

    def test_extra_parameter(self, name):
        with pytest.raises(ScenarioError, match=f"{PATH}.colour = 'red'"):
            make(name, colour="red")


@pytest.mark.parametrize("spec", [{"dist": "weibull", "shape": 1.0}, {"mean": 1.0}, 1.0, "exponential"])
def test_unknown_or_malformed_distribution(spec):
    with pytest.raises(ScenarioError, match=PATH):
        parse_distribution(spec, PATH)


def test_stream_is_reproducible():
    np.testing.assert_array_equal(stream(5, Purpose.COMPUTE, 3).random(100), stream(5, Purpose.COMPUTE, 3).random(100))


def test_a_stream_is_seedsequence_of_seed_purpose_and_index():
    """Pinned derivation: changing it would silently change every published run of a (scenario, seed)."""
    for purpose in Purpose:
        for index in (0, 3):
            reference = np.random.Generator(np.random.PCG64(np.random.SeedSequence(5, spawn_key=(int(purpose), index))))
            np.testing.assert_array_equal(stream(5, purpose, index).random(10), reference.random(10))
    assert stream(5, Purpose.UPLINK, 1).random() != stream(5, Purpose.UPLINK, 2).random()


def test_streams_are_independent_across_purposes_indices_and_seeds():
    keys = [(0, Purpose.COMPUTE, 0), (0, Purpose.COMPUTE, 1), (0, Purpose.DOWNLINK, 0), (0, Purpose.SAMPLES, 0), (1, Purpose.COMPUTE, 0)]
    draws = np.array([stream(*key).random(N) for key in keys])
    correlation = np.corrcoef(draws)
    off_diagonal = correlation[~np.eye(len(keys), dtype=bool)]
    assert np.all(np.abs(off_diagonal) < 0.02)  # ~9 standard errors of 1/sqrt(N)


@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_draws_matches_drawing_blocks_directly(name):
    dist = make(name)
    draws = Draws(dist.draw, stream(2, Purpose.COMPUTE, 4))
    values = [draws() for _ in range(2 * Draws.BLOCK + 10)]
    rng = stream(2, Purpose.COMPUTE, 4)
    blocks = np.concatenate([dist.draw(rng, Draws.BLOCK) for _ in range(3)])
    assert values == blocks[: len(values)].tolist()


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([*DISTRIBUTIONS, "samples", "random"]), st.integers(0, 2**32),
       st.lists(st.tuples(st.booleans(), st.integers(1, 700)), min_size=1, max_size=8))
def test_draws_in_prefixes_are_the_blocks_values(name, seed, steps):
    """The first block, drawn in growing prefixes, then whole blocks, gives the values of whole blocks drawn
    directly, however the draws are taken (one at a time or `count` at a time); integer samples (numpy's 32-bit
    buffer) included."""
    draw = {"samples": lambda rng, size: rng.integers(0, 1999, size=size, dtype=np.int64),
            "random": lambda rng, size: rng.random(size)}.get(name) or make(name).draw
    draws, got = Draws(draw, stream(seed, Purpose.SAMPLES, 3)), []
    for single, count in steps:
        got += [draws() for _ in range(count)] if single else draws.take(count).tolist()
    rng = stream(seed, Purpose.SAMPLES, 3)
    blocks = np.concatenate([draw(rng, Draws.BLOCK) for _ in range(len(got) // Draws.BLOCK + 1)])
    assert got == blocks[:len(got)].tolist()


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.integers(0, 2**32), st.integers(0, 2**63 - 1)), st.sampled_from(list(Purpose)),
       st.one_of(st.integers(0, 600), st.integers(0, 10**6)))
def test_streams_are_seeded_as_numpys_seed_sequence_seeds_them(seed, purpose, index):
    """stream() computes the states of many streams at once (sim/cluster/streams._states): each is the state
    PCG64(SeedSequence(seed, spawn_key=(purpose, index))) starts from, so the draws are numpy's own."""
    reference = np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(int(purpose), index)))
    assert stream(seed, purpose, index).bit_generator.state == reference.state
