"""Units through pint, imported lazily: pint takes ~0.3 s to import and most runs never need it."""

from __future__ import annotations

import functools
import math
from typing import Any


@functools.cache
def registry() -> Any:
    """The one pint registry of the process (pint quantities from two registries do not mix)."""
    import pint

    return pint.UnitRegistry()


def is_quantity(value: Any) -> bool:
    return hasattr(value, "magnitude") and hasattr(value, "units") and hasattr(value, "to")


def to_unit(value: Any, unit: str, finite: bool = True) -> float:
    """Magnitude of `value` (a pint quantity or a string such as '10 ms') in `unit`.

    Raises ValueError with a message that names both units when they do not convert, and
    (unless `finite=False`) when the magnitude is NaN or infinite ('nan deg', '1e999 ms').
    """
    ureg = registry()
    if isinstance(value, str):
        try:
            value = ureg.Quantity(value)
        except Exception as exc:  # pint raises several unrelated types for bad text
            raise ValueError(f"cannot read '{value}' as a quantity in {unit}") from exc
    if not is_quantity(value):
        try:
            result = float(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"{value!r} is not a number in {unit}") from exc
    else:
        try:
            result = float(value.to(unit).magnitude)
        except Exception as exc:
            raise ValueError(f"{value} cannot be converted to {unit}") from exc
    if finite and not math.isfinite(result):
        raise ValueError(f"{value} is not a finite number of {unit}")
    return result


#: pint's names of angle units: pint counts angles as dimensionless, so a bare number or a percentage
#: converted to degrees as radians (a stage sent "10" went to 572.96 deg)
ANGLE_UNITS = ("radian", "degree", "arcminute", "arcsecond", "turn", "revolution", "gradian")


def angular(units: Any) -> bool:
    """Whether `units` (pint units, or their text) hold an angle unit (deg, rad, deg/s, ...)."""
    text = str(units)
    return any(name in text for name in ANGLE_UNITS)
