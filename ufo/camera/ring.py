"""The ring buffer of buffered acquisition: frames wait here until grabbed, and are never overwritten.

When every slot holds an unread frame, a new frame is dropped and counted, not written over
an old one: the frame numbers of what is grabbed show the gap, and `dropped` says how many
(`last_dropped`: the number of the latest one). A clocked camera also drops here the frames
whose time passed while its producer was too far behind (see the `max_lag` property).
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

import numpy as np

from ..core.errors import ctrl_c_kept
from .errors import CameraError, FrameTimeout


class RingBuffer:
    def __init__(self, slots: int, shape: tuple[int, ...], dtype: Any):
        if slots < 1:
            raise CameraError("a ring buffer needs at least one slot (num-buffers >= 1)")
        #: a slot's array is made when a frame first goes there and handed on to the next free slot once
        #: read: the memory follows the frames unread at most, not the slots (a continuous scan's ring of
        #: one slot a projection held 2.5 GB for 300 frames of 2048^2, 33 GB for a pco.edge scan)
        self.buffers: list[np.ndarray | None] = [None] * slots
        self._shape, self._dtype = shape, dtype
        self._spare: list[np.ndarray] = []
        self.meta: list[dict[str, Any]] = [{} for _ in range(slots)]
        self._head = 0  # next slot to read
        self._count = 0  # unread frames
        self.dropped = 0
        self.last_dropped: int | None = None
        self.error: BaseException | None = None  # why the producer stopped, for the consumer
        self._closed = False
        #: held with `with self._lock`, not `with self._cond`: a Condition's __enter__/__exit__ are
        #: Python functions, and a Ctrl-C at the start of its __exit__ kept the lock held for ever
        #: (the camera's thread then hung in `free_slot`); the C lock's own are not interrupted
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._taken: collections.deque[float] = collections.deque(maxlen=slots)  # when the last frames were read

    def occupancy_at(self, when: float) -> int:
        """Unread frames at time `when` (monotonic) in the past: those unread now plus those read since.

        A simulated camera that is late producing a frame asks this for the frame's due time:
        hardware would have captured it then, if a slot was free then.
        """
        with self._lock:
            return self._count + sum(1 for t in self._taken if t > when)

    def free_slot(self) -> np.ndarray | None:
        """The slot the next frame goes into, or None when all hold unread frames."""
        with self._lock:
            if self._count == len(self.buffers):
                return None
            at = (self._head + self._count) % len(self.buffers)
            if self.buffers[at] is None:
                self.buffers[at] = self._spare.pop() if self._spare else np.empty(self._shape, self._dtype)
            return self.buffers[at]

    def commit(self, meta: dict[str, Any]) -> None:
        with self._lock:
            self.meta[(self._head + self._count) % len(self.buffers)] = meta
            self._count += 1
            self._cond.notify()

    def drop(self, number: int | None = None) -> None:
        """Count frame `number` as dropped: the camera took it, no consumer will get it."""
        with self._lock:
            self.dropped += 1
            if number is not None:
                self.last_dropped = number

    def take(self, out: np.ndarray, timeout: float | None) -> dict[str, Any]:
        """Copy the oldest unread frame into `out`; wait up to `timeout` seconds for one."""
        with ctrl_c_kept(), self._lock:
            if not self._cond.wait_for(lambda: self._count or self._closed, timeout):
                raise FrameTimeout(f"no frame arrived within {timeout} s (is the camera triggered?)")
            if not self._count:
                if self.error is not None:
                    raise self.error
                raise CameraError("the camera stopped recording")
            head, slots = self._head, len(self.buffers)
            buffer, meta = self.buffers[head], self.meta[head]
            np.copyto(out, buffer)  # a Ctrl-C up to here leaves the frame in the ring
            # the frame taken: stores with no call between them, where Python runs a signal's handler
            # (a Ctrl-C between them left a slot counted but empty: the next take failed)
            self.buffers[head] = None
            self._head = (head + 1) % slots
            self._count -= 1
            self._spare.append(buffer)  # type: ignore[arg-type]
            self._taken.append(time.monotonic())
            self._cond.notify_all()  # a producer may wait for a free slot (`wait_free`)
            return meta

    def wait_free(self, stop: threading.Event) -> None:
        """Wait until a slot is free, the ring is closed or `stop` is set: an unclocked simulated
        camera (frames_per_second 0, as fast as it is read) makes a frame when there is room for it
        instead of making and dropping frames as fast as the host can count."""
        with self._lock:
            while self._count == len(self.buffers) and not self._closed and not stop.is_set():
                self._cond.wait(0.05)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._cond.notify_all()
