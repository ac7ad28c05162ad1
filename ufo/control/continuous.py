"""Positions at a frame's own time, and continuous projections: from a camera in this process
(resumed after a pause or a beam loss) or from a camera server.

A turning stage cannot be read at the instant a frame is exposed: the frame says when it was
exposed (its `timestamp`, wall-clock seconds, stamped by the camera's own clock) and the
motor says where it was then (`position_at`). A simulated motor in this process answers from
its clock; a Tango motor server (ufo.tango.motor) answers its `position_at` command. So the
angles and heights recorded for a continuous scan are the true ones, however late the frames
are read out. Both clocks must agree (one host, or hosts synchronised by NTP/PTP).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.clock import monotonic_at
from ..core.frame import Image
from ..core.units import registry
from .errors import ControlError
from .motors import SimulatedMotor
from .scanrange import RangeGuard, RangeWatch, camera_behind, within_limits

if TYPE_CHECKING:
    from .tomography import Tomography

q = registry()
#: seconds of turning at the scan's speed (at least RUN_UP_STEPS steps) that a continuous scan starts
#: before its first angle and before the angle it resumes at: a real stage reaches its speed there
RUN_UP_SECONDS = 0.25
RUN_UP_STEPS = 2


async def position_at(motor: Any, stamp: float | None) -> Any:
    """Where `motor` was at wall-clock time `stamp` (now when None), as a quantity in its unit."""
    backend = motor.io
    unit = q(getattr(motor, "_remote_unit", motor.unit))
    if stamp is None:
        return await motor.get_position()
    if isinstance(backend, SimulatedMotor):
        return backend.position_at(monotonic_at(stamp)) * unit
    return float(await backend.call("position_at", float(stamp))) * unit


async def start_linear_motion(motor: Any, velocity: Any) -> None:
    """Move a linear stage at `velocity` until stopped (the vertical stage of a helical scan); the
    simulated motor and the Tango motor server both take `start_motion`."""
    await motor.io.call("start_motion", velocity.to(f"{getattr(motor, '_remote_unit', motor.unit)}/s").magnitude)


async def remote_projections(tomo: Tomography, step: Any) -> AsyncIterator[Image]:
    """Continuous projections through a camera server: the camera runs free at its frame rate
    (trigger source 'auto', the stage turning at one step per frame period), its frames come here
    through a stream endpoint registered before recording starts, and each frame gets the
    angle the rotation stage had at the frame's timestamp. Hardware triggering by the stage is not
    simulated; the timestamps make the angles true without it."""
    from ..net.receiver import FrameReceiver

    bl = tomo.beamline
    camera = bl.camera
    if not getattr(bl, "local_frames", True):
        from ..core.errors import UsageError

        raise UsageError(f"{camera.name}: a continuous scan with a camera server takes its frames here, where they get "
                         "their angles; use RemoteBeamline(..., local_frames=True) and a local ImageWriter")
    source = await camera.get("trigger_source")
    await camera.set("trigger_source", "auto")
    rate = float(await camera.get("frames_per_second") or 0.0) or 100.0
    await camera.set("frames_per_second", rate)
    await camera.close_stream()  # the darks' stream would queue every free-running frame for the flats after
    address = await camera.register_endpoint()
    receiver = FrameReceiver(address, timeout=camera.timeout, name=camera.name)
    start = float(tomo.start_angle.to("deg").magnitude)
    guard = RangeGuard(tomo, start, start + float(tomo.range.to("deg").magnitude), float(step.to("deg").magnitude))
    try:
        await tomo.start_motions(step * rate / q.s)
        async with guard, camera.recording():  # the guard stops the stage past the range's end
            for _ in range(tomo.num_projections):
                item = await asyncio.to_thread(receiver.receive)
                if item is None:
                    raise ControlError(f"{camera.name}: the camera ended its stream during a continuous scan")
                pixels, meta = item
                stamp = meta.get("timestamp")
                angle = await position_at(bl.rotation, stamp)
                if guard.error is not None and (angle.to("deg").magnitude - guard.end) * guard.direction > 0:
                    raise guard.error  # a frame past the end: the camera lagged while the stage turned on
                tags = {"image_key": 0, "angle": math.radians(angle.to("deg").magnitude),
                        **await tomo.frame_tags(stamp)}
                yield Image(np.array(pixels), {**meta, **tags})
    finally:
        if not guard.stopped:
            await tomo.stop_motions()
        try:
            await camera.unregister_endpoint(address)
        finally:
            receiver.close()
            await camera.set("trigger_source", source)


async def local_projections(tomo: Tomography, step: Any) -> AsyncGenerator[Any, bool | None]:
    """Continuous projections from a camera in this process: the stage turns at one step per frame
    period, the camera takes frames at its rate into its buffer (as hardware does: how fast they are
    read out does not change their angles), each frame with the stage's angle at its time. The
    stage starts a run-up before the first angle and the camera records before it turns, so the
    first projection is the first frame past the start, however long the camera took to start
    (started after the stage, a camera two frame periods late took the last projection past the
    range's end, and the scan failed).

    Held (a pause, or a suspender that tripped: `tomo.rewind` set, the stage stopped by the
    experiment's hooks), the scan resumes where it stopped: the frames the camera buffered after
    the last one kept are thrown away, the stage goes back RUN_UP_SECONDS of turning before the
    next projection's angle (a step after the last one kept), the camera records, the stage turns
    again, and the frames before that angle (less half a step) are skipped: the projections go on
    within half a step of where the next one was due, with the angles the stage had (a free-running
    camera is not triggered at angles: exactly on the grid needs a stage that triggers it). A frame
    the experiment rejects (`yield` answers True: a suspender tripped while it was taken) is taken
    again so."""
    bl = tomo.beamline
    camera = bl.camera.camera
    saved = camera.buffered, camera.num_buffers, camera.frames_per_second  # given back after the scan
    rate = camera.frames_per_second or 100.0
    camera.frames_per_second = rate
    camera.buffered, camera.num_buffers = True, max(camera.num_buffers, tomo.num_projections)
    bl._sync_camera()
    start = float(tomo.start_angle.to("deg").magnitude)
    end, degrees = start + float(tomo.range.to("deg").magnitude), float(step.to("deg").magnitude)
    direction = 1.0 if end >= start else -1.0
    run_up = direction * max(RUN_UP_STEPS * abs(degrees), RUN_UP_SECONDS * rate * abs(degrees))
    taken, last = 0, None  # projections kept, and the angle of the last one
    tomo.rewind, resumed = False, False
    try:
        while taken < tomo.num_projections:
            # the next projection's angle: a step after the last one kept (a free-running camera's
            # frames have the phase they had; the grid's where the camera gave no angle)
            target = start + taken * degrees if last is None else last + degrees
            await tomo.move_to_angle(await within_limits(bl.rotation, target - run_up) * q.deg)
            watch = RangeWatch(tomo.current, target, end, degrees, tomo.num_projections)
            guard = RangeGuard(tomo, target - run_up, end, degrees)
            skipped, most = 0, int(abs(run_up / degrees)) + 2 * int(rate) + 8
            # the first projection past the start (the range's own), a resumed one from half a step before
            ahead = -abs(degrees) / 2 if resumed else 0.0
            try:
                async with guard, bl.camera.recording():
                    await tomo.start_motions(step * rate / q.s)  # recording first: no angle of the turn missed
                    while taken < tomo.num_projections:
                        frame = await bl.camera.grab()
                        angle = frame.meta.get("angle")
                        degree = None if angle is None else math.degrees(float(angle))
                        if degree is not None and (degree - target) * direction <= ahead:
                            skipped += 1  # the run-up: angles taken before the hold
                            if skipped > most:
                                raise ControlError(f"{tomo.current}: resuming at {target:.4g} deg, the rotation stage "
                                                   f"stood at {degree:.4g} deg after {skipped} frames; the scan "
                                                   f"stopped after {taken} of {tomo.num_projections} projections")
                            continue
                        if skipped and "frame_number" in frame.meta:  # the run-up's frames, not drops
                            stats = tomo.frame_stats.get("projections")
                            if stats is not None:
                                stats.skip_to(frame.meta["frame_number"])
                            skipped = 0
                        try:
                            watch.check(degree, taken)
                        except ControlError as exc:  # the guard's error says it stopped the stage; the camera why
                            raise camera_behind(guard.error or exc, camera, rate) from None
                        frame.meta["image_key"] = 0
                        frame.meta.update(await tomo.frame_tags(frame.meta.get("timestamp")))
                        if (yield frame):  # spoiled: taken again, after the stage went back
                            tomo.rewind = True
                        else:
                            taken += 1
                            last = degree if degree is not None else last
                        if tomo.rewind:  # held meanwhile: the stage was stopped, the frames after are stale
                            break
            finally:
                if not guard.stopped and bl.rotation.state == "moving":
                    await tomo.stop_motions()
            tomo.rewind, resumed = False, True
    finally:
        camera.buffered, camera.num_buffers, camera.frames_per_second = saved
