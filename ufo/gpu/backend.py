"""The `ufo.backends` entry point of the GPU backend: rewrite a graph for the devices asked for."""

from __future__ import annotations

from ..core import Graph
from . import available, select, tell_cpu_fallback


def prepare(graph: Graph, device: str | None) -> Graph:
    gpus = select(device)
    if not gpus:
        if device not in ("cpu", "none") and available() == 0:
            tell_cpu_fallback("no GPU found (CuPy with CUDA is not available)")
        return graph
    from .segment import rewrite

    return rewrite(graph, gpus)
