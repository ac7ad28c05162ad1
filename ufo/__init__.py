"""ufo: high-throughput image-stream processing and experiment control for X-ray imaging.

Every registered task is importable by its CamelCase name::

    from ufo import Reader, Writer, Calculate
    write = Writer(path="out/frame-%05i.tif")
    write(Calculate(expression="x * 2")(Reader(path="scan/"))).run().wait()
"""

from __future__ import annotations

from typing import Any

from .core import (
    Cancelled,
    Graph,
    GraphError,
    Image,
    Input,
    Kind,
    Property,
    PropertyError,
    RunHandle,
    Spec,
    Stream,
    Task,
    TaskError,
    UfoError,
    UsageError,
    run,
)

from .kernels.jit import jit

__version__ = "0.1.0"

__all__ = [
    "Cancelled", "Graph", "GraphError", "Image", "Input", "Kind", "Property", "PropertyError", "RunHandle",
    "Spec", "Stream", "Task", "TaskError", "UfoError", "UsageError", "jit", "run", "task", "tasks",
]


def task(name: str, **properties: Any) -> Task:
    """Create a registered task by its name: ``ufo.task('flat-field-correct', absorption=True)``."""
    from .core import registry

    return registry.create(name, **properties)


def tasks() -> list[str]:
    """Names of every registered task."""
    from .core import registry

    return registry.names()


def __getattr__(attribute: str) -> Any:
    if attribute == "Map":  # the jit task under the name the Python API gives it
        from .tasks.jit import Map

        return Map
    if attribute[:1].isupper():
        from .core import registry

        cls = registry.by_camel_name(attribute)
        if cls is not None:
            return cls
    raise AttributeError(f"module 'ufo' has no attribute '{attribute}'")
