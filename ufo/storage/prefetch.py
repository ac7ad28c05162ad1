"""Reading a command's input files into the page cache while the command is still starting.

Why: from a cold page cache, `ufo reco` of a 1024^3 uint16 scan on an H200 host spent its
first 1.6 s in the interpreter, its imports and the plan (CuPy's start beside them) before the
first frame was read, and then 1.0-1.6 s reading 2.2 GB. The disk is idle during that start.
`start(argv)`, called on the command's first line, finds the input files the command line
names and reads them in a daemon thread, in the order `ufo reco` reads them, CHUNK bytes a
call into one reused buffer, up to SHARE of the free memory: the reader then finds the frames
in the page cache instead of waiting for the disk.

Why reads and not posix_fadvise(WILLNEED): advice for a large range queues all of it at once,
and the interpreter's own imports (from the same cold disk: CuPy's libraries are hundreds of
MB) then wait behind it; one CHUNK at a time keeps the disk busy with at most that much queued
ahead of them. Nothing here can fail the command: a path that does not exist or cannot be read
is skipped (the command itself reports it), and the budget keeps a scan larger than the memory
from pushing its own first frames out before they are read.
"""

from __future__ import annotations

import glob
import os
import threading
from collections.abc import Iterator, Sequence

from .formats import HDF5_SUFFIXES, RAW_SUFFIXES, TIFF_SUFFIXES, ZARR_SUFFIXES, natural_key, split_dataset

CHUNK = 8 << 20  # bytes a read: enough for the disk's queue, little for an import's read to wait behind
SHARE = 0.25  # of the free memory the bytes read ahead may take
#: the options naming the inputs of `ufo reco`, in the order its readers read them
INPUT_OPTIONS = ("--darks", "--flats", "--flats2", "--projections", "--sinograms")


def inputs_named(argv: Sequence[str], options: Sequence[str] = INPUT_OPTIONS) -> list[str]:
    """The values of `options` on a command line (`--opt X` or `--opt=X`), in the order of `options`."""
    found: dict[str, list[str]] = {name: [] for name in options}
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if name in found:
            if eq:
                found[name].append(value)
            elif i + 1 < len(argv):
                found[name].append(argv[i + 1])
    return [value for name in options for value in found[name]]


def files_of(path: str) -> list[str]:
    """The files a reader of `path` opens: the file of `scan.h5:/dataset`, a directory's or a
    glob's frame files in natural order, or the file itself; [] for what does not exist (a
    Zarr store, whose many small files the kernel's own read-ahead serves, included)."""
    path = os.path.expanduser(path)
    file, _ = split_dataset(path)
    if file.lower().rstrip("/").endswith(ZARR_SUFFIXES):
        return []
    frames = TIFF_SUFFIXES + RAW_SUFFIXES + HDF5_SUFFIXES
    if any(c in file for c in "*?["):
        found = [f for f in glob.glob(file) if os.path.isfile(f)]
    elif os.path.isdir(file):
        found = [os.path.join(file, f) for f in os.listdir(file) if f.lower().endswith(frames)]
    elif os.path.isfile(file):
        return [file]
    else:
        return []
    return sorted(found, key=natural_key)


def ranges(paths: Sequence[str], budget: int, chunk: int = CHUNK) -> Iterator[tuple[str, int, int]]:
    """(file, offset, length) pieces of at most `chunk` bytes over the files of `paths` in order,
    each file once, `budget` bytes in all."""
    seen: set[str] = set()
    for path in paths:
        for file in files_of(path):
            key = os.path.realpath(file)
            if key in seen:
                continue
            seen.add(key)
            try:
                size = os.path.getsize(file)
            except OSError:
                continue
            offset = 0
            while offset < size and budget > 0:
                length = min(chunk, size - offset, budget)
                yield file, offset, length
                offset += length
                budget -= length
            if budget <= 0:
                return


def read(pieces: Iterator[tuple[str, int, int]], stop: threading.Event | None = None) -> int:
    """Read `pieces` (into one reused buffer: only the page cache keeps them); the bytes read."""
    buffer = bytearray(max(1, CHUNK))
    done = 0
    fds: dict[str, int] = {}
    try:
        for file, offset, length in pieces:
            if stop is not None and stop.is_set():
                break
            try:
                fd = fds.get(file)
                if fd is None:
                    fd = fds[file] = os.open(file, os.O_RDONLY)
                view = memoryview(buffer)[:length] if length <= len(buffer) else memoryview(bytearray(length))
                done += os.preadv(fd, [view], offset)
            except OSError:  # unreadable: the reader says so
                continue
    finally:
        for fd in fds.values():
            os.close(fd)
    return done


def start(argv: Sequence[str], share: float = SHARE) -> threading.Thread | None:
    """Read the inputs `argv` names in a daemon thread (none for --help, --dry-run or --cluster,
    which read nothing here, or when no input is named)."""
    if any(a in ("--help", "-h", "--dry-run") or a.startswith("--cluster") for a in argv):
        return None
    paths = inputs_named(argv)
    if not paths:
        return None
    from ..core.resources import available_memory

    budget = int(available_memory() * share)
    thread = threading.Thread(target=lambda: read(ranges(paths, budget)), name="ufo:prefetch", daemon=True)
    thread.start()
    return thread
