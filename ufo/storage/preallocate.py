"""Disk blocks reserved for bytes that will be written later (Linux `fallocate`, without emulation).

Why: a buffered write into a hole of a sparse file (what a file laid out first is, such as
ufo's HDF5 volume, `hdf5_volume`) makes ext4 reserve its blocks page by page (delayed
allocation) while the copy into the page cache runs; into blocks reserved first it only copies.
4.29 GB in 4 MiB `pwrite` calls on a lent H200 VM (ext4, 2026-12-04, `ufo.bench.band_reads.writes`
and `both`): 0.78-0.84 s into reserved blocks, 0.87-1.10 s into a sparse file sized first,
1.00-1.04 s appended; beside the scan's band reads 0.79-0.80 s against 0.89-0.93 s. In `ufo reco`
the writer was 1.22-1.34 s busy for 4.29 GB against 1.35-1.46 s (docs/benchmarks.md). Reserving
4.29 GB takes milliseconds. Once a volume's blocks are reserved, no other writer on the disk can
take its room (a volume larger than the free space is not laid out: `hdf5_volume` appends it
frame by frame).

glibc's `posix_fallocate` writes a byte into every block where the file system cannot reserve
(NFS v3, some FUSE file systems): gigabytes written twice. `fallocate(2)` says EOPNOTSUPP there
instead, and nothing is reserved: the writes then go as before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

KEEP_SIZE = 0x01  # FALLOC_FL_KEEP_SIZE: the file's size stays; only its blocks are reserved
PUNCH_HOLE = 0x02  # FALLOC_FL_PUNCH_HOLE: the blocks given back (with KEEP_SIZE)
LIMITS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # what a write meets that the writer says in words


@lru_cache(maxsize=1)
def _fallocate() -> object | None:
    """libc's fallocate(int, int, off_t, off_t), or None where there is none (not Linux)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        call = libc.fallocate
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    call.restype = ctypes.c_int
    return call


def reserve(fd: int, offset: int, length: int) -> bool:
    """Reserve the blocks of `length` bytes at `offset` of the open file `fd` (its size unchanged).

    Returns whether they are reserved. Never with UFO_PREALLOCATE=0 (the writes then allocate as
    they go, for a file system where reserving costs more than it saves), nor where the file
    system cannot, nor where the disk or the quota cannot hold them all (ENOSPC, EDQUOT): a
    volume is then written as far as the room goes, frame by frame, as before, rather than
    refused whole before its first frame (a scan's frames up to a full disk are worth keeping)."""
    return os.environ.get("UFO_PREALLOCATE", "1") != "0" and _range(fd, KEEP_SIZE, offset, length)


def give_back(fd: int, offset: int, length: int) -> bool:
    """Give the blocks of `length` bytes at `offset` back to the disk (they read as zeros after;
    the file's size stays): the room reserved for frames that never came. Whether it was done."""
    return _range(fd, PUNCH_HOLE | KEEP_SIZE, offset, length)


def _range(fd: int, mode: int, offset: int, length: int) -> bool:
    """fallocate(fd, mode, offset, length) where there is such a call; whether it succeeded."""
    call = _fallocate()
    return call is not None and length > 0 and call(fd, mode, offset, length) == 0  # type: ignore[operator]


def reserve_runs(fd: int, offsets: np.ndarray | Sequence[int], length: int, undo: bool = False) -> bool:
    """Reserve `length` bytes at each of `offsets` (sorted or not), one call per run of adjacent
    pieces (HDF5 lays out a volume's chunks one after another: one call for the whole volume);
    `undo`: give them back instead (`give_back`)."""
    starts = np.sort(np.asarray(offsets, np.int64))
    if starts.size == 0:
        return False
    breaks = np.flatnonzero(np.diff(starts) != length) + 1
    done = True
    for run in np.split(starts, breaks):
        done = (give_back if undo else reserve)(fd, int(run[0]), int(run[-1] - run[0]) + length) and done
    return done


def grow(fd: int, offset: int, length: int) -> int | None:
    """Make the open file `fd` reach `offset + length` bytes, its blocks taken from the disk now
    (fallocate(2), the file's size grown): what a quota, the file-size limit or the disk cannot hold
    is refused here, before a library writes there and meets it mid-write (HDF5 then cannot close
    the file). Returns 0 when done, the errno of a limit met (ENOSPC, EDQUOT, EFBIG), or None
    where it cannot be done (no fallocate, a file system without it, UFO_PREALLOCATE=0); the
    writer then goes on unguarded, as before. The bytes read as zeros until written."""
    call = _fallocate()
    if call is None or length <= 0 or os.environ.get("UFO_PREALLOCATE", "1") == "0":
        return None
    ctypes.set_errno(0)
    if call(fd, 0, offset, length) == 0:  # type: ignore[operator]
        return 0
    code = ctypes.get_errno()
    return code if code in LIMITS else None
