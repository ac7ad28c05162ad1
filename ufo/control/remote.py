"""Devices whose work happens on another host: RemoteWalker, RemoteReconstruction, the remote
addons, and RemoteBeamline, a beamline made of remote devices.

They reach their servers through a backend (ufo.control.backend; for Tango:
ufo.tango.client), so this module knows no transport. Frames do not pass through this
process: the camera server streams them over ZMQ straight to the walker and reconstruction
servers, which the remote addons set up. A server that is gone gives a ControlError (from the
backend) that names it and says how to start it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from typing import Any

import numpy as np

from ..core.frame import Image
from ..core.units import registry
from .backend import Backend, BlockingBackend
from .detector import Detector
from .device import Device
from .errors import ControlError
from .experiment import Addon, Experiment

LOG = logging.getLogger("ufo.control")

q = registry()


class RemoteWalker(Device):
    """A walker on a server (`ufo tango walker`), with the local walker's navigation API.

    Navigation is synchronous, as a local Walker's is (Experiment calls it so), hence a
    BlockingBackend; writing a stream is asynchronous."""

    kind = "walker"

    def __init__(self, backend: BlockingBackend, name: str = "walker"):
        super().__init__(name, backend)
        self.blocking = backend

    @property
    def current(self) -> str:
        return str(self.blocking.read_blocking("current"))

    def home(self) -> RemoteWalker:
        self.blocking.call_blocking("home")
        return self

    def descend(self, name: str) -> RemoteWalker:
        self.blocking.call_blocking("descend", name)
        return self

    def ascend(self) -> RemoteWalker:
        self.blocking.call_blocking("ascend")
        return self

    def exists(self, name: str) -> bool:
        return bool(self.blocking.call_blocking("exists", name))

    def log(self, state: dict[str, Any], when: str = "start") -> None:
        from ..storage.walker import _jsonable

        self.blocking.call_blocking("log", json.dumps({"state": _jsonable(state), "when": when}))

    async def start_write(self, endpoint: str, dataset: str, mode: str = "pull") -> None:
        await self.io.write("endpoint", endpoint)
        await self.io.write("mode", mode)
        await self.io.call("write", dataset)

    async def frames_written(self) -> int:
        return int(await self.io.read("frames_written"))

    async def wait(self, timeout: float | None = None) -> int:
        """Until the stream ended; returns the frames written (a failure raises, naming what is safe)."""
        await self.wait_while(("running",), timeout)
        return await self.frames_written()

    async def frames_missing(self) -> int:
        """Frames of the last stream that never reached the server (said in its status too)."""
        return int(await self.io.read("frames_missing"))

    async def write(self, endpoint: str, dataset: str, mode: str = "pull") -> int:
        await self.start_write(endpoint, dataset, mode)
        return await self.wait()


class RemoteReconstruction(Device):
    """Online reconstruction on a server (`ufo tango reco`)."""

    kind = "reco"

    def __init__(self, backend: Backend, name: str = "reco", timeout: float = 10.0):
        super().__init__(name, backend)
        self.timeout = timeout

    async def configure(self, axis: float | str | None = None, filter: str = "ramp", rows: tuple[int, int] = (0, 0),
                        angle_span: Any = None, timeout: float | None = None) -> None:
        if isinstance(axis, (int, float)):
            await self.io.write("axis", float(axis))
        else:
            await self.io.write("axis_mode", "auto" if axis == "auto" else "centre")
        await self.io.write("filter", filter)
        await self.io.write("rows", list(rows))
        await self.io.write("angle_span", 0.0 if angle_span is None else angle_span.to("deg").magnitude)
        if timeout is not None:
            await self.io.write("timeout", timeout)

    async def start(self, endpoint: str, mode: str = "pull") -> None:
        await self.io.write("endpoint", endpoint)
        await self.io.write("mode", mode)
        await self.io.call("reconstruct")

    async def wait(self, timeout: float | None = None) -> None:
        await self.wait_while(("running",), timeout)

    async def frames_missing(self) -> int:
        """Frames of the last stream that never reached the server (said in its status too)."""
        return int(await self.io.read("frames_missing"))

    async def found_axis(self) -> float | None:
        value = float(await self.io.read("found_axis"))
        return None if math.isnan(value) else value

    async def get_slice(self, index: int) -> np.ndarray:
        await self.io.write("slice_index", index)
        return np.asarray(await self.io.read("slice"), np.float32)

    async def slices(self) -> np.ndarray:
        """Every slice, streamed over ZMQ (a Tango attribute per slice would be slow for many)."""
        from ..net.receiver import FrameReceiver

        address = await self.io.call("send_slices")
        receiver = FrameReceiver(address, timeout=self.timeout, name=self.name)

        def take() -> list[np.ndarray]:
            with receiver:  # closed by the thread that uses it (a ZMQ socket is not to be shared)
                return [np.array(frame) for frame, _ in receiver]

        try:
            images = await asyncio.to_thread(take)
        except asyncio.CancelledError:  # Ctrl-C: the receive ends within 0.1 s, not at its timeout
            receiver.stop()
            raise
        return np.stack(images) if images else np.zeros((0, 0, 0), np.float32)


class _RemoteAddon(Addon):
    """Connects a remote consumer to a camera stream for the length of an experiment run."""

    def __init__(self, camera: Detector, mode: str = "push"):
        super().__init__(queue_size=1024)
        self.camera = camera
        self.mode = mode
        self.address: str | None = None
        self.missing = 0  # frames the server's stream lost (runparts.frames_lost counts them)

    async def _said_missing(self, server: Any) -> None:
        """The server's count of frames its stream lost, said here: its status and log alone had it."""
        self.missing = await server.frames_missing()
        if self.missing:
            LOG.warning("%s: %d frame(s) never reached %s: %s", type(self).__name__, self.missing, server.name,
                        await server.io.status())

    async def consume(self, acquisition: str, frame: Any) -> None:
        pass  # the frames go from the camera server to the consumer directly

    async def _end_stream(self) -> None:
        if self.address is not None:
            address, self.address = self.address, None
            await self.camera.unregister_endpoint(address)


class RemoteImageWriter(_RemoteAddon):
    """The camera's frames written by a walker server (one NXtomo file by default)."""

    closes_files = True  # its finish waits for the walker server to close the file

    def __init__(self, camera: Detector, walker: RemoteWalker, dataset: str = "scan.nx", mode: str = "push"):
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
        await self._said_missing(self.walker)


class RemoteOnlineReconstruction(_RemoteAddon):
    """The camera's frames reconstructed by a reconstruction server during the scan."""

    def __init__(self, camera: Detector, reco: RemoteReconstruction, axis: float | str | None = None,
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
        await self._said_missing(self.reco)
        self.found_axis = await self.reco.found_axis()


class RemoteBeamline:
    """A tomography beamline whose camera (and any stage) is remote; Tomography runs on it as on
    the simulated one. The camera runs in software-trigger mode, each frame triggered with its
    tags (image_key, angle), which travel with the pixels to the remote consumers."""

    def __init__(self, camera: Detector, rotation: Device, flat_motor: Device, shutter: Device,
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
        await self.camera.software_trigger(**tags)
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
