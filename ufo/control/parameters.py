"""Device parameters as typed descriptors: Parameter, Quantity (pint units, soft limits), Selection.

A device class declares `position = Quantity("mm", lower=-10 * q.mm, upper=10 * q.mm)` and
implements `async def _get_position(self)` / `_set_position(self, value)` in the declared
unit. Declaring the parameter gives the device `await get_position()`, `await
set_position(3 * q.mm)` and `device["position"]` (target, lock, stash/restore, wait). Values
are converted and checked before the device sees them; every set is logged with the
device's and the parameter's name. No metaclass: `Device.__init_subclass__` adds the methods.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any, Protocol

import numpy as np

from ..core.units import angular, is_quantity, registry
from .errors import LimitError, LockError, UnitError
from .safety import BusyError

LOG = logging.getLogger("ufo.control")


class Owner(Protocol):
    """What a parameter needs of its device (ufo.control.device.Device, which imports this module):
    a name for messages and its parameter values. A protocol, so this module stays below device.py."""

    name: str

    def parameter(self, name: str) -> ParameterValue: ...

    def check_access(self, action: str) -> None:
        """Raise if another user holds the device (its lock), so that `action` must not run."""


class Parameter:
    """A named device value read and written through the device's `_get_NAME` / `_set_NAME`."""

    def __init__(self, *, doc: str = "", writable: bool = True):
        self.doc = doc
        self.writable = writable
        self.name = "?"

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Owner | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return instance.parameter(self.name)

    def convert(self, device: Owner, value: Any) -> Any:
        return value

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": type(self).__name__, "doc": self.doc, "writable": self.writable}


def _real_scalar(magnitude: Any) -> bool:
    if isinstance(magnitude, bool):
        return False
    if isinstance(magnitude, (int, float)):
        return True
    return getattr(magnitude, "shape", None) == () and np.dtype(getattr(magnitude, "dtype", object)).kind in "iuf"


class Quantity(Parameter):
    """A value with a pint unit and optional soft limits (checked in the device's unit)."""

    def __init__(self, unit: str, *, lower: Any = None, upper: Any = None, positive: bool = False, doc: str = "",
                 writable: bool = True):
        super().__init__(doc=doc, writable=writable)
        self.unit = registry().Unit(unit)
        self.lower = self._to_unit(lower, "lower limit") if lower is not None else None
        self.upper = self._to_unit(upper, "upper limit") if upper is not None else None
        self.positive = positive  # above 0, not 0 itself (a velocity of 0 made every move instant)

    def _to_unit(self, value: Any, what: str, device: str = "?") -> Any:
        q = registry()
        if not is_quantity(value):
            if not isinstance(value, str):
                raise UnitError(f"{device}: {self.name} takes a quantity in {self.unit:~} (e.g. 3 * q.{self.unit:~}), "
                                f"got the plain number {value!r}")
            try:
                value = q.Quantity(value)
            except Exception as err:  # pint raises several unrelated types for bad text
                raise UnitError(f"{device}: {self.name} cannot read {value!r} as a quantity in {self.unit:~} (e.g. "
                                f"'3 {self.unit:~}')") from err
        if angular(self.unit) and not angular(value.units):  # pint takes "10" and 10 % as radians
            raise UnitError(f"{device}: {self.name} takes an angle ({self.unit:~}), got {value!r} without an angle "
                            "unit (e.g. 10 * q.deg)")
        try:
            return value.to(self.unit)
        except Exception as err:
            raise UnitError(f"{device}: {self.name} takes {self.unit.dimensionality} ({self.unit:~}), "
                            f"got {value:~} ({value.dimensionality})") from err

    def convert(self, device: Owner, value: Any) -> Any:
        value = self._to_unit(value, self.name, device.name)
        magnitude = value.magnitude
        if not _real_scalar(magnitude):  # an array, complex, True: a raw TypeError came from the device
            raise UnitError(f"{device.name}: {self.name} takes one real number with its unit, got {value!r}")
        try:
            finite = math.isfinite(float(magnitude))
        except OverflowError:  # 10**400 (a Python int): beyond any device (said short: not its 401 digits)
            raise LimitError(f"{device.name}: {self.name} {str(magnitude)[:8]}... ({len(str(magnitude))} digits) "
                             f"{self.unit:~} is beyond any device; it was not moved") from None
        if not finite:  # NaN passes every comparison with a limit: the motor then stood at NaN
            raise LimitError(f"{device.name}: {self.name} {value:~} is not a finite number; the device was not moved")
        if self.positive and value <= 0 * self.unit:
            raise LimitError(f"{device.name}: {self.name} {value:~} must be above 0 {self.unit:~}; "
                             "the device was not changed")
        if self.lower is not None and value < self.lower or self.upper is not None and value > self.upper:
            low = "-inf" if self.lower is None else f"{self.lower:~}"
            high = "inf" if self.upper is None else f"{self.upper:~}"
            raise LimitError(f"{device.name}: {self.name} {value:~} is outside the limits [{low} .. {high}]; "
                             "the device was not moved")
        return value

    def describe(self) -> dict[str, Any]:
        data = super().describe()
        data.update(unit=f"{self.unit:~}", lower=None if self.lower is None else f"{self.lower:~}",
                    upper=None if self.upper is None else f"{self.upper:~}")
        return data


class Selection(Parameter):
    """One of a fixed set of values."""

    def __init__(self, values: list[Any], *, doc: str = "", writable: bool = True):
        super().__init__(doc=doc, writable=writable)
        self.values = list(values)

    def convert(self, device: Owner, value: Any) -> Any:
        if value not in self.values:
            from ..core.errors import UsageError

            raise UsageError(f"{device.name}: {self.name} must be one of {self.values}, got {value!r}")
        return value


class ParameterValue:
    """A parameter of one device: get, set, target, lock, stash/restore, wait."""

    def __init__(self, device: Owner, parameter: Parameter):
        self.device = device
        self.parameter = parameter
        self.target: Any = None
        self.locked = False
        self._stash: list[Any] = []

    @property
    def name(self) -> str:
        return self.parameter.name

    async def get(self) -> Any:
        value = await getattr(self.device, f"_get_{self.name}")()
        if isinstance(self.parameter, Quantity) and not is_quantity(value):
            value = value * self.parameter.unit
        return value

    async def set(self, value: Any) -> Any:
        if not self.parameter.writable:
            raise LockError(f"{self.device.name}: {self.name} is read-only")
        if self.locked:
            raise LockError(f"{self.device.name}: {self.name} is locked; unlock() it first")
        self.device.check_access(f"set {self.name}")
        value = self.parameter.convert(self.device, value)
        previous, self.target = self.target, value
        LOG.info("%s: set %s = %s", self.device.name, self.name, value)
        try:
            reached = await getattr(self.device, f"_set_{self.name}")(value)
        except BusyError:  # refused, the running action's target stays
            self.target = previous
            raise
        return value if reached is None else reached  # where the device ended, where it says (a stopped move)

    def lock(self) -> None:
        self.locked = True

    def unlock(self) -> None:
        self.locked = False

    async def stash(self) -> None:
        self._stash.append(await self.get())

    async def restore(self) -> None:
        if not self._stash:
            from .errors import ControlError

            raise ControlError(f"{self.device.name}: nothing stashed for {self.name}")
        await self.set(self._stash.pop())

    async def wait(self, value: Any, timeout: float | None = None, sleep: float = 0.01) -> Any:
        """Wait until the parameter reads `value` (with the parameter's unit tolerance for quantities)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        expected = self.parameter.convert(self.device, value) if isinstance(self.parameter, Quantity) else value
        while True:
            current = await self.get()
            if (abs(current - expected) < 1e-9 * self.parameter.unit) if isinstance(self.parameter, Quantity) \
                    else current == expected:
                return current
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{self.device.name}: {self.name} did not reach {value} within {timeout} s "
                                   f"(it is {current})")
            await asyncio.sleep(sleep)


class State:
    """A device's state: read as a plain value, changed only to an allowed value, every change logged."""

    def __init__(self, values: tuple[str, ...] = (), default: str = "disconnected"):
        self.values = values
        self.default = default
        self.attribute = "_state"

    def __set_name__(self, owner: type, name: str) -> None:
        self.attribute = f"_{name}_value"

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return instance.__dict__.get(self.attribute, self.default)

    def __set__(self, instance: Any, value: str) -> None:
        if self.values and value not in self.values:
            from .errors import ControlError

            raise ControlError(f"{instance.name}: '{value}' is not a state of this device ({', '.join(self.values)})")
        old = instance.__dict__.get(self.attribute, self.default)
        instance.__dict__[self.attribute] = value
        if old != value:
            LOG.debug("%s: state %s -> %s", getattr(instance, "name", "?"), old, value)
