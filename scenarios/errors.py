"""The one error type for bad input (it names the key path, the offending value and what is allowed), and the error
of an output that could not be written."""

from __future__ import annotations

from typing import Any


class ScenarioError(ValueError):
    """Bad input. `asgd` prints `str(error)` and exits with code 2."""

    def __init__(self, path: str, value: Any, allowed: str) -> None:
        self.path = path
        self.value = value
        self.allowed = allowed
        shown = "(missing)" if value is _MISSING else repr(value)
        super().__init__(f"{path} = {shown}: {allowed}" if path else f"{shown}: {allowed}")


class WriteError(Exception):
    """An output could not be written (a full disk, ...); what was there before is kept and nothing half-written is
    left. `asgd` prints the message and exits 1."""


class _Missing:
    def __repr__(self) -> str:
        return "(missing)"


_MISSING = _Missing()
MISSING: Any = _MISSING
