"""Devices on other hosts, through Tango: TangoCamera, TangoLinearMotor, TangoRotationMotor,
RemoteWalker, RemoteReconstruction; remote addons; a beamline made of them.

They have the local devices' API (parameters with units, states, `async with`), so a session
mixes local and remote devices freely. Frames do not pass through this process: the camera
server streams them over ZMQ straight to the walker and reconstruction servers, which the
remote addons set up. A server that is gone gives a ControlError that names it and says
how to start it.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np

from ..core.frame import Image
from ..core.units import registry
from .device import Device
from .errors import ControlError
from .experiment import Addon, Experiment
from .parameters import Quantity

q = registry()
_GONE = ("API_CantConnectToDevice", "API_DeviceNotExported", "API_CorbaException", "API_ServerNotRunning",
         "API_DeviceTimedOut", "API_CommunicationFailed", "API_CantConnectToDatabase", "API_DeviceNotDefined")


def _tango() -> Any:
    from ..tango import require_tango

    return require_tango()


class TangoDevice(Device):
    """A Tango device by address ('tango://127.0.0.1:10000/ufo/walker/1#dbase=no' or 'ufo/walker/1')."""

    server = "?"

    def __init__(self, address: str, name: str | None = None, timeout: float = 10.0):
        super().__init__(name or address)
        self.address = address
        self.timeout = timeout
        self._proxy: Any = None

    @property
    def proxy(self) -> Any:
        if self._proxy is None:
            tango = _tango()
            try:
                self._proxy = tango.DeviceProxy(self.address)
                self._proxy.set_timeout_millis(int(self.timeout * 1000))
            except tango.DevFailed as exc:
                raise self._error(exc, "connect") from None
        return self._proxy

    def _error(self, exc: Any, what: str) -> ControlError:
        errors = exc.args
        reasons = {e.reason for e in errors}
        desc = errors[0].desc.strip() if errors else str(exc)
        for error in errors:  # the first Python error of the server says most
            if error.reason == "PyDs_PythonError":
                desc = error.desc.strip().splitlines()[-1]
                break
        if reasons & set(_GONE):
            return ControlError(f"{self.name}: the Tango device at {self.address} is not reachable ({what}): "
                                f"{desc.splitlines()[0]}. Is its server running? Start it with 'ufo tango {self.server}'")
        return ControlError(f"{self.name}: {what} failed: {desc}")

    def call(self, what: str, *args: Any) -> Any:
        """Run a command (or read/write an attribute: 'read:name', 'write:name') in this thread."""
        tango = _tango()
        proxy = self.proxy
        try:
            if what.startswith("read:"):
                return proxy.read_attribute(what[5:]).value
            if what.startswith("write:"):
                return proxy.write_attribute(what[6:], args[0])
            return proxy.command_inout(what, *args)
        except tango.DevFailed as exc:
            raise self._error(exc, what) from None

    async def acall(self, what: str, *args: Any) -> Any:
        return await asyncio.to_thread(self.call, what, *args)

    async def connect(self) -> TangoDevice:
        await asyncio.to_thread(lambda: self.proxy and self.call("State"))
        self.state = "standby"
        return self

    async def remote_state(self) -> str:
        return str(await self.acall("State")).lower()

    async def wait_while(self, busy: tuple[str, ...], timeout: float | None = None, poll: float = 0.02) -> None:
        """Wait until the server leaves the busy states; its FAULT becomes a ControlError with its status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (state := await self.remote_state()) in busy:
            if deadline is not None and time.monotonic() > deadline:
                raise ControlError(f"{self.name}: still {state} after {timeout:g} s ({await self.acall('Status')})")
            await asyncio.sleep(poll)
        if state == "fault":
            raise ControlError(f"{self.name}: {await self.acall('Status')}")


class _TangoMotor(TangoDevice):
    server = "motor"
    unit = "mm"

    async def connect(self) -> _TangoMotor:
        await super().connect()
        unit = (await asyncio.to_thread(lambda: self.proxy.get_attribute_config("position"))).unit
        try:
            q(unit).to(self.unit)
        except Exception:
            raise ControlError(f"{self.name}: the Tango motor moves in '{unit}', this client expects {self.unit}; "
                               f"use {'TangoRotationMotor' if self.unit == 'mm' else 'TangoLinearMotor'}") from None
        self._remote_unit = unit
        return self

    async def _get_position(self) -> Any:
        return (await self.acall("read:position")) * q(getattr(self, "_remote_unit", self.unit))

    async def _set_position(self, value: Any) -> None:
        await self.acall("write:position", value.to(getattr(self, "_remote_unit", self.unit)).magnitude)
        self.state = "moving"
        try:
            await self.wait_while(("moving",))
        except asyncio.CancelledError:
            await self.acall("stop")
            raise
        finally:
            self.state = "standby"

    async def _get_velocity(self) -> Any:
        return (await self.acall("read:velocity")) * q(f"{self.unit}/s")

    async def _set_velocity(self, value: Any) -> None:
        await self.acall("write:velocity", value.to(f"{self.unit}/s").magnitude)

    async def move(self, delta: Any) -> Any:
        return await self.set_position(await self.get_position() + delta)  # type: ignore[attr-defined]

    async def emergency_stop(self) -> None:
        await self.acall("stop")
        self.state = "standby"


class TangoLinearMotor(_TangoMotor):
    unit = "mm"
    position = Quantity("mm", doc="position (limits: the server's)")
    velocity = Quantity("mm/s", doc="speed of moves")


class TangoRotationMotor(_TangoMotor):
    unit = "deg"
    position = Quantity("deg", doc="angle")
    velocity = Quantity("deg/s", doc="speed of moves")


class TangoCamera(TangoDevice):
    """A camera served by `ufo tango camera`: parameters, recording, triggers with tags, endpoints."""

    server = "camera"
    exposure_time = Quantity("s", lower=0 * q.s, doc="exposure time")
    frame_rate = Quantity("1/s", lower=0 * q("1/s"), doc="frames per second (0: free running)")

    def __init__(self, address: str, name: str | None = None, timeout: float = 10.0, host: str = "127.0.0.1"):
        super().__init__(address, name, timeout)
        self.host = host
        self._local: tuple[str, Any] | None = None

    async def _get_exposure_time(self) -> Any:
        return (await self.acall("read:exposure_time")) * q.s

    async def _set_exposure_time(self, value: Any) -> None:
        await self.acall("write:exposure_time", value.to("s").magnitude)

    async def _get_frame_rate(self) -> Any:
        return (await self.acall("read:frames_per_second")) * q("1/s")

    async def _set_frame_rate(self, value: Any) -> None:
        await self.acall("write:frames_per_second", value.to("1/s").magnitude)

    async def get(self, name: str) -> Any:
        """Any camera property by name (as `ufo camera info` lists them)."""
        return await self.acall(f"read:{name.replace('-', '_')}")

    async def set(self, name: str, value: Any) -> None:
        await self.acall(f"write:{name.replace('-', '_')}", value)

    async def start_recording(self) -> None:
        await self.acall("start_recording")
        self.state = "recording"

    async def stop_recording(self) -> None:
        """Stops once every triggered frame has been sent."""
        await self.acall("stop_recording")
        self.state = "standby"

    @asynccontextmanager
    async def recording(self) -> AsyncIterator[TangoCamera]:
        await self.start_recording()
        try:
            yield self
        finally:
            await self.stop_recording()

    async def trigger(self, **tags: Any) -> None:
        """One exposure (software trigger); `tags` (image_key, angle, ...) go into that frame's metadata."""
        await self.acall("trigger", json.dumps(tags))

    async def register_endpoint(self, mode: str = "push", port: int = 0) -> str:
        """A new stream of this camera's frames; returns the address a consumer connects to."""
        return str(await self.acall("register_endpoint", f"tcp://{self.host}:{port} {mode}"))

    async def unregister_endpoint(self, address: str) -> int:
        """Ends that stream (after every triggered frame); returns the frames sent there."""
        return int(await self.acall("unregister_endpoint", address))

    async def grab(self, **tags: Any) -> Image:
        """A frame here (triggered with `tags` in software-trigger mode), as from a local camera."""
        from ..net.receiver import FrameReceiver

        if self._local is None:
            address = await self.register_endpoint()
            self._local = (address, FrameReceiver(address, timeout=self.timeout, name=self.name))
        if await self.get("trigger_source") == "software":
            await self.trigger(**tags)
        item = await asyncio.to_thread(self._local[1].receive)
        if item is None:
            raise ControlError(f"{self.name}: the camera ended the stream")
        frame, meta = item
        return Image(np.array(frame), {**meta, **tags})

    async def disconnect(self) -> None:
        if self._local is not None:
            address, receiver = self._local
            self._local = None
            try:
                await self.unregister_endpoint(address)
            finally:
                receiver.close()
        await super().disconnect()

    async def emergency_stop(self) -> None:
        await self.acall("stop_recording")
        self.state = "standby"


class RemoteWalker(TangoDevice):
    """A walker served by `ufo tango walker`, with the local walker's navigation API."""

    server = "walker"

    @property
    def current(self) -> str:
        return str(self.call("read:current"))

    def home(self) -> RemoteWalker:
        self.call("home")
        return self

    def descend(self, name: str) -> RemoteWalker:
        self.call("descend", name)
        return self

    def ascend(self) -> RemoteWalker:
        self.call("ascend")
        return self

    def exists(self, name: str) -> bool:
        return bool(self.call("exists", name))

    def log(self, state: dict[str, Any], when: str = "start") -> None:
        from ..storage.walker import _jsonable

        self.call("log", json.dumps({"state": _jsonable(state), "when": when}))

    async def start_write(self, endpoint: str, dataset: str, mode: str = "pull") -> None:
        await self.acall("write:endpoint", endpoint)
        await self.acall("write:mode", mode)
        await self.acall("write", dataset)

    async def wait(self, timeout: float | None = None) -> int:
        """Until the stream ended; returns the frames written (a failure raises, naming what is safe)."""
        await self.wait_while(("running",), timeout)
        return int(await self.acall("read:frames_written"))

    async def write(self, endpoint: str, dataset: str, mode: str = "pull") -> int:  # type: ignore[override]
        await self.start_write(endpoint, dataset, mode)
        return await self.wait()


class RemoteReconstruction(TangoDevice):
    """Online reconstruction served by `ufo tango reco`."""

    server = "reco"

    async def configure(self, axis: float | str | None = None, filter: str = "ramp", rows: tuple[int, int] = (0, 0),
                        angle_span: Any = None, timeout: float | None = None) -> None:
        if isinstance(axis, (int, float)):
            await self.acall("write:axis", float(axis))
        else:
            await self.acall("write:axis_mode", "auto" if axis == "auto" else "centre")
        await self.acall("write:filter", filter)
        await self.acall("write:rows", list(rows))
        await self.acall("write:angle_span", 0.0 if angle_span is None else angle_span.to("deg").magnitude)
        if timeout is not None:
            await self.acall("write:timeout", timeout)

    async def start(self, endpoint: str, mode: str = "pull") -> None:
        await self.acall("write:endpoint", endpoint)
        await self.acall("write:mode", mode)
        await self.acall("reconstruct")

    async def wait(self, timeout: float | None = None) -> None:
        await self.wait_while(("running",), timeout)

    async def found_axis(self) -> float | None:
        value = float(await self.acall("read:found_axis"))
        return None if math.isnan(value) else value

    async def get_slice(self, index: int) -> np.ndarray:
        await self.acall("write:slice_index", index)
        return np.asarray(await self.acall("read:slice"), np.float32)

    async def slices(self) -> np.ndarray:
        """Every slice, streamed over ZMQ (a Tango attribute per slice would be slow for many)."""
        from ..net.receiver import FrameReceiver

        address = await self.acall("send_slices")
        with FrameReceiver(address, timeout=self.timeout, name=self.name) as receiver:
            images = await asyncio.to_thread(lambda: [np.array(frame) for frame, _ in receiver])
        return np.stack(images) if images else np.zeros((0, 0, 0), np.float32)


class _RemoteAddon(Addon):
    """Connects a remote consumer to a camera stream for the length of an experiment run."""

    def __init__(self, camera: TangoCamera, mode: str = "push"):
        super().__init__(queue_size=1024)
        self.camera = camera
        self.mode = mode
        self.address: str | None = None

    async def consume(self, acquisition: str, frame: Any) -> None:
        pass  # the frames go from the camera server to the consumer directly

    async def _end_stream(self) -> None:
        if self.address is not None:
            address, self.address = self.address, None
            await self.camera.unregister_endpoint(address)


class RemoteImageWriter(_RemoteAddon):
    """The camera's frames written by a walker server (one NXtomo file by default)."""

    def __init__(self, camera: TangoCamera, walker: RemoteWalker, dataset: str = "scan.nx", mode: str = "push"):
        super().__init__(camera, mode)
        self.walker = walker
        self.dataset = dataset
        self.frames = 0

    async def start(self, experiment: Experiment) -> None:
        self.address = await self.camera.register_endpoint(self.mode)
        await self.walker.start_write(self.address, self.dataset, "pull" if self.mode == "push" else "sub")

    async def finish(self, experiment: Experiment) -> None:
        await self._end_stream()
        self.frames = await self.walker.wait()


class RemoteOnlineReconstruction(_RemoteAddon):
    """The camera's frames reconstructed by a reconstruction server during the scan."""

    def __init__(self, camera: TangoCamera, reco: RemoteReconstruction, axis: float | str | None = None,
                 filter: str = "ramp", mode: str = "push"):
        super().__init__(camera, mode)
        self.reco = reco
        self.axis = axis
        self.filter = filter
        self.found_axis: float | None = None

    async def start(self, experiment: Experiment) -> None:
        await self.reco.configure(self.axis, self.filter)
        self.address = await self.camera.register_endpoint(self.mode)
        await self.reco.start(self.address, "pull" if self.mode == "push" else "sub")

    async def finish(self, experiment: Experiment) -> None:
        await self._end_stream()
        await self.reco.wait()
        self.found_axis = await self.reco.found_axis()


class RemoteBeamline:
    """A tomography beamline whose camera (and any stage) is remote; Tomography runs on it as on
    the simulated one. The camera runs in software-trigger mode, each frame triggered with its
    tags (image_key, angle), which travel with the pixels to the remote consumers."""

    def __init__(self, camera: TangoCamera, rotation: Device, flat_motor: Device, shutter: Device,
                 flat_position: Any = 50 * q.mm, local_frames: bool = False):
        self.camera = camera
        self.rotation = rotation
        self.flat_motor = flat_motor
        self.shutter = shutter
        self.flat_position = flat_position
        self.local_frames = local_frames
        self.devices: list[Device] = [rotation, flat_motor, shutter, camera]

    async def connect(self) -> RemoteBeamline:
        for device in self.devices:
            await device.connect()
        await self.camera.set("trigger_source", "software")
        await self.shutter.close()  # type: ignore[attr-defined]
        return self

    async def grab(self, tags: dict[str, Any] | None = None) -> Image:
        """Trigger one frame; without local_frames only its metadata comes back (the pixels went to the servers)."""
        tags = dict(tags or {})
        if self.local_frames:
            return await self.camera.grab(**tags)
        await self.camera.trigger(**tags)
        return Image(np.zeros((0, 0), np.uint16), tags)

    async def emergency_stop(self) -> None:
        for device in self.devices:
            try:
                await device.emergency_stop()
            except ControlError:
                pass  # a server that is gone has stopped already

    async def stop(self) -> None:
        await self.shutter.close()  # type: ignore[attr-defined]

    async def __aenter__(self) -> RemoteBeamline:
        return await self.connect()

    async def __aexit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is None:
            await self.stop()
        else:
            await self.emergency_stop()
