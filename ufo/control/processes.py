"""Processes: scans over parameters, focusing and aligning the rotation axis.

Scans are async generators yielding (value, measurement) pairs as they are measured, so a
plot or a decision can follow the scan live; cancelling one stops where it is.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import numpy as np

from ..core.errors import UsageError
from .parameters import ParameterValue


async def scan(parameter: ParameterValue, values: Iterable[Any],
               measure: Callable[[], Awaitable[Any]]) -> AsyncIterator[tuple[Any, Any]]:
    """Set `parameter` to each value in turn and measure there."""
    for value in values:
        await parameter.set(value)
        yield value, await measure()


async def ascan(parameter: ParameterValue, start: Any, stop: Any, intervals: int,
                measure: Callable[[], Awaitable[Any]]) -> AsyncIterator[tuple[Any, Any]]:
    """Absolute scan: `intervals + 1` equally spaced values from start to stop, both included."""
    if isinstance(intervals, bool) or not isinstance(intervals, numbers.Integral) or intervals < 1:
        raise UsageError(f"ascan: intervals must be a whole number of at least 1, got {intervals!r}")
    for i in range(intervals + 1):
        value = start + (stop - start) * i / intervals
        await parameter.set(value)
        yield value, await measure()


async def dscan(parameter: ParameterValue, start: Any, stop: Any, intervals: int,
                measure: Callable[[], Awaitable[Any]]) -> AsyncIterator[tuple[Any, Any]]:
    """Relative scan around the current value; the parameter returns there afterwards."""
    here = await parameter.get()
    try:
        async for value, measured in ascan(parameter, here + start, here + stop, intervals, measure):
            yield value, measured
    finally:
        await parameter.set(here)


def sharpness(frame: Any) -> float:
    """Mean squared gradient: larger for sharper images."""
    data = np.asarray(frame, np.float64)
    gy, gx = np.gradient(data)
    return float(np.mean(gx * gx + gy * gy))


async def focus(parameter: ParameterValue, start: Any, stop: Any, grab: Callable[[], Awaitable[Any]],
                tolerance: Any, measure: Callable[[Any], float] = sharpness) -> Any:
    """Move to the value in [start, stop] that maximises `measure(frame)` (golden-section search)."""
    if not _positive(tolerance):  # 0 or less never ended (and held the event loop); NaN skipped the search
        raise UsageError(f"focus: tolerance must be a finite value above 0, got {tolerance!r}")
    ratio = (math.sqrt(5) - 1) / 2
    lo, hi = start, stop

    async def score(value: Any) -> float:
        await parameter.set(value)
        return measure(await grab())

    a = hi - (hi - lo) * ratio
    b = lo + (hi - lo) * ratio
    fa, fb = await score(a), await score(b)
    while abs(hi - lo) > tolerance:
        if fa > fb:
            hi, b, fb = b, a, fa
            a = hi - (hi - lo) * ratio
            fa = await score(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + (hi - lo) * ratio
            fb = await score(b)
    best = (lo + hi) / 2
    await parameter.set(best)
    return best


def _positive(value: Any) -> bool:
    magnitude = float(value.magnitude) if hasattr(value, "magnitude") else float(value)
    return math.isfinite(magnitude) and magnitude > 0


async def align_rotation_axis(rotation: Any, grab: Callable[[], Awaitable[Any]]) -> float:
    """Where the rotation axis lies on the detector (pixels), from frames at 0 and 180 degrees."""
    from ..core.units import registry
    from ..tomo.axis import axis_from_projections

    q = registry()
    await rotation.set_position(0 * q.deg)
    first = np.asarray(await grab(), np.float32)
    await rotation.set_position(180 * q.deg)
    second = np.asarray(await grab(), np.float32)
    await rotation.set_position(0 * q.deg)
    return axis_from_projections(-np.log(np.clip(first, 1, None)), -np.log(np.clip(second, 1, None)))
