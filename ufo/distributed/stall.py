"""A watch over a Dask run's ranges: a worker that stops making progress is restarted.

Why: a worker that hangs (stopped with SIGSTOP, stuck in I/O on a dead NFS mount, a driver that
never returns) keeps its ranges for good. Dask notices a worker whose process is gone (its ranges
run again elsewhere) but not one that is alive and silent: `ufo reco --cluster local:2` with a
stopped worker stayed at 96 of 128 slices for 450 s and more, its progress bar saying "4 s left".

The ranges of one run are of one size and, on `local:N`, its workers alike (the only clusters
watched: a remote cluster's GPU and CPU workers finish ranges at paces ten times apart), so once
one has finished the watch knows how far apart ranges finish: when none has finished for
`max(UFO_CLUSTER_STALL_S (120 s), 4 x the longest interval so far)`, the workers holding the run's
unfinished ranges are restarted by their nannies (which end even a stopped process) and Dask runs
those ranges again; said once per worker, one restart per worker of the run at most. Before the
first range finishes nothing is known of a range's time, so nothing is restarted.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from typing import Any

STALL_S = 120.0  # seconds without a finished range, at least, before a worker counts as stalled


def stall_seconds() -> float:
    """The least silence taken for a stall: UFO_CLUSTER_STALL_S, else STALL_S."""
    try:
        return max(0.1, float(os.environ.get("UFO_CLUSTER_STALL_S", STALL_S)))
    except ValueError:
        return STALL_S


class StallWatch:
    """Started with a run's futures; `finished()` after each range; `close()` at the end."""

    def __init__(self, client: Any, labels: dict[str, str], least: float | None = None):
        self.client = client
        self.labels = labels  # the ranges' keys and what to call them ('16..31')
        self.pending = set(labels)
        self.least = stall_seconds() if least is None else least
        self.started = time.monotonic()
        self.last = self.started  # the latest range's end (or the run's start)
        self.longest = 0.0
        self.restarted: list[str] = []
        try:  # one restart a worker at most: ranges merely slow are not restarted for ever
            self.restarts_left = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
        except Exception:  # noqa: BLE001 - no count: one restart
            self.restarts_left = 1
        self._ranges = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="ufo:cluster-stall-watch", daemon=True)
        self._thread.start()

    def finished(self, key: str) -> None:
        now = time.monotonic()
        with self._lock:
            self.pending.discard(key)
            self.longest = max(self.longest, now - self.last if self._ranges else now - self.started)
            self.last, self._ranges = now, self._ranges + 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def limit(self) -> float | None:
        """Seconds of silence taken for a stall now; None before the first range finished."""
        with self._lock:
            return max(self.least, 4 * self.longest) if self._ranges else None

    def _watch(self) -> None:
        while not self._stop.wait(min(5.0, self.least / 2)):
            limit = self.limit()
            if limit is None or time.monotonic() - self.last < limit:
                continue
            with self._lock:
                pending = set(self.pending)
            try:
                held = {worker: [k for k in keys if k in pending]
                        for worker, keys in self.client.processing().items()}
            except Exception:  # noqa: BLE001 - the scheduler is gone: the run's own error says so
                return
            stalled = [worker for worker, keys in held.items() if keys][:self.restarts_left]
            if not stalled:
                continue
            self.restarts_left -= len(stalled)
            silent = time.monotonic() - self.last
            for worker in stalled:
                ranges = ", ".join(self.labels.get(k, k) for k in held[worker])
                warnings.warn(f"Dask worker {worker} finished no range for {silent:.0f} s (ranges finished "
                              f"{self.longest:.0f} s apart at most before; stopped or hung?): restarting it, its "
                              f"ranges ({ranges}) run again", RuntimeWarning, stacklevel=1)
            try:
                self.client.restart_workers(stalled, timeout=60, raise_for_error=False)
            except Exception as exc:  # noqa: BLE001 - workers without a nanny cannot be restarted: said
                warnings.warn(f"could not restart Dask worker(s) {', '.join(stalled)}: {exc}; stop them (their "
                              "ranges then run elsewhere) or Ctrl-C the run", RuntimeWarning, stacklevel=1)
            self.restarted += stalled
            self.last = time.monotonic()  # the ranges run again from now
