"""Helical (spiral) tomography: the sample rises with the rotation by `pitch` per turn.

A sample taller than the field of view is scanned in one go: stepped, the vertical stage is
set with each projection (z = z0 + pitch x (angle - start_angle) / 360 deg); continuous, it
moves at pitch x rotation speed / 360 deg while the stage turns. Every frame records the
height the stage had when it was exposed (read back, not the set point) as NXtomo's
`/entry/sample/z_translation` (m, one value per frame, darks and flats included), beside its
angle and image key. Reconstructing helical data is left to a later step; the file is complete
for it (docs/control.md, "Scan kinds").
"""

from __future__ import annotations

from typing import Any

from ..core.units import registry
from ..storage.walker import Walker
from .continuous import position_at, start_linear_motion
from .scanrange import check_range
from .tomography import Tomography

q = registry()


class HelicalTomography(Tomography):
    """A Tomography whose vertical stage (`vertical`, by default the beamline's `sample_z`) moves
    `pitch` (a length) per full turn; the other arguments are Tomography's."""

    def __init__(self, beamline: Any, walker: Walker | None = None, pitch: Any = 1 * q.mm,
                 vertical: Any = None, **options: Any):
        super().__init__(beamline, walker, **options)
        self.pitch = pitch.to("mm")
        self.vertical = vertical if vertical is not None else beamline.sample_z
        self._z0: Any = None  # the height at the first projection, read when the projections start
        if all(device is not self.vertical for device in self.devices):
            self.devices.append(self.vertical)  # its state is logged and it stops on emergency

    def height(self, angle: Any) -> Any:
        """Where the vertical stage belongs at rotation `angle`."""
        return (self._z0 + self.pitch * ((angle - self.start_angle) / (360 * q.deg)).to("")).to("mm")

    async def frame_tags(self, stamp: float | None = None) -> dict[str, Any]:
        """The vertical stage's height at the frame's time, in metres (NXtomo's z_translation)."""
        z = await position_at(self.vertical, stamp)
        return {"z_translation": float(z.to("m").magnitude)}

    async def move_to_angle(self, angle: Any) -> None:
        """The rotation at `angle`, the vertical stage at its height there (a stepped projection, or
        where a held continuous scan turns again from)."""
        if self._z0 is None:
            self._z0 = (await self.vertical.get_position()).to("mm")
        await self.beamline.rotation.set_position(angle)
        await self.vertical.set_position(self.height(angle))

    async def start_motions(self, velocity: Any) -> None:
        await self.beamline.rotation.start_motion(velocity)
        await start_linear_motion(self.vertical, (self.pitch * velocity / (360 * q.deg)).to("mm/s"))

    async def stop_motions(self) -> None:
        try:
            await self.beamline.rotation.stop_motion()
        finally:
            await self.vertical.stop()

    async def prepare(self) -> None:
        """The rotation's range (Tomography's check), and the vertical stage's travel over it: a
        helix past the stage's limit stopped it there while the rotation went on (a continuous
        scan ended as a success, half its projections off the helix), or failed a stepped one
        after its darks, flats and half its projections."""
        await super().prepare()
        z0 = (await self.vertical.get_position()).to("mm")
        last = self.start_angle + self.range if self.continuous else self.projection_angle(self.num_projections - 1)
        rise = (self.pitch * ((last - self.start_angle) / (360 * q.deg)).to("")).to("mm")
        await check_range(self.vertical, z0, z0 + rise, self.current, "mm")

    async def run(self) -> str:
        """One helical scan; the vertical stage starts from where it stands."""
        self._z0 = None
        return await super().run()

    def scan_metadata(self) -> dict[str, Any]:
        record = super().scan_metadata()
        record["helical_pitch"] = float(self.pitch.to("m").magnitude)  # per full turn, m
        return record
