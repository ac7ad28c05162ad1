"""UfoMotor: a simulated linear or rotation stage (ufo.control.motors.SimulatedMotor) as a Tango device.

Writing `position` starts a move at `velocity` and returns at once (state MOVING until it
arrives), as Tango motors do; `stop` halts it where it is. Limits are the simulated motor's
soft limits, also published as the attribute's min/max so clients see them. `start_motion`
turns or moves it at a speed until `stop_motion` (continuous and helical scans), and
`position_at` says where it was at a wall-clock time (a frame's timestamp).
"""

from __future__ import annotations

import math
import time
from typing import Any

from tango import AttrWriteType, DevState
from tango.server import attribute, command, device_property

from ..control.motors import LinearMotor, RotationMotor, SimulatedMotor
from ..core.clock import monotonic_at
from .base import JobDevice

KINDS: dict[str, type[LinearMotor] | type[RotationMotor]] = {"linear": LinearMotor, "rotation": RotationMotor}


class UfoMotor(JobDevice):
    kind = device_property(dtype=str, default_value="linear", doc="linear (mm) or rotation (deg)")

    def init_device(self) -> None:
        super().init_device()
        if self.kind not in KINDS:
            raise ValueError(f"motor kind is one of {', '.join(KINDS)}, not '{self.kind}'")
        motor = KINDS[self.kind]  # the simulation a client-side motor of this kind makes
        self.unit = motor.unit
        self.stage = SimulatedMotor(motor.unit, 0.0, motor.speed, *motor.limits)
        self.stage.bind(self.get_name(), "motor")

    def delete_device(self) -> None:
        super().delete_device()
        if getattr(self, "stage", None) is not None:
            self.stage.stop()

    def initialize_dynamic_attributes(self) -> None:
        self.add_attribute(attribute(name="position", dtype=float, access=AttrWriteType.READ_WRITE,
                                     fget=self._read_position, fset=self._write_position, doc="position"))
        self.add_attribute(attribute(name="velocity", dtype=float, access=AttrWriteType.READ_WRITE,
                                     fget=self._read_velocity, fset=self._write_velocity, doc="speed of moves"))
        # Tango shares a dynamic attribute's definition among the devices of a class: units
        # and limits of this device's kind are set on its own attribute configuration
        self._configure("position", self.unit, self.stage.lower, self.stage.upper)
        self._configure("velocity", f"{self.unit}/s", 0.0, None)

    def _configure(self, name: str, unit: str, low: float | None, high: float | None) -> None:
        attr = self.get_device_attr().get_attr_by_name(name)
        config = attr.get_properties()
        config.unit = unit
        config.min_value = "Not specified" if low is None else str(low)
        config.max_value = "Not specified" if high is None else str(high)
        attr.set_properties(config)

    def _read_position(self, attr: Any) -> float:
        return float(self.stage.position_at())

    def _write_position(self, attr: Any) -> None:
        """Starts the move and returns at once (state MOVING until it arrives), as Tango motors do."""
        if self.stage.moving:
            raise RuntimeError(f"{self.get_name()} is moving; stop it or wait for it first")
        self.stage.move_to(float(attr.get_write_value()))  # limits fail now, in the caller's request

    def _read_velocity(self, attr: Any) -> float:
        return float(self.stage.velocity)

    def _write_velocity(self, attr: Any) -> None:
        value = float(attr.get_write_value())
        if not math.isfinite(value) or value <= 0:  # 0 passed the attribute's inclusive minimum: instant moves
            raise ValueError(f"{self.get_name()}: velocity {value} {self.unit}/s must be a number above 0")
        self.stage.velocity = value

    def dev_state(self) -> DevState:
        return DevState.MOVING if self.stage.moving else DevState.ON

    def dev_status(self) -> str:
        return self.stage.status_text()  # a continuous motion: "moving at 90 deg/s", not the last move's target

    @command
    def stop(self) -> None:
        self.stage.stop()

    @command(dtype_in=float, doc_in="speed (unit/s): move until stop_motion")
    def start_motion(self, speed: float) -> None:
        if self.stage.moving:
            raise RuntimeError(f"{self.get_name()} is moving; stop it first")
        self.stage.start_motion(float(speed))

    @command
    def stop_motion(self) -> None:
        self.stage.stop()

    @command(dtype_in=float, dtype_out=float, doc_in="wall-clock time (s since the epoch: a frame's timestamp)",
             doc_out="the position then")
    def position_at(self, when: float) -> float:
        """Refuses a time that is no number or still to come (a frame's lost or corrupt timestamp read
        as the stage's first position, or as where it is now)."""
        if not math.isfinite(when) or when > time.time() + 1.0:
            raise ValueError(f"{self.get_name()}: no position at time {when!r} (s since the epoch): it is "
                             f"{'no finite number' if not math.isfinite(when) else 'still to come'}")
        return float(self.stage.position_at(monotonic_at(float(when))))

    @command
    def home(self) -> None:
        if self.stage.moving:
            raise RuntimeError(f"{self.get_name()} is moving; stop it first")
        self.stage.move_to(0.0)
