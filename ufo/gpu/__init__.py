"""The GPU backend (CuPy). Nothing here is imported unless a graph may run on a GPU.

`available()` says whether CuPy sees a CUDA device; `select()` turns `--gpus` / UFO_DEVICES
into device numbers. The scheduler reaches this package through the `ufo.backends` entry
point, so the core never imports CuPy.
"""

from __future__ import annotations

import functools
import os
import sys

from ..core.errors import UsageError


@functools.cache
def available() -> int:
    """Number of CUDA devices CuPy can use (0 without CuPy, a driver or a GPU)."""
    try:
        import cupy

        if not cupy.cuda.is_available():
            return 0
        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:  # no cupy, no driver, no device: all mean "run on the CPU"
        return 0


def select(spec: str | None) -> list[int]:
    """Devices to use: 'cpu' -> [], 'all' or None -> every GPU, '0,1' -> those (checked)."""
    spec = (spec if spec is not None else os.environ.get("UFO_DEVICES", "all")).strip().lower()
    if spec in ("cpu", "none", ""):
        return []
    count = available()
    if spec in ("all", "gpu", "auto"):
        return list(range(count))
    try:
        wanted = [int(part) for part in spec.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"GPUs are given as 'all', 'cpu' or numbers like '0,1', got '{spec}'") from None
    missing = [d for d in wanted if d >= count or d < 0]
    if missing and count:
        raise UsageError(f"GPU {missing[0]} does not exist; this machine has {count} (0..{count - 1})")
    return wanted if count else []


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
