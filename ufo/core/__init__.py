"""The runtime: frames, typed task properties, graphs and the streaming scheduler.

`Task`, `Stream` and `Graph` here are the runnable ones of ufo.core.api (subclasses of the
structure in ufo.core.task and ufo.core.graph, which sit below the scheduler).
"""

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
from .api import Graph, Stream, Task, run
from .frame import EOS, Frame, Image
from .handle import NodeStats, RunHandle
from .properties import Property
from .spec import Spec
from .task import Context, Input, Kind

__all__ = [
    "Cancelled", "Context", "EOS", "Frame", "Graph", "GraphError", "Image", "Input", "InputError", "Kind",
    "NodeStats", "PipelineSyntaxError", "Property", "PropertyError", "RunHandle", "Spec", "Stream", "Task",
    "TaskError", "UfoError", "UnknownTaskError", "UsageError", "run",
]
