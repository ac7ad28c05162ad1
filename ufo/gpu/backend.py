"""The `ufo.backends` entry point of the GPU backend: rewrite a graph for the devices asked for."""

from __future__ import annotations

from ..core import Graph
from . import available, select, tell_cpu_fallback


def prepare(graph: Graph, device: str | None, streams: int | None = None) -> Graph:
    """`graph` with its GPU-capable chains fused into segments on the GPUs `device` selects,
    `streams` replicas per GPU (None: UFO_GPU_STREAMS, else 2; see `segment.streams_per_device`)."""
    from .segment import rewrite, streams_per_device

    streams = streams_per_device(streams)  # a bad value is an error on a machine without a GPU too
    gpus = select(device)
    if not gpus:
        could_use = any("gpu" in getattr(task, "devices", ()) for task in graph.nodes)
        if could_use and device not in ("cpu", "none") and available() == 0:
            tell_cpu_fallback(_why_none())
        return graph
    return rewrite(graph, gpus, streams)


def _why_none() -> str:
    """Why no GPU is used: an NVIDIA device without CuPy names the extra to install."""
    import importlib.util
    import os

    if importlib.util.find_spec("cupy") is None and os.path.exists("/dev/nvidia0"):
        return "no GPU found (an NVIDIA GPU is here, but CuPy is not installed: pip install 'ufo[gpu]')"
    return "no GPU found (CuPy with CUDA is not available)"
