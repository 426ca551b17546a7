"""Independent random streams, one per (purpose, index), derived from the run seed with numpy's SeedSequence.

A stream depends only on (seed, purpose, index), never on process layout or on how many other streams exist,
so a run is a pure function of (scenario, seed).
"""

from __future__ import annotations

from enum import IntEnum
from functools import lru_cache

import numpy as np
from numpy.random.bit_generator import ISeedSequence


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
    UPTIME = 9      # sim/cluster/failures.py
    DOWNTIME = 10
    LOSS = 11


def stream(seed: int, purpose: Purpose, index: int = 0) -> np.random.Generator:
    """The Generator for `purpose` of worker (or other unit) `index`: PCG64 seeded by
    SeedSequence(seed, spawn_key=(purpose, index)), its state computed with those of CHUNK neighbours (_states)."""
    states = _states(seed, int(purpose), index // CHUNK)
    return np.random.Generator(np.random.PCG64(_Seeded(states[index % CHUNK])))


CHUNK = 256  # streams seeded together
# numpy's SeedSequence (numpy/random/bit_generator.pyx, after M. O'Neill's seed_seq alternative): its constants
INIT_A, MULT_A, INIT_B, MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
MIX_MULT_L, MIX_MULT_R, MASK32, POOL = 0xCA01F9DD, 0x4973F715, 0xFFFFFFFF, 4


class _Seeded(ISeedSequence):
    """A seed sequence whose state is already computed: PCG64 takes its 128-bit state and increment from it."""

    def __init__(self, state: np.ndarray) -> None:
        self._state = state

    def generate_state(self, n_words: int, dtype=np.uint64) -> np.ndarray:
        return self._state


@lru_cache(maxsize=64)
def _states(seed: int, purpose: int, chunk: int) -> np.ndarray:
    """generate_state(4, uint64) of SeedSequence(seed, spawn_key=(purpose, i)) for i in chunk's CHUNK indices, shape
    (CHUNK, 4): numpy's algorithm, bit for bit (tests/test_distributions.py), on all of them at once. The entropy
    is the seed's 32-bit words (least significant first) padded with zeros to the pool size, then purpose, then i."""
    words = [seed & MASK32] if seed <= MASK32 else [(seed >> s) & MASK32 for s in range(0, seed.bit_length(), 32)]
    indices = np.arange(chunk * CHUNK, (chunk + 1) * CHUNK, dtype=np.uint32)
    entropy = [np.full(CHUNK, w, np.uint32) for w in words + [0] * (POOL - len(words)) + [purpose]] + [indices]
    hash_const = INIT_A

    def hashmix(value: np.ndarray) -> np.ndarray:
        nonlocal hash_const
        value = value ^ np.uint32(hash_const)
        hash_const = hash_const * MULT_A & MASK32
        value = value * np.uint32(hash_const)
        return value ^ (value >> np.uint32(16))

    def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        result = x * np.uint32(MIX_MULT_L) - y * np.uint32(MIX_MULT_R)
        return result ^ (result >> np.uint32(16))

    pool = [hashmix(entropy[i]) for i in range(POOL)]
    for source in range(POOL):
        for target in range(POOL):
            if source != target:
                pool[target] = mix(pool[target], hashmix(pool[source]))
    for word in entropy[POOL:]:
        for target in range(POOL):
            pool[target] = mix(pool[target], hashmix(word))
    state, hash_const = [], INIT_B
    for i in range(2 * POOL):  # generate_state: 8 32-bit words, cycling over the pool, read as 4 little-endian uint64
        value = pool[i % POOL] ^ np.uint32(hash_const)
        hash_const = hash_const * MULT_B & MASK32
        value = value * np.uint32(hash_const)
        state.append(value ^ (value >> np.uint32(16)))
    low, high = np.array(state[0::2], np.uint64), np.array(state[1::2], np.uint64)
    return (low | (high << np.uint64(32))).T.copy()


class Draws:
    """Values drawn from a stream in fixed-size blocks (`draw_block(rng, size)`), handed out one at a time or
    `count` at a time.

    The block size is fixed, so the sequence of values depends only on the stream, never on the caller. The first
    block is drawn in prefixes (FIRST values, then four times as many, ... up to the block) from the stream's start each
    time: numpy's samplers fill an array value after value, so a prefix of a block is the block's first values
    (integers included, whose 32-bit buffer lives in one call), and a worker that makes few draws costs few.
    """

    BLOCK = 1024
    FIRST = 16

    def __init__(self, draw_block, rng: np.random.Generator, block: int = BLOCK) -> None:
        self._draw_block = draw_block
        self._rng = rng
        self._size = block
        self._block = np.empty(0)
        self._values: list | None = None  # the block as Python scalars, made on the first single draw from it
        self._next = 0
        self._start: dict | None = None   # the stream's state at the start, while the first block is drawn in part

    def __call__(self):
        """The next value, as a Python scalar."""
        if self._next == len(self._block):
            self._refill(1)
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
        parts = []
        while count > 0:
            if self._next == len(self._block):
                self._refill(count)
            part = self._block[self._next:self._next + count]
            parts.append(part)
            self._next += len(part)
            count -= len(part)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _refill(self, wanted: int) -> None:
        """More values: a longer prefix of the first block (at least `wanted` more, if the block has them), or the
        next block."""
        drawn = len(self._block)
        if drawn == self._size:  # a whole block is used up
            self._block = self._draw_block(self._rng, self._size)
            self._next = 0
        else:
            bits = self._rng.bit_generator
            if self._start is None:
                self._start = bits.state
            else:
                bits.state = self._start
            self._block = self._draw_block(self._rng, min(self._size, max(self.FIRST, 4 * drawn, drawn + wanted)))
            if len(self._block) == self._size:
                self._start = None
        self._values = None
