"""Tomography on a beamline: darks (shutter closed), flats (sample out) before and after,
projections over 180 or 360 degrees with stepped or continuous rotation."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

from ..core.units import registry
from ..storage.walker import Walker
from .motors import ContinuousRotationMotor
from .experiment import Acquisition, Experiment

q = registry()


class Tomography(Experiment):
    """A tomographic scan of `beamline` (any object with rotation, flat_motor, shutter, camera)."""

    def __init__(self, beamline: Any, walker: Walker | None = None, projections: int = 180,
                 darks: int = 10, flats: int = 10, flats_after: bool = False, angular_range: Any = 180 * q.deg,
                 continuous: bool = False, metadata: dict[str, Any] | None = None):
        self.beamline = beamline
        self.metadata = dict(metadata or {})  # what devices cannot say: camera_pixel_size, magnification, energy, ...
        self.num_projections = projections
        self.num_darks = darks
        self.num_flats = flats
        self.range = angular_range.to("deg")
        self.continuous = continuous
        acquisitions = [Acquisition("darks", self.take_darks, darks), Acquisition("flats", self.take_flats, flats),
                        Acquisition("projections", self.take_projections, projections)]
        if flats_after:
            acquisitions.append(Acquisition("flats_after", self.take_flats, flats))
        super().__init__(acquisitions, walker, devices=beamline.devices)

    def asked_rate(self, acquisition: str) -> float:
        """Continuous projections are taken at the camera's frame rate; stepped ones wait for the stage."""
        if self.continuous and acquisition == "projections":
            return float(getattr(getattr(self.beamline.camera, "camera", None), "frames_per_second", 0.0) or 0.0)
        return 0.0

    @property
    def angle_step(self) -> Any:
        return self.range / self.num_projections

    def scan_metadata(self) -> dict[str, Any]:
        """What the raw data file should record of this scan (NXtomo: docs/conventions.md, "Output
        metadata"), as plain SI/keV values: the given `metadata` (quantities converted), the
        effective pixel size from `camera_pixel_size` x the camera's binning / `magnification`,
        the field of view (Full: no half acquisition) and the rotation direction."""
        record: dict[str, Any] = {}
        for key, value in self.metadata.items():
            if hasattr(value, "to") and hasattr(value, "magnitude"):
                value = float(value.to("keV" if key == "energy" else "m").magnitude)
            record[key] = value
        camera = getattr(getattr(self.beamline, "camera", None), "camera", None)
        binning = int(getattr(camera, "sensor_horizontal_binning", 1) or 1)
        record.setdefault("binning", binning)
        if "camera_pixel_size" in record and "pixel_size" not in record:
            record["pixel_size"] = record["camera_pixel_size"] * binning / float(record.get("magnification", 1.0))
        record.setdefault("field_of_view", "Full")
        record.setdefault("rotation_direction", "counterclockwise" if self.range.magnitude >= 0 else "clockwise")
        return record

    async def _frames(self, count: int, key: int, angle: float | None = None) -> AsyncIterator[Any]:
        bl = self.beamline
        tags: dict[str, Any] = {"image_key": key} if angle is None else {"image_key": key, "angle": angle}
        async with bl.camera.recording():
            for _ in range(count):
                yield await bl.grab(tags)

    async def take_darks(self) -> AsyncIterator[Any]:
        await self.beamline.shutter.close()
        async for frame in self._frames(self.num_darks, 2):
            yield frame

    async def take_flats(self) -> AsyncIterator[Any]:
        bl = self.beamline
        await bl.flat_motor["position"].stash()
        await bl.flat_motor.set_position(bl.flat_position)
        await bl.shutter.open()
        try:
            async for frame in self._frames(self.num_flats, 1):
                yield frame
        finally:
            await bl.shutter.close()
            await bl.flat_motor["position"].restore()

    async def take_projections(self) -> AsyncIterator[Any]:
        bl = self.beamline
        await bl.rotation.set_position(0 * q.deg)
        await bl.shutter.open()
        step = self.angle_step
        try:
            if self.continuous:
                if not isinstance(bl.rotation, ContinuousRotationMotor) or getattr(bl.camera, "camera", None) is None:
                    raise TypeError("continuous tomography needs a ContinuousRotationMotor and a local camera; "
                                    "use stepped scans (continuous=False) with remote devices")
                async for frame in self._continuous(step):
                    yield frame
            else:
                for i in range(self.num_projections):
                    await bl.rotation.set_position(i * step)
                    async for frame in self._frames(1, 0, math.radians((i * step).to("deg").magnitude)):
                        yield frame
        finally:
            await bl.shutter.close()

    async def _continuous(self, step: Any) -> AsyncIterator[Any]:
        """Rotate at one step per frame period and take frames while turning."""
        bl = self.beamline
        camera = bl.camera.camera
        rate = camera.frames_per_second or 100.0
        camera.frames_per_second = rate
        # The camera takes frames at its rate while the stage turns and keeps them in its
        # buffer, as hardware does: how fast they are read out does not change their angles.
        saved = camera.buffered, camera.num_buffers
        camera.buffered, camera.num_buffers = True, max(camera.num_buffers, self.num_projections)
        bl._sync_camera()
        await bl.rotation.start_motion(step * rate / q.s)
        try:
            async with bl.camera.recording():
                for _ in range(self.num_projections):
                    frame = await bl.camera.grab()
                    frame.meta["image_key"] = 0
                    yield frame
        finally:
            await bl.rotation.stop_motion()
            camera.buffered, camera.num_buffers = saved
