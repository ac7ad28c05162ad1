"""The runtime: frames, typed task properties, graphs and the streaming scheduler."""

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
from .frame import EOS, Frame, Image
from .graph import Graph, Stream, run
from .handle import NodeStats, RunHandle
from .properties import Property
from .spec import Spec
from .task import Context, Input, Kind, Task

__all__ = [
    "Cancelled", "Context", "EOS", "Frame", "Graph", "GraphError", "Image", "Input", "InputError", "Kind",
    "NodeStats", "PipelineSyntaxError", "Property", "PropertyError", "RunHandle", "Spec", "Stream", "Task",
    "TaskError", "UfoError", "UnknownTaskError", "UsageError", "run",
]
