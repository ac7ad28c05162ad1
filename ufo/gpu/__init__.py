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


def parse_spec(spec: str | None) -> str | list[int]:
    """'cpu', 'all' or the GPU numbers a `--gpus` / UFO_DEVICES text names; UsageError when it is neither.

    Needs no CuPy, so a caller can check the text before it knows whether a GPU is needed.
    """
    text = (spec if spec is not None else os.environ.get("UFO_DEVICES", "all")).strip().lower()
    if text in ("cpu", "none", ""):
        return "cpu"
    if text in ("all", "gpu", "auto"):
        return "all"
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts or not all(part.isdigit() for part in parts):
        raise UsageError(f"GPUs are given as 'all', 'cpu' or numbers like '0,1' (--gpus or UFO_DEVICES), got '{spec}'")
    return list(dict.fromkeys(int(part) for part in parts))


def select(spec: str | None) -> list[int]:
    """Devices to use: 'cpu' -> [], 'all' or None -> every GPU, '0,1' -> those (checked).

    A GPU number that this machine lacks is a UsageError, also on a machine without GPUs
    (asking for GPU 7 and silently running on the CPU hides a typo or a broken driver).
    """
    wanted = parse_spec(spec)
    if wanted == "cpu":
        return []
    count = available()
    if wanted == "all":
        return list(range(count))
    assert isinstance(wanted, list)
    missing = [d for d in wanted if d >= count]
    if missing:
        if not count:
            raise UsageError(f"GPU {missing[0]} was asked for (--gpus or UFO_DEVICES), but this machine has no GPU "
                             "that CuPy with CUDA can use; use 'cpu' or 'all'")
        raise UsageError(f"GPU {missing[0]} does not exist; this machine has {count} (0..{count - 1})")
    return wanted


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
