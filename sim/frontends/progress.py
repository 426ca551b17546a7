"""The progress display of `asgd run` (updates), `asgd sweep` and `asgd check` (runs), on stderr."""

from __future__ import annotations

import math
import sys
import threading
import time


class Progress:
    """`done` of `total` units: a tqdm bar on a terminal, else a line each time a tenth more is done (nothing if
    quiet), each headed by `label`; with `count_failures` the lines and the bar also count failed units. While
    nothing is reported for HEARTBEAT seconds (a long run reports its position only at its recorded iterates), a
    line saying it is still running is printed, or the bar's clock refreshed."""

    HEARTBEAT = 5.0  # seconds

    def __init__(self, total: int, done: int = 0, *, label: str, unit: str = "run", quiet: bool = False,
                 count_failures: bool = False) -> None:
        self.total, self.done, self.first, self.failed = total, done, done, 0
        self.label, self.unit, self.quiet, self.count_failures = label, unit, quiet, count_failures
        self.started = time.perf_counter()
        self.every = max(1, math.ceil(total / 10))
        self.next_line = (done // self.every + 1) * self.every
        self.bar = None
        self.lock, self.stopped, self.shown = threading.Lock(), threading.Event(), self.started
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=done, unit=unit, desc=label, file=sys.stderr, mininterval=0.5,
                            leave=False)
        if not quiet:
            threading.Thread(target=self._heartbeat, daemon=True).start()

    def advance(self, count: int = 1, failed: bool = False) -> None:
        """`count` more units done (a failed one if `failed`)."""
        if count == 0:
            return
        with self.lock:
            self.done += count
            self.failed += failed
            if self.bar is not None:
                self.bar.update(count)
                if self.failed:
                    self.bar.set_postfix(failed=self.failed, refresh=False)
            elif not self.quiet and (self.done >= self.next_line or self.done == self.total):
                self.next_line = (self.done // self.every + 1) * self.every
                elapsed = time.perf_counter() - self.started
                left = elapsed / max(1, self.done - self.first) * (self.total - self.done)
                self._line(f"{elapsed:.0f} s elapsed, about {left:.0f} s left")

    def _line(self, tail: str) -> None:
        failures = f", {self.failed} failed" if self.count_failures else ""
        print(f"{self.label}: {self.done}/{self.total} {self.unit}s ({100 * self.done // self.total}%){failures}, {tail}",
              file=sys.stderr, flush=True)
        self.shown = time.perf_counter()

    def _heartbeat(self) -> None:
        """Every HEARTBEAT seconds without a report: a line that the work goes on (or the bar's clock refreshed)."""
        while not self.stopped.wait(self.HEARTBEAT):
            with self.lock:
                if self.stopped.is_set():
                    return
                if self.bar is not None:
                    self.bar.refresh()
                elif time.perf_counter() - self.shown >= self.HEARTBEAT:
                    self._line(f"{time.perf_counter() - self.started:.0f} s elapsed, still running")

    def advance_to(self, done: int) -> None:
        """`done` units done in all (a progress callback reporting a position, like simulate's)."""
        self.advance(done - self.done)

    def close(self) -> None:
        with self.lock:
            self.stopped.set()
            if self.bar is not None:
                self.bar.close()
