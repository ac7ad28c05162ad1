"""Radiography series: N frames of the sample at one angle (a time series, a dose test, a
sample check), with darks and flats so that each frame can be flat-field corrected.

It is a tomography that does not turn: the same darks, flats, shutter handling, suspenders
(a frame spoiled by a beam loss is taken again) and NXtomo file (image key 0, every frame at
`angle`), so every ufo reader and `ufo run` pipeline opens it as it opens a scan.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator
from typing import Any

from ..core.errors import UsageError
from ..core.units import registry
from ..storage.walker import Walker
from .tomography import Tomography

q = registry()


class Radiography(Tomography):
    """`frames` radiographs at rotation `angle`, `interval` seconds apart (0: as fast as the camera
    goes), after `darks` and `flats` (and again flats with `flats_after`)."""

    def __init__(self, beamline: Any, walker: Walker | None = None, frames: int = 10, angle: Any = 0 * q.deg,
                 interval: Any = 0 * q.s, darks: int = 10, flats: int = 10, flats_after: bool = False,
                 metadata: dict[str, Any] | None = None):
        if frames < 1:
            raise UsageError(f"a radiography series takes frames >= 1, got {frames}")
        super().__init__(beamline, walker, projections=frames, darks=darks, flats=flats, flats_after=flats_after,
                         angular_range=0 * q.deg, metadata=metadata, start_angle=angle)
        self.interval = float(interval.to("s").magnitude) if hasattr(interval, "to") else float(interval)
        if not 0 <= self.interval < math.inf:  # NaN or inf: the series hung after its first frame
            raise UsageError(f"a radiography series takes a finite interval >= 0 s, got {self.interval:g} s")

    def scan_metadata(self) -> dict[str, Any]:
        record = super().scan_metadata()
        record.pop("rotation_direction", None)  # the stage does not turn
        record["scan_kind"] = "radiography"
        record["frame_interval"] = self.interval
        return record

    async def take_projections(self) -> AsyncGenerator[Any, bool | None]:
        """Every frame at the same angle; a spoiled one is taken again (the experiment's `yield` answers True)."""
        bl = self.beamline
        await self.move_to_projection(0)
        await bl.shutter.open()
        tags = {"image_key": 0, "angle": math.radians(self.start_angle.magnitude)}
        try:
            for i in range(self.num_projections):
                if i and self.interval:
                    await asyncio.sleep(self.interval)
                retake = True
                while retake:
                    async with bl.camera.recording():
                        retake = yield await bl.grab({**tags, **await self.frame_tags()})
        finally:
            await bl.shutter.close()
