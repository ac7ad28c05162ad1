"""The parts of `ufo reco`'s resident path (ufo/reco/resident.py), each alone, on a GPU host.

Why: the path's choices rest on these in-process figures: slices downloaded into pinned
buffers against fresh pageable arrays, the HDF5 writer with a flush per slice against one per
16, and the reader thread alone against the disk (the floor a run's reader is held to). CuPy is
imported inside the functions: a host without a GPU can still import this module.
"""

from __future__ import annotations

import os
import time

import numpy as np


def download(slices: int = 1024, size: int = 1024, group: int = 8) -> dict[str, float]:
    """Seconds to bring a (slices, size, size) float32 volume kept as the engine keeps it
    (groups of `group` slices interleaved) to the host, a group at a time."""
    import cupy

    groups = slices // group
    volume = cupy.random.random((groups, size, size, group), dtype=cupy.float32)
    cupy.cuda.Device().synchronize()
    t0 = time.perf_counter()
    for g in range(groups):
        cupy.asnumpy(volume[g].transpose(2, 0, 1))
    pageable = time.perf_counter() - t0
    nbytes = group * size * size * 4
    ring = [np.frombuffer(cupy.cuda.alloc_pinned_memory(nbytes), np.float32).reshape(group, size, size)
            for _ in range(2)]
    t0 = time.perf_counter()
    for g in range(groups):
        cupy.ascontiguousarray(volume[g].transpose(2, 0, 1)).get(out=ring[g % 2])
    pinned = time.perf_counter() - t0
    return {"into fresh pageable arrays (cupy.asnumpy)": pageable, "into two pinned buffers": pinned}


def writer(path: str, frames: int = 1024, size: int = 1024, flushes: tuple[int, ...] = (1, 16)) -> dict[str, float]:
    """Seconds of ufo's HDF5 writer for `frames` float32 slices, per flush interval, and of
    h5py writing the same slices into a contiguous dataset."""
    import h5py

    from .writer_gil import write_seconds

    slices = [np.random.default_rng(i).random((size, size), dtype=np.float32) for i in range(16)]
    out = {f"ufo's HDF5 writer, a flush every {every} slice(s)": write_seconds(path, frames, size, every)
           for every in flushes}
    t0 = time.perf_counter()
    with h5py.File(path, "w") as f:
        data = f.create_dataset("data", (frames, size, size), np.float32)
        for i in range(frames):
            data[i] = slices[i % 16]
    out["h5py, one contiguous dataset"] = time.perf_counter() - t0
    os.remove(path)
    return out


def reader(scan: str, ahead: int | None = None, run: int | None = None, beside: bool = False) -> tuple[int, float, float]:
    """(frames, wall seconds, busy seconds) of the resident path's reader alone over every row of
    an NXtomo scan, each frame handed back at once. `run`: whole frames per read (`Reader`'s run,
    default RUN_BYTES' worth; 1 reads frame by frame); `beside`: a Python thread runs meanwhile, as CuPy's start
    and the engine's thread do in a real run, so that the reader waits for the GIL after its calls."""
    import sys
    import threading

    from ..reco import RecoOptions, plan
    from ..reco.planning import Pass, scan_angles
    from ..reco.resident_reader import Reader

    p = plan(RecoOptions(projections=scan, output=scan + ".unused.h5:/data", axis="0"), outputs=False)
    r = Reader(p, Pass(0, p.height, 1, slice(0, p.height), 0), scan_angles(p), ahead, run=run)
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)  # ufo.reco.resident.SWITCH, as in a run
    try:
        if beside:
            threading.Thread(target=spin, daemon=True).start()
        t0 = time.perf_counter()
        r.thread.start()
        count = 0
        for _, _, buffer in r.frames():
            r.recycle(buffer)
            count += 1
        wall = time.perf_counter() - t0
    finally:
        stop.set()
        sys.setswitchinterval(interval)
        r.close()
    return count, wall, r.busy
