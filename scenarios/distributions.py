"""Latency distributions for compute, network and service times: part of the scenario language. Pure numpy.

Every distribution is parameterised so that `mean` is its exact expected value (infinite for a Pareto with
shape <= 1), and `draw(rng, size)` returns non-negative float64 values from the given Generator.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import io
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
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

    def sequence(self, index: int) -> np.ndarray | None:
        """A fixed sequence that worker (or unit) `index` replays in order, cycling, instead of drawing (a trace
        distribution); None for a random distribution."""
        return None

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

    def sequence(self, index):
        base = self.base.sequence(index)
        return None if base is None else self.factor * base

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
    allowed = ", ".join([*(f"{name}({', '.join(_param_names(cls))})" for name, cls in DISTRIBUTIONS.items()),
                         *(f"{name}(file, column)" for name in MEASURED)])
    if not isinstance(spec, dict):
        raise ScenarioError(path, spec, f"must be a table like {{ dist = \"exponential\", mean = 1.0 }}; distributions: {allowed}")
    name = spec.get("dist", MISSING)
    if isinstance(name, str) and name in MEASURED:
        return _measured(MEASURED[name], spec, path)
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



# Measured durations from a file: {dist = "empirical" | "trace", file = "timings.csv", column = "seconds"}. A relative
# file is found beside the scenario file (scenarios.loader.load sets the folder); the resolved scenario names it by
# its absolute path and the SHA-256 of its bytes, so a run directory or a sweep result never silently stands for a
# file that has changed since.
SCENARIO_FOLDER: contextvars.ContextVar[Path] = contextvars.ContextVar("scenario_folder", default=Path("."))
MEASURED_FORMATS = (".csv", ".parquet")


@dataclass(frozen=True)
class Measured(Distribution):
    """Durations measured by the user, read from a CSV or Parquet column (every value a finite number >= 0)."""

    file: str
    column: str
    sha256: str
    values: np.ndarray = field(compare=False, repr=False)

    @property
    def mean(self) -> float:
        return float(self.values.mean())

    @property
    def is_zero(self) -> bool:
        return not self.values.any()

    def spec(self):
        return {"dist": self.name, "file": self.file, "column": self.column, "sha256": self.sha256}


@dataclass(frozen=True)
class Empirical(Measured):
    """X uniform over the file's values (resampled with replacement): E[X] = their mean."""

    name = "empirical"

    def draw(self, rng, size):
        return self.values[rng.integers(0, len(self.values), size)]


@dataclass(frozen=True)
class Trace(Measured):
    """The file's values in order, cycling: worker i's n-th draw is row (i + n) mod rows (worker 0 replays the file
    exactly; the others start i rows later, so that workers do not move in lockstep). No randomness."""

    name = "trace"

    def draw(self, rng, size):
        raise TypeError("a trace distribution is replayed per worker: see sequence(index)")

    def sequence(self, index: int) -> np.ndarray:
        return np.roll(self.values, -(index % len(self.values)))


MEASURED: dict[str, type[Measured]] = {cls.name: cls for cls in (Empirical, Trace)}


def _measured(cls: type[Measured], spec: dict[str, Any], path: str) -> Measured:
    extra = sorted(set(spec) - {"dist", "file", "column", "sha256"})
    if extra:
        raise ScenarioError(f"{path}.{extra[0]}", spec[extra[0]], f"is not a parameter of {cls.name}; it takes file, "
                                                                  "column (and the sha256 of a resolved scenario)")
    for key in ("file", "column"):
        if not isinstance(spec.get(key), str) or not spec[key]:
            raise ScenarioError(f"{path}.{key}", spec.get(key, MISSING), f"{cls.name} needs file and column: "
                                "a CSV or Parquet file (relative to the scenario file) and the column of durations")
    file = (SCENARIO_FOLDER.get() / spec["file"]).absolute()
    values, digest = _read_durations(str(file), spec["column"], f"{path}.file")
    if "sha256" in spec and spec["sha256"] != digest:
        raise ScenarioError(f"{path}.sha256", spec["sha256"], f"does not match {file} (its SHA-256 is now {digest}): "
                                                              "the file changed since this scenario was resolved")
    return cls(str(file), spec["column"], digest, values)


def _read_durations(file: str, column: str, path: str) -> tuple[np.ndarray, str]:
    """The column's values and the file's SHA-256; a missing, unreadable or empty file, a missing column and a value
    that is not a finite number >= 0 are bad input naming the file and row."""
    location = Path(file)
    if location.suffix.lower() not in MEASURED_FORMATS:
        raise ScenarioError(path, file, "must be a .csv or .parquet file")
    try:
        data = location.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(path, file, "no such file (a relative path is taken from the scenario file's folder)") from None
    except OSError as error:
        raise ScenarioError(path, file, f"cannot be read: {error.strerror or error}") from None
    return _parse_durations(data, location.suffix.lower(), file, column, path), hashlib.sha256(data).hexdigest()


@functools.lru_cache(maxsize=32)
def _parse_durations(data: bytes, suffix: str, file: str, column: str, path: str) -> np.ndarray:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if suffix == ".csv":
            frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
            first_row = 2  # the header is line 1
        else:
            frame = pq.read_table(pa.BufferReader(data)).to_pandas()
            first_row = 0
    except Exception as error:  # pandas and pyarrow raise many kinds for a file that is not a table
        raise ScenarioError(path, file, f"is not a readable {suffix[1:]} table ({str(error).splitlines()[0]})") from None
    if column not in frame.columns:
        raise ScenarioError(path, file, f"has no column {column!r} (its columns: {', '.join(map(str, frame.columns))})")
    if len(frame) == 0:
        raise ScenarioError(path, file, f"has no rows in column {column!r}: at least one duration is needed")
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = np.flatnonzero(~(np.isfinite(values) & (values >= 0)))
    if len(bad):
        row = int(bad[0])
        where = f"line {row + first_row}" if suffix == ".csv" else f"row {row}"
        raise ScenarioError(path, file, f"{where}, column {column!r}: {frame[column].iloc[row]!r} is not a duration "
                                        "(a finite number >= 0)")
    values.flags.writeable = False
    return values
