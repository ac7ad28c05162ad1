"""How a device reaches its hardware: the `Backend` protocol, and `SimulatedBackend` for simulations.

A device class (LinearMotor, Detector, ...) holds what a kind of device means: parameters
with units and limits, states, which commands make a move or a recording. Its I/O goes through
a backend: named attributes read and written, named commands called, the remote state
polled. One class per kind then serves every transport: a simulation here (this package), a
Tango device server (ufo.tango.client.TangoBackend), anything else that implements the
protocol. It is the split ophyd-async makes between a Device and its signal backends, kept
small: values are plain numbers, strings or arrays in the transport's unit (`unit()` says
which), and the device adds the units.

The layering follows: ufo.control declares the protocol and never imports a transport;
ufo.tango implements it and imports control.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from ..core.errors import UsageError
from .errors import ControlError


@runtime_checkable
class Backend(Protocol):
    """The transport of one device. Errors are ControlErrors that name the device and say how to fix it."""

    poll: float  # seconds between state polls: a simulation answers at once, a network round trip costs

    def bind(self, device: str, kind: str) -> None:
        """Called by the device that owns this backend: errors then name `device`, and an unreachable
        server is explained by its `kind` ('motor', 'camera', 'walker', 'reco')."""

    async def connect(self) -> None:
        """Reach the hardware (or fail, saying which and how to start it)."""

    async def disconnect(self) -> None:
        """Release what connect() opened."""

    async def read(self, name: str) -> Any:
        """The value of attribute `name`, in the transport's unit."""

    async def write(self, name: str, value: Any) -> None:
        """Write attribute `name`; a write that starts an action (a move) returns when it started."""

    async def call(self, command: str, *args: Any) -> Any:
        """Run command `command` and return its answer."""

    async def state(self) -> str:
        """The hardware's own state in lower case: 'on', 'moving', 'running', 'fault', ..."""

    async def status(self) -> str:
        """What the hardware says about its state (the reason of a fault)."""

    async def unit(self, name: str) -> str | None:
        """The unit attribute `name` is read and written in (None: the device's own)."""


@runtime_checkable
class BlockingBackend(Backend, Protocol):
    """A backend that also answers synchronously: for the few sync APIs a device must offer inside a
    running event loop (the walker's home/descend/exists, which Experiment calls as a Walker's)."""

    def read_blocking(self, name: str) -> Any:
        """read(), blocking this thread: only for quick attributes."""

    def call_blocking(self, command: str, *args: Any) -> Any:
        """call(), blocking this thread: only for quick commands."""


@runtime_checkable
class FrameBackend(Backend, Protocol):
    """A camera backend that hands frames to this process itself (a local camera); a camera server
    does not, its frames come through a stream endpoint instead (see Detector.grab)."""

    async def frame(self) -> Any:
        """The next frame of the current recording (ufo.core.frame.Image)."""


class InProcessBackend:
    """What every backend in this process shares: nothing to connect, a short poll, and the
    device's name for its messages (the simulated devices, a local camera)."""

    poll = 0.005
    device = "simulation"

    def bind(self, device: str, kind: str) -> None:
        self.device = device

    async def connect(self) -> None:
        pass

    async def disconnect(self) -> None:
        pass


class SimulatedBackend(InProcessBackend):
    """Attributes in a dict, commands as callables: the simulation of a simple device (a shutter,
    a diode). A callable attribute value is computed at each read (a diode's beam current)."""

    def __init__(self, commands: dict[str, Callable[..., Any]] | None = None, **values: Any):
        self.values: dict[str, Any] = dict(values)
        self.commands = dict(commands or {})

    def value(self, name: str) -> Any:
        """An attribute's value now, from any thread (the simulated beamline reads its shutter so)."""
        try:
            value = self.values[name]
        except KeyError as err:
            raise ControlError(f"{self.device}: the simulation has no attribute '{name}' "
                               f"(it has {', '.join(self.values) or 'none'})") from err
        return value() if callable(value) else value

    async def read(self, name: str) -> Any:
        return self.value(name)

    async def write(self, name: str, value: Any) -> None:
        if name in self.values and callable(self.values[name]):
            raise UsageError(f"{self.device}: {name} is computed by the simulation and cannot be written")
        self.values[name] = value

    async def call(self, command: str, *args: Any) -> Any:
        if command not in self.commands:
            raise ControlError(f"{self.device}: the simulation has no command '{command}' "
                               f"(it has {', '.join(self.commands) or 'none'})")
        return self.commands[command](*args)

    async def state(self) -> str:
        return "on"

    async def status(self) -> str:
        return "simulated"

    async def unit(self, name: str) -> str | None:
        return None
