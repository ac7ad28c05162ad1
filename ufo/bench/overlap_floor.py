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
from .gpu_files import drop_caches, read_floor, write_floor


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


def _clean(path: str) -> None:
    if os.path.exists(path):
        os.remove(path)
    os.sync()
    drop_caches()


def measure(scan: str, out: str, nbytes: int) -> dict[str, float]:
    """From a dropped page cache each: the scan read alone (`read_floor`: 64 MiB reads), `nbytes`
    written alone to `out` (`write_floor` into reserved blocks: 64 MiB `pwrite` calls through the
    page cache, no fsync, as ufo's volume writer), and both at once from two threads (seconds;
    `both` until the later one ends)."""
    _clean(out)
    result = {"read alone": read_floor(scan)}
    _clean(out)
    result["write alone"] = write_floor(out, nbytes, "reserved")
    _clean(out)
    got: dict[str, float] = {}
    threads = [threading.Thread(target=lambda: got.__setitem__("read", read_floor(scan))),
               threading.Thread(target=lambda: got.__setitem__("write", write_floor(out, nbytes, "reserved")))]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result["both"] = time.perf_counter() - t0
    result["read at once"], result["write at once"] = got["read"], got["write"]
    _clean(out)
    return result
