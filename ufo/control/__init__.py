"""Experiment control (Concert in Python): asyncio devices with units, states and simulations.

    from ufo.control import q, LinearMotor
    motor = await LinearMotor("x").connect()
    await motor.set_position(3 * q.mm)
"""

from ..core.units import registry as _registry
from .backend import Backend, BlockingBackend, FrameBackend, SimulatedBackend
from .beam import Photodiode, Shutter
from .detector import Detector, LocalCamera
from .device import Device, check
from .motors import ContinuousRotationMotor, LinearMotor, RotationMotor, SimulatedMotor
from .simulated import SimulatedBeamline, StorageRing
from .addons import Accumulator, Benchmarker, GraphAddon, ImageWriter, LiveView, OnlineReconstruction
from .errors import ControlError, LimitError, LockError, TransitionError, UnitError
from .experiment import Acquisition, Addon, Experiment
from .hold import AbortedError
from .suspenders import Attribute, SuspendAbove, SuspendBelow, SuspendOutside, SuspendWhenChanged, Suspender
from .tomography import Tomography
from .helical import HelicalTomography
from .offset_axis import OffsetAxisTomography
from .radiography import Radiography
from .sequence import SampleSequence
from .parameters import Parameter, ParameterValue, Quantity, Selection, State
from .processes import align_rotation_axis, ascan, dscan, focus, scan, sharpness

q = _registry()

__all__ = [
    "Accumulator", "Acquisition", "Addon", "Benchmarker", "Experiment", "GraphAddon", "ImageWriter", "LiveView",
    "OnlineReconstruction", "Tomography", "HelicalTomography", "OffsetAxisTomography", "Radiography", "SampleSequence",
    "AbortedError", "Attribute", "SuspendAbove", "SuspendBelow",
    "SuspendOutside", "SuspendWhenChanged", "Suspender", "StorageRing",
    "Backend", "BlockingBackend", "ContinuousRotationMotor", "Detector", "FrameBackend", "LocalCamera",
    "SimulatedBackend", "SimulatedMotor", "ControlError", "Device", "LimitError", "LinearMotor", "LockError",
    "Parameter", "ParameterValue", "Photodiode", "Quantity", "RotationMotor", "Selection", "Shutter", "State",
    "SimulatedBeamline", "TransitionError", "UnitError", "align_rotation_axis", "ascan", "check", "dscan", "focus",
    "q", "scan", "sharpness",
]
