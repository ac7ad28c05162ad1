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


class StageTimes:
    """Seconds per stage name (summed over threads: CPU seconds, not wall time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: dict[str, float] = {}

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
