"""ufo's HDF5 writer beside a busy Python thread, per GIL switch interval.

Why: on `ufo reco`'s resident path with several passes the writer runs beside the engine's
thread, and its h5py calls give the GIL up while the bytes are written; each time it must wait
for the busy thread to hand the GIL back, which Python does after the switch interval
(`sys.setswitchinterval`, 0.5 ms on that path: ufo.reco.resident.SWITCH). This measures how
much of the writer's time those waits are, and what a shorter interval costs the busy thread.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np


def write_seconds(path: str, slices: int = 256, size: int = 1024, flush_every: int = 1, volume: bool = False) -> float:
    """Seconds of ufo's HDF5 writer (a flush per slice by default, as frame-by-frame SWMR appends;
    `volume`: the dataset laid out whole and written with pwrite, as `ufo reco` now writes,
    ufo.storage.hdf5_volume) for `slices` float32 slices of `size`^2 into `path` (removed after)."""
    from ..storage.hdf5 import Hdf5Writer
    from ..storage.hdf5_volume import Hdf5VolumeWriter

    data = np.random.default_rng(0).random((size, size), dtype=np.float32)
    if os.path.exists(path):
        os.remove(path)
    writer = Hdf5VolumeWriter(path, "/data", slices, overwrite=True) if volume else \
        Hdf5Writer(path, "/data", overwrite=True, flush_every=flush_every)
    t0 = time.perf_counter()
    for _ in range(slices):
        writer.write(data, {})
    writer.close()
    seconds = time.perf_counter() - t0
    os.remove(path)
    return seconds


def _busy(stop: threading.Event, rate: list[float]) -> None:
    """Count in a loop until `stop`; the rate (millions per second) into rate[0]."""
    n, t0 = 0, time.perf_counter()
    while not stop.is_set():
        n += 1
    rate[0] = n / (time.perf_counter() - t0) / 1e6


def beside_busy_thread(path: str, interval: float, slices: int = 256, volume: bool = False) -> tuple[float, float]:
    """(writer seconds, the busy thread's loop rate in millions per second) with the switch
    interval set to `interval` seconds while a Python thread counts in a loop."""
    stop, rate = threading.Event(), [0.0]
    before = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    thread = threading.Thread(target=_busy, args=(stop, rate), daemon=True)
    thread.start()
    try:
        seconds = write_seconds(path, slices, volume=volume)
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(before)
    return seconds, rate[0]


def busy_rate_alone(seconds: float = 0.5) -> float:
    """The busy thread's loop rate (millions per second) while this thread only sleeps."""
    stop, rate = threading.Event(), [0.0]
    thread = threading.Thread(target=_busy, args=(stop, rate), daemon=True)
    thread.start()
    time.sleep(seconds)
    stop.set()
    thread.join()
    return rate[0]
