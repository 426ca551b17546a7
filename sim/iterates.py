"""The iterates that outstanding reads still need, and nothing more (no SimPy here).

A read of version v holds x_v until its gradient is applied or dropped: at most one version per outstanding read
plus x_k, and with policy "wait" at most T + 1 (x_{k-T} .. x_k). Memory grows with the number of updates K only
when the server's queue of outstanding gradients does (an overloaded server without a bound). An AsySG-incon read holds every version that was current while
it read, x_first .. x_{first + len(landed_at)}: with a bound T, at most T + 1 + (the most updates landing during one
read) versions are held.
"""

from __future__ import annotations

import numpy as np

from models.updates import Algorithm


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


def apply_con_update(store: IterateStore, algorithm: Algorithm, versions: list[int], samples: list[np.ndarray]) -> None:
    """Update k = store.version of a parameter server (AsySG-con, sync): x_{k+1} from x_k and the gradients at
    x_{versions[m]} with samples[m] (algorithm.update: for plain SGD x_k - gamma_k * sum_m G(x_{versions[m]};
    samples[m])); releases the reads and advances."""
    k = store.version
    x_next = algorithm.update(store.current, [store.get(v) for v in versions], samples, k, versions)
    for v in versions:
        store.release(v)
    store.advance(x_next)
    algorithm.advanced(k + 1, x_next)


def apply_con_updates(stores: list[IterateStore], algorithm: Algorithm, versions: list[int],
                      samples: list[np.ndarray]) -> None:
    """apply_con_update on R stores at the same version k (batched replicates of a stateless algorithm): `versions`
    and `samples` hold the M gradients of each store in turn (R * M entries). The gradients are evaluated as one
    batch (objective.stochastic_grads), then summed and stepped row-wise in apply_con_update's order: each store's
    x_{k+1} is bitwise what apply_con_update would give it."""
    batch = len(versions) // len(stores)
    if len(stores) == 1 or algorithm.stale_step is not None:  # staleness-dependent steps differ between replicates
        for i, store in enumerate(stores):
            apply_con_update(store, algorithm, versions[i * batch:(i + 1) * batch], samples[i * batch:(i + 1) * batch])
        return
    points = np.array([stores[i // batch].get(v) for i, v in enumerate(versions)], dtype=np.float64)
    x_next = algorithm.updates(np.array([store.current for store in stores], dtype=np.float64), points,
                               np.array(samples, dtype=np.int64), batch, stores[0].version)
    for i, (store, x) in enumerate(zip(stores, x_next)):
        for v in versions[i * batch:(i + 1) * batch]:
            store.release(v)
        store.advance(x)


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


def apply_incon_update(store: IterateStore, algorithm: Algorithm, first: int, landed_at, samples: list[np.ndarray],
                       coordinates: np.ndarray) -> None:
    """A shared-memory write (AsySG-incon, SAPALM): x_{k+1} = algorithm.write of the M gradients at xhat =
    torn_read(store, first, landed_at) on the coordinates S = `coordinates` (plain: x_k - gamma_k [sum_m G(xhat;
    samples[m])]_S); releases the read and advances."""
    k = store.version
    point = torn_read(store, first, landed_at)
    x_next = algorithm.write(store.current, [point] * len(samples), samples, coordinates, k)
    release_read(store, first, len(landed_at))
    store.advance(x_next)
    algorithm.advanced(k + 1, x_next)
