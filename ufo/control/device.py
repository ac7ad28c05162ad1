"""Devices: plain classes with parameters, states checked by `@check`, connect and emergency stop."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..core.properties import declared
from .errors import TransitionError
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
    `get_NAME()` / `set_NAME(value)` coroutines.
    """

    state = State()

    def __init__(self, name: str):
        self.name = name
        self.state = "disconnected"
        self._values: dict[str, ParameterValue] = {}

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
        self.state = "standby"
        return self

    async def disconnect(self) -> None:
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
