"""Independent random streams, one per (purpose, index), derived from the run seed with numpy's SeedSequence.

A stream depends only on (seed, purpose, index), never on process layout or on how many other streams exist,
so a run is a pure function of (scenario, seed).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Purpose(IntEnum):
    COMPUTE = 0
    DOWNLINK = 1
    UPLINK = 2
    STRAGGLER = 3
    SAMPLES = 4
    SERVER = 5
    COORDINATES = 6
    READ = 7


def stream(seed: int, purpose: Purpose, index: int = 0) -> np.random.Generator:
    """The Generator for `purpose` of worker (or other unit) `index`: SeedSequence(seed, spawn_key=(purpose, index))."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(int(purpose), index))))


class Draws:
    """Draws one value at a time from a distribution, pulling fixed-size blocks from its own stream.

    The block size is fixed, so the sequence of values depends only on the stream, never on the caller.
    """

    BLOCK = 1024

    def __init__(self, draw_block, rng: np.random.Generator) -> None:
        self._draw_block = draw_block
        self._rng = rng
        self._block = np.empty(0)
        self._values: list = []
        self._next = 0

    def __call__(self):
        if self._next == len(self._values):
            self._refill()
        value = self._values[self._next]
        self._next += 1
        return value

    def take(self, count: int) -> np.ndarray:
        """The next `count` values as an array: the values `count` calls would return."""
        parts = []
        while count > 0:
            if self._next == len(self._values):
                self._refill()
            part = self._block[self._next:self._next + count]
            parts.append(part)
            self._next += len(part)
            count -= len(part)
        return np.concatenate(parts) if parts else np.empty(0)

    def _refill(self) -> None:
        self._block = np.asarray(self._draw_block(self._rng, self.BLOCK), dtype=np.float64)
        self._values = self._block.tolist()
        self._next = 0
