"""Writing frames at disk speed: ufo's writers against a raw ceiling of the same bytes.

Every writer stores the same frames and fsyncs what it made; the ceiling writes the same
bytes with 64 MiB O_DIRECT writes (past the page cache) and an fsync. Writer and ceiling
runs are interleaved in alternating order, each after a sync, 5 of each, and
the medians are reported: no best-of, so a lucky run cannot make a figure.
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


def evict(path: str) -> bool:
    """Drop one file's pages from the page cache (written back first), leaving every other file's:
    a scan that was never read, with the software as a second command finds it. False where the
    system cannot say (no posix_fadvise)."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        advise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        return True
    finally:
        os.close(fd)


def _aligned(nbytes: int) -> memoryview:
    """A page-aligned buffer (an anonymous mmap), as O_DIRECT needs."""
    import mmap

    return memoryview(mmap.mmap(-1, nbytes))


def raw_ceiling(path: str, frames: list[np.ndarray], n: int) -> tuple[float, str]:
    """(seconds, how) to put the same bytes on the disk with 64 MiB writes that bypass the page
    cache (O_DIRECT) plus an fsync: what the disk takes, not what the page cache absorbs.
    Where the file system refuses O_DIRECT (tmpfs) the writes are buffered and fsynced, and
    `how` says so."""
    frame_bytes = frames[0].nbytes
    block = _aligned(frame_bytes * len(frames))  # 8 frames of 2048^2 uint16 = 64 MiB per call
    for i, frame in enumerate(frames):
        block[i * frame_bytes:(i + 1) * frame_bytes] = frame.reshape(-1).view(np.uint8)
    flags, how = os.O_WRONLY | os.O_CREAT | os.O_TRUNC, "O_DIRECT 64 MiB writes + fsync"
    try:
        fd = os.open(path, flags | os.O_DIRECT, 0o644)
    except OSError:
        fd, how = os.open(path, flags, 0o644), "buffered 64 MiB writes + fsync (O_DIRECT refused here)"
    os.close(fd)
    settle()
    t0 = time.perf_counter()
    fd = os.open(path, flags | (os.O_DIRECT if how.startswith("O_DIRECT") else 0), 0o644)
    for _ in range(n // len(frames)):
        view = block
        while view:
            view = view[os.write(fd, view):]
    os.fsync(fd)
    os.close(fd)
    return time.perf_counter() - t0, how


def raw_files_ceiling(folder: str, frames: list[np.ndarray], n: int) -> tuple[float, str]:
    """(seconds, how) to put the same frames on the disk as one file each, the way a TIFF
    sequence or Zarr's chunk files lay them out: each frame one O_DIRECT write into its own new
    file, then an fsync of every file and of the folder (what `fsync_tree` does after a writer).
    The ceiling of the one-file-per-frame formats: it pays the same creates, per-file fsyncs and
    journal commits, none of a format's own work. Buffered where O_DIRECT is refused (tmpfs)."""
    frame_bytes = frames[0].nbytes
    block = _aligned(frame_bytes * len(frames))  # page-aligned frames, as O_DIRECT needs
    for i, frame in enumerate(frames):
        block[i * frame_bytes:(i + 1) * frame_bytes] = frame.reshape(-1).view(np.uint8)
    os.makedirs(folder, exist_ok=True)
    flags, how = os.O_WRONLY | os.O_CREAT | os.O_TRUNC, "O_DIRECT, one file per frame, each fsynced"
    probe = os.path.join(folder, "probe")
    try:
        os.close(os.open(probe, flags | os.O_DIRECT, 0o644))
        flags |= os.O_DIRECT
    except OSError:
        how = "buffered, one file per frame, each fsynced (O_DIRECT refused here)"
    os.remove(probe)
    settle()
    t0 = time.perf_counter()
    for i in range(n):
        fd = os.open(os.path.join(folder, f"frame-{i:05d}.raw"), flags, 0o644)
        view = block[(i % len(frames)) * frame_bytes:(i % len(frames) + 1) * frame_bytes]
        while view:
            view = view[os.write(fd, view):]
        os.close(fd)
    fsync_tree(folder)
    return time.perf_counter() - t0, how


def settle() -> None:
    """Start a timed write with earlier write-back finished (sync), so no run pays for the one
    before it. The cache is not dropped: on a VM, dropped pages go back to the host and the
    next buffered writer would pay to fault them in again, which the O_DIRECT ceiling does not."""
    os.sync()


def remove(path: str) -> None:
    """Delete an earlier repeat's output outside the timing: each repeat writes fresh files."""
    target = os.path.dirname(path) if "%" in path else path.split(":")[0]
    if os.path.isdir(target):
        shutil.rmtree(target)
    elif os.path.isfile(target):
        os.remove(target)


def write_format(path: str, frames: list[np.ndarray], n: int, **options: Any) -> float:
    """Seconds for ufo's writer for `path` to store n frames and fsync what it made."""
    remove(path)
    settle()
    t0 = time.perf_counter()
    writer = open_writer(path, overwrite=True, **options)
    for i in range(n):
        writer.write(frames[i % len(frames)], {"index": i, "image_key": 0, "angle": i * 1e-3})
    writer.close()
    fsync_tree(os.path.dirname(path) if "%" in path else path.split(":")[0])
    return time.perf_counter() - t0


def interleaved(directory: str, path: str, frames: list[np.ndarray], n: int, repeat: int = 5, *,
                per_file: bool = False, **options: Any) -> tuple[list[float], list[float], str]:
    """(writer seconds, raw ceiling seconds, how the ceiling wrote) of `repeat` runs each,
    interleaved and in alternating order (writer first in even runs, raw first in odd ones) so
    that the disk's drift and any order effect hit both alike; every run starts settled.
    `per_file`: the ceiling writes one file per frame (`raw_files_ceiling`), else one file."""
    ours, raws, how = [], [], ""
    reference = os.path.join(directory, "reference-files" if per_file else "reference.bin")
    for i in range(repeat):
        steps = ["ufo", "raw"] if i % 2 == 0 else ["raw", "ufo"]
        for step in steps:
            if step == "ufo":
                ours.append(write_format(path, frames, n, **options))
            else:
                seconds, how = (raw_files_ceiling if per_file else raw_ceiling)(reference, frames, n)
                raws.append(seconds)
                remove(reference)
    return ours, raws, how


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
    """`ufo bench`'s storage rows: HDF5, NXtomo and TIFF sequence against the raw ceiling (O_DIRECT),
    medians of 5 interleaved runs each."""
    frame_bytes = SHAPE[0] * SHAPE[1] * 2
    n = max(8, int(0.25 * scale * 2**30 // frame_bytes) // 8 * 8)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 4096, SHAPE, dtype=np.uint16) for _ in range(8)]
    work = tempfile.mkdtemp(prefix="ufo-bench-", dir=directory)
    rows = []
    try:
        for name, rel in (("HDF5 (direct chunk writes)", "data.h5:/data"), ("NXtomo", "scan.nx"),
                          ("TIFF sequence", "seq/frame-%05i.tif")):
            ours, raws, how = interleaved(work, os.path.join(work, rel), frames, n, 5)
            remove(os.path.join(work, rel))
            gb = n * frame_bytes / 1e9
            rows.append(Measure("storage", f"write {name}, {n} x 2048^2 uint16, median of 5", gb / float(np.median(ours)),
                                "os.write raw ceiling", gb / float(np.median(raws)), "GB/s", f"{how}, into {work}"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


# (name, path under the directory, writer options, the path to read back from (None: the same),
# whether the ceiling writes one file per frame as the format does). The one-file-per-frame formats
# are measured against both ceilings: one file says what the layout costs, files per frame what the
# writer costs on top of the layout.
FORMATS: list[tuple[str, str, dict[str, Any], Callable[[str], str] | None, bool]] = [
    ("TIFF sequence (one file per frame)", "seq/frame-%05i.tif", {}, os.path.dirname, False),
    ("TIFF sequence (one file per frame), vs raw files per frame", "seq/frame-%05i.tif", {}, os.path.dirname, True),
    ("BigTIFF stack", "stack.tif", {}, None, False),
    ("HDF5, direct chunk writes, SWMR", "data.h5:/data", {}, None, False),
    ("NXtomo (HDF5)", "scan.nx", {}, None, False),
    ("raw", "frames.raw", {}, None, False),
    ("Zarr v3", "stack.zarr", {}, None, False),
    ("Zarr v3, vs raw files per frame", "stack.zarr", {}, None, True),
]


def frames_for(gib: float) -> tuple[int, list[np.ndarray]]:
    """How many 2048^2 uint16 frames make `gib` GiB (a multiple of 8), and the 8 distinct frames they cycle."""
    n = int(gib * 2**30 // (SHAPE[0] * SHAPE[1] * 2)) // 8 * 8
    rng = np.random.default_rng(0)
    return n, [rng.integers(0, 4096, SHAPE, dtype=np.uint16) for _ in range(8)]


def compare_formats(directory: str, frames: list[np.ndarray], n: int, only: str | None = None,
                    repeat: int = 5) -> list[tuple[str, float, float, float, str, float, bool, int]]:
    """Every format (or those `only`'s comma-separated words pick) against the raw ceiling:
    [(format, median write GB/s, median raw GB/s, median of the per-pair ratios, how the raw
    ceiling wrote, read GB/s, read cold, frames read)]; writes and removes its files in `directory`."""
    gb = n * SHAPE[0] * SHAPE[1] * 2 / 1e9
    formats = [f for f in FORMATS if not only or any(key in f[0].lower() for key in only.split(","))]
    rows = []
    for name, rel, options, read_path, per_file in formats:
        path = os.path.join(directory, rel)
        ours, raws, how = interleaved(directory, path, frames, n, repeat, per_file=per_file, **options)
        ratio = float(np.median([r / t for t, r in zip(ours, raws)]))
        cold = drop_caches()
        read_options = {"raw_width": SHAPE[1], "raw_height": SHAPE[0]} if rel.endswith(".raw") else {}
        tr, count = read_format(read_path(path) if read_path else path, **read_options)
        rows.append((name, gb / float(np.median(ours)), gb / float(np.median(raws)), ratio, how, gb / tr, cold, count))
        remove(path)
        shutil.rmtree(os.path.join(directory, "seq"), ignore_errors=True)
    return rows


def tiff_frame_costs(directory: str = "/dev/shm", repeat: int = 5) -> list[tuple[str, str, float]]:
    """Seconds a frame of a TIFF sequence costs without a disk (`directory` in memory, so the
    writer's own work): ufo's writer, `tifffile.imwrite` of the same frame and description (the
    writer's former path) and a bare `os.write` of the pixels into a new file; medians of `repeat`
    interleaved runs, for 2048^2 uint16 (32 frames a run) and 512^2 float32 (256 frames a run).
    [(frame, way, seconds a frame)]."""
    import tifffile

    work = tempfile.mkdtemp(prefix="ufo-tiff-frames-", dir=directory)

    def ours(frames: list[np.ndarray], n: int) -> None:
        with open_writer(os.path.join(work, "f-%05i.tif"), overwrite=True) as writer:
            for i in range(n):
                writer.write(frames[i % 8], {"index": i, "angle": i * 1e-3})

    def theirs(frames: list[np.ndarray], n: int) -> None:
        for i in range(n):
            part = os.path.join(work, f"t-{i:05d}.tif.part")
            tifffile.imwrite(part, frames[i % 8], description=f'{{"index": {i}, "angle": 0.001}}', metadata=None)
            os.replace(part, part[:-5])

    def bare(frames: list[np.ndarray], n: int) -> None:
        for i in range(n):
            fd = os.open(os.path.join(work, f"p-{i:05d}.raw"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, frames[i % 8].data)
            os.close(fd)

    ways = [("ufo TIFF sequence writer", ours), ("tifffile.imwrite", theirs), ("os.write of the pixels", bare)]
    rng = np.random.default_rng(0)
    rows = []
    try:
        for shape, dtype, n in (((2048, 2048), np.uint16, 32), ((512, 512), np.float32, 256)):
            frames = [rng.integers(0, 4096, shape).astype(dtype) for _ in range(8)]
            times: dict[str, list[float]] = {}
            for i in range(repeat):
                for name, way in ways if i % 2 == 0 else ways[::-1]:
                    for entry in os.listdir(work):
                        os.remove(os.path.join(work, entry))
                    t0 = time.perf_counter()
                    way(frames, n)
                    times.setdefault(name, []).append((time.perf_counter() - t0) / n)
            label = f"{shape[0]}^2 {np.dtype(dtype).name}"
            rows += [(label, name, float(np.median(v))) for name, v in times.items()]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows
