"""The clock of clocked (simulated) cameras: when each frame is due, and whether one made late
must be dropped, as a camera's sensor and ring would have. A part of `ufo.camera.base.Camera`."""

from __future__ import annotations

import threading
import time
from typing import Any

from .errors import CameraError, FrameTimeout
from .properties import MAX_LAG


class CameraClock:
    """Frame n of a clocked camera is due at t0 + n * period (`RateProperty` rebases t0 when the rate
    changes while recording); the camera sets the attributes below."""

    name: str
    clocked: bool
    frames_per_second: float
    trigger_source: str
    _t0: float
    _made: int
    _lag: float
    _ring: Any
    _stop_event: threading.Event
    _clock_lock: Any  # a threading.RLock

    def _period(self) -> float:
        rate = self.frames_per_second
        return 1.0 / rate if self.clocked and rate > 0 else 0.0

    def _clock(self) -> tuple[float, float]:
        """The clock's start and period, read together: a rate changed between reading one and the other
        put a frame's due time on the old start at the new rate (dropped as long past, or waited for)."""
        with self._clock_lock:
            return self._t0, self._period()

    def _schedule(self, number: int, timeout: float | None = None) -> float | None:
        """Wait until frame `number` is due on the camera's clock; its due time (monotonic), or None unclocked.
        A frame due after `timeout` s is a FrameTimeout after it, as the ring's (1e-9 frames/s waited 30 years)."""
        t0, period = self._clock()
        if not period:
            return None
        delay = t0 + number * period - time.monotonic()
        if timeout is not None and delay > timeout and not self._stop_event.wait(timeout):
            raise FrameTimeout(f"frame {number} is due in {delay:.3g} s on the camera's clock (frames-per-second="
                               f"{self.frames_per_second:g}), beyond the grab's timeout of {timeout:g} s")
        while True:  # a new rate meanwhile: a new due time
            t0, period = self._clock()
            if not period:
                return None  # the rate now 0: unclocked
            if (delay := t0 + number * period - time.monotonic()) <= 0:
                return t0 + number * period
            if self._stop_event.wait(min(delay, 0.05)):
                raise CameraError(f"camera '{self.name}' stopped recording")

    def _behind(self, due: float | None) -> bool:
        """Whether a free-running clocked camera, late making this frame, must drop it: as hardware,
        which captures at the due time into a slot free then, a late simulation asks how full the
        ring was at that time, so host stalls cost frames only where a camera's ring would have
        overflowed. Beyond `max_lag` (or the ring's length in time) it is too slow: dropped."""
        if due is None or self.trigger_source != "auto":
            return False
        late = time.monotonic() - due
        if late <= self._period():
            return False
        ring = self._ring
        slots = len(ring.buffers) if ring is not None else 1
        given = self.__dict__.get("max_lag")  # set by the user; else the ring's length in time, 0.25 s at least
        if late > (given if given is not None else max(MAX_LAG, slots * self._period())):
            return True
        return ring is not None and ring.occupancy_at(due) >= slots

    def clock_lag(self) -> tuple[float, float]:
        """(seconds after its due time the latest frame was made, frames made per second since recording
        started) of a clocked camera: a simulation slower than its frame rate falls further behind each frame."""
        elapsed = time.monotonic() - self._t0
        return self._lag, (self._made / elapsed if elapsed > 0 else 0.0)
