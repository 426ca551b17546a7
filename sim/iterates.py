"""The iterates that outstanding reads still need, and nothing more (no SimPy here).

A read of version v holds x_v until its gradient is applied or dropped. With a staleness bound T at most
T + 1 versions are ever held (x_{k-T} .. x_k), without one at most one per in-flight read plus x_k,
so memory never grows with the number of updates K.
"""

from __future__ import annotations

import numpy as np

from models.updates import sgd_step, summed_gradient


class IterateStore:
    """x_k plus every older x_v with holds > 0; a reference-counted window over the iterate history."""

    def __init__(self, x0: np.ndarray) -> None:
        self.version = 0
        self.current = np.array(x0, dtype=np.float64)
        self._kept: dict[int, np.ndarray] = {0: self.current}
        self._holds: dict[int, int] = {0: 0}

    def hold(self, count: int = 1) -> int:
        """Keep the current version for `count` more reads; returns its number."""
        self._holds[self.version] += count
        return self.version

    def get(self, version: int) -> np.ndarray:
        return self._kept[version]

    def release(self, version: int) -> None:
        """One read of `version` is done with it."""
        self._holds[version] -= 1
        if self._holds[version] == 0 and version != self.version:
            del self._holds[version], self._kept[version]

    def advance(self, x_next: np.ndarray) -> None:
        """x_{k+1} becomes current; x_k is kept only if a read still holds it."""
        if self._holds[self.version] == 0:
            del self._holds[self.version], self._kept[self.version]
        self.version += 1
        self.current = x_next
        self._kept[self.version] = x_next
        self._holds[self.version] = 0

    def __len__(self) -> int:
        return len(self._kept)


def apply_con_update(store: IterateStore, objective, versions: list[int], samples: list[np.ndarray], gamma: float) -> None:
    """AsySG-con: x_{k+1} = x_k - gamma * sum_m G(x_{versions[m]}; samples[m]); releases the reads and advances."""
    points = [store.get(v) for v in versions]
    x_next = sgd_step(store.current, summed_gradient(objective, points, samples), gamma)
    for v in versions:
        store.release(v)
    store.advance(x_next)
