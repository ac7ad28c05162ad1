"""The GPU backend (CuPy). Nothing here is imported unless a graph may run on a GPU.

Which GPUs the machine has (`available()`, `select()` for `--gpus` / UFO_DEVICES) is asked in
ufo.core.resources, below every layer that needs it; it is re-exported here. The scheduler reaches this package through the `ufo.backends` entry
point, so the core never imports CuPy.
"""

from __future__ import annotations

import warnings

from ..core.resources import available, parse_spec, select

__all__ = ["CpuFallbackWarning", "available", "parse_spec", "pinned_empty", "select", "tell_cpu_fallback"]


class CpuFallbackWarning(RuntimeWarning):
    """Work that could use a GPU runs on the CPU (no GPU, no CuPy or no driver)."""


# Shown once by default, with no flag of ours: the warnings module's 'once' registry remembers it
# (CPython forgets it, and shows it once more, only when some code changes the warning filters).
# Appended, so the user's own filters (-W, pytest's, 'error', catch_warnings) take precedence.
warnings.filterwarnings("once", category=CpuFallbackWarning, append=True)


def tell_cpu_fallback(reason: str) -> None:
    """Warn (once, by the filter above) when work that could use a GPU runs on the CPU."""
    from ..core.tell import tell

    tell(f"ufo: {reason}; running on the CPU", CpuFallbackWarning)  # at the script's line, not ufo's


def pinned_empty(shape: tuple[int, ...], dtype: object = "float32") -> "object":
    """A numpy array in page-locked host memory: copies to and from the GPU run asynchronously at full speed."""
    import cupy
    import numpy as np

    dt = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    memory = cupy.cuda.alloc_pinned_memory(max(1, count * dt.itemsize))
    return np.frombuffer(memory, dt, count).reshape(shape)
