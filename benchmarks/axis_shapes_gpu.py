"""What a sinogram shape met for the first time costs the GPU axis search (`--axis auto`).

Why: the first `--axis auto` job of a fresh `ufo reco --serve` found its axis 0.6-0.9 s after the
middle row was read, later jobs in 0.04-0.11 s, and a warm-up on a small scan did not help.
cupyx.scipy.ndimage's spline filter and shift, which the search uses, build CUDA kernels per
array shape; CuPy keeps compiled kernels in its cache on disk (CUPY_CACHE_DIR). This times
`ufo.tomo.axis_vo.axis_from_sinogram(device="gpu")` on several shapes, each twice, in this
process: run it twice, the first time with an empty CUPY_CACHE_DIR, to see both costs.

Run on the GPU machine:
    export CUPY_CACHE_DIR=/tmp/cupy-fresh; rm -rf $CUPY_CACHE_DIR
    python3 benchmarks/axis_shapes_gpu.py "empty kernel cache"; python3 benchmarks/axis_shapes_gpu.py "cache filled"
Without a GPU it prints "no GPU: skipped" and exits 0.
"""

from __future__ import annotations

import sys
import time

import numpy as np

SHAPES = [(64, 64), (64, 64), (1024, 1024), (1024, 1024), (1024, 2048), (2048, 2048), (2048, 2048), (1800, 2560)]


def main() -> None:
    from ufo.bench.gpu_files import have_gpu

    if not have_gpu():
        print("no GPU: skipped")
        return
    label = sys.argv[1] if len(sys.argv) > 1 else "this process"
    t0 = time.perf_counter()
    import cupy

    from ufo.tomo.axis_vo import axis_from_sinogram

    print(f"imports {time.perf_counter() - t0:.2f} s", flush=True)
    rng = np.random.default_rng(0)
    for shape in SHAPES:  # angles x detector columns
        sino = rng.random(shape).astype(np.float32) + 1
        t0 = time.perf_counter()
        axis_from_sinogram(sino, device="gpu")
        cupy.cuda.Device().synchronize()
        print(f"{label}: {shape}: {time.perf_counter() - t0:.3f} s", flush=True)


if __name__ == "__main__":
    main()
