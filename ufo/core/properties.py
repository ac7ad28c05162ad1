"""Typed task properties.

One declaration per property drives validation, `k=v` parsing on the command line, JSON
graphs, the GUI form, `ufo tasks NAME` and the error messages, so they never disagree.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from typing import Any

from .errors import PropertyError
from .units import is_quantity, to_unit

_REQUIRED = object()
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
#: a number followed by a unit ('10 ms', '90deg'); a plain number in e-notation ('1e-6') is no unit
_NUMBER_WITH_UNIT = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?(?![eE][-+]?\d)\s*[A-Za-zµ°%]")


class Property:
    """A typed, validated task property (a data descriptor).

    `type` is bool, int, float or str; `array=True` makes it a list of that type (comma
    separated on the command line). `unit` names a pint unit: the stored value is a plain
    number in that unit and quantities ('10 ms', `10 * q.ms`) are converted on assignment.
    `range` is an inclusive (low, high) pair, either side None for open.
    Float values must be finite (no NaN, no infinity) unless `finite=False` (e.g. a fill value
    that may be NaN); a range is never satisfied by NaN.
    """

    def __init__(
        self,
        type: type,
        default: Any = _REQUIRED,
        *,
        doc: str,
        unit: str | None = None,
        range: tuple[float | None, float | None] | None = None,
        choices: Sequence[Any] | None = None,
        array: bool = False,
        length: int | None = None,
        nullable: bool = False,
        aliases: tuple[str, ...] = (),
        finite: bool = True,
    ):
        if type not in (bool, int, float, str):
            raise TypeError(f"property type must be bool, int, float or str, not {type}")
        self.type = type
        self.doc = doc
        self.unit = unit
        self.range = range
        self.choices = tuple(choices) if choices is not None else None
        self.array = array
        self.length = length
        self.nullable = nullable
        self.finite = finite
        self.aliases = aliases  # other names accepted on the command line ('name' where that is taken)
        self.name = "?"
        self.task_name = "?"
        self.required = default is _REQUIRED
        self.default = None if self.required else (default if default is None else self.convert(default))

    # -- descriptor protocol -------------------------------------------------------------
    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.task_name = owner.__dict__.get("name", owner.__name__)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        try:
            return instance.__dict__[self.name]
        except KeyError:
            return self.default

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.name] = self.convert(value, getattr(instance, "name", None))

    # -- conversion -------------------------------------------------------------------
    @property
    def cli_name(self) -> str:
        return self.name.replace("_", "-")

    def type_name(self) -> str:
        base = {bool: "bool", int: "int", float: "float", str: "str"}[self.type]
        return f"list of {base}" if self.array else base

    def describe_constraint(self) -> str:
        parts = []
        if self.choices is not None:
            parts.append("one of " + ", ".join(str(c) for c in self.choices))
        if self.range is not None:
            lo, hi = self.range
            if lo is not None and hi is not None:
                parts.append(f"in [{lo}, {hi}]")
            elif lo is not None:
                parts.append(f">= {lo}")
            elif hi is not None:
                parts.append(f"<= {hi}")
        if self.length is not None:
            parts.append(f"{self.length} values")
        return ", ".join(parts)

    owner_kind = "task"  # how messages name the owner ('camera' for camera properties)

    def _fail(self, task: str | None, message: str) -> PropertyError:
        return PropertyError(f"{self.owner_kind} '{task or self.task_name}': property '{self.cli_name}' {message}")

    def convert(self, value: Any, task: str | None = None) -> Any:
        """Validate and normalise `value`; raise PropertyError saying what is expected."""
        if value is None:
            if self.nullable or (not self.required and self.default is None):
                return None
            raise self._fail(task, f"needs a value ({self.type_name()})")
        if self.array:
            if isinstance(value, str):
                items = [v for v in value.replace(" ", ",").split(",") if v != ""]
            elif isinstance(value, (list, tuple)) or getattr(value, "ndim", 0) > 0:  # numpy scalars are one value
                items = list(value.tolist() if hasattr(value, "tolist") else value)
            else:
                items = [value]
            if self.length is not None and len(items) != self.length:
                raise self._fail(task, f"takes {self.length} values, got {len(items)}: {value!r}")
            return [self._scalar(v, task) for v in items]
        return self._scalar(value, task)

    def _scalar(self, value: Any, task: str | None) -> Any:
        if self.unit is not None and (is_quantity(value) or (isinstance(value, str) and _NUMBER_WITH_UNIT.match(value))):
            try:
                value = to_unit(value, self.unit, finite=self.finite)
            except ValueError as exc:
                raise self._fail(task, f"takes a value in {self.unit}: {exc}") from exc
        if self.type is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low in _TRUE:
                    value = True
                elif low in _FALSE:
                    value = False
            if not isinstance(value, (bool, int)) or (isinstance(value, int) and value not in (0, 1)):
                raise self._fail(task, f"must be true or false, got {value!r}")
            value = bool(value)
        elif self.type is int:
            if isinstance(value, str):
                try:
                    value = int(value.strip(), 0)
                except ValueError as err:
                    raise self._fail(task, f"must be an integer, got {value!r}") from err
            elif isinstance(value, float) and value.is_integer():
                value = int(value)
            elif isinstance(value, bool) or not isinstance(value, int):
                if hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu":
                    value = int(value)
                else:
                    raise self._fail(task, f"must be an integer, got {value!r}")
        elif self.type is float:
            if isinstance(value, str):
                try:
                    value = float(value.strip())
                except ValueError as err:
                    hint = f" (a number, in {self.unit})" if self.unit else ""
                    raise self._fail(task, f"must be a number{hint}, got {value!r}") from err
            elif isinstance(value, bool):
                raise self._fail(task, f"must be a number, got {value!r}")
            else:
                try:
                    value = float(value)
                except (TypeError, ValueError, OverflowError) as err:
                    raise self._fail(task, f"must be a number, got {value!r}") from err
            if self.finite and not math.isfinite(value):
                unit = f" (in {self.unit})" if self.unit else ""
                raise self._fail(task, f"must be a finite number{unit}, got {value!r}")
        elif self.type is str:
            if isinstance(value, (bytes, os.PathLike)):  # a path as os.listdir(b'.') or pathlib gives it
                value = os.fsdecode(value)  # str(b'x.tif') was "b'x.tif'", a file of that name
            elif not isinstance(value, str):
                value = str(value)
        if self.choices is not None and value not in self.choices:
            raise self._fail(task, f"must be {self.describe_constraint()}, got {value!r}")
        if self.range is not None:
            lo, hi = self.range
            if (lo is not None and not value >= lo) or (hi is not None and not value <= hi):
                unit = f" {self.unit}" if self.unit else ""
                raise self._fail(task, f"must be {self.describe_constraint()}{unit}, got {value!r}")
        return value

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.cli_name,
            "type": self.type_name(),
            "default": None if self.required else self.default,
            "required": self.required,
            "unit": self.unit,
            "range": list(self.range) if self.range else None,
            "choices": list(self.choices) if self.choices else None,
            "doc": self.doc,
        }


def declared(cls: type, kind: type = Property) -> dict[str, Any]:
    """The `kind` descriptors a class and its bases declare, by attribute name (subclasses win)."""
    found: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        found.update({key: value for key, value in vars(klass).items() if isinstance(value, kind)})
    return found
