"""Given rows of every frame (darks, flats, projections), read before a resident run's first pass:
the 8/16-bit scale's sample rows and --axis auto's middle row (ufo.reco.resident_sample).

Why: both must be known before the first pass's slices are written, and they lie spread over
the whole scan (8 rows of 1064 frames of a 1024^3 scan: 8512 pages far apart). Each row of each
frame is one positioned read of its bytes, from a few threads that together go through the file
in order (the kernel's queue stays full): 0.10-0.13 s for those 8 rows from a dropped page cache
on the H200 host (0.28-0.31 s from one thread), 35 MB into the page cache. The reads run before
the first pass's frames go into the engine: beside them each read waited for the GIL behind the
engine's thread (1.5-2.0 s), and through the source's `read` its read-ahead advice for the next
frames, repeated by every thread, took 0.6-0.8 s (2026-12-04, docs/benchmarks.md). Inputs
whose bytes cannot be located (compressed HDF5, TIFF) are read frame by frame through `read`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..core.errors import Cancelled
from ..tomo.timing import StageTimes
from .planning import Plan
from .resident_reader import Sources, inputs

#: positioned reads in flight (8 rows of 1064 frames from a dropped page cache, H200 host:
#: 0.10-0.13 s from 8 threads, 0.10-0.12 s from 32, 0.28-0.31 s from one)
THREADS = 8


class RowsRead:
    """Rows `rows` of every frame of the run's inputs, read in a thread from `sources` as soon as
    it is made; `frames` holds (image_key, frames x rows x width) per input once `wait()` returns;
    `times` gets the mark `mark` when they are read. `close()` stops the reading."""

    def __init__(self, plan: Plan, sources: Sources, rows: list[int], times: StageTimes, mark: str,
                 stop: threading.Event | None = None):
        self.plan, self.sources, self.rows_read = plan, sources, list(rows)
        self.times, self.mark = times, mark
        self.cancelled = stop or threading.Event()  # the run's
        self.closed = threading.Event()
        self.frames: list[tuple[int, np.ndarray]] = []
        self.error: BaseException | None = None
        self.seconds = 0.0  # the read's
        self.thread = threading.Thread(target=self._read, name="ufo:reco-rows", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        t0 = time.perf_counter()
        try:
            for path, key, kind, number in inputs(self.plan):
                source = self.sources.get(path, key)
                count = source.count if number is None else min(number, source.count)
                out = np.empty((count, len(self.rows_read), self.plan.width), source.dtype)
                ranges = [getattr(source, "byte_ranges", lambda *_: None)(slice(row, row + 1), count)
                          for row in self.rows_read]
                if any(found is None for found in ranges):  # compressed, TIFF: frame by frame
                    self._threads(lambda i, source=source, out=out: self._by_frame(source, i, out), count)
                else:
                    self._by_range(ranges, out, source)
                self.frames.append((kind, out))
        except BaseException as exc:  # noqa: BLE001 - raised by wait()
            self.error = exc
        self.seconds = time.perf_counter() - t0
        self.times.mark(self.mark)

    def _check(self) -> None:
        if self.cancelled.is_set() or self.closed.is_set():
            raise Cancelled("the reconstruction was stopped")

    def _threads(self, read: Callable[[int], None], count: int) -> None:
        """`read(i)` for i in 0..count-1 from THREADS threads, each taking every THREADS-th, so that
        together they go through the file in order (the kernel's queue stays full)."""

        def part(first: int) -> None:
            for i in range(first, count, THREADS):
                self._check()
                read(i)

        with ThreadPoolExecutor(THREADS, thread_name_prefix="ufo:reco-sample") as pool:
            list(pool.map(part, range(THREADS)))

    def _by_frame(self, source: Any, index: int, out: np.ndarray) -> None:
        for k, row in enumerate(self.rows_read):
            out[index, k] = np.asarray(source.read(index, slice(row, row + 1), out[index, k: k + 1]))[0]

    def _by_range(self, ranges: list[list[tuple[str, int, int]]], out: np.ndarray, source: Any) -> None:
        """Each sample row of each frame with one positioned read of its bytes (no read-ahead advice:
        a frame's eight rows are eight pages far apart), from a descriptor of our own per file."""
        fds: dict[str, int] = {}
        try:
            for found in ranges:
                for name, _, _ in found:
                    if name not in fds:
                        fds[name] = os.open(name, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))

            def read(i: int) -> None:
                for k, found in enumerate(ranges):
                    name, offset, length = found[i]
                    target = memoryview(out[i, k]).cast("B")
                    if length != len(target) or os.preadv(fds[name], [target], offset) != length:
                        self._by_frame(source, i, out)  # a short read (a file cut meanwhile): its own words
                        return

            self._threads(read, len(out))
        finally:
            for fd in fds.values():
                os.close(fd)

    def wait(self) -> None:
        """Until the rows are read; the reading's error, if it failed."""
        self.thread.join()
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self.closed.set()
        self.thread.join()
