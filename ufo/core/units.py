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
ANGLE_UNITS = ("radian", "degree", "arcminute", "arcsecond", "turn", "revolution", "gradian", "grade")


def angular(units: Any) -> bool:
    """Whether `units` (pint units, or their text) hold an angle unit (deg, rad, deg/s, ...)."""
    text = str(units)
    return any(name in text for name in ANGLE_UNITS)


#: the units files give their angles in most, without pint (0.3 s to import); '' is NXtomo's default
_COMMON_ANGLES = {"": math.pi / 180, "deg": math.pi / 180, "degree": math.pi / 180, "degrees": math.pi / 180,
                  "\u00b0": math.pi / 180, "rad": 1.0, "radian": 1.0, "radians": 1.0}


def radians_per(unit: str) -> float | None:
    """Radians in one `unit` of a file's angles ('degree', 'rad', 'mrad', 'grad', ...; '' means
    degrees); None for text that names no unit (or a dimensionless one): the caller reads degrees and
    says so. ValueError naming the unit where it is a unit but no angle: a file's `units` of 'mrad',
    'grad' or encoder 'counts' were read as degrees (slices of an 8.6-turn scan, exit 0). Text that
    begins as degrees or radians ('degrees (°)', 'rad (angle)', 'Rads') is that, as it always was;
    the rest goes to pint in lower case (pint's 'Grad' is a gigaradian, 'rads' a dose)."""
    text = unit.strip().lower().rstrip(". ")
    if text in _COMMON_ANGLES:
        return _COMMON_ANGLES[text]
    if text.startswith("rad"):
        return 1.0
    if text.startswith(("deg", "\u00b0")):
        return math.pi / 180
    try:
        quantity = registry().Quantity(1.0, text)
        items = list(quantity.unit_items())
    except Exception:  # noqa: BLE001 - pint raises several unrelated types for text it cannot read
        return None
    if not items:  # '1', 'dimensionless'
        return None
    (name, power), *more = items
    if more or power != 1 or not any(name.endswith(angle) for angle in ANGLE_UNITS):
        raise ValueError(f"units '{unit}' are no angle unit (degree, rad, mrad, grad, ...)")
    try:
        return float(quantity.to("radian").magnitude)
    except Exception as exc:  # noqa: BLE001 - not convertible after all: said as no angle
        raise ValueError(f"units '{unit}' are no angle unit (degree, rad, mrad, grad, ...)") from exc
