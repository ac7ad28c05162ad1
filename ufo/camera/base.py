"""The camera API (libuca's, in Python): standard properties, states, grabbing.

A plugin subclasses `Camera`, sets its sensor's read-only properties and implements
`_acquire(out, number)` (fill `out` with the next frame, honouring its timing), and
optionally `_start`, `_stop` and `_readout`. Everything else (trigger modes, the ring
buffer, callbacks, mirror/rotate, state checks and messages) is here, shared.

Simulated cameras (mock, replay, file) set `clocked = True`: the base class then runs them on
their own clock as hardware runs. Frame n is due at t0 + n / frames_per_second. Buffered,
a frame is dropped (counted, its number skipped) when the ring buffer has no free slot
at its due time (the ring's occupancy then, counting frames read since), or when the
simulation itself is more than `max_lag` (default: the ring's length in time) behind its
clock, so a slow consumer shows as drops, never as a camera that slowed down (a frame made
a little late shows its due time's timestamp and angle, as a camera's memory keeps it).
Unbuffered, each grab waits for its frame's time; later grabs count as `late` in `stats`.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np

from ..core.clock import wall_at
from ..core.errors import PropertyError, suggest
from ..core.frame import Image
from ..core.properties import declared
from .callback import FrameCallback
from .clock import CameraClock
from .errors import CameraError, EndOfFrames, FrameTimeout
from .properties import MAX_LAG, CameraProperty, RateProperty, _ro, max_lag_property, region, set_all
from .ring import RingBuffer
from .stats import CameraStats


class Camera(CameraClock):
    """Base of every camera plugin; use `ufo.camera.open_camera(name, **properties)`."""

    name: ClassVar[str] = "camera"
    clocked: ClassVar[bool] = False  # the base class paces frames at frames_per_second (simulated cameras)

    sensor_width = _ro(int, 0, "sensor width in pixels")
    sensor_height = _ro(int, 0, "sensor height in pixels")
    sensor_pixel_width = _ro(float, 6.5e-6, "pixel width", unit="m")
    sensor_pixel_height = _ro(float, 6.5e-6, "pixel height", unit="m")
    sensor_bitdepth = _ro(int, 16, "bits per pixel")
    sensor_horizontal_binning = CameraProperty(int, 1, range=(1, 16), doc="horizontal binning")
    sensor_vertical_binning = CameraProperty(int, 1, range=(1, 16), doc="vertical binning")
    exposure_time = CameraProperty(float, 0.01, range=(0, 3600), unit="s", while_recording=True, doc="exposure time")
    frames_per_second = RateProperty(float, 0.0, range=(0, None), while_recording=True,
                                     doc="frame rate (0: as fast as possible; simulated: as it is read)")
    roi_x0 = CameraProperty(int, 0, range=(0, None), doc="first column of the region of interest")
    roi_y0 = CameraProperty(int, 0, range=(0, None), doc="first row of the region of interest")
    roi_width = CameraProperty(int, 0, range=(0, None), doc="columns of the region of interest (0: all)")
    roi_height = CameraProperty(int, 0, range=(0, None), doc="rows of the region of interest (0: all)")
    roi_width_multiplier = _ro(int, 1, "the region's width must be a multiple of this")
    roi_height_multiplier = _ro(int, 1, "the region's height must be a multiple of this")
    trigger_source = CameraProperty(str, "auto", choices=("auto", "software", "external"), doc="what starts an exposure")
    trigger_type = CameraProperty(str, "edge", choices=("edge", "level"), doc="external trigger: edge or level")
    buffered = CameraProperty(bool, False, doc="acquire into a ring buffer in the background")
    num_buffers = CameraProperty(int, 8, range=(1, 100000), doc="slots of the ring buffer")
    has_streaming = _ro(bool, True, "the camera can stream frames")
    has_camram_recording = _ro(bool, False, "the camera records into its own memory")
    recorded_frames = _ro(int, 0, "frames in the camera's memory")
    is_recording = _ro(bool, False, "the camera is recording")
    is_readout = _ro(bool, False, "the camera is in readout mode")
    mirror = CameraProperty(bool, False, doc="mirror frames left-right")
    rotate = CameraProperty(int, 0, choices=(0, 90, 180, 270), doc="rotate frames counter-clockwise (degrees)")

    def __init__(self, **properties: Any):
        self._number, self._ring, self._thread = 0, None, None  # type: int, RingBuffer | None, threading.Thread | None
        self._stop_event = threading.Event()
        self._triggers = threading.Semaphore(0)
        self._trigger_tags: collections.deque[dict[str, Any]] = collections.deque()
        self.tags: dict[str, Any] = {}  # what the trigger of the frame being acquired said about it
        self._callback: FrameCallback | None = None  # start_grab_callback's thread and the errors it met
        self._t0, self._made, self._lag = 0.0, 0, 0.0  # the clock's start; frames made on it, how late the latest
        self._clock_lock = threading.RLock()  # the start and the rate change together (RateProperty)
        self._due: float | None = None  # when the frame being acquired is due (monotonic), None when unclocked
        self.stats = CameraStats(camera=self.name)
        self.set(**properties)

    # -- properties -------------------------------------------------------------------
    @classmethod
    def properties(cls) -> dict[str, CameraProperty]:
        return declared(cls, CameraProperty)

    def _find(self, name: str) -> CameraProperty:
        props = self.properties()
        key = name.replace("-", "_")
        if key not in props:
            hint = suggest(key, props)
            raise PropertyError(f"camera '{self.name}' has no property '{name}'.{hint} "
                                f"Properties: {', '.join(p.cli_name for p in props.values())}")
        return props[key]

    def set(self, **properties: Any) -> Camera:
        set_all(self, {self._find(key).name: value for key, value in properties.items()})  # all or none
        return self

    def get(self, name: str) -> Any:
        return getattr(self, self._find(name).name)

    def describe(self) -> list[dict[str, Any]]:
        return [{**prop.to_dict(), "value": getattr(self, key)} for key, prop in self.properties().items()]

    def _state(self, **values: Any) -> None:
        """Change read-only state properties (the camera itself may)."""
        self.__dict__.update(values)

    # -- geometry ---------------------------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        bits = self.sensor_bitdepth
        return np.dtype(np.uint8 if bits <= 8 else np.uint16 if bits <= 16 else np.uint32)

    _roi = region  # (x0, y0, width, height), checked against the sensor

    @property
    def sensor_shape(self) -> tuple[int, int]:
        """Shape of what the sensor delivers (region of interest, before mirror and rotate)."""
        _, _, w, h = self._roi()
        return (h, w)

    @property
    def frame_shape(self) -> tuple[int, int]:
        h, w = self.sensor_shape
        return (w, h) if self.rotate in (90, 270) else (h, w)

    # -- plugin hooks -----------------------------------------------------------------
    def _start(self) -> None:
        """Prepare the hardware (or simulation) for recording."""

    def _stop(self) -> None:
        """Stop the hardware."""

    def _acquire(self, out: np.ndarray, number: int) -> dict[str, Any]:
        """Fill `out` (sensor shape) with frame `number`; block as the camera would; extra metadata."""
        raise NotImplementedError

    def _readout(self, index: int, out: np.ndarray) -> None:
        raise CameraError(f"camera '{self.name}' has no internal memory to read out")

    def _check_frame(self, number: int) -> None:
        """Raise EndOfFrames when a finite camera has no frame `number` (checked for dropped frames too)."""

    # -- states -----------------------------------------------------------------------
    def start_recording(self) -> None:
        if self.is_recording:
            raise CameraError(f"camera '{self.name}' is already recording")
        if self.is_readout:
            raise CameraError(f"camera '{self.name}' is in readout mode; stop_readout() first")
        self._roi()
        self._number, self._made, self._lag = 0, 0, 0.0
        self._callback = None  # errors of an earlier recording's callback were raised by its stop_recording
        self._ring = None  # a ring of an earlier, buffered recording must not serve this one
        self._stop_event.clear()
        self._triggers = threading.Semaphore(0)
        self._trigger_tags.clear()
        self._start()
        h, w = self.sensor_shape
        self.stats = CameraStats(camera=self.name, fps_asked=float(self.frames_per_second),
                                 frame_bytes=h * w * self.dtype.itemsize, buffered=bool(self.buffered))
        self._t0 = time.monotonic()  # the camera's clock starts
        self._state(is_recording=True)
        if self.buffered:
            self._ring = RingBuffer(self.num_buffers, self.sensor_shape, self.dtype)
            self._thread = threading.Thread(target=self._fill_ring, name=f"ufo:camera:{self.name}", daemon=True)
            self._thread.start()

    def stop_recording(self) -> None:
        if not self.is_recording:
            raise CameraError(f"camera '{self.name}' is not recording")
        self._stop_event.set()
        self._triggers.release()
        if self._ring is not None:
            self._ring.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)
        self._thread = None
        if self._callback is not None:
            self._callback.join(10)
        self._stop()
        self._state(is_recording=False)
        if self._callback is not None and (error := self._callback.error()) is not None:
            raise error  # the camera is stopped; what the callback thread met reaches its owner here

    @property
    def callback_errors(self) -> list[BaseException]:
        """Exceptions of the frame callback in this (or the last) recording; see start_grab_callback."""
        return list(self._callback.errors) if self._callback is not None else []

    @contextmanager
    def recording(self) -> Iterator[Camera]:
        self.start_recording()
        try:
            yield self
        finally:
            if self.is_recording:
                self.stop_recording()

    def start_readout(self) -> None:
        if self.is_recording:
            raise CameraError(f"camera '{self.name}' is recording; stop_recording() before reading out its memory")
        if not self.has_camram_recording:
            raise CameraError(f"camera '{self.name}' has no internal memory to read out")
        self._state(is_readout=True)

    def stop_readout(self) -> None:
        self._state(is_readout=False)

    def readout(self, index: int, out: np.ndarray | None = None) -> Image:
        if not self.is_readout:
            raise CameraError(f"camera '{self.name}' is not in readout mode; call start_readout() first")
        if not 0 <= index < self.recorded_frames:
            raise CameraError(f"camera '{self.name}' holds {self.recorded_frames} frames; index {index} does not exist")
        target = out if out is not None else np.empty(self.sensor_shape, self.dtype)
        self._readout(index, target)
        return Image(target, {"frame_number": index, "camera": self.name})

    def trigger(self, tags: dict[str, Any] | None = None) -> None:
        """Release one exposure (trigger-source=software).

        `tags` (e.g. image_key and angle) go into that frame's metadata: the one who triggers
        knows what the frame shows, the camera does not."""
        if not self.is_recording:
            raise CameraError(f"camera '{self.name}' is not recording; start_recording() before triggering")
        self._trigger_tags.append(dict(tags or {}))
        self._triggers.release()

    # -- frames -----------------------------------------------------------------------
    def _wait_trigger(self, timeout: float | None = None) -> None:
        """In software-trigger mode, wait (up to `timeout` seconds) for `trigger()` and take its tags."""
        self.tags = {}
        if self.trigger_source == "software":
            if not self._triggers.acquire(timeout=timeout):  # an unbuffered grab waited for ever
                raise FrameTimeout(f"no trigger within {timeout} s (trigger_source=software: call trigger())")
            if self._stop_event.is_set():
                raise CameraError(f"camera '{self.name}' stopped recording")
            self.tags = self._trigger_tags.popleft() if self._trigger_tags else {}

    def _frame_meta(self, number: int, due: float | None, meta: dict[str, Any]) -> dict[str, Any]:
        if due is not None:
            self._made, self._lag = self._made + 1, time.monotonic() - due
        # a clocked frame's exposure time, through the process's clock map: a motor here converts it back exactly
        stamp = wall_at(due if due is not None else time.monotonic())
        return {"frame_number": number, "timestamp": stamp, "camera": self.name, **meta, **self.tags}

    def _next(self, out: np.ndarray, timeout: float | None = None) -> dict[str, Any]:
        self._wait_trigger(timeout)
        number = self._number
        self._check_frame(number)
        auto = self.trigger_source == "auto"  # a software trigger taken is never lost to a timeout
        due = self._due = self._schedule(number, timeout if auto else None)
        self._number += 1  # a frame due after the timeout is the next grab's
        if due is not None and auto and time.monotonic() - due > self._period():
            self.stats.late += 1  # unbuffered: the consumer asked later than the frame rate allows
        meta = self._acquire(out, number) or {}
        return self._frame_meta(number, due, meta)

    def _fill_ring(self) -> None:
        ring = self._ring
        assert ring is not None
        spare: np.ndarray | None = None
        while not self._stop_event.is_set():
            try:
                if self.clocked and not self._period():  # no clock to keep: no frame is due, none dropped
                    ring.wait_free(self._stop_event)
                self._wait_trigger()
                number = self._number
                self._number += 1
                self._check_frame(number)
                due = self._due = self._schedule(number)
                slot = ring.free_slot()
                if self.clocked and (slot is None or self._behind(due)):
                    # a simulated frame nobody can take (ring full) or whose time has passed: dropped, not made
                    ring.drop(number)
                    continue
                if slot is None and spare is None:
                    spare = np.empty(self.sensor_shape, self.dtype)
                meta = self._frame_meta(number, due, self._acquire(slot if slot is not None else spare, number) or {})
            except Exception as exc:  # stopping, the end of a finite camera, or a failure: grab() reports it
                if not self._stop_event.is_set():
                    ring.error = exc
                ring.close()
                return
            if slot is None:
                ring.drop(number)  # every slot holds an unread frame: drop this one, never overwrite
            else:
                ring.commit(meta)

    @property
    def dropped(self) -> int:
        """Frames the ring buffer had no room for (buffered mode)."""
        return self._ring.dropped if self._ring is not None else 0

    def grab(self, out: np.ndarray | None = None, timeout: float | None = 10.0) -> Image:
        """The next frame, into `out` when given (zero copy without mirror/rotate), with metadata."""
        if not self.is_recording:
            raise CameraError(f"camera '{self.name}' is not recording; call start_recording() before grab()")
        shape = self.frame_shape
        if out is not None and (out.shape != shape or out.dtype != self.dtype):
            raise CameraError(f"grab needs an array of shape {shape} and dtype {self.dtype}, got {out.shape} {out.dtype}")
        direct = not self.mirror and self.rotate == 0
        target = (out if out is not None else np.empty(shape, self.dtype)) if direct else np.empty(self.sensor_shape, self.dtype)
        try:
            meta = self._ring.take(target, timeout) if self._ring is not None else self._next(target, timeout)
        except FrameTimeout as exc:  # the ring's words name no camera and no frame: a scan's log needs both
            raise FrameTimeout(f"camera '{self.name}': {exc} after {self.stats.received} frame(s) of this "
                               "recording") from exc
        except EndOfFrames:  # a finite camera's end: its drops after the last frame taken are counted too
            self.stats.end_with(self.dropped)
            raise
        self.stats.see(meta)
        if self._ring is not None:  # dropped before this frame (the ring's own count runs ahead of the grabs)
            meta["dropped"] = self.stats.dropped
        if not direct:
            turned = np.rot90(target[:, ::-1] if self.mirror else target, self.rotate // 90)
            result = out if out is not None else np.empty(shape, self.dtype)
            np.copyto(result, turned)
            target = result
        return Image(target, meta)

    def frames(self, count: int | None = None) -> Iterator[Image]:
        """Grab `count` frames (all, for finite cameras) while recording."""
        n = 0
        while count is None or n < count:
            yield self.grab()
            n += 1

    def start_grab_callback(self, callback: Callable[[Image], Any]) -> None:
        """Asynchronous mode: call `callback(frame)` in a thread for every frame until stop_recording();
        its exceptions do not stop delivery: kept (`callback_errors`), stop_recording() raises the first."""
        if not self.is_recording:
            self.start_recording()
        self._callback = FrameCallback(self, callback)
        self._callback.start()

    def close(self) -> None:
        if self.is_recording:
            self.stop_recording()

    def __enter__(self) -> Camera:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "recording" if self.is_recording else "readout" if self.is_readout else "idle"
        return f"<{type(self).__name__} '{self.name}' {self.frame_shape} {self.dtype} {state}>"


__all__ = ["MAX_LAG", "Camera", "CameraProperty", "max_lag_property"]
