"""Threads that write whole frames at their file offsets, several at once, and count the whole ones.

Why: one thread copies into the page cache at 3-4 GB/s (1024 slices of 1024^2 float32, 4.29 GB,
in 1.2-1.5 s on the H200 host, `ufo reco`'s pace once reading and reconstructing overlap it),
and `os.pwrite` copies without the GIL, so a few threads write at the memory's pace (4 MiB
calls from 1, 2, 4 threads: 1.41, 1.22, 0.99 s for 4.29 GB, benchmarks/band_reads.py).

Frames finish out of order; `whole` is the number of frames 0..whole-1 that are all written, and
`on_whole(n)` is called (under a lock, so its values never go back) as it grows: the HDF5
volume's frame count on disk. A caller may reuse a frame's memory only once `whole` passed it.
An error (a full disk) stops the pool: every later call raises it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence

Piece = tuple[memoryview, int]  # bytes, file offset
THREADS = 4  # a writer's threads (the fastest count in the measurement above)


class PwritePool:
    """`threads` threads writing pieces with `write(fd, view, offset)` (a whole-buffer pwrite);
    at most `depth` frames submitted and not yet written."""

    def __init__(self, fd: int, write: Callable[[int, memoryview, int], None], threads: int = THREADS,
                 depth: int | None = None, on_whole: Callable[[int], None] | None = None):
        self.fd, self._write, self._on_whole = fd, write, on_whole
        self.depth = depth or 2 * threads
        self.whole = 0  # frames 0..whole-1 written
        self.submitted = 0
        self.error: BaseException | None = None
        self._done: set[int] = set()
        self._jobs: deque[tuple[int, Sequence[Piece]] | None] = deque()
        self._lock = threading.Condition()
        self._threads = [threading.Thread(target=self._run, name=f"ufo:pwrite#{k}", daemon=True)
                         for k in range(threads)]
        for thread in self._threads:
            thread.start()

    def submit(self, pieces: Sequence[Piece]) -> int:
        """Frame number `submitted` (its pieces written in any order); waits while `depth` frames
        are in flight; raises the pool's error."""
        with self._lock:
            while self.error is None and self.submitted - self.whole >= self.depth:
                self._lock.wait()
            if self.error is not None:
                raise self.error
            index = self.submitted
            self.submitted += 1
            self._jobs.append((index, pieces))
            self._lock.notify_all()
        return index

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._jobs:
                    self._lock.wait()
                job = self._jobs.popleft()
            if job is None:
                return
            index, pieces = job
            try:
                if self.error is None:
                    for view, offset in pieces:
                        self._write(self.fd, view, offset)
            except BaseException as exc:  # noqa: BLE001 - raised by the next submit or wait
                with self._lock:
                    self.error = self.error or exc
                    self._lock.notify_all()
                continue
            with self._lock:
                self._done.add(index)
                whole = self.whole
                while whole in self._done:
                    self._done.discard(whole)
                    whole += 1
                if whole != self.whole and self.error is None:
                    try:
                        if self._on_whole is not None:
                            self._on_whole(whole)
                    except BaseException as exc:  # noqa: BLE001
                        self.error = exc
                    self.whole = whole
                self._lock.notify_all()

    def wait(self, until: int | None = None) -> None:
        """Until frames 0..until-1 (all submitted ones by default) are written; raises the pool's error."""
        target = self.submitted if until is None else until
        with self._lock:
            while self.error is None and self.whole < target:
                self._lock.wait()
            if self.error is not None:
                raise self.error

    def close(self) -> None:
        """Ends the threads once the frames submitted are written (or failed); does not raise."""
        with self._lock:
            self._jobs.extend([None] * len(self._threads))
            self._lock.notify_all()
        for thread in self._threads:
            thread.join()
