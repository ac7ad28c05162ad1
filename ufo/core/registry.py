"""Task registry by name, filled from the `ufo.tasks` entry-point group.

Built-in tasks are registered through the same entry points as third-party ones (pyproject's
[project.entry-points."ufo.tasks"] is the only table), so a plugin package is a first-class
citizen and the core names no module above it. Entry points are loaded lazily, one at a time,
and read without importing importlib.metadata (`ufo.core.entrypoints`: start-up, issue 22).
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

from .entrypoints import entry_points
from .errors import UnknownTaskError, suggest

if TYPE_CHECKING:
    from .task import Task

GROUP = "ufo.tasks"

@functools.cache
def _entry_points() -> dict[str, Any]:
    found: dict[str, Any] = {ep.name: ep for ep in entry_points(group=GROUP)}
    if "read" not in found:
        raise UnknownTaskError(f"no built-in tasks are registered (entry-point group '{GROUP}' lacks 'read'): "
                               "ufo is imported from a source tree that is not installed; "
                               "run 'pip install -e .' in it")
    return found


@functools.cache
def get(name: str) -> type[Task]:
    """The task class registered as `name` (kebab-case; underscores are accepted too).

    `Task` is imported here, not at the top, so that listing names (`ufo tasks`) needs no numpy."""
    from .task import Task

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


# Python names of tasks whose plain CamelCase name belongs to something else: `ufo.Camera` is
# the camera device API, so the 'camera' source task is `ufo.CameraSource` (its UFO name stays).
PYTHON_NAMES = {"camera": "CameraSource"}


def camel(name: str) -> str:
    """The task's Python name: 'flat-field-correct' -> 'FlatFieldCorrect' ('camera' -> 'CameraSource')."""
    if name in PYTHON_NAMES:
        return PYTHON_NAMES[name]
    return "".join(part.capitalize() for part in re.split(r"[-_]", name) if part)


ALIASES = {"Reader": "read", "Writer": "write"}


def by_camel_name(attribute: str) -> type[Task] | None:
    """The task class whose Python name (or alias) is `attribute`, None if there is none."""
    if attribute in ALIASES:
        return get(ALIASES[attribute])
    for name in _entry_points():
        if camel(name) == attribute:
            return get(name)
    return None


def create(name: str, **properties: Any) -> Task:
    return get(name)(**properties)
