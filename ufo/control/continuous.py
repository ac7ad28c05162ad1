"""Positions at a frame's own time, and continuous projections from a camera server.

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
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.clock import monotonic_at
from ..core.frame import Image
from ..core.units import registry
from .errors import ControlError
from .motors import SimulatedMotor
from .scanrange import RangeGuard

if TYPE_CHECKING:
    from .tomography import Tomography

q = registry()


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
