"""Today's runs stay today's runs: every golden case (tests/golden.py) gives its recorded fingerprint, bit for bit."""

from __future__ import annotations

import json

import pytest

from tests.golden import GOLDEN, cases, compute

RECORDED = json.loads(GOLDEN.read_text())
CASES = cases()


@pytest.mark.parametrize("key", sorted(RECORDED))
def test_run_matches_its_golden_fingerprint(key):
    name, timing = key.rsplit("@", 1)
    expected, got = RECORDED[key], compute(name, CASES[name], timing)
    assert got["x_final"] == expected["x_final"]
    for part in ("trace", "metrics"):
        for column, digest in expected[part].items():
            assert got[part].get(column) == digest, f"{part} column {column!r} changed"
    for field, value in expected["summary"].items():
        assert got["summary"].get(field) == value, f"summary field {field!r} changed"


def test_every_example_scenario_is_pinned():
    assert {key.rsplit("@", 1)[0] for key in RECORDED} == set(CASES)
