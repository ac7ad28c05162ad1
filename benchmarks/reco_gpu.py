"""GPU reconstruction on the device machine: back-projection alone, full FBP from host memory
to host memory through the runtime, a GPU peer (algotom) in the same run, and the ceilings.

1. Back-projection alone: 2048^2 slices from 2048 angles, data on the GPU (fp32 and fp16 storage).
2. Full FBP: N sinograms (2048 angles x 2048 pixels) in pinned host memory -> slices in
   host memory, through ufo's runtime (stack of 16 sinograms per frame, GPU segment with
   2 streams, slices copied into the output volume). Breakdown from CUDA events.
3. Peer: algotom fbp_reconstruction(gpu=True) (numba-cuda) on the same sinograms.
4. Ceilings: device-to-device copy bandwidth and pinned host<->device bandwidth.

Run on the device machine: python benchmarks/reco_gpu.py [--slices 2048]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import cupy
import numpy as np

import ufo
from ufo.gpu import pinned_empty
from ufo.gpu.tasks import filter_rows_gpu
from ufo.kernels.backproject import geometry
from ufo.kernels.cuda_backproject import backproject_interleaved
from ufo.tomo.phantom import Phantom


def events_time(fn, reps=5):
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


def ceilings():
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


def bp_alone(n=2048):
    rows = []
    cos_, sin_, scale = geometry(n, None, 0.0)
    cs = np.stack([cos_, sin_], 1)
    for half, k in ((False, 4), (True, 8)):
        sino = cupy.random.default_rng(0).random((n, n, k), dtype=cupy.float32).astype(cupy.float16 if half else cupy.float32)
        t = events_time(lambda sino=sino: backproject_interleaved(sino, cs, n / 2, -n / 2, -n / 2, scale, n, n, 4))
        rows.append((f"back-projection alone, {'fp16' if half else 'fp32'} storage, {k} slices/thread", n ** 3 * k / t / 1e9))
        del sino
    return rows


def breakdown(host_stack, n):
    """One stack of 16 sinograms, step by step on one stream, timed with CUDA events."""
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--slices", type=int, default=2048)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--peer-slices", type=int, default=64)
    parser.add_argument("--variants", default="fp32/2,fp16/2", help="storage/streams per device, comma separated")
    args = parser.parse_args()
    n, count = args.size, args.slices
    print(cupy.cuda.runtime.getDeviceProperties(0)["name"].decode(), flush=True)
    d2d, h2d, d2h = ceilings()
    rows = [(name, gups) for name, gups in bp_alone(n)]

    sino = Phantom(n).sinogram(np.arange(n) * np.pi / n).astype(np.float32)
    t0 = time.perf_counter()
    volume = pinned_empty((count, n, n), np.float32)
    for i in range(count):
        volume[i] = sino
    output = pinned_empty((count, n, n), np.float32)
    print(f"prepared {2 * volume.nbytes / 2**30:.0f} GiB of pinned host memory in {time.perf_counter() - t0:.1f} s", flush=True)

    per = 16
    frames = volume.reshape(count // per, per, n, n)
    out_frames = output.reshape(count // per, per, n, n)
    truth = Phantom(n).slice()
    mask = np.hypot(*(np.mgrid[:n, :n] - n / 2)) < 0.45 * n
    full = []
    for precision, streams in ((p, int(s)) for p, s in (v.split("/") for v in args.variants.split(","))):
        os.environ["UFO_GPU_STREAMS"] = str(streams)
        ufo.MemoryOut(out=out_frames[:2])(ufo.Backproject(precision=precision)(frames[:2])).run(device="all").wait()
        output[count // 2] = np.nan
        t0 = time.perf_counter()
        handle = ufo.MemoryOut(out=out_frames)(ufo.Backproject(precision=precision)(frames)).run(device="all").wait()
        t_full = time.perf_counter() - t0
        err = float(np.sqrt(np.mean((output[count // 2] - truth)[mask] ** 2)))
        full.append((precision, streams, t_full, n ** 3 * count / t_full / 1e9, err,
                     [(st.name, st.frames, round(st.busy, 2)) for st in handle.stats.values()]))
        print(f"full FBP {precision}, {streams} streams: {t_full:.2f} s", flush=True)
    steps = breakdown(volume[:per], n)

    peer = None
    try:
        if not hasattr(np, "row_stack"):  # numba-cuda on the device machine still names this NumPy < 2.5 alias
            np.row_stack = np.vstack
        from algotom.rec.reconstruction import fbp_reconstruction

        k = min(args.peer_slices, count)
        sinos = np.ascontiguousarray(volume[:k].transpose(1, 0, 2))  # algotom: (angles, slices, width)
        angles = np.arange(n) * np.pi / n
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fbp_reconstruction(sinos[:, :2], n / 2, angles=angles, filter_name=None, apply_log=False, gpu=True, ratio=None)
            t0 = time.perf_counter()
            fbp_reconstruction(sinos, n / 2, angles=angles, filter_name=None, apply_log=False, gpu=True, ratio=None)
            t_peer = time.perf_counter() - t0
        peer = (k, t_peer, n ** 3 * k / t_peer / 1e9)
    except Exception as exc:  # the peer failing must not hide ufo's figures
        print(f"algotom peer failed: {type(exc).__name__}: {exc}")

    print(f"\nceilings: device-to-device {d2d:.0f} GB/s (read + write), pinned H2D {h2d:.1f} GB/s, D2H {d2h:.1f} GB/s")
    for name, gups in rows:
        print(f"{name:<55} {gups:8.0f} GUPS")
    for precision, streams, t_full, gups_full, err, stats in full:
        print(f"full FBP host->host through the runtime, {count} slices of {n}^2 from {n} angles, {precision} storage, "
              f"{streams} streams: {t_full:.2f} s, {count / t_full:.1f} slices/s, {gups_full:.0f} GUPS, RMSE {err:.4f}")
    print(f"  per stack of {per} on one stream (fp32): " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in steps.items()))
    moved = 2 * per * n * n * 4
    print(f"  transfers per stack {moved / 2**20:.0f} MiB; bound by the busiest engine: "
          f"{count / per * max(steps['back-project'] + steps['filter'], steps['H2D'], steps['D2H']):.2f} s")
    if peer:
        k, t_peer, gups_peer = peer
        best = max(f[3] for f in full)
        print(f"algotom fbp_reconstruction(gpu=True), {k} slices: {t_peer:.2f} s, {k / t_peer:.1f} slices/s, "
              f"{gups_peer:.0f} GUPS -> ufo {best / gups_peer:.1f}x")
    for precision, streams, *_, stats in full:
        print(f"stats {precision}/{streams}: {stats}")

if __name__ == "__main__":
    main()
