"""360-degree offset-axis tomography (half acquisition): a sample wider than the detector.

The rotation stage is moved sideways by `offset` so that the rotation axis projects near one
edge of the detector; over a full turn every part of the sample passes through the field of
view once, and `ufo reco --half-acquisition` stitches each projection with its opposite one
(ufo.tomo.halftomo). The file says so: NXtomo `field_of_view` "Half" (and `half_acquisition`
true), `x_rotation_axis_pixel_position` (the axis, in pixels from the detector's centre, the
place the `nxtomo` package and nabu read it from) and, per frame, the lateral stage's position
as `/entry/sample/x_translation` (m). The stage goes back where it was after the scan.
"""

from __future__ import annotations

import math
from typing import Any

from ..core.errors import UsageError
from ..core.units import is_quantity, registry
from ..storage.walker import Walker
from .continuous import position_at
from .tomography import Tomography

q = registry()


class OffsetAxisTomography(Tomography):
    """A Tomography over `angular_range` (360 deg by default) with the rotation axis moved by
    `offset` (a length at the sample) through the `lateral` stage (by default the beamline's
    `sample_x`). `pixel_size` (effective, at the sample) turns the offset into detector pixels;
    without it, `metadata` must give `pixel_size` or `camera_pixel_size` (with `magnification`)."""

    def __init__(self, beamline: Any, walker: Walker | None = None, offset: Any = 0 * q.mm,
                 lateral: Any = None, pixel_size: Any = None, **options: Any):
        options.setdefault("angular_range", 360 * q.deg)
        if pixel_size is not None:  # a plain 6.5 was taken as metres: an axis 0.0002 px off centre
            if not is_quantity(pixel_size) or not pixel_size.check("[length]"):
                raise UsageError(f"an offset-axis scan takes pixel_size as a length (e.g. 6.5 * q.um), got {pixel_size!r}")
            options["metadata"] = {**(options.get("metadata") or {}), "pixel_size": pixel_size}
        super().__init__(beamline, walker, **options)
        if abs(self.range.to("deg").magnitude) < 359.0:
            raise UsageError(f"an offset-axis scan needs a full turn (angular_range=360 * q.deg), not {self.range:~g}: "
                             "each projection is completed by its opposite one")
        self.offset = offset.to("mm")
        self.lateral = lateral if lateral is not None else beamline.sample_x
        if all(device is not self.lateral for device in self.devices):
            self.devices.append(self.lateral)
        self._moved = False

    def axis_pixels(self) -> float:
        """The axis' distance from the detector's centre in (binned) pixels: offset / effective pixel size."""
        pixel = super().scan_metadata().get("pixel_size")
        if pixel is None:
            raise UsageError("an offset-axis scan needs the effective pixel size: give pixel_size=... (a length) or "
                             "metadata camera_pixel_size (and magnification)")
        if not 0 < float(pixel) < math.inf:
            raise UsageError(f"an offset-axis scan needs an effective pixel size above 0, got {pixel} m")
        return float(self.offset.to("m").magnitude) / float(pixel)

    def scan_metadata(self) -> dict[str, Any]:
        record = super().scan_metadata()
        record["field_of_view"] = "Half"
        record["x_rotation_axis_pixel_position"] = self.axis_pixels()
        record["rotation_axis_offset"] = float(self.offset.to("m").magnitude)  # lateral, at the sample, m
        return record

    async def frame_tags(self, stamp: float | None = None) -> dict[str, Any]:
        x = await position_at(self.lateral, stamp)
        return {"x_translation": float(x.to("m").magnitude)}

    async def prepare(self) -> None:
        """Move the axis off centre before the darks, so that every frame records the same offset."""
        await super().prepare()
        self.axis_pixels()  # fail before anything moves when the pixel size is unknown
        await self.lateral["position"].stash()
        self._moved = True
        await self.lateral.move(self.offset)

    async def finish(self) -> None:
        """The lateral stage goes back where it was, also after errors."""
        if self._moved:
            self._moved = False
            await self.lateral["position"].restore()
        await super().finish()
