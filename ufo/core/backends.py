"""Where a graph runs: the CPU, or an accelerator backend found through entry points.

Backends live outside the core (the GPU one, entry point `gpu`) and are imported only when a graph
holds a task that another device could run, so a CPU-only machine never imports CuPy.
"""

from __future__ import annotations

import numbers
import os
from typing import TYPE_CHECKING

from .entrypoints import entry_points
from .errors import UsageError

if TYPE_CHECKING:
    from .graph import Graph

GROUP = "ufo.backends"


def prepare(graph: Graph, device: str | None = None, gpu_streams: int | None = None) -> Graph:
    """The graph to run: unchanged for the CPU, rewritten by a backend for accelerators.

    `device` is 'cpu', 'all' or a list of GPU numbers ('0,1'); None reads UFO_DEVICES
    (default 'all': use every GPU there is, else the CPU). `gpu_streams` is how many replicas
    (CUDA streams) each GPU runs; it is handed to the backend as an argument, so a run's
    setting never touches the process's environment (None: the backend's default).
    """
    if gpu_streams is not None and (isinstance(gpu_streams, bool) or not isinstance(gpu_streams, numbers.Integral)
                                    or gpu_streams < 1):
        raise UsageError(f"gpu_streams must be a whole number >= 1, got {gpu_streams!r}")
    spec = device if device is not None else os.environ.get("UFO_DEVICES")
    if spec is not None and spec.strip().lower() in ("cpu", "none"):
        return graph
    if not any("gpu" in task.devices for task in graph.nodes):
        return graph
    points = {ep.name: ep for ep in entry_points(group=GROUP)}
    if "gpu" not in points:  # no GPU backend installed (the entry point is in ufo's pyproject): the CPU runs it
        return graph
    module = points["gpu"].load()
    return module.prepare(graph, spec, gpu_streams)  # type: ignore[no-any-return]
