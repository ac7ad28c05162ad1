"""ufo: high-throughput image-stream processing and experiment control for X-ray imaging.

Every registered task is importable by its CamelCase name::

    from ufo import Reader, Writer, Calculate
    write = Writer(path="out/frame-%05i.tif")
    write(Calculate(expression="x * 2")(Reader(path="scan/"))).run().wait()

One name, one thing: `ufo.tasks` is the package of built-in tasks (`ufo.task_names()` lists
the registered names), and `ufo.Camera` is the camera device API (`ufo.camera.Camera`, what
`ufo.camera.open_camera` returns). The graph source task that records frames from a camera
keeps its UFO name 'camera' (`ufo run 'camera ! write ...'`, `ufo.task('camera')`, as in
ufo-filters) and is `ufo.CameraSource` in Python, so a task never hides the device class.

Every name here is resolved on first use (PEP 562 `__getattr__`), so `import ufo` and the
`ufo` command (which needs `__version__` before it knows what to do) import no numpy, numba
or scheduler until something asks for them; `from ufo import Graph` works as before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core import (Cancelled, Graph, GraphError, Image, Input, Kind, Property, PropertyError, RunHandle, Spec,
                       Stream, Task, TaskError, UfoError, UsageError, run)
    from .kernels.jit import jit

__version__ = "0.1.0"

# public name -> the module it comes from (imported when the name is first asked for)
_LAZY = {
    **{name: "ufo.core" for name in ("Cancelled", "Graph", "GraphError", "Image", "Input", "Kind", "Property",
                                      "PropertyError", "RunHandle", "Spec", "Stream", "Task", "TaskError",
                                      "UfoError", "UsageError", "run")},
    "jit": "ufo.kernels.jit",
}

__all__ = [
    "Cancelled", "Graph", "GraphError", "Image", "Input", "Kind", "Property", "PropertyError", "RunHandle",
    "Spec", "Stream", "Task", "TaskError", "UfoError", "UsageError", "jit", "run", "task", "task_names",
]


def task(name: str, **properties: Any) -> Task:
    """Create a registered task by its name: ``ufo.task('flat-field-correct', absorption=True)``."""
    from .core import registry

    return registry.create(name, **properties)


def task_names() -> list[str]:
    """Names of every registered task (not `ufo.tasks`: that is the package of built-in tasks,
    which replaces any attribute of that name as soon as one of its modules is imported)."""
    from .core import registry

    return registry.names()


def __getattr__(attribute: str) -> Any:
    """Resolve the public names, task classes and `Camera` on first use, so that `import ufo` stays fast."""
    if attribute in _LAZY:
        value = getattr(importlib.import_module(_LAZY[attribute]), attribute)
        globals()[attribute] = value  # once resolved, a plain module attribute
        return value
    if attribute == "Camera":  # the device API; the 'camera' task is ufo.CameraSource
        from .camera.base import Camera

        return Camera
    if attribute == "Map":  # the jit task under the name the Python API gives it
        from .tasks.jit import Map

        return Map
    if attribute[:1].isupper():
        from .core import registry

        cls = registry.by_camel_name(attribute)
        if cls is not None:
            return cls
    raise AttributeError(f"module 'ufo' has no attribute '{attribute}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
