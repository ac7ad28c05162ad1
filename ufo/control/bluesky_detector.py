"""A camera as a Bluesky detector: `stage`, `trigger`, `read`, `describe`, `unstage`.

Why: `bp.count([Detector(camera)])` failed with an AttributeError: a RunEngine asks a detector
to `trigger()` and watches the Status it returns, then `read()`s what was acquired, where a
Detector only had an awaitable software trigger. This mixin gives ufo's Detector that shape
(ophyd-async's StandardDetector is the model): `stage()` connects a detector not connected yet
and starts recording unless it records already, `trigger()` takes one frame exposed after it (`grab`,
a software trigger where the camera is set so) and keeps it, `read()` hands it over as an array with its frame number and dropped count,
`unstage()` stops what `stage()` started. Every call returns a `Status` (ufo.control.status)
that plans wait for and ufo code can await. The frames go into the documents as arrays: fine
for counts and small detectors; a tomography writes its frames to files (ufo.control.addons).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..core.clock import wall_at
from .status import Status


#: seconds a frame may have begun before the trigger and count as after it: two processes' clock
#: maps (a camera server's stamps) agree to well within this
SLACK = 1e-3


def _exposed_before(stamp: Any, since: float) -> bool:
    return isinstance(stamp, (int, float)) and since - 3600 < stamp < since - SLACK


class BlueskyDetector:
    """Bluesky's Triggerable, Readable and Stageable for ufo.control.detector.Detector."""

    name: str
    state: str
    _frame: Any = None  # the frame of the last trigger()
    _staged_recording = False  # stage() started the recording (unstage() stops it)

    def stage(self) -> Status:
        """Start recording for the plan (a camera that records already is left as it is)."""
        return Status(self._stage(), f"{self.name}: stage")

    async def _stage(self) -> list[Any]:
        if self.state == "disconnected":  # `RE(bp.count([Detector(camera)]))` as written: stage did nothing
            await self.connect()  # type: ignore[attr-defined]  # and trigger said "not recording"
        if self.state == "standby":
            await self.start_recording()  # type: ignore[attr-defined]
            self._staged_recording = True
        return [self]

    def unstage(self) -> Status:
        """Stop the recording stage() started."""
        return Status(self._unstage(), f"{self.name}: unstage")

    async def _unstage(self) -> list[Any]:
        if self._staged_recording and self.state == "recording":
            await self.stop_recording()  # type: ignore[attr-defined]
        self._staged_recording = False
        return [self]

    def trigger(self) -> Status:
        """Take one frame (what `read()` then returns); done once it arrived."""
        return Status(self._take(), f"{self.name}: trigger")

    async def _take(self) -> None:
        """A frame exposed after the trigger. A free-running camera staged for the whole plan has
        frames queued (buffered) or due (unbuffered, late) from before it: a scan's event at 45 deg
        held the frame exposed at 7.8 deg while the stage still turned. Those are skipped by their
        timestamps (their exposure's start, on the wall clock); a stamp that is no wall-clock time
        (a camera's own counter) is not compared."""
        since = wall_at(time.monotonic())
        frame = await self.grab()  # type: ignore[attr-defined]
        while _exposed_before(frame.meta.get("timestamp"), since):
            frame = await self.grab()  # type: ignore[attr-defined]
        self._frame = frame

    async def read(self) -> dict[str, dict[str, Any]]:  # type: ignore[override]
        """The last frame: {name: the pixels, name-frame_number, name-dropped} with its timestamp."""
        frame = self._frame
        if frame is None:
            return {}
        meta = frame.meta
        stamp = float(meta.get("timestamp", time.time()))
        readings = {self.name: {"value": np.asarray(frame), "timestamp": stamp}}
        for key, value in self._counters(meta).items():
            readings[f"{self.name}-{key}"] = {"value": value, "timestamp": stamp}
        return readings

    def _counters(self, meta: dict[str, Any]) -> dict[str, int]:
        """The frame's number and the frames the camera dropped so far (from the frame, else from the
        camera's statistics): both in every reading, as describe() says (the dropped count was
        missing where the camera did not put it into each frame)."""
        stats = getattr(getattr(self, "camera", None), "stats", None)
        dropped = meta.get("dropped", getattr(stats, "dropped", 0))
        return {"frame_number": int(meta.get("frame_number", 0)), "dropped": int(dropped or 0)}

    async def describe(self) -> dict[str, dict[str, Any]]:  # type: ignore[override]
        """Data keys of `read()`: the frame (an array of the camera's shape and type) and its counters."""
        if self._frame is not None:
            shape, dtype = np.asarray(self._frame).shape, np.asarray(self._frame).dtype
        else:
            camera = getattr(self, "camera", None)
            shape = camera.frame_shape if camera is not None else (0, 0)
            dtype = np.dtype(getattr(camera, "dtype", np.uint16))
        source = f"ufo:{self.name}"
        keys = {self.name: {"source": source, "dtype": "array", "shape": list(shape), "dtype_numpy": dtype.str}}
        for key in ("frame_number", "dropped"):
            keys[f"{self.name}-{key}"] = {"source": source, "dtype": "integer", "shape": []}
        return keys
