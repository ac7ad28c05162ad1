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
from collections.abc import Callable
from typing import Any

import numpy as np

from ufo.storage import open_source, open_writer

from .measure import Measure

SHAPE = (2048, 2048)


def fsync_tree(path: str) -> None:
    """fsync every file a writer made and their folder: a write counts once it is on the disk."""
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
    """Drop the page cache so that reads come from the disk; False where not allowed (not root)."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def raw_reference(path: str, frames: list[np.ndarray], n: int) -> float:
    """Seconds to write the same bytes with 64 MiB os.write calls and fsync (the disk's raw limit)."""
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


def write_format(path: str, frames: list[np.ndarray], n: int, **options: Any) -> float:
    """Seconds for ufo's writer for `path` to store n frames and fsync what it made."""
    remove(path)
    t0 = time.perf_counter()
    writer = open_writer(path, overwrite=True, **options)
    for i in range(n):
        writer.write(frames[i % len(frames)], {"index": i, "image_key": 0, "angle": i * 1e-3})
    writer.close()
    fsync_tree(os.path.dirname(path) if "%" in path else path.split(":")[0])
    return time.perf_counter() - t0


def interleaved(directory: str, path: str, frames: list[np.ndarray], n: int, repeat: int,
                **options: Any) -> list[tuple[float, float]]:
    """`repeat` (writer seconds, raw reference seconds) pairs, each reference run right before its
    writer so that the disk's mood (write-back, other load) hits both alike."""
    pairs = []
    for _ in range(repeat):
        raw = raw_reference(os.path.join(directory, "reference.bin"), frames, n)
        os.remove(os.path.join(directory, "reference.bin"))
        pairs.append((write_format(path, frames, n, **options), raw))
    return pairs


def read_format(path: str, **options: Any) -> tuple[float, int]:
    """(seconds to read every frame back into one buffer, frames read)."""
    source = open_source(path, **options)
    out = np.empty(source.shape, source.dtype)
    t0 = time.perf_counter()
    for i in range(source.count):
        source.read(i, slice(None), out)
    source.close()
    return time.perf_counter() - t0, source.count


def measure(scale: float = 1.0, directory: str | None = None) -> list[Measure]:
    """`ufo bench`'s storage rows: HDF5, NXtomo and TIFF sequence against os.write, best of 2 interleaved pairs."""
    frame_bytes = SHAPE[0] * SHAPE[1] * 2
    n = max(8, int(0.5 * scale * 2**30 // frame_bytes) // 8 * 8)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 4096, SHAPE, dtype=np.uint16) for _ in range(8)]
    work = tempfile.mkdtemp(prefix="ufo-bench-", dir=directory)
    rows = []
    try:
        for name, rel in (("HDF5 (direct chunk writes)", "data.h5:/data"), ("NXtomo", "scan.nx"),
                          ("TIFF sequence", "seq/frame-%05i.tif")):
            pairs = interleaved(work, os.path.join(work, rel), frames, n, 2)
            remove(os.path.join(work, rel))
            gb = n * frame_bytes / 1e9
            best_pair = max(pairs, key=lambda p: p[1] / p[0])
            rows.append(Measure("storage", f"write {name}, {n} x 2048^2 uint16", gb / best_pair[0], "os.write 64 MiB",
                                gb / best_pair[1], "GB/s", f"into {work}"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


# (name, path under the directory, writer options, the path to read back from, None: the same)
FORMATS: list[tuple[str, str, dict[str, Any], Callable[[str], str] | None]] = [
    ("TIFF sequence (one file per frame)", "seq/frame-%05i.tif", {}, os.path.dirname),
    ("BigTIFF stack", "stack.tif", {}, None),
    ("HDF5, direct chunk writes, SWMR", "data.h5:/data", {}, None),
    ("NXtomo (HDF5)", "scan.nx", {}, None),
    ("raw", "frames.raw", {}, None),
    ("Zarr v3", "stack.zarr", {}, None),
]


def frames_for(gib: float) -> tuple[int, list[np.ndarray]]:
    """How many 2048^2 uint16 frames make `gib` GiB (a multiple of 8), and the 8 distinct frames they cycle."""
    n = int(gib * 2**30 // (SHAPE[0] * SHAPE[1] * 2)) // 8 * 8
    rng = np.random.default_rng(0)
    return n, [rng.integers(0, 4096, SHAPE, dtype=np.uint16) for _ in range(8)]


def compare_formats(directory: str, frames: list[np.ndarray], n: int, only: str | None = None,
                    repeat: int = 3) -> list[tuple[str, float, float, float, float, bool, int]]:
    """Every format (or those `only`'s comma-separated words pick) against the raw reference:
    [(format, write GB/s, raw GB/s, median ratio, read GB/s, read cold, frames read)]; writes
    and removes its files in `directory`."""
    gb = n * SHAPE[0] * SHAPE[1] * 2 / 1e9
    formats = [f for f in FORMATS if not only or any(key in f[0].lower() for key in only.split(","))]
    rows = []
    for name, rel, options, read_path in formats:
        path = os.path.join(directory, rel)
        pairs = interleaved(directory, path, frames, n, repeat, **options)
        t = float(np.median([p[0] for p in pairs]))
        raw = float(np.median([p[1] for p in pairs]))
        ratio = float(np.median([p[1] / p[0] for p in pairs]))
        cold = drop_caches()
        read_options = {"raw_width": SHAPE[1], "raw_height": SHAPE[0]} if rel.endswith(".raw") else {}
        tr, count = read_format(read_path(path) if read_path else path, **read_options)
        rows.append((name, gb / t, gb / raw, ratio, gb / tr, cold, count))
        remove(path)
        shutil.rmtree(os.path.join(directory, "seq"), ignore_errors=True)
    return rows
