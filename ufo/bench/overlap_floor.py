"""The I/O floor of a file-to-file reconstruction when reading and writing share one disk
(benchmarks/overlap_floor.py prints it).

Why: docs/benchmarks.md takes max(read, write) as the floor of `ufo reco` where reading the scan
and writing the slices overlap. That holds while the output fits the page cache's dirty
allowance; past it (a 2048^3 float32 volume is 34 GB) the kernel writes back beside the reads on
the same disk, and the overlap is not free.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np

from ..storage import open_writer
from ..storage.preallocate import reserve
from .gpu_files import drop_caches

BLOCK = 64 << 20


def make_scan(path: str, size: int, angles: int) -> None:
    """An NXtomo scan of one uint16 frame throughout (20 darks, 20 flats, `angles` projections of
    size x size): for I/O measurements, where only its bytes matter."""
    frame = (1500 + 100 * np.random.default_rng(0).random((size, size))).astype(np.uint16)
    with open_writer(path, overwrite=True) as w:
        for key in (2, 1):
            for _ in range(20):
                w.write(frame, {"image_key": key})
        for i in range(angles):
            w.write(frame, {"image_key": 0, "angle": i * np.pi / angles})


def read(path: str) -> float:
    """Seconds to read the file with 64 MiB reads."""
    buffer = bytearray(BLOCK)
    t0 = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buffer):
            pass
    return time.perf_counter() - t0


def write(path: str, nbytes: int) -> float:
    """Seconds to write `nbytes` with 64 MiB `pwrite` calls into reserved blocks of a new file,
    through the page cache without fsync (as ufo's volume writer)."""
    data = np.ones(BLOCK, np.uint8)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        reserve(fd, 0, nbytes)
        t0 = time.perf_counter()
        for offset in range(0, nbytes, BLOCK):
            os.pwrite(fd, data[:min(BLOCK, nbytes - offset)], offset)
        return time.perf_counter() - t0
    finally:
        os.close(fd)


def _clean(path: str) -> None:
    if os.path.exists(path):
        os.remove(path)
    os.sync()
    drop_caches()


def measure(scan: str, out: str, nbytes: int) -> dict[str, float]:
    """From a dropped page cache each: the scan read alone, `nbytes` written alone to `out`, and
    both at once from two threads (seconds; `both` until the later one ends)."""
    _clean(out)
    result = {"read alone": read(scan)}
    _clean(out)
    result["write alone"] = write(out, nbytes)
    _clean(out)
    got: dict[str, float] = {}
    threads = [threading.Thread(target=lambda: got.__setitem__("read", read(scan))),
               threading.Thread(target=lambda: got.__setitem__("write", write(out, nbytes)))]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result["both"] = time.perf_counter() - t0
    result["read at once"], result["write at once"] = got["read"], got["write"]
    _clean(out)
    return result
