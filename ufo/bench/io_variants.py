"""The disk's and the page cache's own speeds that `ufo reco`'s I/O choices rest on, each alone.

On the scan the GPU benchmarks render (an NXtomo file of 1024^2 uint16 frames):
- writes of the output's bytes through the page cache (4 MiB pwrites) from 1 to 8 threads, and
  the fsync after them: whether a parallel writer could beat one (on the H200 host it could not:
  3.1-3.5 GB/s for every count);
- the whole file read with 64 MiB reads from 1 and 4 threads, after POSIX_FADV_WILLNEED on it,
  and from the page cache;
- a band of rows of every frame (what one pass of several reads), frame by frame from 1 to 8
  threads, with and without read-ahead advice for the band.
Every cold step starts from a dropped page cache where allowed (root). Linux only (pwrite,
posix_fadvise).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import numpy as np

from .storage import drop_caches

BLOCK = 64 << 20


def _threads(count: int, work: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=work, args=(k,)) for k in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def page_cache_writes(folder: str, threads: int, blocks: int = 1024, block: int = 4 << 20,
                      fsync: bool = False) -> tuple[float, float]:
    """(seconds of `blocks` pwrites of `block` bytes from `threads` threads, seconds of the fsync after)."""
    path = os.path.join(folder, "page-cache-writes.bin")
    drop_caches()
    data = [memoryview(np.random.default_rng(k).random(block // 4, dtype=np.float32)).cast("B") for k in range(threads)]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        t0 = time.perf_counter()
        _threads(threads, lambda k: [os.pwrite(fd, data[k], i * block) for i in range(k, blocks, threads)])
        t1 = time.perf_counter()
        if fsync:
            os.fsync(fd)
        return t1 - t0, time.perf_counter() - t1
    finally:
        os.close(fd)
        os.remove(path)


def whole_reads(path: str, threads: int = 1, advise: bool = False, cold: bool = True) -> float:
    """Seconds to read the file with 64 MiB reads from `threads` threads (`advise`: WILLNEED on the
    whole file first; `cold`: from a dropped page cache)."""
    if cold:
        drop_caches()
    size = os.path.getsize(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        t0 = time.perf_counter()
        if advise:
            os.posix_fadvise(fd, 0, size, os.POSIX_FADV_WILLNEED)

        def work(k: int) -> None:
            buffer = bytearray(BLOCK)
            for i in range(k, -(-size // BLOCK), threads):
                os.preadv(fd, [buffer], i * BLOCK)

        _threads(threads, work)
        return time.perf_counter() - t0
    finally:
        os.close(fd)


def frame_offsets(path: str, dataset: str = "/entry/instrument/detector/data") -> tuple[list[int], int, int]:
    """(byte offset of each frame, rows, row bytes) of an uncompressed dataset of whole-frame chunks."""
    import h5py

    with h5py.File(path, "r") as f:
        dset = f[dataset]
        offsets: list[int] = []
        if dset.chunks is None:
            frame = dset.shape[1] * dset.shape[2] * dset.dtype.itemsize
            offsets = [dset.id.get_offset() + i * frame for i in range(dset.shape[0])]
        else:
            dset.id.chunk_iter(lambda info: offsets.append(info.byte_offset))
        return sorted(offsets), dset.shape[1], dset.shape[2] * dset.dtype.itemsize


def band_reads(path: str, band: int, threads: int = 1, advise: bool = True) -> float:
    """Seconds to read every frame band by band (`band` rows, each band of every frame before the
    next band, as passes do) from a dropped page cache; `advise`: WILLNEED for the band's rows of
    every frame before reading it."""
    offsets, rows, row_bytes = frame_offsets(path)
    drop_caches()
    fd = os.open(path, os.O_RDONLY)
    try:
        t0 = time.perf_counter()
        for first in range(0, rows, band):
            height = min(band, rows - first)
            if advise:
                for offset in offsets:
                    os.posix_fadvise(fd, offset + first * row_bytes, height * row_bytes, os.POSIX_FADV_WILLNEED)

            def work(k: int, first: int = first, height: int = height) -> None:
                buffer = bytearray(height * row_bytes)
                for i in range(k, len(offsets), threads):
                    os.preadv(fd, [buffer], offsets[i] + first * row_bytes)

            _threads(threads, work)
        return time.perf_counter() - t0
    finally:
        os.close(fd)
