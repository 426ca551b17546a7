"""Data for the objectives: seeded synthetic generators (Gaussian designs) and scikit-learn's bundled digits.

Every generator draws only from the Generator it is given, so the data are a pure function of the seed.
"""

from __future__ import annotations

import functools

import numpy as np

OUTLIER_SCALE = 10.0  # standard deviation of the gross errors added to the outlying regression targets


def unit_vector(rng: np.random.Generator, dim: int) -> np.ndarray:
    """A uniformly random point of the unit sphere in R^dim."""
    v = rng.standard_normal(dim)
    return v / np.linalg.norm(v)


def classification(rng: np.random.Generator, n: int, dim: int, label_noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Rows a_i ~ N(0, I/dim), labels y_i = sign(a_i.x_true) in {-1, +1} with x_true ~ N(0, I), each flipped w.p. label_noise."""
    A = rng.standard_normal((n, dim)) / np.sqrt(dim)
    y = np.where(A @ rng.standard_normal(dim) >= 0.0, 1.0, -1.0)
    y[rng.random(n) < label_noise] *= -1.0
    return A, y


def regression(rng: np.random.Generator, n: int, dim: int, outliers: float, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Rows a_i ~ N(0, I/dim), b_i = a_i.x_true + noise N(0, 1) with x_true ~ N(0, I); a fraction `outliers`
    of the b_i (chosen at random) also get a gross error ~ N(0, OUTLIER_SCALE^2)."""
    A = rng.standard_normal((n, dim)) / np.sqrt(dim)
    b = A @ rng.standard_normal(dim) + noise * rng.standard_normal(n)
    b += np.where(rng.random(n) < outliers, OUTLIER_SCALE * rng.standard_normal(n), 0.0)
    return A, b


def phase_measurements(rng: np.random.Generator, n: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows a_i ~ N(0, I) and a unit-norm signal x_true (uniform on the sphere)."""
    return rng.standard_normal((n, dim)), unit_vector(rng, dim)


@functools.cache
def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (1797 images, no download): features pixel / 16 in [0, 1], shape (1797, 64),
    and int64 labels 0..9. Read-only: the arrays are shared."""
    from sklearn.datasets import load_digits  # deferred: importing scikit-learn costs about a second

    data = load_digits()
    features, labels = data.data / 16.0, data.target.astype(np.int64)
    features.setflags(write=False)
    labels.setflags(write=False)
    return features, labels


def digits_binary() -> tuple[np.ndarray, np.ndarray]:
    """Digits as a binary problem: features pixel / 16 plus a constant-1 bias column (1797 x 65),
    y = +1 for digits 0-4 and -1 for 5-9."""
    features, labels = digits()
    A = np.hstack([features, np.ones((len(features), 1))])
    return A, np.where(labels <= 4, 1.0, -1.0)
