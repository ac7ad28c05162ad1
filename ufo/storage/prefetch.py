"""The input files read into the page cache by a child process while a command starts.

Why: `ufo reco` spends its first 1-2 s on the interpreter, imports and CUDA's start, while the
disk that holds the scan sits idle; its own reader then competes with the GPU's thread for the
GIL after every read (on the H200 host a 2.2 GB scan read in 3.4 s inside the run against
1.2-1.4 s for the disk alone). A separate process holds no GIL of ours: it streams the files
with 64 MiB reads from the command's first moment, so the reader later copies from memory.

Only regular files are read, at most a share of the memory available (a scan larger than that
would evict its own start), and the child stops when told (`Prefetch.stop`) or when this
process has gone. Nothing depends on it: if it cannot start, the reader reads from the disk.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from collections.abc import Sequence

#: of the memory available, the most the prefetched bytes may take
SHARE = 0.5
BLOCK = 64 << 20

# the child: python -S (no site: starts in ~20 ms), reads each "bytes<TAB>path" line of its stdin
# with `block`-byte reads and ends once done, or at once when its parent has gone (its parent pid
# changes); the list comes on stdin, since a folder of thousands of TIFFs is too long a command line
_CHILD = """
import os, sys
parent = int(sys.argv[1])
buffer = bytearray(int(sys.argv[2]))
missed = 0
for line in sys.stdin.buffer.read().splitlines():
    size, path = line.split(b"\\t", 1)
    left = int(size)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        missed += 1
        continue
    try:
        while left > 0 and os.getppid() == parent:
            n = os.readv(fd, [memoryview(buffer)[:min(left, len(buffer))]])
            if n <= 0:
                break
            left -= n
    finally:
        os.close(fd)
sys.exit(3 if missed else 0)  # 3: a file could not be opened (the tests' check of the list it got)
"""


# the child of `start_ranges`: groups of "path<TAB>offset<TAB>length" lines, each group ended by an
# empty line; per group it asks the kernel for every range at once (POSIX_FADV_WILLNEED: the disk
# gets them all queued), then reads them in order, so that one group is in memory before the next
# is asked for; it ends once done, or at once when its parent has gone
_RANGES_CHILD = """
import os, sys
parent = int(sys.argv[1])
buffer = memoryview(bytearray(int(sys.argv[2])))
fds = {}
def fd_of(path):
    if path not in fds:
        fds[path] = os.open(path, os.O_RDONLY)
    return fds[path]
for group in sys.stdin.buffer.read().split(b"\\n\\n"):
    ranges = []
    for line in group.splitlines():
        path, offset, length = line.rsplit(b"\\t", 2)
        try:
            ranges.append((fd_of(path), int(offset), int(length)))
        except OSError:
            continue
    for fd, offset, length in ranges:
        try:
            os.posix_fadvise(fd, offset, length, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass
    for fd, offset, length in ranges:
        if os.getppid() != parent:
            sys.exit(0)
        while length > 0:
            n = os.preadv(fd, [buffer[:min(length, len(buffer))]], offset)
            if n <= 0:
                break
            offset, length = offset + n, length - n
"""


class Prefetch:
    """A running prefetch child; `stop()` ends it (idempotent)."""

    def __init__(self, process: subprocess.Popen[bytes], files: list[tuple[str, int]]):
        self.process, self.files = process, files

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def _expand(given: str) -> list[str]:
    """The regular files one input names: a file (an HDF5 path may carry ':/dataset'), a folder's
    files or a glob's matches, in name order (the order a TIFF sequence is read in)."""
    path = os.path.expanduser(given)
    if not os.path.exists(path) and ":" in path and os.path.isfile(path.rsplit(":", 1)[0]):  # scan.h5:/entry/data
        path = path.rsplit(":", 1)[0]
    if os.path.isdir(path):
        names = [os.path.join(path, n) for n in sorted(os.listdir(path)) if not n.startswith(".")]
    elif any(c in path for c in "*?["):
        names = sorted(glob.glob(path))
    else:
        names = [path]
    return [n for n in names if os.path.isfile(n) and "\n" not in n]


def files_to_read(paths: Sequence[str], budget: int) -> list[tuple[str, int]]:
    """(path, bytes from its start) for each distinct regular file the inputs `paths` name (files,
    folders, globs), in order, within `budget` bytes in all."""
    chosen: list[tuple[str, int]] = []
    seen: set[str] = set()
    for given in paths:
        for name in _expand(given):
            path = os.path.realpath(name)
            if path in seen:
                continue
            seen.add(path)
            size = min(os.path.getsize(path), budget)
            if size <= 0:
                return chosen
            chosen.append((path, size))
            budget -= size
    return chosen


def start(paths: Sequence[str], block: int | None = None) -> Prefetch | None:
    """Start reading `paths` into the page cache in a child process, `block` bytes a read (BLOCK);
    None when there is nothing to read or the child could not start."""
    from ..core.resources import available_memory

    block = block or BLOCK

    files = files_to_read(paths, int(available_memory() * SHARE))
    if not files:
        return None
    try:
        process = subprocess.Popen([sys.executable, "-S", "-c", _CHILD, str(os.getpid()), str(block)],
                                   stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   close_fds=True)
        assert process.stdin is not None
        with process.stdin:
            process.stdin.write(b"".join(b"%d\t%s\n" % (size, os.fsencode(path)) for path, size in files))
    except OSError:
        return None
    return Prefetch(process, files)


def start_ranges(groups: Sequence[Sequence[tuple[str, int, int]]], block: int | None = None) -> Prefetch | None:
    """Start reading byte ranges (path, offset, length) into the page cache in a child process,
    group after group: a pass's bands of rows of every frame, asked for all at once, so that the
    disk reads them at its pace (a pass of 1/8 of each frame of a 1024^3 scan, cold, on the H200
    host: 1.13 s for all eight passes, against 1.45 s for the whole file in 64 MiB reads and 1.7 s
    for the bands read one after the other; scratch probe, 2026-12-03). None when there is
    nothing to read or the child could not start."""
    lines = [b"\n".join(b"%s\t%d\t%d" % (os.fsencode(path), offset, length) for path, offset, length in group)
             for group in groups if group]
    if not lines or any(b"\n" in os.fsencode(path) for group in groups for path, _, _ in group):
        return None
    try:
        process = subprocess.Popen([sys.executable, "-S", "-c", _RANGES_CHILD, str(os.getpid()), str(block or BLOCK)],
                                   stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   close_fds=True)
        assert process.stdin is not None
        with process.stdin:
            process.stdin.write(b"\n\n".join(lines))
    except OSError:
        return None
    return Prefetch(process, [])


def inputs_asked(argv: Sequence[str], options: Sequence[str] = ("--projections", "--flats", "--darks")) -> list[str]:
    """The values of `options` on a command line (`--projections X` or `--projections=X`)."""
    found: list[str] = []
    for i, arg in enumerate(argv):
        for option in options:
            if arg == option and i + 1 < len(argv):
                found.append(argv[i + 1])
            elif arg.startswith(option + "="):
                found.append(arg.split("=", 1)[1])
    return found


def all_hdf5(paths: Sequence[str]) -> bool:
    """Whether every input named is an HDF5 file (by its name; scan.h5:/entry/data too)."""
    from .formats import HDF5_SUFFIXES, split_dataset

    return bool(paths) and all(split_dataset(os.path.expanduser(p))[0].lower().endswith(HDF5_SUFFIXES) for p in paths)


#: a --region of fewer rows than this reads too little of each frame for whole files to be worth reading
FEW_ROWS = 256


def worth_reading(argv: Sequence[str]) -> bool:
    """Whether a `ufo reco` command line reads most of its input files: not for a --slice preview
    (one row of each frame) nor a --region of fewer than FEW_ROWS rows, which read a small part
    of each frame; the whole files read beside them (half the memory at most, 10 GB of a 20 GB
    scan for one slice) would compete with the rows for the disk and add nothing."""
    if inputs_asked(argv, ("--slice",)):
        return False
    for region in inputs_asked(argv, ("--region",)):
        parts = region.split(":")
        try:
            first, stop = int(parts[0] or 0), int(parts[1])
            step = int(parts[2]) if len(parts) > 2 and parts[2] else 1
        except (IndexError, ValueError):  # open-ended ("100:") or not numbers: all rows to the end may be read
            continue
        if step > 0 and max(0, -(-(stop - first) // step)) < FEW_ROWS:  # len(range(...)) overflows at 2**63
            return False
    return True
