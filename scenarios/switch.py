"""Switching a scenario to another algorithm by an override (`--grid algorithm.name=...`, `asgd compare`; not `--set`,
which sets a key for the file's method, so the file's keys stay checked against it).

A key the scenario file sets for its own method that the new method cannot use (schema.USED_BY, and sync's batch,
which is the number of workers) is not the user's request to that method: it is left out, the new method's own
default applies, and the key is recorded in the resolved scenario's [unused] table. The same key given by an
override, or in a file whose own method cannot use it, stays bad input (scenarios.schema._check_used).
"""

from __future__ import annotations

import copy
from typing import Any

from scenarios.schema import USED_BY

DEFAULT_ALGORITHM = "asysg-con"  # scenarios.algorithms.algorithm's default name
ONLY_FOR = {**USED_BY, "algorithm.batch": ("asysg-con", "asysg-incon", "sapalm")}  # sync: batch = cluster.workers


def switch_algorithm(data: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """`data` (the file's document, before overrides) without the keys its method set that the method named by
    `overrides["algorithm.name"]` cannot use, those keys moved to data["unused"]; `data` itself when the override
    names no other method."""
    new = (overrides or {}).get("algorithm.name")
    section = data.get("algorithm", {})
    old = section.get("name", DEFAULT_ALGORITHM) if isinstance(section, dict) else None
    if not isinstance(new, str) or old == new or not isinstance(old, str):
        return data
    data = copy.deepcopy(data)
    unused: dict[str, dict[str, Any]] = {}
    for key, users in ONLY_FOR.items():
        table, name = key.split(".")
        if new in users or old not in users or key in overrides or not isinstance(data.get(table), dict):
            continue
        if name in data[table]:
            unused.setdefault(table, {})[name] = data[table].pop(name)
    if unused:
        data["unused"] = {**data.get("unused", {}), **unused} if isinstance(data.get("unused"), dict) else unused
    return data
