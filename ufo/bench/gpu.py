"""GPU reconstruction figures on the device machine: the back-projection kernel alone and its
variants, full FBP from host memory to host memory through the runtime, a GPU peer (algotom's
numba-cuda FBP) in the same run, and the ceilings (copy and pinned transfer bandwidths).

benchmarks/reco_gpu.py and benchmarks/gpu_bp_variants.py print these; CuPy is imported here
at the top, so only import this module where CuPy sees a GPU.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cupy
import numpy as np

import ufo
from ufo.gpu import pinned_empty
from ufo.gpu.tasks import filter_rows_gpu
from ufo.kernels.backproject import geometry
from ufo.kernels.cuda_backproject import backproject_interleaved
from ufo.tomo.fbp import backproject as cpu_backproject
from ufo.tomo.phantom import Phantom


def device_name() -> str:
    """The GPU's name as CUDA reports it (the scripts print it first)."""
    return cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()


def events_time(fn: Callable[[], Any], reps: int = 5) -> float:
    """Median seconds of `fn` on the current stream by CUDA events, after one untimed call."""
    start, stop = cupy.cuda.Event(), cupy.cuda.Event()
    fn()
    times = []
    for _ in range(reps):
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, stop) / 1e3)
    return float(np.median(times))


def ceilings() -> tuple[float, float, float]:
    """(device-to-device GB/s counting read and write, pinned host-to-device GB/s, device-to-host GB/s)."""
    n = 1 << 30
    a = cupy.empty(n // 4, cupy.float32)
    b = cupy.empty_like(a)
    a.fill(1.0)
    d2d = 2 * n / events_time(lambda: b.__setitem__(Ellipsis, a)) / 1e9
    host = pinned_empty((n // 4,), np.float32)
    host.fill(1.0)
    h2d = n / events_time(lambda: a.set(host)) / 1e9
    d2h = n / events_time(lambda: a.get(out=host)) / 1e9
    return d2d, h2d, d2h


def bp_alone(n: int = 2048) -> list[tuple[str, float]]:
    """[(what, GUPS)] of the back-projection kernel on data already on the GPU, fp32 and fp16 storage."""
    rows = []
    cos_, sin_, scale = geometry(n, None, 0.0)
    cs = np.stack([cos_, sin_], 1)
    for half, k in ((False, 4), (True, 8)):
        sino = cupy.random.default_rng(0).random((n, n, k), dtype=cupy.float32).astype(cupy.float16 if half else cupy.float32)
        t = events_time(lambda sino=sino: backproject_interleaved(sino, cs, n / 2, -n / 2, -n / 2, scale, n, n, 4))
        rows.append((f"back-projection alone, {'fp16' if half else 'fp32'} storage, {k} slices/thread", n ** 3 * k / t / 1e9))
        del sino
    return rows


def breakdown(host_stack: np.ndarray, n: int) -> dict[str, float]:
    """One stack of 16 sinograms, step by step on one stream, timed with CUDA events (seconds a step)."""
    stream = cupy.cuda.Stream(non_blocking=True)
    cos_, sin_, scale = geometry(n, None, 0.0)
    cs = np.stack([cos_, sin_], 1)
    out_host = pinned_empty(host_stack.shape, np.float32)
    marks = [cupy.cuda.Event() for _ in range(5)]
    with stream:
        for _ in range(2):  # the second pass is timed
            dev = cupy.empty(host_stack.shape, cupy.float32)
            marks[0].record(stream)
            dev.set(host_stack, stream=stream)
            marks[1].record(stream)
            filtered = filter_rows_gpu(dev, "ramp", 1.0, 4, "zero")
            marks[2].record(stream)
            result = cupy.empty_like(dev)
            for first in range(0, dev.shape[0], 4):
                inter = cupy.ascontiguousarray(filtered[first: first + 4].transpose(1, 2, 0))
                result[first: first + 4] = backproject_interleaved(inter, cs, n / 2, -n / 2, -n / 2, scale, n, n, 4).transpose(2, 0, 1)
            marks[3].record(stream)
            result.get(out=out_host, stream=stream)
            marks[4].record(stream)
            stream.synchronize()
    names = ("H2D", "filter", "back-project", "D2H")
    return {name: cupy.cuda.get_elapsed_time(marks[i], marks[i + 1]) / 1e3 for i, name in enumerate(names)}


@dataclass
class GpuReco:
    """benchmarks/reco_gpu.py's figures."""

    size: int
    slices: int
    per: int  # sinograms per stack (one frame through the runtime)
    ceilings: tuple[float, float, float]  # d2d, h2d, d2h GB/s
    alone: list[tuple[str, float]]  # (what, GUPS) of the kernel alone
    # (precision, streams, seconds, GUPS, RMSE, [(node, frames, busy seconds)]) of each variant
    full: list[tuple[str, int, float, float, float, list[tuple[str, int, float]]]] = field(default_factory=list)
    steps: dict[str, float] = field(default_factory=dict)
    peer: tuple[int, float, float] | None = None  # (slices, seconds, GUPS) of algotom, None: it failed


def reco_gpu(size: int, slices: int, peer_slices: int, variants: str,
             log: Callable[[str], None] = lambda _: None) -> GpuReco:
    """Full FBP host to host through the runtime for each 'precision/streams' variant, the step
    breakdown, algotom's GPU FBP and the ceilings; `log` gets progress lines."""
    n, count = size, slices
    result = GpuReco(n, count, 16, ceilings(), bp_alone(n))
    sino = Phantom(n).sinogram(np.arange(n) * np.pi / n).astype(np.float32)
    t0 = time.perf_counter()
    volume = pinned_empty((count, n, n), np.float32)
    for i in range(count):
        volume[i] = sino
    output = pinned_empty((count, n, n), np.float32)
    log(f"prepared {2 * volume.nbytes / 2**30:.0f} GiB of pinned host memory in {time.perf_counter() - t0:.1f} s")
    per = result.per
    frames = volume.reshape(count // per, per, n, n)
    out_frames = output.reshape(count // per, per, n, n)
    truth = Phantom(n).slice()
    mask = np.hypot(*(np.mgrid[:n, :n] - n / 2)) < 0.45 * n
    for precision, streams in ((p, int(s)) for p, s in (v.split("/") for v in variants.split(","))):
        os.environ["UFO_GPU_STREAMS"] = str(streams)
        ufo.MemoryOut(out=out_frames[:2])(ufo.Backproject(precision=precision)(frames[:2])).run(device="all").wait()
        output[count // 2] = np.nan
        t0 = time.perf_counter()
        handle = ufo.MemoryOut(out=out_frames)(ufo.Backproject(precision=precision)(frames)).run(device="all").wait()
        t_full = time.perf_counter() - t0
        err = float(np.sqrt(np.mean((output[count // 2] - truth)[mask] ** 2)))
        result.full.append((precision, streams, t_full, n ** 3 * count / t_full / 1e9, err,
                            [(st.name, st.frames, round(st.busy, 2)) for st in handle.stats.values()]))
        log(f"full FBP {precision}, {streams} streams: {t_full:.2f} s")
    result.steps = breakdown(volume[:per], n)
    try:
        if not hasattr(np, "row_stack"):  # numba-cuda on the device machine still names this NumPy < 2.5 alias
            np.row_stack = np.vstack
        from algotom.rec.reconstruction import fbp_reconstruction

        k = min(peer_slices, count)
        sinos = np.ascontiguousarray(volume[:k].transpose(1, 0, 2))  # algotom: (angles, slices, width)
        angles = np.arange(n) * np.pi / n
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fbp_reconstruction(sinos[:, :2], n / 2, angles=angles, filter_name=None, apply_log=False, gpu=True, ratio=None)
            t0 = time.perf_counter()
            fbp_reconstruction(sinos, n / 2, angles=angles, filter_name=None, apply_log=False, gpu=True, ratio=None)
            t_peer = time.perf_counter() - t0
        result.peer = (k, t_peer, n ** 3 * k / t_peer / 1e9)
    except Exception as exc:  # the peer failing must not hide ufo's figures
        log(f"algotom peer failed: {type(exc).__name__}: {exc}")
    return result


def check_variant(k: int, p: int, half: bool) -> float:
    """Relative error of the kernel variant (K slices, P pixels a thread) against the CPU kernel, fresh random data."""
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


def bench_variant(k: int, p: int, half: bool, n: int = 2048, reps: int = 3) -> float:
    """GUPS of the kernel variant on n^2 slices from n angles, data on the GPU."""
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


VARIANTS = [(half, k, p) for half in (False, True) for k in (1, 2, 4, 8) if not (half and k == 1) for p in (1, 2, 4)]
