"""Experiment control (Concert in Python): asyncio devices with units, states and simulations.

    from ufo.control import q, LinearMotor
    motor = await LinearMotor("x").connect()
    await motor.set_position(3 * q.mm)
"""

from ..core.units import registry as _registry
from .device import Device, check
from .devices import (
    Camera,
    ContinuousRotationMotor,
    LinearMotor,
    Photodiode,
    RotationMotor,
    Shutter,
    SimulatedBeamline,
)
from .errors import ControlError, LimitError, LockError, TransitionError, UnitError
from .parameters import Parameter, ParameterValue, Quantity, Selection

q = _registry()

__all__ = [
    "Camera", "ContinuousRotationMotor", "ControlError", "Device", "LimitError", "LinearMotor", "LockError",
    "Parameter", "ParameterValue", "Photodiode", "Quantity", "RotationMotor", "Selection", "Shutter",
    "SimulatedBeamline", "TransitionError", "UnitError", "check", "q",
]
