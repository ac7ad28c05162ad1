"""Suspenders: conditions on a readable value that hold an experiment until the value is good again.

A beamline loses its beam (the ring current drops, an interlock trips); frames taken meanwhile
are worthless. A suspender watches one value - a device parameter (`ring["current"]`), a
backend attribute (`Attribute(TangoBackend(address), "current", "mA")`, ufo.tango.client),
an ophyd-async signal (`get_value()`), or any callable - and says when it is bad:

    scan.suspenders.append(SuspendBelow(ring["current"], 100 * q.mA, delay=5.0,
                                        post=[tomo.flats_action()]))

The experiment (ufo.control.experiment, ufo.control.hold) checks every suspender after each
frame and polls them in the background between frames. When one trips, the frame is marked
invalid (NXtomo image_key 3), the experiment holds, runs the `pre` actions, waits until every
suspender reads good, then `delay` seconds more (a trip meanwhile restarts the wait), runs the
`post` actions and retakes the frame. This module only decides good or bad; holding is the
experiment's.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from ..core.errors import UsageError
from ..core.units import is_quantity, registry
from .backend import Backend
from .errors import ControlError

Action = Any  # an async callable of no arguments, or an Acquisition whose frames join the scan


class Attribute:
    """One attribute of a backend (a Tango device's, a simulation's) as a readable value, in `unit`."""

    def __init__(self, backend: Backend, name: str, unit: str | None = None):
        self.backend = backend
        self.name = name
        self.unit = unit

    async def get(self) -> Any:
        value = await self.backend.read(self.name)
        return value * registry().Unit(self.unit) if self.unit else value

    def __repr__(self) -> str:
        return f"{getattr(self.backend, 'device', '?')}/{self.name}"


def reader(source: Any) -> Callable[[], Awaitable[Any]]:
    """An async function that reads `source`: an ophyd-async signal (`get_value()`), anything with
    `get()` (a device parameter, an ophyd signal, an Attribute), or a callable; sync or async."""
    for name in ("get_value", "get"):
        method = getattr(source, name, None)
        if callable(method):
            break
    else:
        if not callable(source):
            raise UsageError(f"a suspender needs a readable value (a device parameter such as ring['current'], "
                             f"an Attribute, a signal or a callable), got {source!r}")
        method = source

    async def read() -> Any:
        value = method()
        return await value if inspect.isawaitable(value) else value

    return read


def describe(source: Any) -> str:
    device = getattr(source, "device", None)
    name = getattr(source, "name", None)
    if device is not None and name is not None and hasattr(device, "name"):
        return f"{device.name}.{name}"
    return str(name) if isinstance(name, str) else repr(source)


class Suspender:
    """Holds an experiment while `bad(value)` returns a reason.

    `delay`: seconds the value must stay good before the experiment goes on; `pre`/`post`:
    actions run when the experiment holds / before it goes on (async callables, or
    Acquisitions whose frames join the scan, e.g. fresh flats); `poll`: seconds between
    background readings while frames are taken (each frame is also checked when it arrives);
    `auto_resume=False`: once good, the experiment stays paused until someone calls resume()
    (an interlock that a person must look at first).
    """

    def __init__(self, source: Any, *, delay: float = 0.0, pre: Iterable[Action] = (), post: Iterable[Action] = (),
                 poll: float = 0.05, auto_resume: bool = True, name: str | None = None):
        delay, poll = _seconds(source, "delay", delay), _seconds(source, "poll", poll)
        if not (0 <= delay < math.inf and 0 < poll < math.inf):  # NaN too: a NaN poll stalled the event loop's timers
            raise UsageError(f"suspender on {describe(source)}: delay must be >= 0 and poll > 0 seconds, both finite, "
                             f"got delay={delay}, poll={poll}")
        self.source = source
        self.read = reader(source)
        self.delay = delay
        self.pre: Sequence[Action] = list(pre)
        self.post: Sequence[Action] = list(post)
        self.poll = poll
        self.auto_resume = auto_resume
        self.name = name or describe(source)

    async def arm(self) -> None:
        """Called when a run starts (SuspendWhenChanged remembers the value then)."""

    def bad(self, value: Any) -> str | None:
        """Why `value` must hold the experiment, or None when it is good."""
        raise NotImplementedError

    async def check(self) -> str | None:
        """Read the value now; the reason to hold, or None. A reading that fails stops the run with
        an error naming this suspender (it was the source's bare exception); one that is not a
        number (NaN) holds the run until it reads a number again (it passed every comparison)."""
        try:
            value = await self.read()
        except Exception as exc:
            raise ControlError(f"suspender on {self.name}: reading its value failed: {type(exc).__name__}: {exc}") from exc
        if _not_a_number(value):
            return f"{self.name} reads {value} (not a number)"
        return self.bad(value)

    def _limit(self, what: str, limit: Any) -> Any:
        """A limit given at construction, refused where it is no number (a NaN threshold never tripped)."""
        if _not_a_number(limit):
            raise UsageError(f"suspender on {self.name}: {what} {limit} is not a number")
        return limit

    def _compare(self, value: Any, limit: Any) -> tuple[Any, Any]:
        """Value and limit in one unit (a plain number against a quantity is a usage error)."""
        if is_quantity(limit) != is_quantity(value):
            raise UsageError(f"suspender on {self.name}: the value {value!r} and the limit {limit!r} must both carry "
                             "units or both be plain numbers (give the limit as e.g. 100 * q.mA)")
        if is_quantity(limit):
            try:
                return value.to(limit.units).magnitude, limit.magnitude
            except Exception as err:
                raise UsageError(f"suspender on {self.name}: {value:~} cannot be compared with {limit:~}") from err
        return value, limit

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class _Threshold(Suspender):
    """Holds while the value is past `threshold`; goes on once it is back at `resume_at` (default:
    the threshold; a resume_at beyond it gives hysteresis, so a value hovering at the threshold
    does not start and stop the scan frame by frame)."""

    below = True

    def __init__(self, source: Any, threshold: Any, resume_at: Any = None, **options: Any):
        super().__init__(source, **options)
        self.threshold = self._limit("threshold", threshold)
        self.resume_at = self._limit("resume_at", threshold if resume_at is None else resume_at)
        self._holding = False

    def bad(self, value: Any) -> str | None:
        limit = self.resume_at if self._holding else self.threshold
        v, lim = self._compare(value, limit)
        self._holding = v < lim if self.below else v > lim
        return f"{self.name} is {value} ({'below' if self.below else 'above'} {limit})" if self._holding else None


class SuspendBelow(_Threshold):
    """Holds while the value is below `threshold` (a ring current, a diode's intensity)."""


class SuspendAbove(_Threshold):
    """Holds while the value is above `threshold` (a vacuum pressure, a temperature)."""

    below = False


class SuspendOutside(Suspender):
    """Holds while the value is outside [lower, upper]."""

    def __init__(self, source: Any, lower: Any, upper: Any, **options: Any):
        super().__init__(source, **options)
        self._limit("lower", lower), self._limit("upper", upper)
        if self._compare(lower, upper)[0] > self._compare(lower, upper)[1]:
            raise UsageError(f"suspender on {self.name}: lower {lower} is above upper {upper}")
        self.lower, self.upper = lower, upper

    def bad(self, value: Any) -> str | None:
        below, lo = self._compare(value, self.lower)  # each limit in its own unit: (-5 mm, 0.005 m) is +-5 mm
        above, hi = self._compare(value, self.upper)
        return None if lo <= below and above <= hi else f"{self.name} is {value} (outside [{self.lower}, {self.upper}])"


class SuspendWhenChanged(Suspender):
    """Holds while the value differs from `expected` (default: the value when the run started),
    e.g. an interlock that must stay 'ok' or a shutter permit that must stay True."""

    def __init__(self, source: Any, expected: Any = None, **options: Any):
        super().__init__(source, **options)
        self.expected = expected
        self._given = expected is not None

    async def arm(self) -> None:
        if not self._given:
            self.expected = await self.read()

    def bad(self, value: Any) -> str | None:
        return None if value == self.expected else f"{self.name} is {value!r} (expected {self.expected!r})"


def _seconds(source: Any, what: str, value: Any) -> float:
    """`value` in seconds: a number, or a quantity of time (500 * q.ms); UsageError otherwise."""
    if is_quantity(value):
        try:
            return float(value.to("s").magnitude)
        except Exception as err:
            raise UsageError(f"suspender on {describe(source)}: {what} {value:~} is no time") from err
    try:
        return float(value)
    except (TypeError, ValueError) as err:
        raise UsageError(f"suspender on {describe(source)}: {what} {value!r} is no number of seconds") from err


def _not_a_number(value: Any) -> bool:
    """Whether `value` (a number or a quantity) is NaN; other values (states, flags) are not numbers to test."""
    magnitude = value.magnitude if is_quantity(value) else value
    return isinstance(magnitude, numbers.Real) and not isinstance(magnitude, bool) and math.isnan(magnitude)
