"""A scan's angular range against its rotation stage: checked before anything is taken, watched while turning.

A continuous scan whose stage stopped at a limit took the rest of its projections at one angle
and ended as a success; one whose camera dropped frames grabbed on until it had its count,
turning the stage almost twice as far as asked. Here the planned range is checked against the
stage's limits before the darks (a LimitError: nothing moved), and a continuous scan's frames
are watched: a frame at the angle of the one before (the stage stopped turning) or past the
range's end stops the scan as a failure that says so. While it turns, a RangeGuard polls the
stage's position and stops it once it passes the range's end by a step: a camera that stalled no
longer lets the stage turn on (543 degrees of a 180 degree scan) until its next frame arrives.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from .errors import ControlError, LimitError


async def limits_in_degrees(rotation: Any, unit: str = "deg") -> tuple[float | None, float | None]:
    """(lower, upper) of what `rotation.get_limits()` reports, in degrees (or `unit`); None where
    there is none (both for a stage that reports none)."""
    get_limits = getattr(rotation, "get_limits", None)
    if get_limits is None:
        return None, None
    low, high = await get_limits()
    return (None if low is None else float(low.to(unit).magnitude),
            None if high is None else float(high.to(unit).magnitude))


async def within_limits(rotation: Any, angle: float) -> float:
    """`angle` (degrees), moved inside the stage's limits where it reports any (a run-up shortened)."""
    lo, hi = await limits_in_degrees(rotation)
    angle = angle if lo is None else max(angle, lo)
    return angle if hi is None else min(angle, hi)


async def check_range(rotation: Any, first: Any, last: Any, scan: str | None, unit: str = "deg") -> None:
    """LimitError unless every angle from `first` to `last` (quantities) lies within the limits
    `rotation.get_limits()` reports (a stage that reports none is not checked); `unit` 'mm' for a
    linear stage (a helical scan's vertical one)."""
    lo, hi = await limits_in_degrees(rotation, unit)
    a, b = sorted((float(first.to(unit).magnitude), float(last.to(unit).magnitude)))
    if (lo is not None and a < lo) or (hi is not None and b > hi):
        verb = "turns" if unit == "deg" else "moves"
        raise LimitError(f"{scan}: the scan {verb} {getattr(rotation, 'name', 'the rotation')} from {a:g} to {b:g} "
                         f"{unit}, beyond its limits [{'-inf' if lo is None else f'{lo:g}'} .. "
                         f"{'inf' if hi is None else f'{hi:g}'}] {unit}; nothing was taken, the device was not moved")


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


class RangeGuard:
    """While a continuous scan turns (`async with`): polls the rotation stage's position every
    `period` s and stops the scan's motions (`tomo.stop_motions()`) as soon as the stage passes
    the range's end by more than a step; `stopped` says it did, `error` says why."""

    def __init__(self, tomo: Any, start: float, end: float, step: float, period: float = 0.005):
        self.tomo, self.end, self.period = tomo, end, period
        self.direction = 1.0 if end >= start else -1.0
        self.limit = end + self.direction * abs(step)
        self.stopped = False
        self.error: ControlError | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RangeGuard:
        self._task = asyncio.ensure_future(self._watch())
        return self

    async def __aexit__(self, *exc: Any) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        if not self.stopped:  # a stop under way is let finish: the stage is not left turning
            task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    async def _watch(self) -> None:
        rotation = self.tomo.beamline.rotation
        while True:
            angle = float((await rotation.get_position()).to("deg").magnitude)
            if (angle - self.limit) * self.direction > 0:
                self.stopped = True
                await self.tomo.stop_motions()
                self.error = ControlError(
                    f"{self.tomo.current}: the rotation stage turned past the end of the scan's range "
                    f"({self.end:g} deg) to {angle:.4g} deg before the camera delivered the projections (it "
                    "stalled or dropped frames); the stage was stopped there, the scan stopped, the frames "
                    "taken within the range were kept")
                return
            await asyncio.sleep(self.period)

    def check(self) -> None:
        """Raise the guard's error if it stopped the stage."""
        if self.error is not None:
            raise self.error


def camera_behind(error: ControlError, camera: Any, rate: float) -> ControlError:
    """`error` (a continuous scan stopped: frames missing or past its range), with the cause where a clocked
    (simulated) camera made its frames slower than its clock: it dropped those it fell too far behind for
    (`max_lag`), while the stage turned on at its rate; the error blamed a stall, the camera said 0 late."""
    lag = getattr(camera, "clock_lag", None)
    if lag is None or not rate:
        return error
    behind, made = lag()
    if behind < max(2.0 / rate, 0.05):  # on time when the scan stopped: a stall, or drops of a slow consumer
        return error
    slower = f"{made:.1f} frames/s of the {rate:g} asked, {100 * (1 - made / rate):.0f} % behind its clock; " \
        if made < 0.98 * rate else ""
    dropped = getattr(getattr(camera, "stats", None), "dropped", 0)
    return ControlError(f"{error}. The cause: the camera made its frames slower than its frame rate ({slower}its "
                        f"latest frame {behind:.2g} s after its time) and dropped {dropped} it fell too far behind "
                        "for: this host cannot simulate the camera at this rate; lower its frames_per_second")
