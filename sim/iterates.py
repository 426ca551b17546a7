"""The iterates that outstanding reads still need, and nothing more (no SimPy here).

A read of version v holds x_v until its gradient is applied or dropped: at most one version per outstanding read
plus x_k, and with policy "wait" at most T + 1 (x_{k-T} .. x_k). Memory grows with the number of updates K only
when the server's queue of outstanding gradients does (an overloaded server without a bound). An AsySG-incon read holds every version that was current while
it read, x_first .. x_{first + len(landed_at)}: with a bound T, at most T + 1 + (the most updates landing during one
read) versions are held.
"""

from __future__ import annotations

import numpy as np

from models.updates import coordinate_step, sgd_step, summed_gradient, summed_gradients


class IterateStore:
    """x_k plus every older x_v with holds > 0; a reference-counted window over the iterate history."""

    def __init__(self, x0: np.ndarray, version: int = 0) -> None:
        """A store whose current iterate is x_version = x0."""
        self.version = version
        self.current = np.array(x0, dtype=np.float64)
        self._kept: dict[int, np.ndarray] = {version: self.current}
        self._holds: dict[int, int] = {version: 0}

    def hold(self, version: int, count: int = 1) -> int:
        """Keep x_version for `count` more reads; returns `version`. A version not computed yet may be held (batched
        replicates: the engine schedules ahead of the math), and is then kept when it is computed."""
        self._holds[version] = self._holds.get(version, 0) + count
        return version

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
        self._holds.setdefault(self.version, 0)

    def __len__(self) -> int:
        return len(self._kept)


def apply_con_update(store: IterateStore, objective, versions: list[int], samples: list[np.ndarray], gamma: float) -> None:
    """AsySG-con: x_{k+1} = x_k - gamma * sum_m G(x_{versions[m]}; samples[m]); releases the reads and advances."""
    points = [store.get(v) for v in versions]
    x_next = sgd_step(store.current, summed_gradient(objective, points, samples), gamma)
    for v in versions:
        store.release(v)
    store.advance(x_next)


def apply_con_updates(stores: list[IterateStore], objective, versions: list[int], samples: list[np.ndarray],
                      gamma: float) -> None:
    """apply_con_update on R stores at the same version k (batched replicates): `versions` and `samples` hold the M
    gradients of each store in turn (R * M entries). The gradients are evaluated as one batch
    (objective.stochastic_grads), then summed and stepped row-wise in apply_con_update's order: each store's
    x_{k+1} is bitwise what apply_con_update would give it."""
    batch = len(versions) // len(stores)
    if len(stores) == 1:
        apply_con_update(stores[0], objective, versions, samples, gamma)
        return
    points = np.array([stores[i // batch].get(v) for i, v in enumerate(versions)], dtype=np.float64)
    direction = summed_gradients(objective, points, np.array(samples, dtype=np.int64), batch)
    x_next = sgd_step(np.array([store.current for store in stores], dtype=np.float64), direction, gamma)
    for i, (store, x) in enumerate(zip(stores, x_next)):
        for v in versions[i * batch:(i + 1) * batch]:
            store.release(v)
        store.advance(x)


class Ring:
    """x_{k-S+1} .. x_k of R replicates at one version k in an (S, R, d) array, x_v of replicate r at [v % S, r],
    and per replicate the older iterates that outstanding reads still hold, spilled from the ring before it
    overwrites them: what the reads of closed-form schedules (sim/schedule.py) need, S iterates and the held ones."""

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

    def step(self, objective, rows: np.ndarray, samples: np.ndarray, gamma: float, patches=(), spills=()) -> None:
        """AsySG-con update k of each replicate r: x_{k+1} = x_k - gamma * sum_m G(x_{v_{r,m}}; samples[r * M + m]),
        the x_v at rows (R * M,) from `locate`, but for `patches`, (row index, replicate, version, release) of reads
        older than the ring, whose spilled iterate the last read releases; `spills`: the (replicate, version =
        k + 1 - S) whose iterate a read still holds, spilled before x_{k+1} takes its place. Each x_{k+1} is
        apply_con_update's, bit for bit."""
        size, replicates, dim = self._x.shape
        points = self._x.reshape(size * replicates, dim)[rows]
        for index, r, v, release in patches:
            points[index] = self.spilled[r].pop(v) if release else self.spilled[r][v]
        if replicates == 1:  # stochastic_grad per gradient: less overhead than stochastic_grads for one
            direction = summed_gradient(objective, points, samples)[None]
        else:
            direction = summed_gradients(objective, points, samples, len(rows) // replicates)
        for r, v in spills:
            self.spilled[r][v] = self._x[v % size, r].copy()
        k, self.version = self.version, self.version + 1
        sgd_step(self._x[k % size], direction, gamma, out=self._x[self.version % size])


def torn_read(store: IterateStore, first: int, landed_at) -> np.ndarray:
    """AsySG-incon's inconsistent read xhat: coordinate i is x_{first + #{n : landed_at[n] <= i}}[i].

    The read began at x_first and update first + n landed when landed_at[n] coordinates (0 .. landed_at[n] - 1) had
    been read: the read saw it on the coordinates from landed_at[n] on. Values are copied, never recomputed, so xhat
    is x_k with every write the read missed undone, x_k - sum_{j in J(k)} (x_{j+1} - x_j), bit for bit.
    """
    if len(landed_at) == 0:
        return store.get(first)
    bounds = [0, *landed_at, len(store.current)]
    return np.concatenate([store.get(first + n)[bounds[n]:bounds[n + 1]] for n in range(len(bounds) - 1)])


def release_read(store: IterateStore, first: int, landed: int) -> None:
    """An AsySG-incon read that began at x_first and saw `landed` updates land is done with x_first .. x_{first+landed}."""
    for version in range(first, first + landed + 1):
        store.release(version)


def apply_incon_update(store: IterateStore, objective, first: int, landed_at, samples: list[np.ndarray],
                       coordinates: np.ndarray, gamma: float) -> None:
    """AsySG-incon: x_{k+1} = x_k - gamma * [sum_m G(xhat; samples[m])]_S, xhat = torn_read(store, first, landed_at),
    S = `coordinates`; releases the read and advances."""
    point = torn_read(store, first, landed_at)
    direction = summed_gradient(objective, [point] * len(samples), samples)
    x_next = coordinate_step(store.current, direction, gamma, coordinates)
    release_read(store, first, len(landed_at))
    store.advance(x_next)
