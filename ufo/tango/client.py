"""The Tango client: TangoBackend, the ufo.control Backend over a tango.DeviceProxy, and one-line constructors.

ufo.control declares what a device needs of its transport (ufo.control.backend.Backend) and
never imports Tango; this module brings Tango to it. Any control device class then drives a
Tango server:

    motor = await tango_linear_motor("tango://127.0.0.1:10002/ufo/motor/1#dbase=no", "x").connect()
    # the same as LinearMotor("x", backend=TangoBackend(address))

A device whose server is gone raises a ControlError that names the device, its address and
the command that starts its server.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..control.detector import Detector
from ..control.errors import ControlError
from ..control.motors import LinearMotor, RotationMotor
from ..control.remote import RemoteReconstruction, RemoteWalker
from . import SERVERS, require_tango

_GONE = {"API_CantConnectToDevice", "API_DeviceNotExported", "API_CorbaException", "API_ServerNotRunning",
         "API_DeviceTimedOut", "API_CommunicationFailed", "API_CantConnectToDatabase", "API_DeviceNotDefined"}


class TangoBackend:
    """A Tango device by address ('tango://127.0.0.1:10000/ufo/walker/1#dbase=no' or 'ufo/walker/1').

    Requests block in a worker thread (`asyncio.to_thread`), so the event loop stays free; the
    proxy is made at first use, so constructing a device never touches the network."""

    poll = 0.02

    def __init__(self, address: str, timeout: float = 10.0):
        self.tango = require_tango()
        self.address = address
        self.timeout = timeout
        self.device = address
        self.kind = "?"
        self._proxy: Any = None

    def bind(self, device: str, kind: str) -> None:
        self.device, self.kind = device, kind

    @property
    def proxy(self) -> Any:
        if self._proxy is None:
            try:
                proxy = self.tango.DeviceProxy(self.address)
                proxy.set_timeout_millis(int(self.timeout * 1000))
            except self.tango.DevFailed as err:
                raise self._error(err, "connect") from err
            self._proxy = proxy
        return self._proxy

    def _error(self, exc: Any, what: str) -> ControlError:
        """A ControlError that names the device and, for a server that is gone, how to start it."""
        errors = exc.args
        reasons = {e.reason for e in errors}
        desc = errors[0].desc.strip() if errors else str(exc)
        for error in errors:  # the first Python error of the server says most
            if error.reason == "PyDs_PythonError":
                desc = error.desc.strip().splitlines()[-1]
                break
        if reasons & _GONE:
            start = f"Start it with 'ufo tango {self.kind}'" if self.kind in SERVERS else "Start its Tango server"
            return ControlError(f"{self.device}: the Tango device at {self.address} is not reachable ({what}): "
                                f"{desc.splitlines()[0]}. Is its server running? {start}")
        return ControlError(f"{self.device}: {what} failed: {desc}")

    def _request(self, what: str, request: Any) -> Any:
        proxy = self.proxy
        try:
            return request(proxy)
        except self.tango.DevFailed as err:
            raise self._error(err, what) from err

    # -- blocking (BlockingBackend) --------------------------------------------------------
    def read_blocking(self, name: str) -> Any:
        return self._request(f"read {name}", lambda proxy: proxy.read_attribute(name).value)

    def write_blocking(self, name: str, value: Any) -> None:
        self._request(f"write {name}", lambda proxy: proxy.write_attribute(name, value))

    def call_blocking(self, command: str, *args: Any) -> Any:
        return self._request(command, lambda proxy: proxy.command_inout(command, *args))

    # -- async (Backend) -------------------------------------------------------------------
    async def connect(self) -> None:
        await asyncio.to_thread(self.call_blocking, "State")

    async def disconnect(self) -> None:
        self._proxy = None

    async def read(self, name: str) -> Any:
        return await asyncio.to_thread(self.read_blocking, name)

    async def write(self, name: str, value: Any) -> None:
        await asyncio.to_thread(self.write_blocking, name, value)

    async def call(self, command: str, *args: Any) -> Any:
        return await asyncio.to_thread(self.call_blocking, command, *args)

    async def state(self) -> str:
        return str(await self.call("State")).lower()

    async def status(self) -> str:
        return str(await self.call("Status"))

    async def unit(self, name: str) -> str | None:
        config = await asyncio.to_thread(self._request, f"configuration of {name}",
                                         lambda proxy: proxy.get_attribute_config(name))
        unit = str(config.unit or "").strip()
        return None if unit in ("", "No unit") else unit

    async def limits(self, name: str) -> tuple[float | None, float | None]:
        """The min/max the server enforces on attribute `name` (None where it has none)."""
        config = await asyncio.to_thread(self._request, f"configuration of {name}",
                                         lambda proxy: proxy.get_attribute_config(name))
        return tuple(None if str(v).strip() in ("", "Not specified") else float(v)  # type: ignore[return-value]
                     for v in (config.min_value, config.max_value))


def tango_linear_motor(address: str, name: str | None = None, timeout: float = 10.0) -> LinearMotor:
    """A LinearMotor driving the Tango motor at `address` (`ufo tango motor --kind linear`)."""
    return LinearMotor(name or address, backend=TangoBackend(address, timeout))


def tango_rotation_motor(address: str, name: str | None = None, timeout: float = 10.0) -> RotationMotor:
    """A RotationMotor driving the Tango motor at `address` (`ufo tango motor --kind rotation`)."""
    return RotationMotor(name or address, backend=TangoBackend(address, timeout))


def tango_detector(address: str, name: str | None = None, timeout: float = 10.0, host: str = "127.0.0.1") -> Detector:
    """A Detector driving the camera server at `address` (`ufo tango camera`); `host`: where it streams from."""
    return Detector(name=name or address, backend=TangoBackend(address, timeout), host=host, timeout=timeout)


def tango_walker(address: str, name: str | None = None, timeout: float = 10.0) -> RemoteWalker:
    """The walker server at `address` (`ufo tango walker`)."""
    return RemoteWalker(TangoBackend(address, timeout), name or address)


def tango_reconstruction(address: str, name: str | None = None, timeout: float = 10.0) -> RemoteReconstruction:
    """The reconstruction server at `address` (`ufo tango reco`)."""
    return RemoteReconstruction(TangoBackend(address, timeout), name or address, timeout)


__all__ = ["TangoBackend", "tango_detector", "tango_linear_motor", "tango_reconstruction", "tango_rotation_motor",
           "tango_walker"]
