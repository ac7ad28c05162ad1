"""The beam's devices: a Shutter that gates it and a Photodiode that measures it.

Simulated by default (a SimulatedBackend); give `backend=` to drive real ones the same way.
Both are Bluesky devices by shape: the diode is Readable (`bp.count([diode])`), the shutter
Readable and Movable (`bps.mv(shutter, "open")`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.units import registry
from .backend import Backend, SimulatedBackend
from .device import Device, check
from .parameters import Quantity, Selection
from .status import Status

q = registry()


class Shutter(Device):
    """Open or closed; its state follows its position, and an emergency stop closes it."""

    kind = "shutter"
    read_fields = ("position",)
    position = Selection(["open", "closed"], doc="shutter position")

    def __init__(self, name: str = "shutter", backend: Backend | None = None):
        super().__init__(name, backend or SimulatedBackend(position="closed"))

    async def _get_position(self) -> str:
        return str(await self.io.read("position"))

    async def _set_position(self, value: str) -> None:
        await self.io.write("position", value)
        self.state = value

    def set(self, value: str) -> Status:
        """Bluesky's Movable: 'open' or 'closed', as a Status."""
        return Status(self.set_position(value), f"{self.name}: {value}")  # type: ignore[attr-defined]

    @check(source=("standby", "closed", "open"), target="open")
    async def open(self) -> None:
        await self.set_position("open")  # type: ignore[attr-defined]

    @check(source=("standby", "open", "closed"), target="closed")
    async def close(self) -> None:
        await self.set_position("closed")  # type: ignore[attr-defined]

    async def emergency_stop(self) -> None:
        await self.io.write("position", "closed")
        self.state = "closed"


class Photodiode(Device):
    """An intensity reading (simulated: a callable, e.g. the beam current)."""

    kind = "photodiode"
    read_fields = ("intensity",)
    intensity = Quantity("V", writable=False, doc="measured signal")

    def __init__(self, name: str = "diode", source: Callable[[], float] | None = None, backend: Backend | None = None):
        super().__init__(name, backend or SimulatedBackend(intensity=source or (lambda: 1.0)))

    async def _get_intensity(self) -> Any:
        return float(await self.io.read("intensity")) * q.V
