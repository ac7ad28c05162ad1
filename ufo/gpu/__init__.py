"""The GPU backend (CuPy). Nothing here is imported unless a graph may run on a GPU.

Which GPUs the machine has (`available()`, `select()` for `--gpus` / UFO_DEVICES) is asked in
ufo.core.resources, below every layer that needs it; it is re-exported here. The scheduler reaches this package through the `ufo.backends` entry
point, so the core never imports CuPy.
"""

from __future__ import annotations

import sys

from ..core.resources import available, parse_spec, select

__all__ = ["available", "parse_spec", "pinned_empty", "select", "tell_cpu_fallback"]


_told = False


def tell_cpu_fallback(reason: str) -> None:
    """One info line per process when work that could use a GPU runs on the CPU."""
    global _told
    if not _told:
        _told = True
        print(f"ufo: {reason}; running on the CPU", file=sys.stderr)


def pinned_empty(shape: tuple[int, ...], dtype: object = "float32") -> "object":
    """A numpy array in page-locked host memory: copies to and from the GPU run asynchronously at full speed."""
    import cupy
    import numpy as np

    dt = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    memory = cupy.cuda.alloc_pinned_memory(max(1, count * dt.itemsize))
    return np.frombuffer(memory, dt, count).reshape(shape)
