"""Tomography on a beamline: darks (shutter closed), flats (sample out) before and after,
projections over 180 or 360 degrees from `start_angle` with stepped or continuous rotation.
Continuous scans run with a camera here (angles from the simulated stage at each frame's time)
or with a camera server and a Tango motor (ufo.control.continuous: angles from the motor's
`position_at` the frame's timestamp). Other scan kinds (helical, offset-axis, radiography,
sample sequences) build on this class in their own modules; docs/control.md, "Scan kinds".

Suspended by a beam loss (ufo.control.suspenders), a scan closes its shutter, waits, reopens it
and retakes the spoiled frame at the same angle (stepped scans) or goes back and turns again from
it (continuous scans with a camera here; paused ones too); `flats_action()` takes fresh flats
before it goes on."""

from __future__ import annotations

import logging
import math
import operator
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from ..core.errors import UsageError
from ..core.units import angular, is_quantity, registry, to_unit
from ..storage.walker import Walker
from .continuous import local_projections, remote_projections
from .motors import ContinuousRotationMotor
from .errors import ControlError
from .experiment import Acquisition, Experiment
from .scanrange import check_range

q = registry()
LOG = logging.getLogger(__name__)
MAX_RANGE = 36000.0  # degrees a scan may turn (100 turns: a helical scan's many, not a typo's 1e308)


def scan_count(name: str, value: Any, least: int) -> int:
    """A count of frames, checked before anything moves (0 projections divided by zero after the darks
    and flats were taken; -5 ended a scan of none without a word)."""
    try:
        count = operator.index(value)  # ints and numpy's integers, not 2.5
    except TypeError:
        count = None
    if isinstance(value, bool) or count is None or count < least:
        raise UsageError(f"Tomography: {name}={value!r} must be a whole number of at least {least}")
    return count


def scan_angle(name: str, value: Any) -> Any:
    """An angle with its unit, in degrees, finite; checked before anything moves."""
    if not is_quantity(value) or not angular(value.units):  # pint takes a bare 3.14 quantity as radians
        raise UsageError(f"Tomography: {name} takes an angle with its unit (e.g. 180 * q.deg), got {value!r}")
    try:
        degrees = value.to("deg")
        finite = math.isfinite(float(degrees.magnitude))
    except Exception as err:  # 10**400 deg overflows float
        raise UsageError(f"Tomography: {name} takes one finite angle (deg, rad), got {str(value)[:40]}") from err
    if not finite:
        raise UsageError(f"Tomography: {name} {value:~} is not a finite angle")
    return degrees


class Tomography(Experiment):
    """A tomographic scan of `beamline` (any object with rotation, flat_motor, shutter, camera)."""

    def __init__(self, beamline: Any, walker: Walker | None = None, projections: int = 180,
                 darks: int = 10, flats: int = 10, flats_after: bool = False, angular_range: Any = 180 * q.deg,
                 continuous: bool = False, metadata: dict[str, Any] | None = None, start_angle: Any = 0 * q.deg):
        self.beamline = beamline
        self.metadata = dict(metadata or {})  # what devices cannot say: camera_pixel_size, magnification, energy, ...
        self.num_projections = scan_count("projections", projections, 1)
        self.num_darks = scan_count("darks", darks, 0)
        self.num_flats = scan_count("flats", flats, 0)
        self.range = scan_angle("angular_range", angular_range)
        if abs(self.range.magnitude) > MAX_RANGE:  # 0 is a radiography series: every frame at one angle
            raise UsageError(f"Tomography: angular_range {angular_range:~g} is more than {MAX_RANGE:g} degrees "
                             f"({MAX_RANGE / 360:g} turns)")
        if continuous and self.range.magnitude == 0:  # a turning stage must turn: it divided by 0 after the flats
            raise UsageError("Tomography: a continuous scan needs an angular_range other than 0 (a series at one "
                             "angle is Radiography, or continuous=False)")
        self.start_angle = scan_angle("start_angle", start_angle)  # the first projection's angle; recorded true
        if abs(self.start_angle.magnitude) > MAX_RANGE:  # 1e20 deg was taken, every angle recorded as 1e20
            raise UsageError(f"Tomography: start_angle {start_angle:~g} is more than {MAX_RANGE:g} degrees from 0")
        self.continuous = continuous
        acquisitions = [Acquisition("darks", self.take_darks, darks), Acquisition("flats", self.take_flats, flats),
                        Acquisition("projections", self.take_projections, projections)]
        if flats_after:
            acquisitions.append(Acquisition("flats_after", self.take_flats, flats))
        super().__init__(acquisitions, walker, devices=beamline.devices)
        self._shutter_was: str | None = None  # the shutter's state when a suspender tripped
        self._paused_was: tuple[str, str] | None = None  # shutter's and camera's states when paused
        self._turning = False  # continuous projections under way: the stage turns between frames
        self._resumable = False  # ... taken by `local_projections`, which go back and on after a hold
        #: a hold stopped the turning stage: the continuous projections go back and on from the next one
        self.rewind = False

    def asked_rate(self, acquisition: str) -> float:
        """Continuous projections are taken at the camera's frame rate; stepped ones wait for the stage."""
        if self.continuous and acquisition == "projections":
            return float(getattr(getattr(self.beamline.camera, "camera", None), "frames_per_second", 0.0) or 0.0)
        return 0.0

    @property
    def angle_step(self) -> Any:
        return self.range / self.num_projections

    def projection_angle(self, index: int) -> Any:
        """The angle of stepped projection `index`."""
        return (self.start_angle + index * self.angle_step).to("deg")

    async def frame_tags(self, stamp: float | None = None) -> dict[str, Any]:
        """Hook: per-frame metadata besides image_key and angle, of the stages at wall-clock time
        `stamp` (a frame's timestamp; now when None): a helical scan's height (`z_translation`)."""
        return {}

    async def move_to_projection(self, index: int) -> None:
        """Put the stages where stepped projection `index` is taken."""
        await self.move_to_angle(self.projection_angle(index))

    async def move_to_angle(self, angle: Any) -> None:
        """Hook: put the stages where rotation `angle` is taken (a helical scan also lifts)."""
        await self.beamline.rotation.set_position(angle)

    async def start_motions(self, velocity: Any) -> None:
        """Hook: start turning at `velocity` for a continuous scan (a helical scan also lifts)."""
        await self.beamline.rotation.start_motion(velocity)

    async def stop_motions(self) -> None:
        await self.beamline.rotation.stop_motion()

    def scan_metadata(self) -> dict[str, Any]:
        """What the raw data file should record of this scan (NXtomo: docs/conventions.md, "Output
        metadata"), as plain SI/keV values: the given `metadata` (quantities converted), the
        effective pixel size from `camera_pixel_size` x the camera's binning / `magnification`,
        the camera's exposure time, the field of view (Full: no half acquisition) and the rotation direction."""
        record: dict[str, Any] = {}
        for key, value in self.metadata.items():
            if hasattr(value, "to") and hasattr(value, "magnitude"):
                value = float(value.to("keV" if key == "energy" else "m").magnitude)
            record[key] = value
        camera = getattr(getattr(self.beamline, "camera", None), "camera", None)
        binning = int(getattr(camera, "sensor_horizontal_binning", 1) or 1)
        record.setdefault("binning", binning)
        exposure = getattr(camera, "exposure_time", None)  # NXtomo's count_time (nabu, tomoscan read it)
        if isinstance(exposure, (int, float)) or is_quantity(exposure):
            record.setdefault("exposure_time", to_unit(exposure, "s"))
        if "camera_pixel_size" in record and "pixel_size" not in record:
            record["pixel_size"] = record["camera_pixel_size"] * binning / float(record.get("magnification", 1.0))
        record.setdefault("field_of_view", "Full")
        record.setdefault("rotation_direction", "counterclockwise" if self.range.magnitude >= 0 else "clockwise")
        return record

    async def _frames(self, count: int, key: int, setup: Callable[[], Awaitable[Any]],
                      teardown: Callable[[], Awaitable[Any]] | None = None) -> AsyncGenerator[Any, bool | None]:
        """`count` frames of one kind; one the experiment rejects (`yield` answers True: a suspender
        tripped) is taken again, in a new recording, so no frame of the held time is served."""
        bl = self.beamline
        if count <= 0:  # none asked for: the stages and the shutter stay as they are
            return
        await setup()
        try:
            taken = 0
            while taken < count:
                async with bl.camera.recording():
                    while taken < count:
                        if (yield await bl.grab({"image_key": key, **await self.frame_tags()})):
                            break
                        taken += 1
        finally:
            if teardown is not None:
                await teardown()

    def take_darks(self) -> AsyncGenerator[Any, bool | None]:
        return self._frames(self.num_darks, 2, self.beamline.shutter.close)

    def take_flats(self) -> AsyncGenerator[Any, bool | None]:
        bl = self.beamline

        async def sample_out() -> None:
            await bl.flat_motor["position"].stash()
            await bl.flat_motor.set_position(bl.flat_position)
            await bl.shutter.open()

        async def sample_in() -> None:
            await bl.shutter.close()
            await bl.flat_motor["position"].restore()

        return self._frames(self.num_flats, 1, sample_out, sample_in)

    def flats_action(self, name: str = "flats_resumed") -> Acquisition:
        """Fresh flats as a suspender's post action: `SuspendBelow(..., post=[tomo.flats_action()])`."""
        return Acquisition(name, self.take_flats, self.num_flats)

    async def prepare(self) -> None:
        """Before the darks: the range within the rotation stage's limits (a scan stopped at its
        91st projection, or a continuous one that went on at the limit); suspenders need frames
        that pass through here and angles that can be taken again."""
        last = self.start_angle + self.range if self.continuous else self.projection_angle(self.num_projections - 1)
        await check_range(self.beamline.rotation, self.start_angle, last, self.current)
        if not self.suspenders:
            return
        from ..core.errors import UsageError

        if getattr(self.beamline.camera, "camera", None) is None:
            raise UsageError(f"{self.current}: suspenders need a camera in this process; a camera server streams "
                             "its frames straight to the walker server, which cannot mark the spoiled ones invalid")

    async def on_suspend(self) -> None:
        """Beam lost: close the shutter (the sample gets no dose while the scan waits) and stop the
        camera (the retake starts a new recording; flats taken meanwhile need the camera); a turning
        stage stops (the continuous scan goes back and on from the spoiled frame)."""
        self._shutter_was, _ = await self._make_safe()
        await self._halt()

    async def _halt(self) -> None:
        """Stop a continuous scan's turning stage for a hold; its projections resume after it."""
        if self._turning and self._resumable:
            self.rewind = True
            if self.beamline.rotation.state == "moving":
                await self.stop_motions()

    async def _make_safe(self) -> tuple[str, str]:
        """Shutter closed, camera not recording; returns what they were."""
        bl = self.beamline
        was = (bl.shutter.state, bl.camera.state)
        await bl.shutter.close()
        if bl.camera.state == "recording":
            await bl.camera.stop_recording()
        return was

    def pause(self) -> None:
        """As Experiment.pause(). A continuous scan's projections with a camera here stop turning and
        resume where they stopped (`local_projections`); with a camera server the pause is refused (a
        ControlError saying why, nothing held) while they are taken: the stage turns between frames
        and the server's stream cannot be taken back; abort() it, or pause before or after them."""
        refused = (f"{self.current}: a continuous scan through a camera server cannot be paused while it takes its "
                   "projections (the stage turns between frames: the angles after a hold would not continue the "
                   "sequence); it goes on; abort() stops it")
        if self._turning and not self._resumable:
            raise ControlError(refused)

        def hold() -> None:  # on the run's loop, where the projections may have started meanwhile
            if self._turning and not self._resumable:
                LOG.warning("%s", refused)
            else:
                self.hold.pause()

        self._on_loop(hold)

    async def on_pause(self) -> None:
        """Paused by hand: as on a suspension, the shutter closes (no dose while nobody scans) and the
        camera stops (a free-running one made frames into nothing), a turning stage stops; on_unpause
        undoes it (a continuous scan's projections restart the camera and the stage themselves)."""
        self._paused_was = await self._make_safe()
        await self._halt()

    async def on_unpause(self) -> None:
        """The shutter opens and the camera records again if they did when paused (the producer
        goes on inside its recording)."""
        shutter, camera = self._paused_was or ("closed", "standby")
        self._paused_was = None
        if shutter == "open":
            await self.beamline.shutter.open()
        if camera == "recording" and self.beamline.camera.state != "recording" and not self.rewind:
            await self.beamline.camera.start_recording()

    async def on_resume(self) -> None:
        """Reopen the shutter if it was open when the scan was suspended."""
        if self._shutter_was == "open":
            await self.beamline.shutter.open()

    async def take_projections(self) -> AsyncGenerator[Any, bool | None]:
        bl = self.beamline
        if self.continuous and not isinstance(bl.rotation, ContinuousRotationMotor):
            from ..core.errors import UsageError

            raise UsageError(f"{bl.rotation.name}: continuous tomography needs a ContinuousRotationMotor (for a "
                             "Tango motor server: ContinuousRotationMotor(name, backend=TangoBackend(address)))")
        self._turning = self.continuous  # before any await: a pause() from now on is refused or resumable
        self._resumable = self._turning and getattr(bl.camera, "camera", None) is not None
        try:
            await self.move_to_projection(0)
            await bl.shutter.open()
        except BaseException:
            self._turning = False
            raise
        step = self.angle_step
        try:
            if self.continuous:
                if self._resumable:
                    frames = local_projections(self, step)
                    retake = None
                    try:
                        while True:
                            try:
                                frame = await frames.asend(retake)
                            except StopAsyncIteration:
                                break
                            retake = yield frame
                    finally:  # closed with this one (a stopped run): its stage stopped, its camera as it was
                        await frames.aclose()
                else:  # no retakes: prepare() refuses suspenders without a camera here
                    async for frame in remote_projections(self, step):
                        yield frame
            else:
                for i in range(self.num_projections):
                    retake = True
                    while retake:  # the same angle again after a suspension
                        await self.move_to_projection(i)
                        tags = {"image_key": 0, "angle": math.radians(self.projection_angle(i).magnitude),
                                **await self.frame_tags()}
                        async with bl.camera.recording():
                            retake = yield await bl.grab(tags)
        finally:
            self._turning = self._resumable = self.rewind = False
            await bl.shutter.close()
