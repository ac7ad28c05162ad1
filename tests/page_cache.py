"""The page cache of a test's file: which pages are in memory (mincore) and dropping them
(fsync, then POSIX_FADV_DONTNEED), for the tests of reading ahead."""

from __future__ import annotations

import os

import numpy as np


def in_memory(path: str) -> np.ndarray:
    """1 for each page of the file in the page cache (mincore: looking reads nothing in)."""
    import ctypes
    import mmap

    libc = ctypes.CDLL(None, use_errno=True)
    size = os.path.getsize(path)
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    with open(path, "rb") as f, mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY) as m:
        buffer = (ctypes.c_char * size).from_buffer(m)
        vector = (ctypes.c_ubyte * pages)()
        failed = libc.mincore(ctypes.c_void_p(ctypes.addressof(buffer)), ctypes.c_size_t(size), vector)
        del buffer
    assert failed == 0, os.strerror(ctypes.get_errno())
    return np.frombuffer(vector, np.uint8) & 1


def evict(path: str) -> None:
    """Drop the file's pages from the page cache (written back first)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
