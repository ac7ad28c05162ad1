"""UfoMotor: a simulated linear or rotation stage as a Tango device.

Writing `position` starts a move at `velocity` and returns at once (state MOVING until it
arrives), as Tango motors do; `stop` halts it where it is. Limits are the simulated motor's
soft limits, also published as the attribute's min/max so clients see them.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from tango import AttrWriteType, DevState
from tango.server import attribute, command, device_property

from ..control.devices import LinearMotor, RotationMotor
from ..core.units import registry
from .base import JobDevice

KINDS = {"linear": LinearMotor, "rotation": RotationMotor}


class UfoMotor(JobDevice):
    kind = device_property(dtype=str, default_value="linear", doc="linear (mm) or rotation (deg)")

    def init_device(self) -> None:
        super().init_device()
        if self.kind not in KINDS:
            raise ValueError(f"motor kind is one of {', '.join(KINDS)}, not '{self.kind}'")
        self.motor = KINDS[self.kind](self.get_name())
        self.unit = self.motor.unit
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ufo:tango:motor-loop", daemon=True)
        self._thread.start()
        self._run(self.motor.connect())
        self._move: Any = None
        self._move_error: str | None = None

    def delete_device(self) -> None:
        super().delete_device()
        if getattr(self, "_loop", None) is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)

    def initialize_dynamic_attributes(self) -> None:
        self.add_attribute(attribute(name="position", dtype=float, access=AttrWriteType.READ_WRITE,
                                     fget=self._read_position, fset=self._write_position, doc="position"))
        self.add_attribute(attribute(name="velocity", dtype=float, access=AttrWriteType.READ_WRITE,
                                     fget=self._read_velocity, fset=self._write_velocity, doc="speed of moves"))
        # Tango shares a dynamic attribute's definition among the devices of a class: units
        # and limits of this device's kind are set on its own attribute configuration
        parameter = type(self.motor).parameters()["position"]
        lower, upper = getattr(parameter, "lower", None), getattr(parameter, "upper", None)
        self._configure("position", self.unit, None if lower is None else lower.magnitude,
                        None if upper is None else upper.magnitude)
        self._configure("velocity", f"{self.unit}/s", 0.0, None)

    def _configure(self, name: str, unit: str, low: float | None, high: float | None) -> None:
        attr = self.get_device_attr().get_attr_by_name(name)
        config = attr.get_properties()
        config.unit = unit
        config.min_value = "Not specified" if low is None else str(low)
        config.max_value = "Not specified" if high is None else str(high)
        attr.set_properties(config)

    def _read_position(self, attr: Any) -> float:
        return float(self.motor._position)

    def _write_position(self, attr: Any) -> None:
        if self.moving:
            raise RuntimeError(f"{self.get_name()} is moving; stop it or wait for it first")
        q = registry()
        value = attr.get_write_value() * q(self.unit)
        self.motor.parameters()["position"].convert(self.motor, value)  # limits: fail now, in the caller's request
        self._move_error = None
        self._move = asyncio.run_coroutine_threadsafe(self.motor.set_position(value), self._loop)
        self._move.add_done_callback(self._moved)

    def _moved(self, future: Any) -> None:
        if not future.cancelled() and future.exception() is not None:
            self._move_error = f"move failed: {future.exception()}"

    def _read_velocity(self, attr: Any) -> float:
        return float(self.motor._velocity)

    def _write_velocity(self, attr: Any) -> None:
        self._run(self.motor.set_velocity(attr.get_write_value() * registry()(f"{self.unit}/s")))

    @property
    def moving(self) -> bool:
        return self._move is not None and not self._move.done()

    def dev_state(self) -> DevState:
        if self.moving:
            return DevState.MOVING
        return DevState.FAULT if self._move_error else DevState.ON

    def dev_status(self) -> str:
        if self.moving:
            return f"moving to {self.motor.parameter('position').target}"
        return self._move_error or f"standing at {self.motor._position:g} {self.unit}"

    @command
    def stop(self) -> None:
        if self.moving:
            self._loop.call_soon_threadsafe(self._move.cancel)

    @command
    def home(self) -> None:
        if self.moving:
            raise RuntimeError(f"{self.get_name()} is moving; stop it first")
        self._move_error = None
        self._move = asyncio.run_coroutine_threadsafe(self.motor.home(), self._loop)
        self._move.add_done_callback(self._moved)
