"""Nonsmooth regularizers h(x) = sum_i p(x_i), each a value and a proximal operator (pure numpy, no SimPy).

prox_{gamma h}(z) = argmin_x h(x) + ||x - z||^2 / (2 gamma), coordinate by coordinate (every h here is separable,
so the prox of a block of coordinates is the prox of each). The rules are the standard definitions
(docs/algorithms.md); the asynchronous proximal SGD they serve (Zhu, Niu, Li 2018) could not be read here.

Every prox is elementwise and built only from exactly rounded operations (abs, -, *, /, copysign, comparisons), so
a row of a batch (R, d) equals the same call on (d,) bit for bit, and at weight 0 (an infinite box) it returns z
bit for bit, signed zeros, infinities and NaNs included. `prox` writes into `out` (which may be z).

A regularizer is one class and one line of REGULARIZERS. Its parameters are keyword-only with their checks in
`__init__` (ValueError naming the parameter).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np


class Regularizer:
    """h = 0: the plain gradient step (prox is the identity, and the engine skips it)."""

    name: ClassVar[str] = "none"
    params: ClassVar[tuple[str, ...]] = ()

    def value(self, x: np.ndarray) -> float:
        """h(x)."""
        return 0.0

    def prox(self, z: np.ndarray, gamma: float, out: np.ndarray | None = None) -> np.ndarray:
        """prox_{gamma h}(z)."""
        if out is None:
            return z.copy()
        out[...] = z
        return out

    def check_step(self, gamma: float) -> str | None:
        """Why the prox is not defined for step gamma (None: it is)."""
        return None

    @property
    def spec(self) -> dict[str, object]:
        """The scenario table that builds this regularizer."""
        return {"name": self.name, **{key: getattr(self, key) for key in self.params}}


class L1(Regularizer):
    """h(x) = weight ||x||_1; prox: soft thresholding sign(z) max(|z| - gamma weight, 0)."""

    name = "l1"
    params = ("weight",)

    def __init__(self, *, weight: float) -> None:
        self.weight = _nonnegative("weight", weight)

    def value(self, x: np.ndarray) -> float:
        return self.weight * float(np.sum(np.abs(x)))

    def prox(self, z: np.ndarray, gamma: float, out: np.ndarray | None = None) -> np.ndarray:
        shrunk = np.abs(z)
        shrunk -= gamma * self.weight
        np.maximum(shrunk, 0.0, out=shrunk)
        return np.copysign(shrunk, z, out=out if out is not None else shrunk)


class MCP(Regularizer):
    """The minimax concave penalty (Zhang 2010), per coordinate p(t) = weight |t| - t^2 / (2 concavity) for
    |t| <= concavity weight, concavity weight^2 / 2 beyond. For gamma < concavity its prox is 0 for
    |z| <= gamma weight, sign(z) (|z| - gamma weight) / (1 - gamma / concavity) up to concavity weight, z beyond."""

    name = "mcp"
    params = ("weight", "concavity")

    def __init__(self, *, weight: float, concavity: float) -> None:
        self.weight = _nonnegative("weight", weight)
        self.concavity = float(concavity)
        if not (math.isfinite(self.concavity) and self.concavity > 0):
            raise ValueError(f"concavity = {concavity!r}: must be a finite number > 0")

    def value(self, x: np.ndarray) -> float:
        a = np.abs(x)
        inner = self.weight * a - a * a / (2 * self.concavity)
        return float(np.sum(np.where(a <= self.concavity * self.weight, inner,
                                     self.concavity * self.weight * self.weight / 2)))

    def prox(self, z: np.ndarray, gamma: float, out: np.ndarray | None = None) -> np.ndarray:
        a = np.abs(z)
        middle = (a - gamma * self.weight) / (1.0 - gamma / self.concavity)
        result = np.where(a <= gamma * self.weight, 0.0, np.where(a <= self.concavity * self.weight, middle, a))
        return np.copysign(result, z, out=out)

    def check_step(self, gamma: float) -> str | None:
        if self.concavity <= gamma:
            return (f"MCP's prox needs concavity > the step (concavity = {self.concavity!r}, largest step "
                    f"{gamma!r}): raise concavity or lower the step")
        return None


class Box(Regularizer):
    """h = the indicator of the box [low, high]^d (low may be -inf, high +inf); prox: clipping."""

    name = "box"
    params = ("low", "high")

    def __init__(self, *, low: float, high: float) -> None:
        self.low, self.high = float(low), float(high)
        if math.isnan(self.low) or math.isnan(self.high) or not self.low <= self.high or self.low == math.inf \
                or self.high == -math.inf:
            raise ValueError(f"low = {low!r}, high = {high!r}: need low <= high, low < inf, high > -inf")

    def value(self, x: np.ndarray) -> float:
        return 0.0 if bool(np.all((x >= self.low) & (x <= self.high))) else math.inf

    def prox(self, z: np.ndarray, gamma: float, out: np.ndarray | None = None) -> np.ndarray:
        return np.minimum(np.maximum(z, self.low, out=out), self.high, out=out)


def _nonnegative(param: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{param} = {value!r}: must be a finite number >= 0")
    return value


REGULARIZERS: dict[str, type[Regularizer]] = {cls.name: cls for cls in (Regularizer, L1, MCP, Box)}
