"""SimulatedBeamline: a whole tomography beamline in this process, with no hardware.

Simulations are first-class: its motors take time to move (at their velocity), honour limits
and stop on emergency (ufo.control.motors.SimulatedMotor); its mock camera renders the
phantom at the rotation stage's angle at each frame's own time, so a tomography experiment
runs end to end, continuous rotation included.
"""

from __future__ import annotations

import math
from typing import Any

from ..core.units import registry
from .backend import SimulatedBackend
from .beam import Shutter
from .detector import Detector
from .device import Device
from .parameters import Quantity
from .motors import ContinuousRotationMotor, LinearMotor, RotationMotor, SimulatedMotor

q = registry()


class StorageRing(Device):
    """The source's ring current: what a beam-loss suspender watches (`SuspendBelow(ring["current"], ...)`).
    Read-only, as a real one is; a simulation changes it with `simulate(current)`."""

    kind = "ring"
    current = Quantity("mA", writable=False, doc="stored beam current")

    def __init__(self, name: str = "ring", current: Any = 200 * q.mA, backend: Any = None):
        super().__init__(name, backend or SimulatedBackend(current=current.to("mA").magnitude))

    async def _get_current(self) -> Any:
        return float(await self.io.read("current")) * q.mA

    def simulate(self, current: Any) -> None:
        """Simulation only: the current from now on (a beam loss: 0 mA; a refill: 200 mA), or a
        callable giving it at each reading (a loss tied to another device's position)."""
        values = self.io.values  # type: ignore[attr-defined]
        values["current"] = (lambda: current().to("mA").magnitude) if callable(current) else current.to("mA").magnitude


class SimulatedBeamline:
    """Sample stages, rotation, a flat-field motor, a shutter and a mock camera in tomography mode.

    The camera shows the phantom (or `scene`, any ufo.camera.scene.Scene) at the rotation stage's
    current angle, a dark frame while the shutter is closed or the storage ring has lost its beam
    (`ring`, below 1 mA) and a flat while the flat-field motor has moved the sample out.
    """

    def __init__(self, width: int = 256, height: int = 64, axis_offset: float = 0.0, noise: float = 0.0,
                 zingers: int = 0, dead_columns: int = 0, continuous: bool = False, scene: Any = None):
        from ..camera import open_camera
        from ..tomo.phantom import PhantomScene

        self.rotation = ContinuousRotationMotor("rotation") if continuous else RotationMotor("rotation")
        self.flat_motor = LinearMotor("flat-motor", velocity=500 * q("mm/s"))
        self.sample_x = LinearMotor("sample-x")
        self.sample_z = LinearMotor("sample-z")
        self.shutter = Shutter("shutter")
        self.ring = StorageRing("ring")
        self.flat_position = 50 * q.mm
        scene = scene if scene is not None else PhantomScene()
        mock = open_camera("mock", angle_source=self._angle, scene=scene, sensor_width=width,
                           sensor_height=height,
                           pattern="tomography", axis_offset=axis_offset, noise=noise, zingers=zingers,
                           dead_columns=dead_columns, beam_source=self._beam)
        self.camera = Detector(mock, "camera")
        self.devices: list[Device] = [self.rotation, self.flat_motor, self.sample_x, self.sample_z, self.shutter,
                                      self.ring, self.camera]

    @staticmethod
    def _simulation(device: Device) -> Any:
        """The simulated hardware behind one of this beamline's devices."""
        return device.io

    def _angle(self, at: float | None = None) -> float:
        """The stage's angle (radians) at monotonic time `at` (now by default)."""
        stage: SimulatedMotor = self._simulation(self.rotation)
        return math.radians(stage.position_at(at))

    def _beam(self) -> tuple[bool, bool]:
        """(the beam reaches the camera: shutter open, ring not lost; the sample is in it: the flat-field
        motor at 0) now, from any thread: the camera asks for each frame it makes, so a beam loss during
        a continuous scan and flats in a buffered recording show as they happen."""
        shutter: SimulatedBackend = self._simulation(self.shutter)
        ring: SimulatedBackend = self._simulation(self.ring)
        flat: SimulatedMotor = self._simulation(self.flat_motor)
        return (shutter.value("position") == "open" and float(ring.value("current")) >= 1.0,
                abs(flat.position_at()) < 1e-9)

    def _sync_camera(self) -> None:
        mock = self.camera.camera
        beam, mock.sample_in = self._beam()
        mock.beam = "open" if beam else "closed"

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
        return await self.camera.grab(**(tags or {}))

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
