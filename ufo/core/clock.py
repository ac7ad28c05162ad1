"""Wall-clock times (frames' timestamps, what hosts share) turned into this host's monotonic time
(what simulated stages and camera clocks run on).

Why: the two clocks' offset is read as a pair of readings, and a thread switched out between
the two (a busy host, a Tango server's threads beside the scan's) puts the time it was out into
the offset. Converting each frame's stamp with a pair read anew gave each frame its own error:
a continuous scan at 900 deg/s is 0.05 deg off per 56 us. The offset here is the pair read in
the least time of up to `READINGS` tries, which stop at the first pair read within `CLOSE`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

READINGS = 64
CLOSE = 20e-6  # seconds: a pair read this quickly was not switched out


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


def monotonic_at(stamp: float) -> float:
    """This host's monotonic time at wall-clock time `stamp` (seconds since the epoch)."""
    return float(stamp) + clock_offset()
