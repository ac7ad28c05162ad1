"""A scan's angular range against its rotation stage: checked before anything is taken, watched while turning.

A continuous scan whose stage stopped at a limit took the rest of its projections at one angle
and ended as a success; one whose camera dropped frames grabbed on until it had its count,
turning the stage almost twice as far as asked. Here the planned range is checked against the
stage's limits before the darks (a LimitError: nothing moved), and a continuous scan's frames
are watched: a frame at the angle of the one before (the stage stopped turning) or past the
range's end stops the scan as a failure that says so.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import ControlError, LimitError


async def check_range(rotation: Any, first: Any, last: Any, scan: str | None) -> None:
    """LimitError unless every angle from `first` to `last` (quantities) lies within the limits
    `rotation.get_limits()` reports (a stage that reports none is not checked)."""
    get_limits = getattr(rotation, "get_limits", None)
    if get_limits is None:
        return
    low, high = await get_limits()
    a, b = sorted((float(first.to("deg").magnitude), float(last.to("deg").magnitude)))
    lo = None if low is None else float(low.to("deg").magnitude)
    hi = None if high is None else float(high.to("deg").magnitude)
    if (lo is not None and a < lo) or (hi is not None and b > hi):
        raise LimitError(f"{scan}: the scan turns {getattr(rotation, 'name', 'the rotation')} from {a:g} to {b:g} deg, "
                         f"beyond its limits [{'-inf' if lo is None else f'{lo:g}'} .. "
                         f"{'inf' if hi is None else f'{hi:g}'}] deg; nothing was taken, the device was not moved")


class RangeWatch:
    """Watches the angles of a continuous scan's frames (degrees): `check(angle, taken)` raises a
    ControlError when the stage stopped turning or the frame lies past the range's end."""

    def __init__(self, scan: str | None, start: float, end: float, step: float, total: int):
        self.scan, self.start, self.end, self.total = scan, start, end, total
        self.direction = 1.0 if end >= start else -1.0
        self.step = abs(step)
        self.previous: float | None = None

    def check(self, angle: float | None, taken: int) -> None:
        if angle is None or not math.isfinite(angle):
            return
        ahead = (angle - self.previous) * self.direction if self.previous is not None else None
        if ahead is not None and ahead < 0.25 * self.step:
            raise ControlError(f"{self.scan}: the rotation stage stopped turning at {angle:.4g} deg (a limit, or "
                               f"a fault) after {taken} of {self.total} projections; the scan stopped, the "
                               "frames taken were kept")
        if (angle - self.end) * self.direction > self.step:
            raise ControlError(f"{self.scan}: projection {taken + 1} would be at {angle:.4g} deg, past the end of "
                               f"the scan's range ({self.end:g} deg): the camera dropped frames (see the dropped "
                               f"frames warning); the scan stopped after {taken} of {self.total} projections, "
                               "within its range")
        self.previous = angle
