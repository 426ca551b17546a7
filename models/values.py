"""Predicates on parameter values, with the text saying what they allow: one set for the objectives' parameters
(models.base raises ParameterError) and the scenario keys (scenarios.validate raises ScenarioError)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any


def is_integer(value: Any, low: int | None = None, high: int | None = None) -> bool:
    """An integer (not a bool, not a float) in [low, high]; None leaves that side open."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and _within(value, low, high, False)


def is_real(value: Any, low: float | None = None, high: float | None = None, open_low: bool = False) -> bool:
    """A finite real number (an int or a float, not a bool) in [low, high], or (low, high] with `open_low`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        number = float(value)
    except OverflowError:  # an int beyond the float range
        return False
    return math.isfinite(number) and _within(number, low, high, open_low)


def is_choice(value: Any, options: Sequence[str]) -> bool:
    """One of the strings `options`."""
    return isinstance(value, str) and value in options


def integer_rule(low: int | None = None, high: int | None = None) -> str:
    """What is_integer allows, as an error message's "allowed" text."""
    return f"must be an integer{_bounds(low, high, False)}"


def real_rule(low: float | None = None, high: float | None = None, open_low: bool = False) -> str:
    """What is_real allows, as an error message's "allowed" text."""
    return f"must be a finite number{_bounds(low, high, open_low)}"


def choice_rule(options: Sequence[str]) -> str:
    """What is_choice allows, as an error message's "allowed" text."""
    return f"must be one of: {', '.join(repr(option) for option in options)}"


def _within(value: float, low: float | None, high: float | None, open_low: bool) -> bool:
    return (low is None or (value > low if open_low else value >= low)) and (high is None or value <= high)


def _bounds(low: float | None, high: float | None, open_low: bool) -> str:
    if low is not None and high is not None:
        return f" in {'(' if open_low else '['}{low}, {high}]"
    if low is not None:
        return f" {'>' if open_low else '>='} {low}"
    return f" <= {high}" if high is not None else ""
