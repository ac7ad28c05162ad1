"""forwardproject on the GPU against the CPU kernel (issue 22: the GPU where a task is heavy per pixel).

One slice of random values (never zeros: they hide unwritten outputs), every angle of a half
turn; the CPU figure is the numba kernel on one thread (the task runs one per frame and
replica), the GPU figure the median of CUDA-event times of the kernel with its angle upload,
after a warm-up that compiles it. CuPy is imported inside the function.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np


@dataclass
class ProjectionTiming:
    size: int
    angles: int
    cpu_seconds: float
    gpu_seconds: float  # median of `repeat`
    relative_difference: float  # ||gpu - cpu|| / ||cpu||

    @property
    def speedup(self) -> float:
        return self.cpu_seconds / self.gpu_seconds


def measure(size: int = 1024, angles: int = 1024, repeat: int = 5) -> ProjectionTiming:
    """Time `forwardproject` of one size x size slice at `angles` angles on the CPU and on the GPU."""
    import cupy

    from ..gpu.projection import forwardproject_gpu
    from ..tasks.projection import forwardproject

    image = np.random.default_rng().random((size, size), dtype=np.float32)
    theta = np.arange(angles) * np.pi / angles
    forwardproject(image[:16, :16], theta[:2])  # numba compiles (or loads its cache)
    t0 = time.perf_counter()
    cpu = forwardproject(image, theta)
    cpu_seconds = time.perf_counter() - t0
    device = cupy.asarray(image)
    forwardproject_gpu(device, theta)
    cupy.cuda.Device().synchronize()
    start, end = cupy.cuda.Event(), cupy.cuda.Event()
    times = []
    for _ in range(repeat):
        start.record()
        out = forwardproject_gpu(device, theta)
        end.record()
        end.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, end) / 1000)
    gpu = out.get().astype(np.float64)
    rel = float(np.linalg.norm(gpu - cpu) / np.linalg.norm(cpu))
    return ProjectionTiming(size, angles, cpu_seconds, float(np.median(times)), rel)
