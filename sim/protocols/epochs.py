"""SVRG's epochs on a protocol (SimPy): each epoch begins with a snapshot round, then runs `epoch` updates.

Snapshot round: the workers compute the exact full gradient at the snapshot x~ (the current iterate) together; no
read is admitted meanwhile. Its simulated time is the cost model `full_pass_time`. The math itself is exact and
happens in the estimator (models/updates/estimators.SVRG), which keeps x~ = x_{k - k mod epoch}.

Inner updates: the gate admits reads for exactly epoch * M gradients per epoch (a dropped or lost gradient gives its
place back), so every gradient of the epoch's updates is read after its snapshot round and no read outlives its epoch:
the epochs drain. An inner gradient costs two evaluations of G (workers.RepeatedClock: two compute draws).

`EpochGate` stands between the ParameterServer (sim/protocols/con.py) and the run (a Run, or AsySG-incon's
SharedMemory), whose interface it forwards; `Admission` stands between the workers and the server, adding the gate to
the server's own admission. ParameterServer itself is unchanged.
"""

from __future__ import annotations

import math

import simpy

from scenarios.types import WorkerTiming
from sim.recording import WorkTally


def full_pass_time(timings: tuple[WorkerTiming, ...], samples: int, minibatch: int) -> float:
    """The simulated time of a full pass: the n sample gradients split evenly among the W workers (ceil(n / W)
    each), one sample gradient costing 1 / minibatch of a worker's expected compute time per stochastic gradient
    (stragglers included: mean * (1 + p (slowdown - 1))); the round ends when the slowest worker is done. An
    expected-time model: it draws nothing, so the workers' streams are those of the inner gradients only."""
    share = math.ceil(samples / len(timings))
    return max(share * t.compute.mean * (1.0 + t.straggler_probability * (t.straggler_slowdown - 1.0)) / minibatch
               for t in timings)


class EpochGate:
    """The run as the ParameterServer sees it, with SVRG's epochs: `gradients_per_read` gradients per read (1 on a
    parameter server, M for a shared-memory read), `epoch` updates of `batch` gradients per epoch."""

    def __init__(self, env: simpy.Environment, run, epoch: int, batch: int, gradients_per_read: int,
                 snapshot_time: float, work: WorkTally) -> None:
        self.env, self.run, self.work = env, run, work
        self.epoch, self.capacity = epoch, epoch * batch
        self.per_read = gradients_per_read
        self.snapshot_time = snapshot_time
        self.admitted = 0       # gradients read this epoch, less those dropped
        self.open = False
        self._changed: simpy.Event | None = None
        self._snapshot()

    @property
    def finished(self) -> bool:
        return self.run.finished

    @property
    def scheduled(self) -> int:
        return self.run.scheduled

    def can_read(self) -> bool:
        return self.open and self.admitted < self.capacity

    def changed(self) -> simpy.Event:
        """An event that fires when the gate may admit again (an epoch opens, or a dropped gradient's place frees)."""
        if self._changed is None:
            self._changed = self.env.event()
        return self._changed

    def read(self, worker: int, now: float, samples):
        self.admitted += self.per_read
        return self.run.read(worker, now, samples)

    def apply(self, reads: list, now: float) -> None:
        self.run.apply(reads, now)
        if self.run.scheduled % self.epoch == 0 and not self.run.finished:
            self._snapshot()

    def drop(self, read, staleness: int, now: float) -> None:
        self.run.drop(read, staleness, now)
        self.admitted -= self.per_read
        self._fire()

    def lose(self, read) -> None:
        """A gradient that never arrived (sim/cluster/failures.py) gives its place back, like a drop."""
        self.run.lose(read)
        self.admitted -= self.per_read
        self._fire()

    def _snapshot(self) -> None:
        """Close the gate for a snapshot round, and open the next epoch when it ends."""
        self.open, self.admitted = False, 0
        self.work.everyone(self.env.now, self.snapshot_time)
        self.env.timeout(self.snapshot_time).callbacks.append(self._open)

    def _open(self, _event) -> None:
        self.open = True
        self._fire()

    def _fire(self) -> None:
        if self._changed is not None:
            event, self._changed = self._changed, None
            event.succeed()


class Admission:
    """The server as the workers see it: a read waits for both the gate and the server's own policy."""

    wait = True

    def __init__(self, server, gate: EpochGate) -> None:
        self.server, self.gate = server, gate
        self.read, self.push, self.version_rose, self.lose = server.read, server.push, server.version_rose, server.lose

    def can_read(self) -> bool:
        return self.gate.can_read() and (not self.server.wait or self.server.can_read())

    def admission(self, after=None) -> simpy.Event:
        """The next update or the gate's next change, whichever comes first: a waiting read needs both to go, a
        write held back by policy "wait" (`after`, its read) only the update; the caller checks again."""
        return self.server.env.any_of([self.gate.changed(), self.server.next_update()])
