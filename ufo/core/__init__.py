"""The runtime: frames, typed task properties, graphs and the streaming scheduler.

`Task`, `Stream` and `Graph` here are the runnable ones of ufo.core.api (subclasses of the
structure in ufo.core.task and ufo.core.graph, which sit below the scheduler).

The errors are imported at once (they are small and every layer raises them); every other
name is resolved on first use (PEP 562 `__getattr__`), so importing one light submodule
(`ufo.core.errors`, `ufo.core.registry`) does not pull in numpy, asyncio and the scheduler.
`from ufo.core import Graph` works as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_getattr

from .errors import (
    Cancelled,
    GraphError,
    InputError,
    PipelineSyntaxError,
    PropertyError,
    TaskError,
    UfoError,
    UnknownTaskError,
    UsageError,
)

if TYPE_CHECKING:
    from .api import Graph, Stream, Task, run
    from .frame import EOS, Frame, Image
    from .handle import NodeStats, RunHandle
    from .properties import Property
    from .spec import Spec
    from .task import Context, Input, Kind

# public name -> submodule that defines it
_LAZY = {
    "Graph": "api", "Stream": "api", "Task": "api", "run": "api",
    "EOS": "frame", "Frame": "frame", "Image": "frame",
    "NodeStats": "handle", "RunHandle": "handle",
    "Property": "properties",
    "Spec": "spec",
    "Context": "task", "Input": "task", "Kind": "task",
}

__all__ = [
    "Cancelled", "Context", "EOS", "Frame", "Graph", "GraphError", "Image", "Input", "InputError", "Kind",
    "NodeStats", "PipelineSyntaxError", "Property", "PropertyError", "RunHandle", "Spec", "Stream", "Task",
    "TaskError", "UfoError", "UnknownTaskError", "UsageError", "run",
]


__getattr__ = lazy_getattr(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
