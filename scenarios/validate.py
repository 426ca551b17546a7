"""Generic checks for scenario values: each returns the checked value or raises ScenarioError naming the key path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from models.values import choice_rule, integer_rule, is_choice, is_integer, is_real, real_rule
from scenarios.errors import MISSING, ScenarioError

# Upper limits of integer keys. Sweeps record the scenario's integers (seed, K, M, T, grid values) in int64 columns.
INT64_MAX = 2**63 - 1
RECORDED_AS_INT64 = "sweep results record it as a 64-bit integer"


def join(path: str, key: str) -> str:
    """The key path of `key` inside the table at `path` ("" is the top level)."""
    return f"{path}.{key}" if path else key


def integer(value: Any, path: str, low: int | None = None, high: int | None = None) -> int:
    """An int (not a bool, not a float) in [low, high]."""
    if not is_integer(value, low, high):
        raise ScenarioError(path, value, integer_rule(low, high))
    return int(value)


def number(value: Any, path: str, low: float | None = None, high: float | None = None, open_low: bool = False) -> float:
    """A finite int or float (not a bool) in [low, high], or (low, high] with `open_low`; returned as float."""
    if not is_real(value, low, high, open_low):
        raise ScenarioError(path, value, real_rule(low, high, open_low))
    return float(value)


def string(value: Any, path: str) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value:
        raise ScenarioError(path, value, "must be a non-empty string")
    return value


def boolean(value: Any, path: str) -> bool:
    """true or false."""
    if not isinstance(value, bool):
        raise ScenarioError(path, value, "must be true or false")
    return value


def choice(value: Any, path: str, options: Sequence[str]) -> str:
    """One of `options`."""
    if not is_choice(value, options):
        raise ScenarioError(path, value, choice_rule(options))
    return value


class Table:
    """A scenario table at key path `path` whose keys must all be in `keys`; getters check and default each value."""

    def __init__(self, value: Any, path: str, keys: Sequence[str]) -> None:
        if not isinstance(value, dict):
            raise ScenarioError(path, value, "must be a table")
        for key in value:
            if key not in keys:
                raise ScenarioError(join(path, key), value[key],
                                    f"unknown key; allowed in {path or 'the top level'}: {', '.join(keys) or 'none'}")
        self.data = value
        self.path = path

    def key(self, key: str) -> str:
        """The full key path of `key`."""
        return join(self.path, key)

    def get(self, key: str, default: Any = MISSING) -> Any:
        """The raw value of `key`, or `default`; a required key (no default) that is absent raises."""
        value = self.data.get(key, default)
        if value is MISSING:
            raise ScenarioError(self.key(key), MISSING, "is required")
        return value

    def table(self, key: str, keys: Sequence[str]) -> "Table":
        """The sub-table `key` (empty if absent)."""
        return Table(self.get(key, {}), self.key(key), keys)

    def integer(self, key: str, default: Any = MISSING, low: int | None = None, high: int | None = None) -> int:
        return integer(self.get(key, default), self.key(key), low, high)

    def number(self, key: str, default: Any = MISSING, low: float | None = None, high: float | None = None,
               open_low: bool = False) -> float:
        return number(self.get(key, default), self.key(key), low, high, open_low)

    def string(self, key: str, default: Any = MISSING) -> str:
        return string(self.get(key, default), self.key(key))

    def boolean(self, key: str, default: Any = MISSING) -> bool:
        return boolean(self.get(key, default), self.key(key))

    def choice(self, key: str, options: Sequence[str], default: Any = MISSING) -> str:
        return choice(self.get(key, default), self.key(key), options)


def capped(table: Table, key: str, default: Any, low: int, high: int, why: str) -> int:
    """An integer key in [low, high]; a value above `high` is refused saying `why` (a value below `low` with the
    usual "must be an integer >= low")."""
    value = table.get(key, default)
    if is_integer(value) and value > high:
        raise ScenarioError(table.key(key), value, f"must be an integer in [{low}, {high}]: {why}")
    return integer(value, table.key(key), low=low)
