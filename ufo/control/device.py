"""The Device base: plain classes with parameters, states checked by `@check`, connect and emergency stop.

A device that talks to hardware does so through its `backend` (ufo.control.backend): the class
says what the device means, the backend how to reach it, so one class serves a simulation
and a Tango server alike.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..core.properties import declared
from .backend import Backend
from .errors import ControlError, TransitionError
from .parameters import LOG, Parameter, ParameterValue, State

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def check(source: str | tuple[str, ...] = "*", target: str | tuple[str, ...] = "*") -> Callable[[F], F]:
    """Allow a coroutine method only from `source` states and require it to end in a `target` state."""
    sources = (source,) if isinstance(source, str) else tuple(source)
    targets = (target,) if isinstance(target, str) else tuple(target)

    def decorate(method: F) -> F:
        @functools.wraps(method)
        async def wrapper(self: Device, *args: Any, **kwargs: Any) -> Any:
            if "*" not in sources and self.state not in sources:
                raise TransitionError(f"{self.name}: {method.__name__} is not allowed in state '{self.state}' "
                                      f"(allowed from {', '.join(sources)})")
            result = await method(self, *args, **kwargs)
            if "*" not in targets and self.state not in targets:
                raise TransitionError(f"{self.name}: {method.__name__} ended in state '{self.state}', "
                                      f"expected {', '.join(targets)}")
            return result

        return wrapper  # type: ignore[return-value]

    return decorate


class Device:
    """Base of every device: a name, a state, parameters and `connect()`.

    Subclasses declare parameters as class attributes; `__init_subclass__` gives them
    `get_NAME()` / `set_NAME(value)` coroutines. `kind` names the server that serves such a
    device, so that a backend can say what to start when it is unreachable.
    """

    state = State()
    kind = "device"

    def __init__(self, name: str, backend: Backend | None = None):
        self.name = name
        self.state = "disconnected"
        self._values: dict[str, ParameterValue] = {}
        self.backend = backend
        if backend is not None:
            backend.bind(name, self.kind)

    @property
    def io(self) -> Backend:
        """The backend, for devices that cannot work without one."""
        if self.backend is None:
            raise ControlError(f"{self.name}: this {type(self).__name__} has no backend to reach its hardware")
        return self.backend

    async def remote_state(self) -> str:
        """The hardware's own state ('on', 'moving', 'running', 'fault'), not this object's."""
        return await self.io.state()

    async def wait_while(self, busy: tuple[str, ...], timeout: float | None = None) -> None:
        """Wait until the hardware leaves the busy states; its FAULT becomes a ControlError with its status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (state := await self.io.state()) in busy:
            if deadline is not None and time.monotonic() > deadline:
                raise ControlError(f"{self.name}: still {state} after {timeout:g} s ({await self.io.status()})")
            await asyncio.sleep(self.io.poll)
        if state == "fault":
            raise ControlError(f"{self.name}: {await self.io.status()}")

    async def get_state(self) -> str:
        return str(self.state)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for attribute, value in list(vars(cls).items()):
            if isinstance(value, Parameter):
                cls._add_accessors(attribute)

    @classmethod
    def _add_accessors(cls, name: str) -> None:
        async def getter(self: Device) -> Any:
            return await self.parameter(name).get()

        async def setter(self: Device, value: Any) -> Any:
            return await self.parameter(name).set(value)

        getter.__name__, setter.__name__ = f"get_{name}", f"set_{name}"
        if not hasattr(cls, f"get_{name}"):
            setattr(cls, f"get_{name}", getter)
        if not hasattr(cls, f"set_{name}"):
            setattr(cls, f"set_{name}", setter)

    @classmethod
    def parameters(cls) -> dict[str, Parameter]:
        return declared(cls, Parameter)

    def parameter(self, name: str) -> ParameterValue:
        if name not in self._values:
            params = self.parameters()
            if name not in params:
                raise AttributeError(f"{self.name} has no parameter '{name}'; it has {', '.join(params)}")
            self._values[name] = ParameterValue(self, params[name])
        return self._values[name]

    def __getitem__(self, name: str) -> ParameterValue:
        return self.parameter(name)

    async def connect(self) -> Device:
        """Open the connection to the hardware (simulations: nothing to open)."""
        if self.backend is not None:
            await self.backend.connect()
        self.state = "standby"
        return self

    async def disconnect(self) -> None:
        if self.backend is not None:
            await self.backend.disconnect()
        self.state = "disconnected"

    async def emergency_stop(self) -> None:
        """Stop whatever the device does, now."""
        LOG.warning("%s: emergency stop", self.name)
        self.state = "standby"

    async def states(self) -> dict[str, Any]:
        """Every parameter's value (for logging experiments at start and finish)."""
        values: dict[str, Any] = {"state": self.state}
        for name in self.parameters():
            try:
                values[name] = await self.parameter(name).get()
            except Exception as exc:  # noqa: BLE001 - a state snapshot never fails as a whole
                values[name] = f"unreadable: {exc}"
        return values

    async def __aenter__(self) -> Device:
        return await self.connect()

    async def __aexit__(self, *exc: Any) -> None:
        await self.disconnect()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} '{self.name}' {self.state}>"
