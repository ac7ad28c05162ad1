"""Motors: LinearMotor, RotationMotor, ContinuousRotationMotor, and SimulatedMotor, their default backend.

The device classes say what a motor means (a position and a velocity with units, 'moving'
while a move runs, a cancelled move stops the stage); the backend moves it. Without a
backend a motor is simulated; with `backend=TangoBackend(address)` (ufo.tango.client) the
same class drives a motor server, whose unit is checked at connect.

Motors are safe and Bluesky-shaped: a move while one runs is refused (BusyError, see
ufo.control.safety), `lock` gives one user the motor, `get_limits()` asks the hardware for its
limits; `set(value)` returns a Status (bps.mv, bp.scan), `read()`/`describe()` report the
position with unit and limits, `read_configuration()` the velocity, and `stop()` halts a move.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import threading
import time
from typing import Any, Protocol, runtime_checkable

from ..core.errors import UsageError
from ..core.units import is_quantity, registry
from .backend import Backend, InProcessBackend
from .device import Device, check
from .errors import ControlError, LimitError, UnitError
from .parameters import Quantity
from .safety import BusyError
from .status import Status

q = registry()


@runtime_checkable
class ReportsLimits(Protocol):
    """A backend that can say the limits the hardware enforces (in the transport's unit)."""

    async def limits(self, name: str) -> tuple[float | None, float | None]: ...


def _speed_of(device: str, value: Any, unit: str) -> float:
    """A velocity (unit/s) a stage can move at; LimitError for 0, a negative number or NaN (a stage
    made at -5 mm/s or 0 arrived anywhere at once)."""
    speed = float(value)
    if not math.isfinite(speed) or speed <= 0:
        raise LimitError(f"{device}: velocity {value} {unit}/s must be a number above 0")
    return speed


class SimulatedMotor(InProcessBackend):
    """A stage in this process that moves at its velocity, honours its soft limits and stops where it is.

    Its position is computed from the clock rather than stepped by a task, so every read is
    exact, a camera can ask for the angle at a frame's own time (`position_at`), and any
    thread may use it (the Tango motor server serves one). It answers like a motor server:
    writing `position` starts a move and returns at once, the state is 'moving' until it arrives.
    It remembers its last motions (`HISTORY`), so `position_at` a past time is true after a stop (a
    frame made late after a continuous scan stopped got the stopped stage's angle).
    """

    HISTORY = 64  # motions remembered for position_at a past time

    def __init__(self, unit: str = "mm", position: float = 0.0, velocity: float = 10.0,
                 lower: float | None = None, upper: float | None = None):
        self.position_unit = unit
        self.lower, self.upper = lower, upper
        self.device = "simulated motor"
        self.check_limits(position)  # a stage made at 500 mm past a 100 mm limit, or at NaN, stood there
        self.velocity = _speed_of(self.device, velocity, unit)
        self.target = position
        self._lock = threading.Lock()
        self._start, self._t0, self._duration = position, 0.0, 0.0
        self._speed, self._since = 0.0, None  # a continuous rotation: its speed and since when
        self._past: collections.deque[tuple[float, tuple[Any, ...]]] = collections.deque(maxlen=self.HISTORY)

    # -- the physics, callable from any thread ---------------------------------------------
    def _motion(self) -> tuple[Any, ...]:
        return self._start, self.target, self._t0, self._duration, self._speed, self._since

    def _change(self, now: float, **motion: Any) -> None:
        """From `now` on, the stage moves as `motion` says (the attributes of `_motion`); the motion
        until then is remembered. Call with the lock held."""
        self._past.append((now, self._motion()))
        for name, value in motion.items():
            setattr(self, name, value)

    def position_at(self, at: float | None = None) -> float:
        """The position (in `position_unit`) at monotonic time `at`, now by default; none at a time that
        is no number (it read as the first motion's target) or older than the motions kept."""
        if not math.isfinite(now := time.monotonic() if at is None else float(at)):
            raise ValueError(f"{self.device}: the time {at!r} is not a finite number: no position at it")
        with self._lock:
            if len(self._past) == self._past.maxlen and now < self._past[0][0]:
                raise ValueError(f"{self.device}: the time {now:.3f} is older than the {self.HISTORY} motions kept")
            motion = self._motion()
            for until, earlier in reversed(self._past):  # the motion under way at `now`
                if now >= until:
                    break
                motion = earlier
        start, target, t0, duration, speed, since = motion
        if since is not None:  # a motion stops at a soft limit, as at a limit switch
            return self._clamped(start + speed * (now - since))
        if duration <= 0 or now >= t0 + duration:
            return target
        return start + (target - start) * max(now - t0, 0.0) / duration

    def _clamped(self, position: float) -> float:
        return min(position, self.upper) if self.upper is not None and position > self.upper else \
            self.lower if self.lower is not None and position < self.lower else position

    @property
    def moving(self) -> bool:
        now = time.monotonic()
        with self._lock:
            if self._since is not None:  # until it reaches a limit
                free = self._start + self._speed * (now - self._since)
                return self._clamped(free) == free
            return now < self._t0 + self._duration

    LONGEST = 7 * 86400.0  # s: a longer move is a velocity typed wrong

    def check_limits(self, target: float) -> None:
        """Raise a LimitError naming the device if `target` lies outside the soft limits or is no number."""
        if not math.isfinite(target):
            raise LimitError(f"{self.device}: position {target} is not a finite number; the device was not moved")
        if self.lower is not None and target < self.lower or self.upper is not None and target > self.upper:
            raise LimitError(f"{self.device}: position {target:.12g} {self.position_unit} is outside the limits "
                             f"[{self.lower} .. {self.upper}] {self.position_unit}; the device was not moved")

    def move_to(self, target: float) -> None:
        """Start a move from where the stage is now."""
        self.check_limits(target)
        now = time.monotonic()
        here = self.position_at(now)
        duration = abs(target - here) / self.velocity if self.velocity else 0.0
        if duration > self.LONGEST:  # 1e-300 mm/s: a move that never ends, the scan waiting on it for good
            raise LimitError(f"{self.device}: moving {abs(target - here):g} {self.position_unit} at {self.velocity:g} "
                             f"{self.position_unit}/s would take {duration:.3g} s; raise the velocity")
        with self._lock:
            self._change(now, _since=None, _start=here, target=target, _t0=now, _duration=duration)

    def stop(self) -> None:
        """Halt a move or a rotation where the stage is."""
        now = time.monotonic()
        here = self.position_at(now)
        with self._lock:
            self._change(now, _since=None, _speed=0.0, _start=here, target=here, _duration=0.0)

    def start_motion(self, speed: float) -> None:
        """Turn (or travel) at `speed` (unit/s, negative the other way) until stopped or at a soft limit."""
        if not math.isfinite(speed) or speed == 0:  # NaN left the stage at NaN for good
            raise LimitError(f"{self.device}: a motion at {speed} {self.position_unit}/s: give a finite speed other "
                             "than 0; the device was not moved")
        now = time.monotonic()
        here = self.position_at(now)
        if speed > 0 and self.upper is not None and here >= self.upper or \
                speed < 0 and self.lower is not None and here <= self.lower:
            raise LimitError(f"{self.device}: standing at its limit {here:g} {self.position_unit}, it cannot go further "
                             "that way; the device was not moved")
        with self._lock:
            self._change(now, _start=here, _speed=speed, _since=now, _duration=0.0)

    # -- the Backend protocol --------------------------------------------------------------
    async def disconnect(self) -> None:
        self.stop()

    async def read(self, name: str) -> Any:
        if name == "position":
            return self.position_at()
        if name == "velocity":
            return self.velocity
        raise ControlError(f"{self.device}: a simulated motor has position and velocity, not '{name}'")

    async def write(self, name: str, value: Any) -> None:
        if name == "position":
            self.move_to(float(value))
        elif name == "velocity":
            self.velocity = _speed_of(self.device, value, self.position_unit)
        else:
            raise ControlError(f"{self.device}: a simulated motor has position and velocity, not '{name}'")

    async def call(self, command: str, *args: Any) -> Any:
        actions = {"stop": self.stop, "stop_motion": self.stop, "home": lambda: self.move_to(0.0),
                   "start_motion": self.start_motion}
        if command not in actions:
            raise ControlError(f"{self.device}: a simulated motor has the commands {', '.join(actions)}, "
                               f"not '{command}'")
        return actions[command](*args)

    async def state(self) -> str:
        return "moving" if self.moving else "on"

    async def status(self) -> str:
        return self.status_text()

    def status_text(self) -> str:
        """What the stage does, in words (a Tango motor server's status too, from any thread)."""
        if self.moving and self._since is not None:  # a continuous motion: no target (it said the last move's)
            return f"moving at {self._speed:g} {self.position_unit}/s"
        return f"moving to {self.target:g} {self.position_unit}" if self.moving else \
            f"standing at {self.position_at():g} {self.position_unit}"

    async def unit(self, name: str) -> str | None:
        return self.position_unit if name == "position" else f"{self.position_unit}/s" if name == "velocity" else None

    async def limits(self, name: str) -> tuple[float | None, float | None]:
        """The limits move_to() enforces (position), none for anything else."""
        return (self.lower, self.upper) if name == "position" else (None, None)


class _Motor(Device):
    """A motor in `unit`: position and velocity through the backend, 'moving' while a move runs."""

    kind = "motor"
    read_fields = ("position",)
    config_fields = ("velocity",)
    unit = "mm"
    limits: tuple[float | None, float | None] = (None, None)  # the simulation's soft limits
    speed = 10.0  # the simulation's velocity (unit/s)
    #: how far (in `unit`) from its target a finished move may stand and have arrived; farther, something
    #: else halted it (the stage's stop button, another client of its server, a limit switch) and the
    #: move fails: it returned as a success and a scan recorded a projection at 72 deg taken at 58.1
    arrival = 1e-3

    def __init__(self, name: str, backend: Backend | None = None, position: Any = None, velocity: Any = None):
        if backend is not None and (position is not None or velocity is not None):
            raise UsageError(f"{name}: position and velocity start a simulation; with a backend set them "
                             "after connect()")
        if backend is None:
            try:
                start = 0.0 if position is None else float(position.to(self.unit).magnitude)
                speed = self.speed if velocity is None else float(velocity.to(f"{self.unit}/s").magnitude)
            except Exception as err:  # a plain number, another kind of unit
                raise UsageError(f"{name}: position and velocity in {self.unit} and {self.unit}/s (e.g. 5 * q.{self.unit}), "
                                 f"got {position!r} and {velocity!r}") from err
            try:
                backend = SimulatedMotor(self.unit, start, speed, *self.limits)
            except LimitError as err:  # the checks of set_position and set_velocity, at construction too
                raise LimitError(str(err).replace("simulated motor", name, 1)) from None
        super().__init__(name, backend)
        self._remote_unit = self.unit
        self._halted = False  # stop(success=False) during a move: the move then fails
        self._stop_asked = False  # stop() during a move, either way: it need not arrive (see `arrival`)

    async def connect(self) -> _Motor:
        await super().connect()
        unit = await self.io.unit("position") or self.unit
        try:
            q(unit).to(self.unit)
        except Exception as err:
            other = "RotationMotor" if self.unit == "mm" else "LinearMotor"
            raise ControlError(f"{self.name}: the motor moves in '{unit}', a {type(self).__name__} in {self.unit}; "
                               f"use a {other}") from err
        self._remote_unit = unit
        return self

    async def _get_position(self) -> Any:
        return (await self.io.read("position")) * q(self._remote_unit)

    @check(source=("standby", "moving"), target="standby")
    async def _set_position(self, value: Any) -> Any:
        """Move to `value`; returns where the stage stands then (the target, unless a stop() halted it)."""
        with self.busy.claim(f"move to {value:~g}"):  # claimed before the first await: a second move is refused
            self._halted = self._stop_asked = False
            await self._check_limits(value)
            if await self.io.state() == "moving":
                raise BusyError(f"{self.name}: cannot move to {value:~g}, the stage is moving "
                                f"({await self.io.status()}); stop() it first")
            await self.io.write("position", value.to(self._remote_unit).magnitude)
            self.state = "moving"
            try:
                await self.wait_while(("moving",))
            except asyncio.CancelledError:
                await self.io.call("stop")  # a cancelled move stops the stage where it is
                raise
            except Exception:
                # the move could not be followed (a server that hung, then answered too late): stop
                # the stage where it is rather than let it go on alone; the error says why
                with contextlib.suppress(Exception):
                    await self.io.call("stop")
                raise
            finally:
                self.state = "standby"
            here = await self._get_position()
            if self._halted or not self._stop_asked and abs((here - value).to(self.unit).magnitude) > self.arrival:
                raise ControlError(f"{self.name}: stopped at {here:~g} before reaching {value:~g}" + (
                    "" if self._halted else " (halted by something else: the stage's own stop, another client "
                    "of its server, a limit switch)"))
            return here.to(value.units)

    async def _check_limits(self, value: Any) -> None:
        """A LimitError before anything is sent where `value` lies beyond the limits the motor reports
        (a Tango server's refusal came back as a ControlError naming its attribute, which code
        catching LimitError missed)."""
        low, high = await self.field_limits("position")
        if low is not None and value < low or high is not None and value > high:
            shown = [("-inf" if low is None else f"{low.to(self.unit).magnitude:g}"),
                     ("inf" if high is None else f"{high.to(self.unit).magnitude:g}")]
            raise LimitError(f"{self.name}: position {value.to(self.unit):~.12g} is outside the limits "
                             f"[{shown[0]} .. {shown[1]}] {self.unit}; the device was not moved")

    async def field_limits(self, field: str) -> tuple[Any, Any]:
        """The tighter of the declared soft limits and the hardware's own (when its backend reports them)."""
        low, high = await super().field_limits(field)
        if field == "position" and isinstance(self.backend, ReportsLimits):
            unit = q(self._remote_unit)
            hard_low, hard_high = await self.backend.limits("position")
            if hard_low is not None:
                low = hard_low * unit if low is None else max(low, hard_low * unit)
            if hard_high is not None:
                high = hard_high * unit if high is None else min(high, hard_high * unit)
        return low, high

    async def get_limits(self) -> tuple[Any, Any]:
        """(lower, upper) of the position as quantities in the motor's unit; None where there is none."""
        return tuple(None if v is None else v.to(self.unit) for v in await self.field_limits("position"))  # type: ignore

    def set(self, value: Any) -> Status:
        """Bluesky's Movable: start a move to `value` (a quantity, or a number in the motor's unit) and
        return its Status at once. A move while one runs fails that Status with a BusyError."""
        if isinstance(value, bool):  # float(True): a move to 1 mm
            raise UnitError(f"{self.name}: set() takes a position, got {value!r}")
        target = value if is_quantity(value) else float(value) * q(self.unit)
        return Status(self.set_position(target), f"{self.name}: move to {target:~g}")  # type: ignore[attr-defined]

    async def locate(self) -> dict[str, float]:
        """Bluesky's Locatable, where rel_scan and mvr start from: 'readback' the position now and
        'setpoint' the target of the running move (else the position), numbers in the motor's unit."""
        readback = float((await self.get_position()).to(self.unit).magnitude)  # type: ignore[attr-defined]
        target = self["position"].target
        moving = self.busy.doing is not None and target is not None
        return {"setpoint": float(target.to(self.unit).magnitude) if moving else readback, "readback": readback}

    async def stop(self, success: bool = True) -> None:
        """Bluesky's Stoppable: halt a move or a rotation where the stage is. Unlike emergency_stop()
        (the experiment's "stop everything") the device stays as it is; with success=False a running
        move's Status fails."""
        moving = self.busy.doing is not None
        self._halted, self._stop_asked = moving and not success, moving
        await self.io.call("stop")
        if self.busy.doing is None and self.state == "moving":  # a continuous rotation
            self.state = "standby"
        deadline = time.monotonic() + 5.0  # the halted move gives the motor back (a move asked at once was
        while moving and self.busy.doing is not None and time.monotonic() < deadline:  # refused: bluesky's
            await asyncio.sleep(0.005)  # pause and resume failed the scan); bounded: a hung server's move

    async def _get_velocity(self) -> Any:
        return (await self.io.read("velocity")) * q(f"{self._remote_unit}/s")

    async def _set_velocity(self, value: Any) -> None:
        await self.io.write("velocity", value.to(f"{self._remote_unit}/s").magnitude)

    async def move(self, delta: Any) -> Any:
        return await self.set_position(await self.get_position() + delta)  # type: ignore[attr-defined]

    async def home(self) -> Any:
        return await self.set_position(0 * q(self.unit))  # type: ignore[attr-defined]

    async def emergency_stop(self) -> None:
        self._halted = self.busy.doing is not None  # a running move fails: the stage is not at its target
        await self.io.call("stop")
        await super().emergency_stop()


class LinearMotor(_Motor):
    unit = "mm"
    limits = (-100.0, 100.0)
    position = Quantity("mm", doc="position (limits: the backend's)")
    velocity = Quantity("mm/s", positive=True, doc="speed of moves")


class RotationMotor(_Motor):
    unit = "deg"
    speed = 360.0
    position = Quantity("deg", doc="angle")
    velocity = Quantity("deg/s", positive=True, doc="speed of moves")


_MOTION = Quantity("deg/s", doc="speed of a continuous rotation")
_MOTION.name = "the speed of start_motion"


class ContinuousRotationMotor(RotationMotor):
    """Rotates at a velocity until stopped; the angle grows with time."""

    @check(source="standby", target="moving")
    async def start_motion(self, velocity: Any) -> None:
        """Rotate at `velocity` (an angle per time; negative the other way) until stop_motion()."""
        value = _MOTION.convert(self, velocity)  # a UnitError for 5 mm/s, a LimitError for NaN
        if value.magnitude == 0:
            raise LimitError(f"{self.name}: start_motion at {value:~} would not turn; give a speed other than 0")
        await self.io.call("start_motion", value.to(f"{self._remote_unit}/s").magnitude)
        self.state = "moving"

    @check(source="moving", target="standby")
    async def stop_motion(self) -> None:
        await self.io.call("stop_motion")
        self.state = "standby"
