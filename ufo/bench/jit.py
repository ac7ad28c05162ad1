"""@jit on CuPy arrays against numpy, and its speed against numpy/CuPy expressions, same run.

The checks (benchmarks/jit_check.py on the device machine) are the GPU side of
tests/test_jit.py: elementwise kernels for float32, float64 and uint16, broadcasting, out=,
branches/loops/math, stencils with every boundary mode, no second compilation, the `jit`
task inside a GPU segment against the CPU graph. The kernels are ufo.bench.jit_kernels.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from . import jit_kernels as k
from ..kernels.jit import jit

RNG = np.random.default_rng(3)

Check = Callable[[str, bool, str], None]  # (name, passed, detail), called as each check ends


def close(result: Any, expected: Any) -> tuple[bool, float]:
    """(within 16 float32 eps of the largest value, the relative error): GPU against numpy."""
    result, expected = np.asarray(result, np.float64), np.asarray(expected, np.float64)
    eps = np.finfo(np.float32).eps
    scale = float(np.max(np.abs(expected))) or 1.0
    error = float(np.max(np.abs(result - expected))) / scale
    return error <= 16 * eps, error


def random(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Fresh test data: integers below 4000 for unsigned types, else normal values times 10."""
    if np.dtype(dtype).kind == "u":
        return RNG.integers(0, 4000, shape).astype(dtype)
    return (RNG.standard_normal(shape) * 10).astype(dtype)


def gpu_checks(check: Check) -> None:
    """Run every GPU check, reporting each through `check(name, ok, detail)` as it finishes."""
    import cupy

    for dtype in ("float32", "float64", "uint16"):
        x, y = random((64, 80), dtype), random((64, 80), dtype)
        gx, gy = cupy.asarray(x), cupy.asarray(y)
        for name, kernel, args, reference in (("saxpy", k.saxpy, (2, gx, gy), 2 * x + y),
                                              ("scaled", k.scaled, (gx,), x * 3 + 7)):
            result = kernel(*args)
            ok, error = close(result.get(), reference)
            check(f"gpu {name} {dtype}", isinstance(result, cupy.ndarray) and result.dtype == reference.dtype and ok,
                  f"dtype {result.dtype} vs {reference.dtype}, error {error:.1e}")
    x, y = random((40, 30), "float32"), random((40, 30), "float32")
    for name, kernel, args in (("branchy", k.branchy, (x, 5.0)), ("mathy", k.mathy, (x, y))):
        gpu = kernel(*[cupy.asarray(a) if isinstance(a, np.ndarray) else a for a in args]).get()
        ok, error = close(gpu, kernel(*args))
        check(f"gpu {name} = cpu {name}", ok, f"error {error:.1e}")
    x, y = random((6, 1, 5), "float32"), random((1, 4, 5), "float32")
    result = k.saxpy(0.5, cupy.asarray(x), cupy.asarray(y))
    ok, error = close(result.get(), 0.5 * x + y)
    check("gpu broadcasting", result.shape == (6, 4, 5) and result.dtype == np.float32 and ok, f"error {error:.1e}")
    out = cupy.empty((6, 4, 5), np.float32)
    check("gpu out=", k.saxpy(0.5, cupy.asarray(x), cupy.asarray(y), out=out) is out and close(out.get(), 0.5 * x + y)[0], "")
    for mode in ("constant", "nearest", "reflect", "mirror", "wrap"):
        for dtype in ("float32", "uint16"):
            x = random((37, 53), dtype)
            kernel = jit(k.laplace.function, boundary=mode)
            gpu, cpu = kernel(cupy.asarray(x)), kernel(x)
            ok, error = close(gpu.get(), cpu)
            check(f"gpu stencil {mode} {dtype}", gpu.dtype == cpu.dtype and ok, f"error {error:.1e}")
    kernel = jit(k.saxpy.function)
    a, b = cupy.asarray(random((8, 8), "float32")), cupy.asarray(random((8, 8), "float32"))
    kernel(2.0, a, b)
    first = kernel.compilations
    kernel(3.0, a, b)
    check("gpu second call does not compile", kernel.compilations == first == 1, "")
    try:
        k.saxpy(1.0, a, random((8, 8), "float32"))
        check("gpu/host mix refused", False, "")
    except Exception as exc:  # noqa: BLE001
        check("gpu/host mix refused", "GPU (CuPy) and some on the host" in str(exc), "")

    import ufo

    frames = random((12, 64, 64), "float32")
    cpu = ufo.Map(k.laplace, boundary="nearest")(frames).collect(device="cpu")
    gpu = ufo.Map(k.laplace, boundary="nearest")(frames).collect(device="gpu")
    ok, error = close(gpu, cpu)
    check("jit task in a GPU segment = CPU graph", ok, f"error {error:.1e}")


def timed(function: Callable[[], Any], repeat: int, sync: Callable[[], Any] = lambda: None) -> float:
    """Median seconds of `repeat` calls after one that compiles (`sync` waits for the GPU)."""
    function()
    sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        function()
        sync()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def benchmark(gpu: bool) -> list[tuple[str, float, str, float]]:
    """(what, ufo seconds, peer, peer seconds): median times after a warm-up call that compiles."""
    rows: list[tuple[str, float, str, float]] = []
    n = 4096
    x, y = random((n, n), "float32"), random((n, n), "float32")
    out = np.empty_like(x)
    p = np.empty((n + 2, n + 2), np.float32)

    def numpy_laplace():
        p[1:-1, 1:-1] = x
        p[0], p[-1], p[:, 0], p[:, -1] = 0, 0, 0, 0
        return p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * x

    import numba

    # numpy runs on one thread; ufo.jit's CPU code on numba's threads: each ratio is taken at
    # one thread (per core) and, labelled as such, with every thread against numpy's one
    cores = numba.get_num_threads()
    for threads in (1, cores):
        numba.set_num_threads(threads)
        label = f"{threads} thread{'s' if threads > 1 else ''}"
        rows.append((f"CPU saxpy 4096^2 f32, {label}", timed(lambda: k.saxpy(2.0, x, y, out=out), 10),
                     "numpy 2*x+y (1 thread)", timed(lambda: np.add(np.multiply(2.0, x, out=out), y, out=out), 10)))
        rows.append((f"CPU laplace 4096^2 f32, {label}", timed(lambda: k.laplace(x), 10), "numpy slices (1 thread)",
                     timed(numpy_laplace, 10)))
    numba.set_num_threads(cores)
    if gpu:
        import cupy

        sync = cupy.cuda.get_current_stream().synchronize
        n = 8192
        gx, gy = cupy.asarray(random((n, n), "float32")), cupy.asarray(random((n, n), "float32"))
        gout = cupy.empty_like(gx)
        elementwise = cupy.ElementwiseKernel("float32 a, float32 x, float32 y", "float32 z", "z = a * x + y", "saxpy")
        rows.append(("GPU saxpy 8192^2 f32", timed(lambda: k.saxpy(2.0, gx, gy, out=gout), 50, sync),
                     "cupy ElementwiseKernel", timed(lambda: elementwise(np.float32(2), gx, gy, gout), 50, sync)))
        rows.append(("GPU saxpy 8192^2 f32", timed(lambda: k.saxpy(2.0, gx, gy, out=gout), 50, sync),
                     "cupy 2*x+y", timed(lambda: 2 * gx + gy, 50, sync)))

        def cupy_laplace():
            q = cupy.pad(gx, 1)
            return q[:-2, 1:-1] + q[2:, 1:-1] + q[1:-1, :-2] + q[1:-1, 2:] - 4 * gx

        rows.append(("GPU laplace 8192^2 f32", timed(lambda: k.laplace(gx), 50, sync), "cupy slices",
                     timed(cupy_laplace, 50, sync)))
    return rows


def gpu_name() -> str:
    """The GPU's name as CUDA reports it (for the printed header)."""
    import cupy

    return cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
