"""Starting CUDA early, in a thread, while a command does its other work.

Why: a new process pays about a second before its first GPU task can run: CuPy's import, the
driver's start, each device's primary context, cuFFT's library and the first kernels (0.8 s
import, 0.2 s devices and context, 0.3-0.7 s first kernel measured in a fresh process on an
H200, benchmarks/reco_files_gpu.py). Started at once, that overlaps the command's own imports
and planning instead of delaying the first back-projection. Nothing here is required: a GPU
problem is reported by the run itself, so the warm-up swallows every error, and without CuPy
or a GPU it ends at once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence


def gpus_asked(argv: Sequence[str]) -> str | None:
    """The `--gpus` value on a command line (`--gpus X` or `--gpus=X`), else UFO_DEVICES, else None."""
    for i, arg in enumerate(argv):
        if arg == "--gpus" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--gpus="):
            return arg.split("=", 1)[1]
    return os.environ.get("UFO_DEVICES")


def warm_up(spec: str | None) -> None:
    """Import CuPy, make each selected GPU's context and load cuFFT and an elementwise kernel."""
    try:
        from ..core.resources import select

        gpus = select(spec)
        if not gpus:
            return
        import cupy
        import cupyx  # noqa: F401 - CuPy imports it (and SciPy) at the first mixed operation: here, not then

        for device in gpus:
            with cupy.cuda.Device(device):
                row = cupy.zeros((1, 64), cupy.float32)
                cupy.fft.irfft(cupy.fft.rfft(row + 1, axis=-1), n=64, axis=-1).get()
        if len(gpus) == 1:
            _engine_kernels(gpus[0])
    except Exception:  # noqa: BLE001 - the run reports what is wrong with the GPUs, not the warm-up
        pass


def _engine_kernels(device: int) -> None:
    """A tiny scan through the streaming engine (ufo.reco.resident's path on one GPU), so that its
    kernels (flat fields' median, filter, back-projection of 8 slices a thread) are loaded from
    CuPy's cache before the first real batch needs them."""
    import cupy
    import numpy as np

    from ..tomo.streaming import StreamingReconstructor

    with cupy.cuda.Device(device):
        engine = StreamingReconstructor(axis=32.0, device="gpu", batch=4)
        for key in (2, 1, 1):
            engine.add(np.full((16, 64), 100 * key, np.uint16), {"image_key": key})
        for i in range(8):
            engine.add(np.full((16, 64), 150, np.uint16), {"image_key": 0, "angle": i * np.pi / 8})
        engine.finish()


def start(argv: Sequence[str]) -> threading.Thread | None:
    """Warm the GPUs the command line asks for up in a daemon thread (none for --gpus cpu, --help, --dry-run)."""
    spec = gpus_asked(argv)
    if (spec or "").strip().lower() in ("cpu", "none") or any(a in ("--help", "-h", "--dry-run") for a in argv):
        return None
    thread = threading.Thread(target=warm_up, args=(spec,), name="ufo:gpu-warm-up", daemon=True)
    thread.start()
    return thread
