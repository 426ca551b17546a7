"""Latency distributions for compute, network and service times: part of the scenario language. Pure numpy.

Every distribution is parameterised so that `mean` is its exact expected value (infinite for a Pareto with
shape <= 1), and `draw(rng, size)` returns non-negative float64 values from the given Generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from scenarios.errors import MISSING, ScenarioError
from scenarios.validate import number


@dataclass(frozen=True)
class Distribution:
    name: ClassVar[str]

    @property
    def mean(self) -> float:
        raise NotImplementedError

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        raise NotImplementedError

    @property
    def is_zero(self) -> bool:
        """True when every draw is exactly 0 (the engine then skips the event)."""
        return False

    def spec(self) -> dict[str, Any]:
        """The scenario table that rebuilds this distribution."""
        return {"dist": self.name, **{f.name: getattr(self, f.name) for f in fields(self)}}

    def scaled(self, factor: float) -> "Distribution":
        """The distribution of `factor * X` (used for slow workers)."""
        return Scaled(self, factor) if factor != 1.0 else self

    def _check(self, path: str) -> None:
        """Raise ScenarioError for invalid parameters."""


@dataclass(frozen=True)
class Constant(Distribution):
    """X = value."""

    name = "constant"
    value: float

    @property
    def mean(self) -> float:
        return self.value

    @property
    def is_zero(self) -> bool:
        return self.value == 0.0

    def draw(self, rng, size):
        return np.full(size, self.value)

    def _check(self, path):
        number(self.value, f"{path}.value", low=0)


@dataclass(frozen=True)
class Exponential(Distribution):
    """X ~ Exp with E[X] = mean."""

    name = "exponential"
    mean_: float

    @property
    def mean(self) -> float:
        return self.mean_

    def draw(self, rng, size):
        return rng.exponential(self.mean_, size)

    def spec(self):
        return {"dist": self.name, "mean": self.mean_}

    def _check(self, path):
        number(self.mean_, f"{path}.mean", low=0, open_low=True)


@dataclass(frozen=True)
class ShiftedExponential(Distribution):
    """X = shift + Exp, with E[X] = mean (the total mean, so mean >= shift)."""

    name = "shifted-exponential"
    shift: float
    mean_: float

    @property
    def mean(self) -> float:
        return self.mean_

    def draw(self, rng, size):
        return self.shift + rng.exponential(self.mean_ - self.shift, size)

    def spec(self):
        return {"dist": self.name, "shift": self.shift, "mean": self.mean_}

    def _check(self, path):
        number(self.shift, f"{path}.shift", low=0)
        if not self.mean_ >= self.shift:
            raise ScenarioError(f"{path}.mean", self.mean_, f"must be >= shift ({self.shift}): mean is the total mean")


@dataclass(frozen=True)
class LogNormal(Distribution):
    """X = exp(N(mu, sigma^2)) with mu = ln(mean) - sigma^2 / 2, so E[X] = mean."""

    name = "lognormal"
    mean_: float
    sigma: float

    @property
    def mean(self) -> float:
        return self.mean_

    def draw(self, rng, size):
        return rng.lognormal(math.log(self.mean_) - self.sigma**2 / 2, self.sigma, size)

    def spec(self):
        return {"dist": self.name, "mean": self.mean_, "sigma": self.sigma}

    def _check(self, path):
        number(self.mean_, f"{path}.mean", low=0, open_low=True)
        number(self.sigma, f"{path}.sigma", low=0)


@dataclass(frozen=True)
class Gamma(Distribution):
    """X ~ Gamma(shape, scale = mean / shape), so E[X] = mean."""

    name = "gamma"
    shape: float
    mean_: float

    @property
    def mean(self) -> float:
        return self.mean_

    def draw(self, rng, size):
        return rng.gamma(self.shape, self.mean_ / self.shape, size)

    def spec(self):
        return {"dist": self.name, "shape": self.shape, "mean": self.mean_}

    def _check(self, path):
        number(self.shape, f"{path}.shape", low=0, open_low=True)
        number(self.mean_, f"{path}.mean", low=0, open_low=True)


@dataclass(frozen=True)
class Uniform(Distribution):
    """X ~ U[low, high], E[X] = (low + high) / 2."""

    name = "uniform"
    low: float
    high: float

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    def draw(self, rng, size):
        return rng.uniform(self.low, self.high, size)

    def _check(self, path):
        number(self.low, f"{path}.low", low=0)
        if not self.high >= self.low:
            raise ScenarioError(f"{path}.high", self.high, f"must be >= low ({self.low})")


@dataclass(frozen=True)
class Pareto(Distribution):
    """Classical Pareto: P(X > x) = (scale / x)^shape for x >= scale; E[X] = shape * scale / (shape - 1) if shape > 1."""

    name = "pareto"
    shape: float
    scale: float

    @property
    def mean(self) -> float:
        return self.shape * self.scale / (self.shape - 1) if self.shape > 1 else math.inf

    def draw(self, rng, size):
        return self.scale * (1.0 + rng.pareto(self.shape, size))

    def _check(self, path):
        number(self.shape, f"{path}.shape", low=0, open_low=True)
        number(self.scale, f"{path}.scale", low=0, open_low=True)


@dataclass(frozen=True)
class Scaled(Distribution):
    """X = factor * Y."""

    name = "scaled"
    base: Distribution
    factor: float

    @property
    def mean(self) -> float:
        return self.factor * self.base.mean

    @property
    def is_zero(self) -> bool:
        return self.base.is_zero

    def draw(self, rng, size):
        return self.factor * self.base.draw(rng, size)

    def spec(self):
        raise TypeError("a scaled distribution is written as its base plus the worker group's slowdown")


DISTRIBUTIONS: dict[str, type[Distribution]] = {
    cls.name: cls for cls in (Constant, Exponential, ShiftedExponential, LogNormal, Gamma, Uniform, Pareto)
}


def _param_names(cls: type[Distribution]) -> list[str]:
    return [f.name.rstrip("_") for f in fields(cls)]


def parse_distribution(spec: Any, path: str) -> Distribution:
    """Build a distribution from its scenario table, e.g. {dist = "exponential", mean = 1.0}.

    Raises ScenarioError naming `path` for an unknown name, a missing, extra or invalid parameter.
    """
    allowed = ", ".join(f"{name}({', '.join(_param_names(cls))})" for name, cls in DISTRIBUTIONS.items())
    if not isinstance(spec, dict):
        raise ScenarioError(path, spec, f"must be a table like {{ dist = \"exponential\", mean = 1.0 }}; distributions: {allowed}")
    name = spec.get("dist", MISSING)
    if not isinstance(name, str) or name not in DISTRIBUTIONS:
        raise ScenarioError(f"{path}.dist", name, f"must be one of: {allowed}")
    cls = DISTRIBUTIONS[name]
    params = _param_names(cls)
    extra = sorted(set(spec) - {"dist", *params})
    if extra:
        raise ScenarioError(f"{path}.{extra[0]}", spec[extra[0]], f"is not a parameter of {name}; it takes {', '.join(params)}")
    values = []
    for param in params:
        value = spec.get(param, MISSING)
        if value is MISSING:
            raise ScenarioError(f"{path}.{param}", value, f"{name} needs {', '.join(params)}")
        values.append(number(value, f"{path}.{param}"))
    dist = cls(*values)
    dist._check(path)
    return dist

