"""Simulated devices: motors, shutter, photodiode, camera, and a whole tomography beamline.

Simulations are first-class: motors take time to move (at their velocity), honour limits
and stop on emergency; the beamline's mock camera renders the phantom at the rotation
stage's current angle, so a tomography experiment runs with no hardware.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any


from ..core.units import registry
from .device import Device, check
from .errors import ControlError
from .parameters import Quantity, Selection

q = registry()


class _Moving(Device):
    """A motor that moves at a velocity; `position` is set by moving there."""

    unit = "mm"

    def __init__(self, name: str, position: Any = None, velocity: Any = None):
        super().__init__(name)
        self._position = 0.0
        self._velocity = 10.0
        self._task: asyncio.Task[None] | None = None
        if position is not None:
            self._position = position.to(self.unit).magnitude
        if velocity is not None:
            self._velocity = velocity.to(f"{self.unit}/s").magnitude

    async def _get_position(self) -> Any:
        return self._position * q(self.unit)

    @check(source=("standby", "moving"), target="standby")
    async def _set_position(self, value: Any) -> None:
        target = value.to(self.unit).magnitude
        self.state = "moving"
        try:
            start, t0 = self._position, time.monotonic()
            duration = abs(target - start) / self._velocity if self._velocity else 0.0
            while True:
                fraction = 1.0 if duration == 0 else min((time.monotonic() - t0) / duration, 1.0)
                self._position = start + (target - start) * fraction
                if fraction >= 1.0:
                    break
                await asyncio.sleep(min(0.005, duration / 10))
        except asyncio.CancelledError:
            self.state = "standby"  # stopped where it is
            raise
        self.state = "standby"

    async def _get_velocity(self) -> Any:
        return self._velocity * q(f"{self.unit}/s")

    async def _set_velocity(self, value: Any) -> None:
        self._velocity = value.to(f"{self.unit}/s").magnitude

    async def move(self, delta: Any) -> Any:
        return await self.set_position(await self.get_position() + delta)  # type: ignore[attr-defined]

    async def home(self) -> Any:
        return await self.set_position(0 * q(self.unit))  # type: ignore[attr-defined]


class LinearMotor(_Moving):
    unit = "mm"
    position = Quantity("mm", lower=-100 * q.mm, upper=100 * q.mm, doc="position")
    velocity = Quantity("mm/s", lower=0 * q("mm/s"), upper=1000 * q("mm/s"), doc="speed of moves")


class RotationMotor(_Moving):
    unit = "deg"
    position = Quantity("deg", doc="angle")
    velocity = Quantity("deg/s", lower=0 * q("deg/s"), upper=3600 * q("deg/s"), doc="speed of moves")

    def __init__(self, name: str, **kwargs: Any):
        super().__init__(name, **kwargs)
        self._velocity = 360.0


class ContinuousRotationMotor(RotationMotor):
    """Rotates at a velocity until stopped; the angle grows with time."""

    def __init__(self, name: str, **kwargs: Any):
        super().__init__(name, **kwargs)
        self._since: float | None = None
        self._speed = 0.0

    async def _get_position(self) -> Any:
        if self._since is not None:
            now = time.monotonic()
            self._position += self._speed * (now - self._since)
            self._since = now
        return self._position * q.deg

    @check(source="standby", target="moving")
    async def start_motion(self, velocity: Any) -> None:
        self._speed = velocity.to("deg/s").magnitude
        self._since = time.monotonic()
        self.state = "moving"

    @check(source="moving", target="standby")
    async def stop_motion(self) -> None:
        await self._get_position()
        self._since = None
        self.state = "standby"

    async def emergency_stop(self) -> None:
        if self._since is not None:
            await self._get_position()
            self._since = None
        await super().emergency_stop()


class Shutter(Device):
    position = Selection(["open", "closed"], doc="shutter position")

    def __init__(self, name: str = "shutter"):
        super().__init__(name)
        self._open = False

    async def _get_position(self) -> str:
        return "open" if self._open else "closed"

    async def _set_position(self, value: str) -> None:
        self._open = value == "open"
        self.state = "open" if self._open else "closed"

    @check(source=("standby", "closed", "open"), target="open")
    async def open(self) -> None:
        await self.set_position("open")  # type: ignore[attr-defined]

    @check(source=("standby", "open", "closed"), target="closed")
    async def close(self) -> None:
        await self.set_position("closed")  # type: ignore[attr-defined]

    async def emergency_stop(self) -> None:
        self._open = False
        self.state = "closed"


class Photodiode(Device):
    """An intensity reading (simulated: a callable, e.g. the beam current)."""

    intensity = Quantity("V", writable=False, doc="measured signal")

    def __init__(self, name: str = "diode", source: Any = None):
        super().__init__(name)
        self._source = source or (lambda: 1.0)

    async def _get_intensity(self) -> Any:
        return float(self._source()) * q.V


class Camera(Device):
    """A ufo.camera camera as a device: parameters with units, a recording context, async grabs."""

    exposure_time = Quantity("s", lower=0 * q.s, upper=3600 * q.s, doc="exposure time")
    frame_rate = Quantity("1/s", lower=0 * q("1/s"), doc="frames per second (0: free running)")

    def __init__(self, camera: Any, name: str | None = None):
        super().__init__(name or f"camera-{camera.name}")
        self.camera = camera

    async def _get_exposure_time(self) -> Any:
        return self.camera.exposure_time * q.s

    async def _set_exposure_time(self, value: Any) -> None:
        self.camera.exposure_time = value.to("s").magnitude

    async def _get_frame_rate(self) -> Any:
        return self.camera.frames_per_second * q("1/s")

    async def _set_frame_rate(self, value: Any) -> None:
        self.camera.frames_per_second = value.to("1/s").magnitude

    @check(source="standby", target="recording")
    async def start_recording(self) -> None:
        await asyncio.to_thread(self.camera.start_recording)
        self.state = "recording"

    @check(source="recording", target="standby")
    async def stop_recording(self) -> None:
        await asyncio.to_thread(self.camera.stop_recording)
        self.state = "standby"

    @asynccontextmanager
    async def recording(self) -> AsyncIterator[Camera]:
        await self.start_recording()
        try:
            yield self
        finally:
            if self.state == "recording":
                await self.stop_recording()

    async def grab(self) -> Any:
        if self.state != "recording":
            raise ControlError(f"{self.name}: not recording; use 'async with camera.recording():'")
        return await asyncio.to_thread(self.camera.grab)

    async def stream(self, count: int | None = None) -> AsyncIterator[Any]:
        n = 0
        while count is None or n < count:
            yield await self.grab()
            n += 1

    async def emergency_stop(self) -> None:
        if self.camera.is_recording:
            await asyncio.to_thread(self.camera.stop_recording)
        self.state = "standby"


class SimulatedBeamline:
    """Sample stages, rotation, a flat-field motor, a shutter and a mock camera in tomography mode.

    The camera shows the phantom at the rotation stage's current angle, a dark frame while the
    shutter is closed and a flat while the flat-field motor has moved the sample out.
    """

    def __init__(self, width: int = 256, height: int = 64, axis_offset: float = 0.0, noise: float = 0.0,
                 zingers: int = 0, dead_columns: int = 0, continuous: bool = False):
        from ..camera import open_camera

        self.rotation = ContinuousRotationMotor("rotation") if continuous else RotationMotor("rotation")
        self.flat_motor = LinearMotor("flat-motor", velocity=500 * q("mm/s"))
        self.sample_x = LinearMotor("sample-x")
        self.sample_z = LinearMotor("sample-z")
        self.shutter = Shutter("shutter")
        self.flat_position = 50 * q.mm
        mock = open_camera("mock", angle_source=self._angle, sensor_width=width, sensor_height=height,
                           pattern="tomography", axis_offset=axis_offset, noise=noise, zingers=zingers,
                           dead_columns=dead_columns)
        self.camera = Camera(mock, "camera")
        self.devices = [self.rotation, self.flat_motor, self.sample_x, self.sample_z, self.shutter, self.camera]
        self._sync_task: asyncio.Task[None] | None = None

    def _angle(self, at: float | None = None) -> float:
        """The stage's angle (radians) at monotonic time `at` (now by default)."""
        rotation = self.rotation
        if isinstance(rotation, ContinuousRotationMotor) and rotation._since is not None:
            elapsed = (time.monotonic() if at is None else at) - rotation._since
            return math.radians(rotation._position + rotation._speed * elapsed)
        return math.radians(rotation._position)

    def _sync_camera(self) -> None:
        mock = self.camera.camera
        mock.beam = "open" if self.shutter._open else "closed"
        mock.sample_in = abs(self.flat_motor._position) < 1e-9

    async def connect(self) -> SimulatedBeamline:
        for device in self.devices:
            await device.connect()
        await self.shutter.close()
        return self

    async def emergency_stop(self) -> None:
        for device in self.devices:
            await device.emergency_stop()

    async def grab(self, tags: dict[str, Any] | None = None) -> Any:
        """A frame of what the stages show now; `tags` are added to its metadata."""
        self._sync_camera()
        frame = await self.camera.grab()
        frame.meta.update(tags or {})
        return frame

    async def stop(self) -> None:
        """Leave the beamline safe: shutter closed, rotation stopped, camera idle."""
        await self.shutter.close()
        if isinstance(self.rotation, ContinuousRotationMotor) and self.rotation.state == "moving":
            await self.rotation.stop_motion()
        if self.camera.state == "recording":
            await self.camera.stop_recording()

    async def __aenter__(self) -> SimulatedBeamline:
        return await self.connect()

    async def __aexit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is None:
            await self.stop()
        else:
            await self.emergency_stop()
