"""The grid of a sweep: `--grid KEY.PATH=V1,V2,...` axes and their cartesian product.

Each value is a TOML literal, read as `--set` reads it (a bare word is a string). Values are separated by
the commas outside brackets, braces and quotes, so a value may be an array or an inline table:

    --grid 'cluster.compute={dist="constant", value=1.0},{dist="exponential", mean=1.0}'

A value may also be a numeric range, expanded in place (ranges ascend; STOP is included when it is reached):

    START:STOP:xFACTOR   geometric   cluster.workers=1:16:x2       -> 1, 2, 4, 8, 16
    START:STOP:+STEP     arithmetic  algorithm.step=0.01:0.05:+0.01 -> 0.01, 0.02, 0.03, 0.04, 0.05

A range of integers (START, and STEP or FACTOR, integers) gives integers; otherwise floats, computed as
START + i * STEP or START * FACTOR ** i and rounded to 12 significant digits (so 0.1:0.3:+0.1 ends at 0.3).
Ranges and literals mix: `cluster.workers=1:8:x2,12,16`.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from scenarios import ScenarioError, parse_override

MAX_VALUES = 10_000  # per axis: a range that expands further is a typo
RESERVED = {"seed": "the seeds are set with --seeds N"}

_NUMBER = r"[+-]?\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?"
_RANGE = re.compile(rf"({_NUMBER}):({_NUMBER}):([x+])({_NUMBER})")
_OPEN, _CLOSE = "[{", "]}"


@dataclass(frozen=True)
class Axis:
    """One --grid flag: a key path and its values, each with its text (as typed, or as expanded from a range)."""

    key: str
    values: tuple[Any, ...]
    labels: tuple[str, ...]

    def cells(self) -> list[Any]:
        """The values as table cells: themselves when all are numbers, all booleans or all strings; else their text."""
        kinds = {bool if isinstance(v, bool) else int if isinstance(v, (int, float)) else type(v) for v in self.values}
        return list(self.values) if len(kinds) == 1 and kinds <= {bool, int, str} else list(self.labels)


def parse_axis(text: str) -> Axis:
    """Parse one `KEY.PATH=V1,V2,...`; bad syntax raises ScenarioError naming the flag."""
    key, sep, rest = text.partition("=")
    key = key.strip()
    try:
        parse_override(f"{key}=0")  # checks the key path
    except ScenarioError:
        sep = ""
    if not sep or not rest.strip():
        raise ScenarioError("--grid", text, "must be KEY.PATH=V1,V2,... with a dotted key path and at least one "
                                            "value, e.g. cluster.workers=4,8,16")
    if key in RESERVED:
        raise ScenarioError("--grid", text, f"{key} cannot be a grid key: {RESERVED[key]}")
    values, labels, seen = [], [], set()
    for item in _split(rest, text):
        for value, label in _expand(key, item, text):
            if repr(value) in seen:
                raise ScenarioError("--grid", text, f"lists the value {label} twice")
            seen.add(repr(value))
            values.append(value)
            labels.append(label)
    if len(values) > MAX_VALUES:
        raise ScenarioError("--grid", text, f"expands to more than {MAX_VALUES} values")
    return Axis(key, tuple(values), tuple(labels))


def parse_grid(texts: list[str]) -> list[Axis]:
    """Parse every --grid flag; a key path given twice is an error."""
    axes = [parse_axis(text) for text in texts]
    keys = [axis.key for axis in axes]
    for key in keys:
        if keys.count(key) > 1:
            raise ScenarioError("--grid", key, "is given twice: list all its values in one --grid flag")
    return axes


def product(axes: list[Axis]) -> list[tuple[int, ...]]:
    """Every grid point as the index of its value on each axis; the first axis varies slowest."""
    return list(itertools.product(*(range(len(axis.values)) for axis in axes)))


def _split(values: str, flag: str) -> list[str]:
    """`values` split at the commas outside brackets, braces and quoted strings."""
    items, depth, quote, escaped, start = [], 0, "", False, 0
    for i, char in enumerate(values):
        if escaped:
            escaped = False
        elif quote:
            escaped = char == "\\" and quote == '"'
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth -= 1
        elif char == "," and depth == 0:
            items.append(values[start:i])
            start = i + 1
    items.append(values[start:])
    items = [item.strip() for item in items]
    if depth or quote or not all(items):
        raise ScenarioError("--grid", flag, "has an empty value or unbalanced brackets or quotes; values are "
                                            "TOML literals separated by commas, e.g. cluster.workers=4,8,16")
    return items


def _expand(key: str, item: str, flag: str) -> list[tuple[Any, str]]:
    """A literal as [(value, text)], or a range as its values with their texts."""
    match = _RANGE.fullmatch(item)
    if not match:
        return [(parse_override(f"{key}={item}")[1], item)]
    start, stop, step = (parse_override(f"{key}={part}")[1] for part in match.group(1, 2, 4))
    kind = match.group(3)
    if not all(isinstance(v, (int, float)) for v in (start, stop, step)):
        raise ScenarioError("--grid", flag, f"range {item}: START, STOP and STEP or FACTOR must be TOML numbers")
    if start > stop or (step <= 0 if kind == "+" else (step <= 1 or start <= 0)):
        raise ScenarioError("--grid", flag, f"range {item}: needs START <= STOP and, for +STEP, STEP > 0; "
                                            f"for xFACTOR, START > 0 and FACTOR > 1")
    integral = isinstance(start, int) and isinstance(step, int)
    values = []
    for i in range(MAX_VALUES + 1):
        value = start + i * step if kind == "+" else start * step**i
        value = value if integral else float(f"{value:.12g}")
        if value > (stop if integral else float(f"{stop:.12g}")):
            break
        values.append(value)
    return [(value, str(value) if integral else repr(value)) for value in values]
