"""Task registry by name, filled from the `ufo.tasks` entry-point group.

Built-in tasks are registered through the same entry points as third-party ones, so a
plugin package is a first-class citizen. Entry points are loaded lazily, one at a time.
"""

from __future__ import annotations

import functools
import importlib
import re
from importlib.metadata import entry_points
from typing import Any

from .errors import UnknownTaskError, suggest
from .task import Task

GROUP = "ufo.tasks"

# Used only when the `ufo` distribution is not installed (running from a source tree):
# the same table as pyproject.toml's [project.entry-points."ufo.tasks"].
_BUILTIN_MODULES = (
    "ufo.core.memory",
    "ufo.tasks.io",
    "ufo.tasks.generators",
    "ufo.tasks.jit",
    "ufo.tasks.arithmetic",
    "ufo.tasks.geometry",
    "ufo.tasks.stacking",
    "ufo.tasks.stats",
    "ufo.tasks.filtering",
    "ufo.tasks.backproject",
    "ufo.tasks.correction",
    "ufo.tasks.sinogram",
    "ufo.tasks.phase",
    "ufo.tasks.rings",
    "ufo.tasks.center",
    "ufo.tasks.camera",
    "ufo.tasks.net",
)


@functools.cache
def _entry_points() -> dict[str, Any]:
    found: dict[str, Any] = {ep.name: ep for ep in entry_points(group=GROUP)}
    if "read" not in found:  # not installed: fall back to scanning the built-in modules
        for module_name in _BUILTIN_MODULES:
            module = importlib.import_module(module_name)
            for value in vars(module).values():
                if isinstance(value, type) and issubclass(value, Task) and value.__dict__.get("name"):
                    if value.__module__ == module_name and not value.name.startswith("_") and value.name != "iterate":
                        found.setdefault(value.name, value)
    return found


@functools.cache
def get(name: str) -> type[Task]:
    """The task class registered as `name` (kebab-case; underscores are accepted too)."""
    points = _entry_points()
    key = name if name in points else name.replace("_", "-")
    if key not in points:
        hint = suggest(name, points)
        raise UnknownTaskError(f"unknown task '{name}'.{hint} Run 'ufo tasks' to list all tasks.")
    point = points[key]
    cls = point.load() if hasattr(point, "load") else point
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise UnknownTaskError(f"entry point '{key}' in group {GROUP} does not name a Task class: {cls!r}")
    return cls


def names() -> list[str]:
    return sorted(_entry_points())


def camel(name: str) -> str:
    """'flat-field-correct' -> 'FlatFieldCorrect'."""
    return "".join(part.capitalize() for part in re.split(r"[-_]", name) if part)


ALIASES = {"Reader": "read", "Writer": "write"}


def by_camel_name(attribute: str) -> type[Task] | None:
    if attribute in ALIASES:
        return get(ALIASES[attribute])
    for name in _entry_points():
        if camel(name) == attribute:
            return get(name)
    return None


def create(name: str, **properties: Any) -> Task:
    return get(name)(**properties)
