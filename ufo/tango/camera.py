"""UfoCamera: any ufo camera as a Tango device; frames go to registered ZMQ endpoints.

Camera properties become attributes with their units and limits. `register_endpoint`
binds a stream endpoint (`tcp://127.0.0.1:0` for a free port; add ` pub` for a lossy one)
and returns its address for the consumer (a walker or reconstruction server, a
`zmq-receive` task, a Detector client) to connect to. Every endpoint gets every frame
of every recording until it is unregistered, when it gets the end message. `trigger(tags)`
in software-trigger mode puts the JSON tags (image_key, angle) into that frame's metadata,
and stopping waits for every triggered frame to be sent, so no frame is lost between a
trigger and the end of a stream.
"""

from __future__ import annotations

import json
import math
import threading
import time
from typing import Any

import numpy as np
from tango import AttrWriteType, DevState
from tango.server import attribute, command, device_property

from ..camera import camera_class, open_camera
from ..camera.errors import FrameTimeout
from ..camera.scene import scene_option
from ..net.fanout import Fanout
from ..tomo.phantom import PhantomScene
from .base import JobDevice, parse_json

_TYPES = {int: "int64", float: "float64", str: "str", bool: "bool"}


class UfoCamera(JobDevice):
    camera = device_property(dtype=str, default_value="mock", doc="camera plugin (ufo camera list)")
    settings = device_property(dtype=str, default_value="{}", doc="JSON object of camera properties set at start")
    stream_timeout = device_property(dtype=float, default_value=30.0,
                                     doc="seconds a reliable endpoint may keep a frame waiting before it is given up")
    buffers = device_property(dtype=int, default_value=8, doc="frames in flight per recording")

    def init_device(self) -> None:
        super().init_device()
        scene = scene_option(camera_class(self.camera), PhantomScene())  # a mock camera shows the phantom
        self.cam = open_camera(self.camera, **scene, **parse_json(self.settings, "settings"))
        self.fanout = Fanout(self.stream_timeout)
        self._triggered = 0
        self._grabbed = 0
        self._last: np.ndarray | None = None
        self._lock = threading.Lock()

    def delete_device(self) -> None:
        super().delete_device()
        if getattr(self, "cam", None) is not None and self.cam.is_recording:
            self.cam.stop_recording()
        if getattr(self, "fanout", None) is not None:
            self.fanout.close()

    # -- camera properties as attributes ------------------------------------------------
    def initialize_dynamic_attributes(self) -> None:
        for name, prop in type(self.cam).properties().items():
            if prop.array or prop.type not in _TYPES:
                continue
            options: dict[str, Any] = {"doc": prop.doc}
            if prop.unit:
                options["unit"] = prop.unit
            if prop.range is not None and prop.type in (int, float):
                low, high = prop.range
                if low is not None:
                    options["min_value"] = str(low)
                if high is not None:
                    options["max_value"] = str(high)
            if prop.choices:
                options["doc"] = f"{prop.doc} (one of: {', '.join(map(str, prop.choices))})"
            access = AttrWriteType.READ_WRITE if prop.writable else AttrWriteType.READ
            self.add_attribute(attribute(name=name, dtype=_TYPES[prop.type], access=access, fget=self._read_property,
                                         fset=self._write_property if prop.writable else None, **options))

    def _read_property(self, attr: Any) -> Any:
        value = self.cam.get(attr.get_name())
        if value is None:
            return math.nan if type(self.cam).properties()[attr.get_name()].type is float else ""
        return value

    def _write_property(self, attr: Any) -> None:
        value = attr.get_write_value()
        if isinstance(value, float) and math.isnan(value):
            value = None
        self.cam.set(**{attr.get_name(): value})

    # -- status ---------------------------------------------------------------------------
    def dev_state(self) -> DevState:
        if self.job.error:
            return DevState.FAULT
        return DevState.RUNNING if self.cam.is_recording else DevState.ON

    @attribute(dtype=int, doc="frames sent since the last start")
    def frames_sent(self) -> int:
        return self._grabbed

    @attribute(dtype=int, doc="frames the camera had no buffer for")
    def frames_dropped(self) -> int:
        return int(self.cam.dropped)

    @attribute(dtype=(str,), max_dim_x=64, doc="registered endpoints with what each was sent")
    def endpoints(self) -> list[str]:
        return self.fanout.status()

    @attribute(dtype=(int,), max_dim_x=2, doc="rows, columns of a frame")
    def frame_shape(self) -> list[int]:
        return list(self.cam.frame_shape)

    @attribute(dtype=str, doc="numpy dtype of frames")
    def frame_dtype(self) -> str:
        return self.cam.dtype.str

    @attribute(dtype=((float,),), max_dim_x=65536, max_dim_y=65536, doc="the last frame sent (for a preview)")
    def last_frame(self) -> Any:
        if self._last is None:
            return np.zeros((1, 1))
        return self._last.astype(np.float64)

    # -- endpoints ------------------------------------------------------------------------
    @command(dtype_in=str, dtype_out=str, doc_in="tcp://host:port [push|pub] (port 0: a free one)",
             doc_out="the bound address to connect to")
    def register_endpoint(self, endpoint: str) -> str:
        return self.fanout.add(endpoint)

    @command(dtype_in=str, dtype_out=int, doc_in="an address register_endpoint returned",
             doc_out="frames sent there")
    def unregister_endpoint(self, address: str) -> int:
        self._drain()
        return self.fanout.remove(address)

    # -- recording ------------------------------------------------------------------------
    @command
    def start_recording(self) -> None:
        self._start(None)

    @command(dtype_in=int, doc_in="frames to record and send")
    def record(self, number: int) -> None:
        """Record `number` frames and stop by itself."""
        if number < 1:
            raise ValueError(f"record takes a number of frames >= 1, got {number}")
        self._start(number)

    def _start(self, number: int | None) -> None:
        if self.cam.is_recording:
            raise RuntimeError(f"{self.get_name()} is already recording; stop_recording first")
        self.cam.start_recording()
        self._triggered = self._grabbed = 0
        self.job.start(lambda: self._stream(number), "streaming")

    @command
    def stop_recording(self) -> None:
        if not self.cam.is_recording:
            return
        self._drain()
        self.job.stop.set()
        self.cam.stop_recording()
        self.job.cancel(self.stream_timeout)

    def _drain(self, timeout: float | None = None) -> None:
        """Wait until every software trigger so far became a sent frame."""
        if not self.cam.is_recording or self.cam.trigger_source != "software":
            return
        deadline = time.monotonic() + (timeout if timeout is not None else self.stream_timeout)
        while self._grabbed < self._triggered and self.job.running and time.monotonic() < deadline:
            time.sleep(0.002)

    @command(dtype_in=str, doc_in='JSON tags for the frame, e.g. {"image_key": 0, "angle": 0.1} (or "")')
    def trigger(self, tags: str) -> None:
        values = parse_json(tags, "trigger tags")
        with self._lock:
            self._triggered += 1
        self.cam.trigger(values)

    @command(dtype_in=str, doc_in="JSON tags or an empty string")
    def grab(self, tags: str) -> None:
        """One frame now (starts and stops recording if needed), sent to every endpoint and kept in last_frame."""
        values = parse_json(tags, "grab tags")
        if self.cam.is_recording:
            if self.cam.trigger_source == "software":
                self.trigger(json.dumps(values))
                self._drain()
                return
            raise RuntimeError("grab while recording freely: frames already stream; read last_frame")
        with self.cam.recording():
            if self.cam.trigger_source == "software":
                self.cam.trigger(values)
            frame = self.cam.grab()
            frame.meta.update(values)
            # on the request thread: an endpoint nobody listens at gets a second, not the stream timeout
            self.fanout.send(np.asarray(frame), frame.meta, patience=1.0)
            self._last = np.array(frame)

    def _stream(self, number: int | None) -> str:
        cam = self.cam
        slots = [np.empty(cam.frame_shape, cam.dtype) for _ in range(max(self.buffers, 2))]
        trackers: list[list[Any]] = [[] for _ in slots]
        count = 0
        try:
            while number is None or count < number:
                slot = count % len(slots)
                # zmq may still send from this buffer: hold it until done (ufo.net.wire's one rule)
                if not self.fanout.wait(trackers[slot], self.job.stop):
                    if self.job.stop.is_set():
                        break
                    raise RuntimeError(f"frame {count - len(slots)} was still being sent after "
                                       f"{self.stream_timeout:g} s (receivers stalled?)")
                try:
                    frame = cam.grab(out=slots[slot], timeout=0.5)
                except FrameTimeout:  # a slow camera (1 frame/s, software triggers seconds apart): waited
                    if self.job.stop.is_set() or not cam.is_recording:  # for again, as `ufo camera serve` does
                        break
                    continue
                except Exception:
                    if self.job.stop.is_set() or not cam.is_recording:
                        break
                    raise
                trackers[slot] = self.fanout.send(slots[slot], frame.meta, self.job.stop)
                self._last = slots[slot]
                count += 1
                self._grabbed = count
        except Exception as exc:
            self.fanout.error(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            if number is not None and count >= number and cam.is_recording:
                cam.stop_recording()
        return f"streamed {count} frame(s)"
