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
    SPEED = 8


def stream(seed: int, purpose: Purpose, index: int = 0) -> np.random.Generator:
    """The Generator for `purpose` of worker (or other unit) `index`: SeedSequence(seed, spawn_key=(purpose, index))."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(int(purpose), index))))


class Draws:
    """Values drawn from a stream in fixed-size blocks (`draw_block(rng, size)`), handed out one at a time or
    `count` at a time.

    The block size is fixed, so the sequence of values depends only on the stream, never on the caller.
    """

    BLOCK = 1024

    def __init__(self, draw_block, rng: np.random.Generator, block: int = BLOCK) -> None:
        self._draw_block = draw_block
        self._rng = rng
        self._size = block
        self._block = np.empty(0)
        self._values: list | None = None  # the block as Python scalars, made on the first single draw from it
        self._next = 0

    def __call__(self):
        """The next value, as a Python scalar."""
        if self._next == len(self._block):
            self._refill()
        if self._values is None:
            self._values = self._block.tolist()
        value = self._values[self._next]
        self._next += 1
        return value

    def take(self, count: int) -> np.ndarray:
        """The next `count` values as an array (a view of the block when they lie in one): the values `count` calls
        would return."""
        if self._next + count <= len(self._block):
            part = self._block[self._next:self._next + count]
            self._next += count
            return part
        rest = self._block[self._next:]
        parts, count = [rest] if len(rest) else [], count - len(rest)  # (not an empty first block: its dtype)
        while count > 0:
            self._refill()
            parts.append(self._block[:count])
            self._next = len(parts[-1])
            count -= self._next
        return np.concatenate(parts)

    def _refill(self) -> None:
        self._block = self._draw_block(self._rng, self._size)
        self._values = None
        self._next = 0
