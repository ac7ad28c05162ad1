"""The Device base: plain classes with parameters, states checked by `@check`, connect and emergency stop.

Devices are also Bluesky devices, by shape and without importing bluesky: `name`, `parent`,
`read()`/`describe()` of the parameters in `read_fields` (values in the declared unit, units and
limits in the data keys), `read_configuration()`/`describe_configuration()` of `config_fields`;
movers add `set()` (a ufo.control.status.Status) and `stop()`. Every device has a `lock` and a
`busy` claim (ufo.control.safety), so a set while another user holds it is refused.

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
from .parameters import LOG, Parameter, ParameterValue, Quantity, Selection, State
from .safety import Busy, DeviceLock

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
            self._stopped = False  # an emergency stop after this action is news again
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
    parent: Any = None  # Bluesky's HasParent: a ufo device stands alone
    _stopped = False  # emergency-stopped, and no checked action since (the stop is said once)
    read_fields: tuple[str, ...] = ()  # parameters read() reports; the first under the device's own name
    config_fields: tuple[str, ...] = ()  # parameters read_configuration() reports

    def __init__(self, name: str, backend: Backend | None = None):
        self.name = name
        self.state = "disconnected"
        self._values: dict[str, ParameterValue] = {}
        self.backend = backend
        self.lock = DeviceLock(name)
        self.busy = Busy(name)
        self.used_by: str | None = None  # the experiment that runs with it now (Experiment.run claims it)
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

    def check_access(self, action: str) -> None:
        """Refuse `action` (a LockError naming the holder) while another context holds `lock`."""
        self.lock.check(action)

    # -- Bluesky's Readable and Configurable --------------------------------------------------
    def data_key_name(self, field: str) -> str:
        """The key of parameter `field` in documents: the device's name for its main value, else name-field."""
        return self.name if self.read_fields and field == self.read_fields[0] else f"{self.name}-{field}"

    async def field_limits(self, field: str) -> tuple[Any, Any]:
        """The limits of parameter `field` (quantities or None): a Quantity's own; motors ask their hardware."""
        parameter = self.parameters()[field]
        return (parameter.lower, parameter.upper) if isinstance(parameter, Quantity) else (None, None)

    async def _readings(self, fields: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        readings = {}
        for field in fields:
            value = await self.parameter(field).get()
            now = time.time()
            if hasattr(value, "magnitude"):
                value = value.to(self.parameters()[field].unit).magnitude  # type: ignore[attr-defined]
            readings[self.data_key_name(field)] = {"value": value, "timestamp": now}
        return readings

    async def _data_keys(self, fields: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        keys = {}
        for field in fields:
            parameter = self.parameters()[field]
            key: dict[str, Any] = {"source": f"{type(self.backend).__name__}:{self.name}.{field}",
                                   "object_name": self.name, "shape": []}
            if isinstance(parameter, Quantity):
                key.update(dtype="number", dtype_numpy="<f8", units=f"{parameter.unit:~}")
                low, high = await self.field_limits(field)
                if low is not None or high is not None:
                    low = None if low is None else float(low.to(parameter.unit).magnitude)
                    high = None if high is None else float(high.to(parameter.unit).magnitude)
                    key["limits"] = {"control": {"low": low, "high": high}}
            elif isinstance(parameter, Selection):
                key.update(dtype="string", choices=[str(v) for v in parameter.values])
            else:
                key.update(dtype="string")
            keys[self.data_key_name(field)] = key
        return keys

    async def read(self) -> dict[str, dict[str, Any]]:
        """Bluesky's Readable: {key: {'value', 'timestamp'}} of `read_fields`, values in the declared units."""
        return await self._readings(self.read_fields)

    async def describe(self) -> dict[str, dict[str, Any]]:
        """Bluesky's data keys of `read_fields`: source, dtype, shape, units and limits."""
        return await self._data_keys(self.read_fields)

    async def read_configuration(self) -> dict[str, dict[str, Any]]:
        return await self._readings(self.config_fields)

    async def describe_configuration(self) -> dict[str, dict[str, Any]]:
        return await self._data_keys(self.config_fields)

    @property
    def hints(self) -> dict[str, list[str]]:
        """What a LiveTable or best-effort callback shows: the main value."""
        return {"fields": [self.name]} if self.read_fields else {"fields": []}

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
        """Stop whatever the device does, now. Said once: the layers that stop a device after a
        failure (the experiment, then the beamline it ran on) each stop it, and a second "emergency
        stop" for a device that did nothing since read as a second event at 3 a.m."""
        if not self._stopped:
            LOG.warning("%s: emergency stop", self.name)
        self._stopped = True
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
