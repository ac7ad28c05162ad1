"""The floor of reconstructing in passes, with no reconstruction: the disk work alone, in ufo's order.

Why: `ufo reco`'s GPU goal is a file-to-file time within 1.15x of the I/O floor, the larger of
reading the scan and writing the slices. But a slice can be written only once every frame's row
of it is read, so in passes nothing is written before the first pass is read whole and the last
pass's slices are written after the last frame. This measures that schedule with nothing else
running (no Python engine, no GPU, no HDF5): the bands of each pass read as ufo's read-ahead reads
them (a pass asked for at once, then read from 16 threads), and each pass's slices written with
4 MiB `pwrite` calls into reserved blocks once its bands are in, while the next pass is read. The
time of that schedule is what any implementation of the pass design pays on this disk; its ratio
to the I/O floor says how near 1.15x the design itself can come, and what `ufo reco` adds is the
rest. Variants: pass heights, and writers into several files (the one way past the page cache's
one-stream pace into one file; not ufo's output, which is one HDF5 file). `mapped_run` measures
the other way tried past that pace: several threads copying into a memory map of one file
(`band_reads.mapped_writes`).

A scan-shaped raw file (1064 frames of 1024^2 uint16, 2.23 GB) and a 4.29 GB float32 volume;
every round from a dropped page cache (root), variants interleaved.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..storage.preallocate import reserve
from .band_reads import FRAME, H, N, W, _scan, drop, make, mapped_writes, seq

SLICE = H * W * 4  # bytes of one float32 slice
READERS = 16


def _read_pass(fd: int, first: int, rows: int, pool: ThreadPoolExecutor, outs: list[np.ndarray]) -> None:
    """Rows first..first+rows of every frame: asked for at once, then read from READERS threads."""
    n = rows * W * 2
    for i in range(N):
        os.posix_fadvise(fd, i * FRAME + first * W * 2, n, os.POSIX_FADV_WILLNEED)

    def part(k: int) -> None:
        view = outs[k].reshape(-1)[: n // 2]
        for i in range(k, N, READERS):
            os.preadv(fd, [view], i * FRAME + first * W * 2)

    list(pool.map(part, range(READERS)))


def _targets(d: str, files: int) -> list[int]:
    """`files` output files, each with the blocks for its share of the 1024 slices reserved."""
    fds = []
    for k in range(files):
        path = f"{d}/out{k}.raw"
        if os.path.exists(path):
            os.unlink(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        size = -(-H // files) * SLICE
        os.ftruncate(fd, size)
        reserve(fd, 0, size)
        fds.append(fd)
    return fds


def _write(fds: list[int], data: np.ndarray, s: int) -> None:
    """Slice `s` into file s % len(fds), at its place there."""
    os.pwrite(fds[s % len(fds)], data, (s // len(fds)) * SLICE)


def schedule(d: str, heights: list[int], writers: int = 1, files: int = 1) -> dict[str, float]:
    """Seconds of the pass schedule: reads of pass p+1 beside the writes of pass p; `writers`
    threads write each pass's slices (into `files` files, slice s into file s % files)."""
    assert sum(heights) == H
    fds = _targets(d, files)
    fd = os.open(_scan(d), os.O_RDONLY)
    data = np.ones(H * W, np.float32)
    outs = [np.empty((max(heights), W), np.uint16) for _ in range(READERS)]
    done: list[threading.Event] = [threading.Event() for _ in heights]
    marks: dict[str, float] = {}
    t0 = time.perf_counter()

    def reader() -> None:
        with ThreadPoolExecutor(READERS) as pool:
            first = 0
            for p, h in enumerate(heights):
                _read_pass(fd, first, h, pool, outs)
                first += h
                now = time.perf_counter() - t0
                if p == 0:
                    marks["first pass read"] = now
                if p == len(heights) - 1:  # before the writer may go on: its last writes follow this
                    marks["last frame read"] = now
                done[p].set()

    def write_slices(slices: list[int]) -> None:
        for s in slices:
            _write(fds, data, s)

    thread = threading.Thread(target=reader)
    thread.start()
    first = 0
    with ThreadPoolExecutor(writers) as pool:
        for p, h in enumerate(heights):
            done[p].wait()
            slices = list(range(first, first + h))
            list(pool.map(write_slices, [slices[k::writers] for k in range(writers)]))
            first += h
    marks["slices written"] = time.perf_counter() - t0
    thread.join()
    os.close(fd)
    for f in fds:
        os.close(f)
    for k in range(files):
        os.unlink(f"{d}/out{k}.raw")
    return marks


def write_alone(d: str, writers: int = 1, files: int = 1) -> float:
    """Seconds to write the 4.29 GB volume alone, as `schedule` writes it (the write floor's twin)."""
    fds = _targets(d, files)
    data = np.ones(H * W, np.float32)

    def part(k: int) -> None:
        for s in range(k, H, writers):
            _write(fds, data, s)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(part, range(writers)))
    dt = time.perf_counter() - t0
    for k, f in enumerate(fds):
        os.close(f)
        os.unlink(f"{d}/out{k}.raw")
    return dt


VARIANTS: dict[str, dict] = {
    "4 x 256, 1 writer (ufo's passes)": dict(heights=[256] * 4),
    "3 x 256, 128, 128, 1 writer": dict(heights=[256, 256, 256, 128, 128]),
    "3 x 256, 192, 64, 1 writer": dict(heights=[256, 256, 256, 192, 64]),
    "8 x 128, 1 writer": dict(heights=[128] * 8),
    "4 x 256, 4 writers, 4 files": dict(heights=[256] * 4, writers=4, files=4),
    "4 x 256, 8 writers, 8 files": dict(heights=[256] * 4, writers=8, files=8),
}


def run(directory: str, rounds: int = 3) -> None:
    """Every variant and the floors, interleaved for `rounds` rounds; medians and ratios printed."""
    os.makedirs(directory, exist_ok=True)
    make(directory)
    walls: dict[str, list[float]] = {}
    for r in range(rounds):
        drop()
        t = time.perf_counter()
        seq(directory)
        walls.setdefault("read floor (64 MiB reads in order)", []).append(time.perf_counter() - t)
        for label, kw in [("write floor (1 stream, reserved)", {}), ("write, 4 threads, 4 files", dict(writers=4, files=4)),
                          ("write, 8 threads, 8 files", dict(writers=8, files=8))]:
            drop()
            walls.setdefault(label, []).append(write_alone(directory, **kw))
        for label, kw in VARIANTS.items():
            drop()
            marks = schedule(directory, **kw)
            walls.setdefault(label, []).append(marks["slices written"])
            print(f"round {r + 1} {label}: " + ", ".join(f"{k} {v:.2f}" for k, v in marks.items()), flush=True)
    floor = max(statistics.median(walls["read floor (64 MiB reads in order)"]),
                statistics.median(walls["write floor (1 stream, reserved)"]))
    print(f"\n| {N} frames of {H} x {W} uint16 -> {H} slices float32, {rounds} rounds | seconds | median | against the floor ({floor:.2f} s) |")
    print("|---|---|---|---|")
    for label, values in walls.items():
        m = statistics.median(values)
        print(f"| {label} | {', '.join(f'{v:.2f}' for v in values)} | {m:.2f} | {m / floor:.2f}x |")
    os.remove(_scan(directory))


def mapped_run(directory: str, rounds: int = 3) -> None:
    """`band_reads.mapped_writes` into reserved blocks from 1, 4, 8 and 16 threads, with and without
    populating, against `write_alone`."""
    os.makedirs(directory, exist_ok=True)
    print(os.uname().release)
    for r in range(rounds):
        drop()
        print(f"round {r + 1} pwrite 1 stream: {write_alone(directory):.2f} s", flush=True)
        for threads in (1, 4, 8, 16):
            for populate in (False, True):
                drop()
                try:
                    dt = mapped_writes(directory, threads, reserved=True, populate=populate)  # "seconds ok=..."
                except OSError as exc:
                    dt = f"failed: {exc}"
                print(f"round {r + 1} memory map, {threads} threads, populate {populate}: {dt}", flush=True)
