"""The 8/16-bit scale of a resident run in passes, from its sample rows read before the first pass.

Why: one scale for the whole volume comes from a sample of slices spread over it
(`outputs.sample_passes`: up to 8 rows, top to bottom), and it must be known before the first
pass's slices are written. The sinogram path reconstructs that sample through a graph before
anything else, a second read that from a cold disk brings in nearly the whole scan (the kernel
reads ahead around each row): 1.7 s at 1024^3 on the H200 host. So 8/16-bit output without
--output-min/--output-max ran in one pass, its write after the whole read: 2.6-2.9 s through the
server against 2.3 s for float32 in passes, and 2.0 s for 16-bit in passes with the scale given
(2026-12-04, docs/benchmarks.md). Here the sample rows of every frame (8 rows of 1064 frames,
35 MB) are read first, each row of each frame with one positioned read of its bytes from a few
threads, before the first pass's frames go into the engine (the early reader reads on meanwhile):
0.19-0.21 s after the job started there. Read beside the first pass's frames, each read waited
for the GIL behind the engine's thread (the scale found 1.5-2.0 s after the start); through the
source's `read`, its read-ahead advice for the next frames, repeated by every thread, took
0.6-0.8 s. An engine of their own reconstructs the rows in the thread that starts the writer,
while the first pass is fed: the scale was found 0.51-0.61 s after the start, before the first
pass's slices (0.7 s), and 16-bit output took 1.91-1.95 s against 1.93-1.97 s for float32.
The rows are those `with_volume_scale` takes from a finished volume, so one pass and passes
store the same integers.
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
from .outputs import sample_passes, with_sample_scale
from .planning import Plan, scan_angles
from .resident_reader import Sources, inputs

#: positioned reads in flight (8 rows of 1064 frames from a dropped page cache, H200 host:
#: 0.10-0.13 s from 8 threads, 0.10-0.12 s from 32, 0.28-0.31 s from one)
THREADS = 8


class SampleScale:
    """The sample rows of every frame (darks, flats, projections), read in a thread from `sources`
    as soon as it is made; `scaled(...)` waits for them, reconstructs them and returns the plan
    with its scale. `close()` stops the reading (a cancelled run)."""

    def __init__(self, plan: Plan, sources: Sources, times: StageTimes, stop: threading.Event | None = None):
        self.plan, self.sources = plan, sources
        found = sample_passes(plan)
        if len(found) != 1:  # rows read with a margin (phase retrieval): not on the resident path
            raise ValueError("the resident path samples rows without a margin")
        p = found[0]
        self.rows_read = list(range(p.first_row, p.first_row + p.rows * p.step, p.step))
        self.step = p.step
        self.times = times
        self.cancelled = stop or threading.Event()  # the run's
        self.closed = threading.Event()
        self.frames: list[tuple[int, list[np.ndarray]]] = []  # (image_key, that input's frames' sample rows)
        self.error: BaseException | None = None
        self.seconds = 0.0  # the read's
        self.thread = threading.Thread(target=self._read, name="ufo:reco-sample", daemon=True)
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
                self.frames.append((kind, list(out)))
        except BaseException as exc:  # noqa: BLE001 - raised by scaled()
            self.error = exc
        self.seconds = time.perf_counter() - t0
        self.times.mark("scale sample read")

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
        rows = slice(self.rows_read[0], self.rows_read[-1] + 1, self.step)
        out[index] = np.asarray(source.read(index, rows, out[index]))

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

    def wait_read(self) -> None:
        """Until the sample rows are read (or the reading failed: `scaled` raises its error)."""
        self.thread.join()

    def scaled(self, engine: Callable[[], Any]) -> Plan:
        """The plan with --output-min/--output-max from the sample's slices, reconstructed by
        `engine()` (a StreamingReconstructor of the run's options, on its device)."""
        self.thread.join()
        if self.error is not None:
            raise self.error
        t0 = time.perf_counter()
        angles = scan_angles(self.plan)
        made = engine()
        for kind, frames in self.frames:
            for index, frame in enumerate(frames):
                made.add(frame, {"image_key": kind, **({"angle": float(angles[index])} if kind == 0 else {})})
        try:
            slices = made.finish()
        except ValueError as exc:  # no flats, an angle that is not finite: the pass's reader says it too
            from ..core.errors import InputError

            raise InputError(f"{self.plan.options.projections}: {exc}") from exc
        self.frames = []
        self.times.add("scale sample", self.seconds + time.perf_counter() - t0)
        self.times.mark("scale found")
        return with_sample_scale(self.plan, list(slices))

    def close(self) -> None:
        self.closed.set()
        self.thread.join()
