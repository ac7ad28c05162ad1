"""Detector: a camera as a control device, and LocalCamera, the backend of a ufo.camera Camera here.

The camera API itself is ufo.camera.Camera (blocking, thread-based). An experiment needs more
of it: parameters with units, states checked like any device's ('recording' only after
start_recording), async grabs that leave the event loop free, an emergency stop. Detector adds
exactly that, for a camera in this process (`Detector(camera)`) or a camera server
(`Detector(backend=TangoBackend(address))`, ufo.tango.client): one class, two backends.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import numpy as np

from ..camera.base import Camera
from ..camera.errors import FrameTimeout
from ..core.errors import UsageError
from ..core.frame import Image
from ..core.units import registry
from .backend import Backend, FrameBackend, InProcessBackend
from .bluesky_detector import BlueskyDetector
from .device import Device, check
from .errors import ControlError
from .parameters import Quantity

q = registry()
T = TypeVar("T")


async def in_daemon_thread(call: Callable[[], T], timeout: float | None, what: str) -> T:
    """`call()` in a daemon thread of its own, waited for at most `timeout` s (FrameTimeout after).

    Not asyncio.to_thread: a driver that never returns would hold a worker of the default
    executor, which asyncio.run's shutdown and the interpreter's exit both join - the process
    then never ended, even after Ctrl-C. A daemon thread stuck in the driver is left behind."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if not done.done():
            done.set_exception(error) if error is not None else done.set_result(result)

    def work() -> None:
        try:
            result, error = call(), None
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            result, error = None, exc
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # the loop is closed: nobody waits for this any more
            pass

    def expire() -> None:
        if not done.done():
            done.set_exception(FrameTimeout(f"{what}: no frame within {timeout:g} s (the camera stopped delivering: "
                                            "is it triggered, is its driver hung?)"))

    threading.Thread(target=work, name=what, daemon=True).start()
    # not asyncio.wait_for: in Python 3.11 it returns the result of a future done at the moment the
    # task is cancelled and drops the cancellation: Ctrl-C on `ufo demo` then went unheard (the scan
    # ran on) about once in ten. A plain await of the future keeps every cancellation.
    timer = loop.call_later(timeout, expire) if timeout is not None else None
    try:
        return await done
    finally:
        if timer is not None:
            timer.cancel()
        if done.done() and not done.cancelled():  # a cancel that came with the call's failure (SIGTERM on
            done.exception()  # `ufo demo` mid-grab): retrieved, or asyncio logs "Future exception was never retrieved"


class LocalCamera(InProcessBackend):
    """A ufo.camera Camera in this process behind the Backend protocol (attributes are its properties).
    A grab waits at most `timeout` s (the Detector's, as for a camera server)."""

    def __init__(self, camera: Camera, timeout: float | None = 10.0):
        self.camera = camera
        self.device = f"camera-{camera.name}"
        self.timeout = timeout

    async def read(self, name: str) -> Any:
        return self.camera.get(name)

    async def write(self, name: str, value: Any) -> None:
        self.camera.set(**{name: value})

    async def call(self, command: str, *args: Any) -> Any:
        camera = self.camera
        if command == "start_recording":
            return await asyncio.to_thread(camera.start_recording)
        if command == "stop_recording":  # also the emergency stop: stopping a stopped camera is no error
            return await asyncio.to_thread(camera.stop_recording) if camera.is_recording else None
        if command == "trigger":
            return camera.trigger(json.loads(args[0]) if args and args[0] else {})
        if command in ("register_endpoint", "unregister_endpoint"):
            raise ControlError(f"{self.device}: a camera in this process has no stream endpoints; serve it with "
                               "'ufo tango camera' to stream its frames to other hosts")
        raise ControlError(f"{self.device}: a local camera has no command '{command}'")

    async def state(self) -> str:
        return "running" if self.camera.is_recording else "on"

    async def status(self) -> str:
        return repr(self.camera)

    async def unit(self, name: str) -> str | None:
        return None

    async def frame(self) -> Image:
        camera = self.camera
        return await in_daemon_thread(lambda: camera.grab(timeout=self.timeout), self.timeout,
                                      f"camera '{camera.name}'")


class Detector(BlueskyDetector, Device):
    """A camera as a device: parameters with units, a recording context, async grabs with tags.

    With a camera server (a backend without frames of its own) a grab registers a stream
    endpoint on the server once and receives from it; `register_endpoint` gives other
    consumers (a walker server, a reconstruction server) their own streams. In a Bluesky plan
    (`bp.count([detector])`) it is a detector: `stage`, `trigger` (one frame), `read`
    (ufo.control.bluesky_detector).
    """

    kind = "camera"
    config_fields = ("exposure_time", "frame_rate")  # Bluesky's read_configuration(), with units
    exposure_time = Quantity("s", lower=0 * q.s, upper=3600 * q.s, doc="exposure time")
    frame_rate = Quantity("1/s", lower=0 * q("1/s"), doc="frames per second (0: free running)")

    def __init__(self, camera: Camera | None = None, name: str | None = None, *, backend: Backend | None = None,
                 host: str = "127.0.0.1", timeout: float = 10.0):
        if (camera is None) == (backend is None):
            raise UsageError("Detector takes a ufo.camera Camera (Detector(camera)) or a backend "
                             "(Detector(backend=TangoBackend(address))), one of them")
        if backend is None:
            assert camera is not None
            backend = LocalCamera(camera, timeout)
        super().__init__(name or getattr(backend, "device", None) or "camera", backend)
        self.host = host
        self._timeout = timeout
        self._stream: tuple[str, Any] | None = None  # endpoint address and receiver of grab()

    @property
    def timeout(self) -> float:
        """Seconds a grab waits for a frame, here or from a camera server."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self._timeout = value
        if isinstance(self.backend, LocalCamera):
            self.backend.timeout = value

    @property
    def camera(self) -> Camera | None:
        """The ufo.camera Camera when it is in this process (None for a camera server)."""
        return getattr(self.backend, "camera", None)

    async def _get_exposure_time(self) -> Any:
        return (await self.io.read("exposure_time")) * q.s

    async def _set_exposure_time(self, value: Any) -> None:
        await self.io.write("exposure_time", value.to("s").magnitude)

    async def _get_frame_rate(self) -> Any:
        return (await self.io.read("frames_per_second")) * q("1/s")

    async def _set_frame_rate(self, value: Any) -> None:
        await self.io.write("frames_per_second", value.to("1/s").magnitude)

    async def get(self, name: str) -> Any:
        """Any camera property by name (as `ufo camera info` lists them)."""
        return await self.io.read(name.replace("-", "_"))

    async def set(self, name: str, value: Any) -> None:
        await self.io.write(name.replace("-", "_"), value)

    @check(source="standby", target="recording")
    async def start_recording(self) -> None:
        await self.io.call("start_recording")
        self.state = "recording"

    @check(source="recording", target="standby")
    async def stop_recording(self) -> None:
        """A camera server stops once every triggered frame has been sent."""
        await self.io.call("stop_recording")
        self.state = "standby"

    @asynccontextmanager
    async def recording(self) -> AsyncIterator[Detector]:
        await self.start_recording()
        try:
            yield self
        finally:
            if self.state == "recording":
                await self.stop_recording()

    async def software_trigger(self, **tags: Any) -> None:
        """One exposure (software trigger); `tags` (image_key, angle, ...) go into that frame's metadata."""
        await self.io.call("trigger", json.dumps(tags))

    async def register_endpoint(self, mode: str = "push", port: int = 0) -> str:
        """A new stream of this camera's frames; returns the address a consumer connects to."""
        return str(await self.io.call("register_endpoint", f"tcp://{self.host}:{port} {mode}"))

    async def unregister_endpoint(self, address: str) -> int:
        """Ends that stream (after every triggered frame); returns the frames sent there."""
        return int(await self.io.call("unregister_endpoint", address))

    async def grab(self, **tags: Any) -> Image:
        """The next frame here, triggered with `tags` in software-trigger mode; `tags` join its metadata."""
        if self.state != "recording":
            raise ControlError(f"{self.name}: not recording; use 'async with camera.recording():'")
        local = isinstance(self.backend, FrameBackend)
        if not local and self._stream is None:  # before the trigger: a frame sent to no endpoint is lost
            from ..net.receiver import FrameReceiver

            address = await self.register_endpoint()
            self._stream = (address, FrameReceiver(address, timeout=self.timeout, name=self.name))
        if await self.get("trigger_source") == "software":
            await self.software_trigger(**tags)
        if local:
            frame = await self.backend.frame()  # type: ignore[attr-defined]
            frame.meta.update(tags)
            return frame
        assert self._stream is not None
        item = await asyncio.to_thread(self._stream[1].receive)
        if item is None:
            raise ControlError(f"{self.name}: the camera ended the stream")
        pixels, meta = item
        return Image(np.array(pixels), {**meta, **tags})

    async def stream(self, count: int | None = None) -> AsyncIterator[Image]:
        n = 0
        while count is None or n < count:
            yield await self.grab()
            n += 1

    async def close_stream(self) -> None:
        """End the stream grab() receives from a camera server (the next grab opens a new one): a
        scan that takes free-running frames through an endpoint of its own closes it first, so that
        those frames do not queue up here and come out of a later grab."""
        if self._stream is not None:
            address, receiver = self._stream
            self._stream = None
            try:
                await self.unregister_endpoint(address)
            finally:
                receiver.close()

    async def disconnect(self) -> None:
        await self.close_stream()
        await super().disconnect()

    async def emergency_stop(self) -> None:
        await self.io.call("stop_recording")
        self.state = "standby"
