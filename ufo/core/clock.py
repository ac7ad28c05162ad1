"""Wall-clock times (frames' timestamps, what hosts share) and this host's monotonic time (what
simulated stages and camera clocks run on), turned into each other.

Why an offset read carefully: the two clocks' offset is read as a pair of readings, and a thread
switched out between the two (a busy host, a Tango server's threads beside the scan's) puts the
time it was out into the offset; at 900 deg/s that is 0.05 deg per 56 us. The offset here is the
pair read in the least time of up to `READINGS` tries, which stop at the first pair read within
`CLOSE`.

Why a map of epochs (`ClockMap`): the offset itself moves when the wall clock is stepped (NTP
or a VM's guest agent setting the time: a CI VM stepped it 0.5 ms every ~100 ms). A camera
stamping its frames with one offset and a motor converting the stamps back with an offset read
later then disagree by the steps between: a helical scan's heights and a continuous scan's
angles came out 0.5-1.5 ms apart. The map measures the offset anew at most every `REFRESH`
seconds and remembers each epoch (its monotonic start and offset), so a stamp made in this
process converts back exactly to the monotonic time it was made from, whatever the wall clock
did since, while a stamp from another host (its wall clock synchronised by NTP/PTP) converts with
the offset of its own time, stale by at most `REFRESH`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

READINGS = 64
CLOSE = 20e-6  # seconds: a pair read this quickly was not switched out
REFRESH = 0.25  # seconds: an epoch's offset is measured anew after this
KEEP = 4 * 3600  # epochs remembered (an hour at REFRESH); older stamps convert with the oldest kept
SLACK = 1e-6  # seconds: a round trip's rounding (a stamp near 1.8e9 s is kept to 0.24 us), not a step


def clock_offset(monotonic: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> float:
    """Monotonic minus wall-clock time now, from the pair of readings taken in the least time
    (each pair bracketed by two monotonic readings; the clocks are parameters for the tests)."""
    best_span, best = float("inf"), 0.0
    for _ in range(READINGS):
        before = monotonic()
        now = wall()
        after = monotonic()
        if after - before < best_span:
            best_span, best = after - before, (before + after) / 2 - now
            if best_span <= CLOSE:
                break
    return best


class ClockMap:
    """Wall clock <-> monotonic clock, piecewise: one offset per epoch of `refresh` seconds.

    `wall_at` and `monotonic_at` are exact inverses for the stamps this map made (any thread;
    the clocks are parameters for the tests)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 refresh: float = REFRESH, keep: int = KEEP):
        self._monotonic, self._wall = monotonic, wall
        self.refresh, self.keep = refresh, keep
        self._starts: list[float] = []  # each epoch's first monotonic time
        self._offsets: list[float] = []  # each epoch's monotonic minus wall-clock time
        self._latest = float("-inf")  # the latest monotonic time stamped: no new epoch starts before it
        self._lock = threading.Lock()

    def _update(self) -> None:
        """Open a new epoch when the current one is `refresh` old (call with the lock held)."""
        now = self._monotonic()
        if self._starts and now - self._starts[-1] < self.refresh:
            return
        offset = clock_offset(self._monotonic, self._wall)
        self._starts.append(max(now, self._latest))
        self._offsets.append(offset)
        if len(self._starts) > self.keep:
            del self._starts[0], self._offsets[0]

    def wall_at(self, monotonic: float) -> float:
        """The wall-clock stamp of monotonic time `monotonic` (a frame's exposure)."""
        with self._lock:
            self._update()
            self._latest = max(self._latest, monotonic)
            k = len(self._starts) - 1
            while k > 0 and monotonic < self._starts[k]:
                k -= 1
            return monotonic - self._offsets[k]

    def monotonic_at(self, stamp: float) -> float:
        """This host's monotonic time at wall-clock time `stamp` (seconds since the epoch): the
        latest epoch whose time span holds the result (where the wall clock went back, a stamp
        within the step of an epoch's start was made twice; the later epoch is taken)."""
        with self._lock:
            self._update()
            k = len(self._starts) - 1
            while k > 0 and stamp + self._offsets[k] < self._starts[k] - SLACK:
                k -= 1
            return stamp + self._offsets[k]


_MAP = ClockMap()  # the process's one map: a camera's stamps and a motor's conversions agree


def wall_at(monotonic: float) -> float:
    """The wall-clock stamp (seconds since the epoch) of this host's monotonic time `monotonic`."""
    return _MAP.wall_at(monotonic)


def monotonic_at(stamp: float) -> float:
    """This host's monotonic time at wall-clock time `stamp` (seconds since the epoch)."""
    return _MAP.monotonic_at(float(stamp))
