"""Closed-form schedules applied: replicates of one scenario stepped in lockstep on a ring of their iterates.

`apply_schedules` runs the blocks of closed-form schedules (sim/closed_form/con.py, scan.py, epochs.py, incon.py),
or of the engine's, recorded (sim/recorded.py): update k of every replicate is one `Ring.step` (a shared-memory
write for blocks with coordinates; SVRG's snapshots kept at each epoch's start), recorded as sim.run.Run.applied
would record it (with the gradients dropped before it: Run.record_updates). No SimPy here.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from models.updates import Algorithm
from sim.closed_form.con import Block, Tie
from sim.run import Run, lockstep


class Ring:
    """x_{k-S+1} .. x_k of R replicates at one version k in an (S, R, d) array, x_v of replicate r at [v % S, r],
    and per replicate the older iterates that outstanding reads still hold, spilled from the ring before it
    overwrites them: what the reads of closed-form schedules (sim/closed_form/con.py) need, S iterates and the held ones."""

    def __init__(self, x0: np.ndarray, replicates: int, depth: int) -> None:
        self.version = 0
        self._x = np.empty((depth, replicates, len(x0)))
        self._x[0] = x0
        self.spilled: list[dict[int, np.ndarray]] = [{} for _ in range(replicates)]

    @property
    def depth(self) -> int:
        return len(self._x)

    @property
    def current(self) -> np.ndarray:
        """x_k of each replicate, (R, d) (a view)."""
        return self._x[self.version % len(self._x)]

    def keep(self, replicates: list[int]) -> None:
        """Keep only these replicates, in this order."""
        self._x = np.ascontiguousarray(self._x[:, replicates])
        self.spilled = [self.spilled[r] for r in replicates]

    def locate(self, versions: np.ndarray) -> np.ndarray:
        """For versions (n, R, M), the rows of the x_v in the ring flattened to (S * R, d), shape (n, R * M) (a
        version older than the ring is patched in from the spilled ones: `step`)."""
        replicates = self._x.shape[1]
        return (versions % len(self._x) * replicates + np.arange(replicates)[:, None]).reshape(len(versions), -1)

    def step(self, algorithm: Algorithm | list[Algorithm], rows: np.ndarray, samples: np.ndarray, patches=(),
             spills=(), versions: np.ndarray | None = None, coordinates: list[np.ndarray] | None = None) -> None:
        """AsySG-con update k of each replicate r: x_{k+1} from x_k and the gradients at x_{v_{r,m}} with samples
        [r * M + m] (algorithm.update; plain: x_k - gamma_k * sum_m G(x_{v_{r,m}}; samples[r * M + m])),
        the x_v at rows (R * M,) from `locate`, but for `patches`, (row index, replicate, version, release) of reads
        older than the ring, whose spilled iterate the last read releases; `spills`: the (replicate, version =
        k + 1 - S) whose iterate a read still holds, spilled before x_{k+1} takes its place. `algorithm`: the
        replicates' math in lockstep (sim.run.lockstep), or a list of each replicate's own, which updates it alone
        (algorithm.update) from `versions` (R, M), the v_{r,m}: staleness-dependent steps, DC-ASGD's state. Each
        x_{k+1} is apply_con_update's, bit for bit; with `coordinates` (R,), replicate r's update is a shared-memory
        write of coordinates[r] (sim/closed_form/incon.py: algorithm.write_step), apply_incon_update's bit for bit."""
        size, replicates, dim = self._x.shape
        points = self._x.reshape(size * replicates, dim)[rows]
        for index, r, v, release in patches:
            points[index] = self.spilled[r].pop(v) if release else self.spilled[r][v]
        k = self.version
        per_gradient = isinstance(algorithm, list)  # each replicate's own update: a step per gradient, DC-ASGD's state
        if per_gradient:
            batch = len(rows) // replicates
            x_next = [own.update(self._x[k % size, r], points[r * batch:(r + 1) * batch],
                                 samples[r * batch:(r + 1) * batch], k, versions[r].tolist())
                      for r, own in enumerate(algorithm)]
        elif replicates == 1:  # stochastic_grad per gradient: less overhead than stochastic_grads for one
            direction = algorithm.direction(points, samples)[None]
        else:
            direction = algorithm.estimator.directions(points, samples, len(rows) // replicates)
        for r, v in spills:
            self.spilled[r][v] = self._x[v % size, r].copy()
        self.version = k + 1
        if coordinates is not None:  # one Algorithm: shared memory refuses per-gradient steps and compensation
            gamma = algorithm.gamma(k)  # lockstep with different steps: a column of the replicates' (sim.run.lockstep)
            gammas = gamma[:, 0] if isinstance(gamma, np.ndarray) else [gamma] * replicates
            x_next = self._x[self.version % size]
            for r, written in enumerate(coordinates):
                x_next[r] = algorithm.write_step(self._x[k % size, r], direction[r], gammas[r], written)
            return
        if per_gradient:
            self._x[self.version % size] = x_next
            for r, own in enumerate(algorithm):
                if own.epoch is not None and self.version % own.epoch == 0:  # SVRG's next snapshot
                    own.advanced(self.version, x_next[r].copy())
            return
        algorithm.step(self._x[k % size], direction, algorithm.gamma(k), out=self._x[self.version % size])
        if algorithm.epoch is not None and self.version % algorithm.epoch == 0:  # SVRG's next snapshots
            x_next = self._x[self.version % size]
            algorithm.advanced(self.version, x_next[0].copy() if replicates == 1 else x_next)


def apply_schedules(runs: list[Run], schedules: list[Iterator[Block]], depth: int) -> list[int]:
    """Run replicates of one scenario, all at update 0, on their schedules (closed-form, sim/closed_form/con.py, or
    recorded, sim/recorded.py, whose blocks bring the idle time at each update: its runs are deferred): update k
    of every run still going is one Ring.step (a ring of `depth` iterates), recorded as Run.applied would record
    it. Returns the indices of the runs whose schedule met a Tie: those stopped where the Tie was found (their
    progress reported so far), for the SimPy engine to run again."""
    first = runs[0]
    every, K = first.metrics.every, first.iterations
    ring = Ring(first.objective.x0, len(runs), depth)
    active, tied = list(range(len(runs))), []
    current: dict[int, _Current] = {}  # run -> the block it is in
    while active:
        tying = []
        for i in [i for i in active if i not in current or current[i].left == 0]:
            try:
                current[i] = _Current(next(schedules[i]), depth)
            except Tie:
                tying.append(i)
        if tying:
            tied += tying
            ring.keep([r for r, i in enumerate(active) if i not in tying])
            active = [i for i in active if i not in tying]
            if not active:
                break
        n = min(current[i].left for i in active)
        parts = [current[i].rows(n) for i in active]
        versions = np.stack([p.versions for p in parts], 1)
        rows, patches, spills = ring.locate(versions), {}, {}
        for r, i in enumerate(active):
            current[i].plan(ring, r, n, patches, spills)
        samples = np.stack([p.samples for p in parts], 1).reshape(n, rows.shape[1], -1)
        t_apply = np.stack([p.t_apply for p in parts], 1)
        members = [runs[i] for i in active]
        own = first.algorithm.stale_step is not None or first.algorithm.compensation is not None
        algorithm = [run.algorithm for run in members] if own else lockstep(members)
        writes = parts[0].coordinates is not None  # shared memory (sim/closed_form/incon.py)
        plain = not writes and not own
        for j in range(n):
            if plain and not (patches or spills):  # the usual case: no read older than the ring in this chunk
                ring.step(algorithm, rows[j], samples[j])
            else:
                coordinates = [part.coordinates[j] for part in parts] if writes else None
                ring.step(algorithm, rows[j], samples[j], patches.get(j, ()), spills.get(j, ()), versions[j],
                          coordinates)
            k = ring.version
            if k % every == 0 or k == K:
                x = ring.current
                for r, i in enumerate(active):
                    runs[i].gradients = parts[r].consumed(j)
                    if parts[r].idle is not None:  # a recorded engine schedule's run: deferred (Run.updated)
                        runs[i].idle_at.append(float(parts[r].idle[j]))
                    runs[i].updated(k, x[r], float(t_apply[j, r]))
                if any(runs[i].done for i in active):
                    n = j + 1
                    break
        for i, part in zip(active, parts):
            runs[i].record_updates(_rows(part, 0, n))
            current[i].applied += n
        done = [r for r, i in enumerate(active) if runs[i].done]
        for r in done:
            runs[active[r]].settle(ring.current[r], ring.version)
            schedules[active[r]] = iter(())  # let a finished run's schedule go (a shared one, tee'd, stops keeping
            # its blocks for this run)
        if done:
            ring.keep([r for r in range(len(active)) if r not in done])
            active = [i for r, i in enumerate(active) if r not in done]
    return tied


class _Current:
    """A replicate's block in apply_schedules: the updates applied of it, and when reads outlive the ring.

    A version v that a read still holds when update v + depth - 1 puts x_{v + depth} in its place is spilled
    (Ring.spilled) just before: a read of the block consumed depth or more updates after v, or one waiting after
    the block. A read older than the ring takes its iterate from there, and the last read of a spilled version
    (none waiting after the block) releases it.
    """

    def __init__(self, block: Block, depth: int) -> None:
        self.block, self.applied = block, 0
        late = np.arange(block.first, block.first + len(block))[:, None] - block.versions >= depth
        self.late_rows, self.late_columns = np.nonzero(late)  # the reads older than the ring, by update
        held = np.unique(np.concatenate([block.versions[late], block.waiting]))
        due = held + depth - 1
        inside = (due >= block.first) & (due < block.first + len(block))
        self.spill_due, self.spill_versions = due[inside], held[inside]
        self.last_read: dict[int, int] = {}  # version -> position (update * M + m) of its last read in the block
        if len(self.late_rows):
            flat = block.versions.ravel()[::-1]
            versions, position = np.unique(flat, return_index=True)
            self.last_read = dict(zip(versions.tolist(), (len(flat) - 1 - position).tolist()))
        self.waiting = set(block.waiting.tolist())

    @property
    def left(self) -> int:
        return len(self.block) - self.applied

    def rows(self, count: int) -> Block:
        return _rows(self.block, self.applied, count)

    def plan(self, ring: Ring, replicate: int, n: int, patches: dict, spills: dict) -> None:
        """Add to Ring.step's patches and spills, by update j < n from ring.version, this replicate's."""
        versions, M = self.block.versions, self.block.versions.shape[1]
        lo, hi = np.searchsorted(self.late_rows, [self.applied, self.applied + n])
        for row, m in zip(self.late_rows[lo:hi].tolist(), self.late_columns[lo:hi].tolist()):
            v = int(versions[row, m])
            release = self.last_read[v] == row * M + m and v not in self.waiting
            patches.setdefault(row - self.applied, []).append((replicate * M + m, replicate, v, release))
        due = (self.spill_due >= ring.version) & (self.spill_due < ring.version + n)
        for j, v in zip((self.spill_due[due] - ring.version).tolist(), self.spill_versions[due].tolist()):
            spills.setdefault(j, []).append((replicate, v))


def _rows(block: Block, start: int, count: int) -> Block:
    """Updates block.first + start .. + count - 1 of a block (the same `waiting`), with the drops before them."""
    end = start + count
    dropped = block.dropped.between(block.first + start, block.first + end) if block.dropped is not None else None
    return Block(block.first + start, block.workers[start:end], block.versions[start:end], block.t_read[start:end],
                 block.t_apply[start:end], block.samples[start:end], block.waiting, dropped,
                 None if block.coordinates is None else block.coordinates[start:end],
                 None if block.idle is None else block.idle[start:end])
