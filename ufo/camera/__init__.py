"""Cameras (libuca in Python): one API, plugins through the `ufo.cameras` entry points.

    from ufo.camera import open_camera
    with open_camera("mock", sensor_width=1024, frames_per_second=100) as camera, camera.recording():
        frame = camera.grab()            # a numpy array with .meta (frame_number, timestamp)
    print(camera.stats.summary())        # frames received and dropped, frames/s reached of asked, MB/s
"""

from __future__ import annotations

import functools
import importlib
from importlib.metadata import entry_points
from typing import Any

from ..core.errors import UsageError, suggest
from .base import Camera, CameraProperty
from .errors import CallbackWarning, CameraError, EndOfFrames, FrameTimeout
from .stats import CameraStats, DroppedFramesWarning, FrameStats

GROUP = "ufo.cameras"
_BUILTIN = {"mock": "ufo.camera.mock:MockCamera", "file": "ufo.camera.file:FileCamera",
            "net": "ufo.camera.net:NetCamera", "replay": "ufo.camera.replay:ReplayCamera"}

__all__ = ["CallbackWarning", "Camera", "CameraError", "CameraProperty", "CameraStats", "DroppedFramesWarning",
           "EndOfFrames", "FrameStats", "FrameTimeout", "camera_class", "names", "open_camera"]


@functools.cache
def _points() -> dict[str, Any]:
    found: dict[str, Any] = {ep.name: ep for ep in entry_points(group=GROUP)}
    for name, target in _BUILTIN.items():
        found.setdefault(name, target)
    return found


def names() -> list[str]:
    return sorted(_points())


def camera_class(name: str) -> type[Camera]:
    points = _points()
    if name not in points:
        raise UsageError(f"unknown camera '{name}'.{suggest(name, points)} Available: {', '.join(sorted(points))}")
    point = points[name]
    if isinstance(point, str):
        module, _, attr = point.partition(":")
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
    return point.load()  # type: ignore[no-any-return]


def open_camera(name: str, **properties: Any) -> Camera:
    """A camera by plugin name, with properties set ('exposure_time="5 ms"' works too)."""
    return camera_class(name)(**properties)
