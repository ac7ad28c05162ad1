"""Which GPU back-projection kernel variant is fastest: slices per thread (K), pixels per
thread (P), fp32 or fp16 storage; GUPS on 2048^2 slices from 2048 angles, data on the GPU.
Also checks each variant against the CPU kernel on fresh random data (relative error).

Run on the device machine: python benchmarks/gpu_bp_variants.py
"""

from __future__ import annotations

import sys

import cupy
import numpy as np

from ufo.kernels.backproject import geometry
from ufo.kernels.cuda_backproject import backproject_interleaved
from ufo.tomo.fbp import backproject as cpu_backproject


def check(k, p, half):
    rng = np.random.default_rng(k * 10 + p)
    sinos = rng.random((k, 180, 256)).astype(np.float32)
    if half:
        sinos = sinos.astype(np.float16).astype(np.float32)
    cos_, sin_, scale = geometry(180, None, 0.3)
    cs = np.stack([cos_, sin_], 1)
    dev = cupy.asarray(np.ascontiguousarray(sinos.transpose(1, 2, 0)).astype(np.float16 if half else np.float32))
    out = backproject_interleaved(dev, cs, 131.3, -128.0, -128.0, scale, 256, 256, p)
    got = cupy.asnumpy(out).transpose(2, 0, 1)
    ref = cpu_backproject(sinos, axis=131.3, angle_offset=0.3)
    return float(np.linalg.norm(got - ref) / np.linalg.norm(ref))


def bench(k, p, half, n=2048, reps=3):
    rng = cupy.random.default_rng(0)
    sino = rng.random((n, n, k), dtype=cupy.float32).astype(cupy.float16 if half else cupy.float32)
    cos_, sin_, scale = geometry(n, None, 0.0)
    cs = np.stack([cos_, sin_], 1)
    backproject_interleaved(sino, cs, n / 2, -n / 2, -n / 2, scale, n, n, p)
    cupy.cuda.Device().synchronize()
    start, stop = cupy.cuda.Event(), cupy.cuda.Event()
    times = []
    for _ in range(reps):
        start.record()
        backproject_interleaved(sino, cs, n / 2, -n / 2, -n / 2, scale, n, n, p)
        stop.record()
        stop.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, stop) / 1e3)
    t = float(np.median(times))
    return n * n * n * k / t / 1e9


def main():
    print(cupy.cuda.runtime.getDeviceProperties(0)["name"].decode())
    rows = []
    for half in (False, True):
        for k in (1, 2, 4, 8):
            if half and k == 1:
                continue
            for p in (1, 2, 4):
                err = check(k, p, half)
                gups = bench(k, p, half)
                rows.append((("fp16" if half else "fp32"), k, p, gups, err))
                print(f"{rows[-1][0]} K={k} P={p}: {gups:8.0f} GUPS  rel.err {err:.2e}", flush=True)
    best = max(rows, key=lambda r: r[3])
    print("best:", best)


if __name__ == "__main__":
    sys.exit(main())
