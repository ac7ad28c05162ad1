"""What a sinogram shape met for the first time costs the GPU axis search (`--axis auto`).

Why: the first `--axis auto` job of a fresh `ufo reco --serve` found its axis 0.6-0.9 s after the
middle row was read, later jobs in 0.04-0.11 s, and a warm-up on a small scan did not help.
cupyx.scipy.ndimage's spline filter and shift, which the search uses, build CUDA kernels per
array shape; CuPy keeps compiled kernels in its cache on disk (CUPY_CACHE_DIR). `first_calls`
times `ufo.tomo.axis_vo.axis_from_sinogram(device="gpu")` on several shapes, each shape's first
call and, for some, a second. CuPy is imported inside, so the module loads without a GPU.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

#: angles x detector columns; a repeated shape shows the cost of a shape already met
SHAPES = [(64, 64), (64, 64), (1024, 1024), (1024, 1024), (1024, 2048), (2048, 2048), (2048, 2048), (1800, 2560)]


def imports() -> float:
    """Seconds to import CuPy and the search (the first call in a process)."""
    t0 = time.perf_counter()
    import cupy  # noqa: F401

    from ..tomo.axis_vo import axis_from_sinogram  # noqa: F401

    return time.perf_counter() - t0


def first_calls(shapes: list[tuple[int, int]] = SHAPES) -> Iterator[tuple[tuple[int, int], float]]:
    """(shape, seconds) of one GPU axis search per shape, in order, on random sinograms."""
    import cupy

    from ..tomo.axis_vo import axis_from_sinogram

    rng = np.random.default_rng(0)
    for shape in shapes:
        sino = rng.random(shape).astype(np.float32) + 1
        t0 = time.perf_counter()
        axis_from_sinogram(sino, device="gpu")
        cupy.cuda.Device().synchronize()
        yield shape, time.perf_counter() - t0
