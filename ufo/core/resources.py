"""What the machine has: memory available to new allocations (for planning passes and buffers) and
the CUDA devices CuPy can use (probed lazily: CuPy is imported only when the question is asked)."""

from __future__ import annotations

import functools
import os
import threading

from .errors import UsageError


def available_memory() -> int:
    """Bytes available to new allocations (MemAvailable), or a large number when unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def available_cores() -> int:
    """CPU cores this process may run on: its affinity (taskset, a container's cpuset), which
    `os.cpu_count()` ignores; the machine's count where affinity is unknown (macOS, Windows)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


_AVAILABLE_LOCK = threading.Lock()


def available() -> int:
    """Number of CUDA devices CuPy can use (0 without CuPy, a driver or a GPU).

    Asked once per process under a lock: threads ask at once (`ufo reco`'s GPU warm-up, its
    passes' graphs), and a thread that imported CuPy while another was still importing it saw
    a partly initialised module, took that for "no GPU" and ran its graph on the CPU."""
    with _AVAILABLE_LOCK:
        return _count_devices()


@functools.cache
def _count_devices() -> int:
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
        raise UsageError(f"GPUs are given as 'all', 'cpu' or numbers like '0,1' (--gpus or UFO_DEVICES), got '{text}'")
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
                             f"that CuPy with CUDA can use{_cupy_hint()}; use 'cpu' or 'all'")
        raise UsageError(f"GPU {missing[0]} does not exist; this machine has {count} (0..{count - 1})")
    return wanted


def release_host_memory() -> None:
    """Give a finished job's host memory back to the system, in a process that lives on (the
    reconstruction server, the GUI): its arrays are freed, but glibc's allocator keeps the pages
    (the reco server grew about 1 GB a job, 5.4 GB after 8 jobs of 256 slices of 1024^2; the GUI
    200-370 MB a run); malloc_trim returns them (where there is no glibc, nothing to do)."""
    import contextlib
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _cupy_hint() -> str:
    """' (CuPy is not installed: pip install 'ufo[gpu]')' where that is why, else ''."""
    import importlib.util

    return "" if importlib.util.find_spec("cupy") else " (CuPy is not installed: pip install 'ufo[gpu]')"
