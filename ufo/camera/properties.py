"""Camera properties: typed like task properties, plus who may change them and when."""

from __future__ import annotations

from typing import Any

from ..core.errors import PropertyError
from ..core.properties import Property
from .errors import CameraError


class CameraProperty(Property):
    """A camera property: typed like task properties, plus who may change it and when."""

    owner_kind = "camera"

    def __init__(self, type: type, default: Any = None, *, doc: str, writable: bool = True,
                 while_recording: bool = False, **kwargs: Any):
        super().__init__(type, default, doc=doc, **kwargs)
        self.writable = writable
        self.while_recording = while_recording

    def __set__(self, instance: Any, value: Any) -> None:
        if not self.writable:
            raise PropertyError(f"camera '{instance.name}': property '{self.cli_name}' is read-only")
        if instance.is_recording and not self.while_recording:
            raise PropertyError(f"camera '{instance.name}': property '{self.cli_name}' cannot change while recording; "
                                "stop recording first")
        instance.__dict__[self.name] = self.convert(value, instance.name)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data.update(writable=self.writable, while_recording=self.while_recording)
        return data


class RateProperty(CameraProperty):
    """The frame rate, which may change while recording: the camera's clock then goes on from the next
    frame at the new rate. Frame n was due at t0 + n / rate with t0 fixed: from 100 to 10 frames/s at
    frame 1000 the next frame came 90 s later (a stalled stream), from 10 to 100 the 900 frames past
    their due time were dropped (drops of frames never exposed)."""

    def __set__(self, instance: Any, value: Any) -> None:
        with instance._clock_lock:  # the camera's thread reads the start and the rate together (`_clock`)
            old = instance._period() if instance.is_recording else 0.0
            super().__set__(instance, value)
            if instance.is_recording:
                instance._t0 = rebased(instance._t0, instance._number, old, instance._period())


def rebased(t0: float, number: int, old: float, new: float) -> float:
    """The clock's start that puts frame `number` at its time on the old clock (`old` s a frame), now at
    the soonest, one new period from now at the latest, with `new` s a frame from there."""
    import time

    now = time.monotonic()
    due = t0 + number * old if old else now
    return min(max(due, now), now + new) - number * new


MAX_LAG = 0.25  # s: how far a clocked (simulated) camera may fall behind its clock before it drops frames


def max_lag_property() -> CameraProperty:
    return CameraProperty(float, MAX_LAG, range=(0, None), unit="s", while_recording=True,
                          doc="buffered: how far the simulation may fall behind its clock (a busy host) before "
                              "frames are dropped instead of delivered late (default: the ring buffer's length in "
                              "time, 0.25 s at least); frames the ring had no room for at their time drop at once")


def _ro(type: type, default: Any, doc: str, **kw: Any) -> CameraProperty:
    return CameraProperty(type, default, doc=doc, writable=False, **kw)


class RegionError(CameraError, PropertyError):
    """A region of interest that does not fit the sensor: a bad value (exit 2), which the camera refuses."""


def region(camera: Any) -> tuple[int, int, int, int]:
    """The region of interest (x0, y0, width, height) on `camera`'s binned sensor. One that does not fit
    names the property at fault: roi-x0=600 on a 512-pixel sensor said 'width=-88' (the default
    width 0, all of the rest, turned negative) and failed as a camera fault (exit 1)."""
    width = camera.sensor_width // camera.sensor_horizontal_binning
    height = camera.sensor_height // camera.sensor_vertical_binning
    if width < 1 or height < 1:
        raise RegionError(f"camera '{camera.name}': the {camera.sensor_width} x {camera.sensor_height} sensor binned "
                          f"{camera.sensor_horizontal_binning} x {camera.sensor_vertical_binning} has no pixels")
    w = _span(camera.name, "x0", "width", camera.roi_x0, camera.roi_width, width, "columns")
    h = _span(camera.name, "y0", "height", camera.roi_y0, camera.roi_height, height, "rows")
    if w % camera.roi_width_multiplier or h % camera.roi_height_multiplier:
        raise RegionError(f"camera '{camera.name}': region width must be a multiple of {camera.roi_width_multiplier} "
                          f"and height of {camera.roi_height_multiplier}, got {w} x {h}")
    return camera.roi_x0, camera.roi_y0, w, h


def _span(name: str, first_key: str, size_key: str, first: int, size: int, total: int, what: str) -> int:
    """The region's size along one axis (0: from `first` to the sensor's edge), checked against `total`."""
    if first >= total:
        raise RegionError(f"camera '{name}': roi-{first_key}={first} does not fit the sensor's {total} {what} "
                          f"(binned): roi-{first_key} takes 0 .. {total - 1}")
    if first + (size or total - first) > total:
        raise RegionError(f"camera '{name}': roi-{size_key}={size} from roi-{first_key}={first} does not fit the "
                          f"sensor's {total} {what} (binned): at most {total - first}")
    return size or total - first


#: the properties the region of interest depends on (`set_all` checks it as a whole after them)
_REGION = {"roi_x0", "roi_y0", "roi_width", "roi_height", "sensor_horizontal_binning", "sensor_vertical_binning"}


def set_all(camera: Any, values: dict[str, Any]) -> None:
    """`values` (by attribute name) set on `camera`, all or none: a value refused, or a region that
    does not fit the sensor once all are set, leaves the camera as it was (a camera server kept a
    refused roi-x0=5000, and every later client failed on it until the server was restarted)."""
    before = {name: camera.__dict__[name] for name in values if name in camera.__dict__}
    try:
        for name, value in values.items():
            setattr(camera, name, value)
        if set(values) & _REGION:
            try:
                camera._roi()
            except RegionError:
                raise
            except PropertyError:  # no frames yet to fit (a file camera without its path): at the start
                pass
    except BaseException:
        for name in values:
            camera.__dict__.pop(name, None)
        camera.__dict__.update(before)
        raise
