"""Overrides of scenario values by dotted key path: `--set KEY.PATH=VALUE` and load(..., overrides=...)."""

from __future__ import annotations

import copy
import re
import tomllib
from typing import Any

from scenarios.errors import ScenarioError
from scenarios.validate import join

_KEY_PATH = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


def parse_override(text: str) -> tuple[str, Any]:
    """Split `KEY.PATH=VALUE`; VALUE is a TOML literal, or a plain string when it is not valid TOML."""
    key, sep, literal = text.partition("=")
    key = key.strip()
    if not sep or not _KEY_PATH.fullmatch(key):
        raise ScenarioError("--set", text, "must be KEY.PATH=VALUE with a dotted key path, e.g. cluster.workers=16")
    try:
        document = tomllib.loads(f"v = {literal.strip()}")
    except tomllib.TOMLDecodeError:
        return key, literal.strip()
    except RecursionError:
        raise ScenarioError("--set", f"{key}=...", "its value nests arrays or tables too deeply to be read (no scenario "
                                                   "key nests more than a few levels)") from None
    return key, document["v"] if document.keys() == {"v"} else literal.strip()


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of `data` with each dotted key path set to its value; missing intermediate tables are created. A part
    that is a number N indexes an array of tables: cluster.groups.1.slowdown is the second [[cluster.groups]]'s."""
    data = copy.deepcopy(data)
    for key, value in (overrides or {}).items():
        if not isinstance(key, str) or not _KEY_PATH.fullmatch(key):
            raise ScenarioError("overrides", key, "keys must be dotted key paths, e.g. cluster.workers")
        *parents, last = key.split(".")
        table, path = data, ""
        for part in parents:
            table = _element(table, part, path, key) if isinstance(table, list) else table.setdefault(part, {})
            path = join(path, part)
            if not (isinstance(table, dict) or _is_tables(table)):
                raise ScenarioError(path, table, f"is not a table, so {key} cannot be set inside it")
        if isinstance(table, list):
            _element(table, last, path, key)
            table[int(last)] = copy.deepcopy(value)
        else:
            table[last] = copy.deepcopy(value)
    return data


def _is_tables(value: Any) -> bool:
    """An array of tables ([[...]])."""
    return isinstance(value, list) and all(isinstance(element, dict) for element in value)


def _element(tables: list[dict[str, Any]], part: str, path: str, key: str) -> dict[str, Any]:
    """Element `part` (a number) of the array of tables at `path`."""
    if not part.isdigit() or int(part) >= len(tables):
        raise ScenarioError(path, f"[{len(tables)} tables]", f"is an array of tables, so the part after it in {key} "
                            f"must be the index of one of them: a number below {len(tables)}")
    return tables[int(part)]
