"""Processes waiting for an update, resumed in the order SimPy would resume them, but only those that may go on.

The plain way for processes to wait for "the next update" is one shared event per update (a generation): each
waiter yields it; when SimPy processes it, every waiter in turn is resumed, checks its condition (a read may start,
its write has been applied) and either goes on or yields the next generation's event, joining the end of its list.
With W waiting workers that is W resumptions per update.

Here a generation keeps its waiters in a deque, and its event has one callback, `_wake`, which walks the deque in
order: a waiter that would go on is resumed on the spot (the same instant, the same order, within the processing of
the same event), and the others move to the end of the open generation, exactly where re-yielding would have put
them. A waiter's condition is either `admissible()` (the same for every waiter, and changed only by a waiter that
goes on), or also that its read is done, or none (`ALWAYS`). So once `admissible()` is false and no `ALWAYS` waiter is
left, the rest of the deque moves as a whole (the smaller deque is prepended to or appended to the larger). The
generation events are created and fired at the same moments as the shared events were, so SimPy's queue, and every
tie in it, is unchanged: runs are bit for bit those of the plain way (tests/wait_oracle.py keeps it as the oracle).

Resuming a waiter on the spot does what SimPy's Environment.step does to a processed event (mark it succeeded, call
its callbacks) without going through the event queue. It relies on simpy 4's Event internals (`_ok`, `_value`), so
pyproject.toml pins simpy to 4.x.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import simpy

ALWAYS = object()  # a waiter resumed at the next update whatever the state (ParameterServer.next_update)


class _Generation:
    """The waiters of one update's event, in the order SimPy would resume them; `always` counts the ALWAYS ones."""

    __slots__ = ("event", "waiting", "always")

    def __init__(self, env: simpy.Environment, wake: Callable[[_Generation], None]) -> None:
        self.event = env.event()
        self.event.callbacks.append(lambda _: wake(self))
        self.waiting: deque[tuple[simpy.Event, object]] = deque()
        self.always = 0


class Waiters:
    """The processes waiting for an update. `admissible()`: a waiting read may start now."""

    def __init__(self, env: simpy.Environment, admissible: Callable[[], bool]) -> None:
        self.env = env
        self._admissible = admissible
        self._open: _Generation | None = None  # the generation the next update fires

    def wait(self, condition: object = None) -> simpy.Event:
        """An event to yield: resumed at an update after which `admissible()` holds at its turn (condition None), and
        its read `condition` is done (a read), or at the next update (ALWAYS)."""
        generation = self._generation()
        event = self.env.event()
        generation.waiting.append((event, condition))
        generation.always += condition is ALWAYS
        return event

    def updated(self) -> None:
        """An update has been applied: the open generation's event fires (is scheduled, as SimPy's succeed does)."""
        if self._open is not None:
            self._open.event.succeed()
            self._open = None

    def _generation(self) -> _Generation:
        if self._open is None:
            self._open = _Generation(self.env, self._wake)
        return self._open

    def _wake(self, generation: _Generation) -> None:
        """Generation's event is processed: resume, in order, the waiters that go on; the others wait again."""
        waiting, admissible = generation.waiting, self._admissible
        while waiting:
            if not generation.always and not admissible():  # no waiter left can go on: all wait again, in order
                self._join(waiting)
                return
            event, condition = item = waiting.popleft()
            if condition is ALWAYS:
                generation.always -= 1
                _resume(event)
            elif (condition is None or condition.done) and admissible():
                _resume(event)
            else:
                self._generation().waiting.append(item)

    def _join(self, waiting: deque) -> None:
        """Waiters (none ALWAYS) go to the end of the open generation, in their order."""
        generation = self._generation()
        if len(generation.waiting) < len(waiting):
            waiting.extendleft(reversed(generation.waiting))
            generation.waiting = waiting
        else:
            generation.waiting.extend(waiting)


def _resume(event: simpy.Event) -> None:
    """Process `event` now, as Environment.step would (succeeded, value None): its waiting process goes on."""
    event._ok, event._value = True, None
    callbacks, event.callbacks = event.callbacks, None
    for callback in callbacks:
        callback(event)
