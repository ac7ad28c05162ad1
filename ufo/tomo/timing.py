"""Seconds spent per named stage of a computation, added from any thread.

Why: a node's busy time (ufo.core.handle.NodeStats) cannot tell the steps inside one task
apart; `ufo reco --profile` wants the filter and the back-projection of the backproject task
separately. The task adds into a `StageTimes` it is handed; its replicas share the object.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar


#: perf_counter() when the command started, where that is not when this process started: a job of
#: the warm reconstruction server (`ufo reco --on-server --profile` counted from the server's start)
COMMAND_STARTED: ContextVar[float | None] = ContextVar("ufo_command_started", default=None)


def process_age() -> float | None:
    """Seconds since this process started (Linux's /proc; None elsewhere): the timeline of
    `ufo reco --profile` counts from the command's start, interpreter and imports included."""
    import os

    try:
        with open("/proc/self/stat") as f:
            started = int(f.read().rpartition(")")[2].split()[19])  # field 22: start time, clock ticks after boot
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - started / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


class StageTimes:
    """Seconds per stage name (summed over threads: CPU seconds, not wall time), and the moments
    events happened (`mark`: when the last frame was read, the first slice written, ...), which
    tell what overlapped and what waited for what."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: dict[str, float] = {}
        self.marks: dict[str, float] = {}  # event -> time.perf_counter() when it (first) happened

    def mark(self, event: str, at: float | None = None) -> None:
        """Note that `event` happened now (or at perf_counter time `at`); the first note counts."""
        with self._lock:
            self.marks.setdefault(event, time.perf_counter() if at is None else at)

    def timeline(self) -> list[tuple[str, float]]:
        """(event, seconds since the command started: its process's start, or `COMMAND_STARTED`) in
        time order; since the first event where neither is known."""
        with self._lock:
            marks = sorted(self.marks.items(), key=lambda item: item[1])
        if not marks:
            return []
        started = COMMAND_STARTED.get()
        age = process_age() if started is None else None
        zero = started if started is not None else time.perf_counter() - age if age is not None else marks[0][1]
        return [(event, at - zero) for event, at in marks]

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    @contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        """Add the time the `with` block takes to `stage` (also when it raises)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - t0)

    def get(self, stage: str) -> float:
        with self._lock:
            return self.seconds.get(stage, 0.0)
