"""Rows of uncompressed HDF5 frames read with `os.preadv`, past the HDF5 library.

Why: a scan stored one chunk per frame (as ufo's NXtomo writer, and most beamline writers,
store it) makes HDF5 read a whole chunk to hand back one row of it. Finding the axis reads one
row of every projection, and the 8/16-bit scale sample a few: through HDF5 that is the whole
file (2 GiB for 1024 frames of 1024^2, 1.6 s from a cold disk on an H200 host, 0.16 s warm
here); with the chunks' byte offsets, read once with `chunk_iter`, it is one small positioned
read per frame (5 ms warm for the same rows).

Only what is certain is read this way: datasets without filters (no compression, no
shuffle), stored contiguously or in chunks of whole frames, of a fixed-size numeric type; a
frame whose chunk was never written (the fill value) and everything else goes through h5py.

Reads ahead: a band of rows of frame after frame is a read every frame-size bytes, which the
kernel's read-ahead does not see as sequential, so from a cold disk each read waited for the
one before (a quarter of each frame of a 1024-frame 1024^2 scan: 1.0-2.3 s against 0.35 s for
the same bytes read in one stream, on an H200 host's disk). Each read asks the kernel
(posix_fadvise WILLNEED) for the same rows of the next READ_AHEAD frames, so the disk has
them queued.
"""

from __future__ import annotations

import mmap
import os
from typing import Any

import numpy as np

READ_AHEAD = 32  # frames whose rows are asked for ahead of the one read
BANDS_AHEAD = 96  # frames whose bands `read_bands` asks for beyond the block it copies
MAX_GAP = 1 << 20  # bytes between two frames that a run of frames reads through (and throws away)
_ADVISE = getattr(os, "posix_fadvise", None)  # Linux; elsewhere no read-ahead

class DirectFrames:
    """Byte offsets of the frames of one HDF5 dataset, and positioned reads of their rows."""

    def __init__(self, fd: int, offsets: np.ndarray, height: int, width: int, dtype: np.dtype):
        self._fd, self._offsets = fd, offsets
        self.height, self.width, self.dtype = height, width, dtype
        self._row_bytes = width * dtype.itemsize
        self._advised: tuple[tuple[int, int, int], int] = ((0, 0, 0), -1)  # (rows, last frame asked for)
        self._gap_buffer: memoryview | None = None  # where a run's gaps between frames are read to
        self._map: mmap.mmap | None = None  # the file mapped for `read_bands` (made at its first call)
        self._bands_advised: tuple[int, int, int] = (-1, 0, 0)  # read_bands: (first row, rows, frames asked up to)

    @classmethod
    def open(cls, dset: Any, fd: int) -> DirectFrames | None:
        """The direct reader of `dset` (frames along its first axis, or one 2-D frame), or None
        when it cannot be read byte for byte (filters, partial chunks, odd types, old h5py)."""
        try:
            dtype = np.dtype(dset.dtype)
            if dtype.kind not in "uif" or dset.ndim not in (2, 3) or dset.id.get_create_plist().get_nfilters():
                return None
            height, width = dset.shape[-2:]
            count = 1 if dset.ndim == 2 else dset.shape[0]
            frame = height * width * dtype.itemsize
            if dset.chunks is None:
                base = dset.id.get_offset()
                if base is None:  # nothing written yet: the fill value
                    return None
                offsets = base + frame * np.arange(count, dtype=np.int64)
            elif tuple(dset.chunks[-2:]) == (height, width) and (dset.ndim == 2 or dset.chunks[0] == 1):
                offsets = np.full(count, -1, np.int64)

                def note(info: Any) -> None:
                    if info.size == frame:
                        offsets[info.chunk_offset[0] if dset.ndim == 3 else 0] = info.byte_offset

                dset.id.chunk_iter(note)
            else:
                return None
        except Exception:  # noqa: BLE001 - any doubt (an h5py without chunk_iter, a virtual dataset): use h5py
            return None
        return cls(fd, offsets, height, width, dtype)

    def read(self, index: int, rows: slice, out: np.ndarray) -> bool:
        """Rows `rows` (within the frame, any positive step) of frame `index` into `out` (C-contiguous,
        this dtype, rows x width); False when this frame must be read through h5py instead."""
        start, stop, step = rows.indices(self.height)
        base = int(self._offsets[index]) if 0 <= index < len(self._offsets) else -1
        count = len(range(start, stop, step))
        if base < 0 or step < 1 or count == 0:
            return False
        if out.dtype != self.dtype or not out.flags.c_contiguous or out.shape != (count, self.width):
            return False
        self._read_ahead(index, (start, stop, step), count)
        if step == 1:  # one read for the band
            wanted = count * self._row_bytes
            return bool(os.preadv(self._fd, [memoryview(out).cast("B")], base + start * self._row_bytes) == wanted)
        for k, row in enumerate(range(start, stop, step)):  # rows far apart (a scale sample): one read each
            if os.preadv(self._fd, [memoryview(out[k]).cast("B")], base + row * self._row_bytes) != self._row_bytes:
                return False
        return True

    def band_offsets(self, frames: np.ndarray, rows: slice) -> tuple[np.ndarray, int] | None:
        """(offsets, length): where rows `rows` (step 1) of each of `frames` (indices into this
        dataset) lie in the file, all of `length` bytes; None where a frame's chunk was never
        written or the rows are not one band."""
        start, stop, step = rows.indices(self.height)
        frames = np.asarray(frames, np.int64)
        if step != 1 or stop <= start or (frames.size and (frames.min() < 0 or frames.max() >= len(self._offsets))):
            return None
        bases = self._offsets[frames]
        if (bases < 0).any():
            return None
        return bases + start * self._row_bytes, (stop - start) * self._row_bytes

    def read_run(self, index: int, outs: list[np.ndarray]) -> int:
        """Whole frames `index`, `index + 1`, ... into `outs` (one each, C-contiguous, this dtype and
        shape) with one positioned read, as far as they follow each other in the file (small gaps
        between them, other datasets' chunks, are read into a scratch buffer); the number read
        (0: none this way). Why: a reader thread that waits for the GIL after each system call
        (while CuPy starts, or the engine's thread runs) read a 1024^3 scan in 2.5 s instead of the
        disk's 1.3 s, one 2 MiB frame per call; one call per run of frames waits once per run.
        No read-ahead advice: runs that follow each other are sequential reads, which the
        kernel reads ahead by itself; asking for the next frames as well made a cold read of
        that scan slower on the H200 host (1.22 s against 0.99 s in runs of 8, 1.23 against
        1.04 s in runs of 32; the floor 1.07 s, 11:15 UTC 2026-12-03)."""
        frame = self.height * self._row_bytes
        fits = 0
        for out in outs:
            if out.dtype != self.dtype or not out.flags.c_contiguous or out.shape != (self.height, self.width):
                break
            fits += 1
        n = self._run_length(index, fits)
        if n == 0:
            return 0
        base = int(self._offsets[index])
        parts: list[memoryview] = []
        for k in range(n):
            if k:
                gap = int(self._offsets[index + k]) - int(self._offsets[index + k - 1]) - frame
                if gap:
                    parts.append(self._scratch()[:gap])
            parts.append(memoryview(outs[k]).cast("B"))
        wanted = int(self._offsets[index + n - 1]) + frame - base
        if os.preadv(self._fd, parts, base) != wanted:
            return 0
        return n

    def read_bands(self, index: int, rows: slice, out: np.ndarray) -> int:
        """Rows `rows` (step 1) of frames `index`, `index + 1`, ... into `out` (frames x rows x width,
        C-contiguous, this dtype) with one copy from a memory map of the file, as many frames as
        lie at one stride in it (up to len(out)); the number copied (0: read them one by one).

        Why: a band of rows of many frames is a read every frame-size bytes. One positioned read
        a frame waits for the GIL after each call beside the engine's, downloader's and writer's
        threads (a quarter pass of a 1024^3 scan from the page cache: 0.75-0.9 s on the H200 host
        against 1.35 s for the whole scan in runs). NumPy copies without the GIL, so a block of
        frames' bands waits once. Where the pages are not in memory the kernel is asked for the
        block's bands first (madvise WILLNEED), so that the disk has them queued instead of
        faulting them in one read-around at a time.

        The file's size is checked before each copy: a file cut shorter while it is read would
        otherwise end the process (SIGBUS) instead of failing the read."""
        start, stop, step = rows.indices(self.height)
        count = stop - start
        if step != 1 or count < 1 or out.ndim != 3 or out.dtype != self.dtype or not out.flags.c_contiguous \
                or out.shape[1:] != (count, self.width):
            return 0
        n, stride = self._strided_run(index, len(out))
        if n == 0:
            return 0
        first = int(self._offsets[index]) + start * self._row_bytes
        end = first + (n - 1) * stride + count * self._row_bytes
        try:
            size = os.fstat(self._fd).st_size
            if size < end:
                return 0
            if self._map is None:
                self._map = mmap.mmap(self._fd, 0, access=mmap.ACCESS_READ)
            if len(self._map) < end:
                return 0
            self._advise_ahead(index, n, stride, start, count, min(size, len(self._map)))
        except (OSError, ValueError):
            return 0
        band = np.lib.stride_tricks.as_strided(np.frombuffer(self._map, self.dtype, count * self.width, first),
                                               (n, count, self.width), (stride, self._row_bytes, self.dtype.itemsize),
                                               writeable=False)
        np.copyto(out[:n], band)  # without the GIL: the page faults of a cold file are waited for here
        return n

    def _strided_run(self, index: int, limit: int) -> tuple[int, int]:
        """(frames, their stride in bytes): how many frames from `index` (at most `limit`) lie at the
        stride between the first two (a contiguous dataset: the frame's size; chunks of ufo's
        NXtomo writer: the frame and 16 KiB)."""
        if limit < 1 or not 0 <= index < len(self._offsets) or self._offsets[index] < 0:
            return 0, 0
        frame = self.height * self._row_bytes
        if limit == 1 or index + 1 >= len(self._offsets):
            return 1, frame
        stride = int(self._offsets[index + 1]) - int(self._offsets[index])
        if stride < frame:
            return 1, frame
        n = 1
        while n < limit and index + n < len(self._offsets) and \
                int(self._offsets[index + n]) - int(self._offsets[index + n - 1]) == stride:
            n += 1
        return n, stride

    def _advise_ahead(self, index: int, n: int, stride: int, start: int, count: int, size: int) -> None:
        """Ask for the bands of this block and of up to BANDS_AHEAD frames after it (those at the
        same stride, inside the file), each frame once: while a block is copied the disk reads the
        next ones, instead of idling between one block's requests and the next's."""
        length = count * self._row_bytes
        ahead, at = self._strided_run(index, n + BANDS_AHEAD)
        if at != stride:  # a block of one frame whose followers lie at another stride: the block only
            ahead = n
        base = int(self._offsets[index]) + start * self._row_bytes
        ahead = min(ahead, (size - base - length) // stride + 1)  # inside the file (the block is, see the caller)
        first_row, rows, done = self._bands_advised
        lo = max(index, done) if (first_row, rows) == (start, count) and index <= done else index
        hi = index + ahead
        if hi > lo:
            self._advise_map(base + (lo - index) * stride, stride, hi - lo, length)
            self._bands_advised = (start, count, hi)

    def _advise_map(self, first: int, stride: int, n: int, length: int) -> None:
        """Ask the kernel to read these bands of the mapped file (from their pages' starts): one
        call a frame, which for pages in memory already only looks them up."""
        advise = getattr(self._map, "madvise", None)
        if advise is None:
            return
        page = mmap.PAGESIZE
        for k in range(n):
            at = first + k * stride
            lo = at - at % page
            advise(mmap.MADV_WILLNEED, lo, at + length - lo)

    def close(self) -> None:
        """Unmap the file (the descriptor is its owner's)."""
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:  # a view of it is still alive somewhere: the mapping goes with it
                pass
            self._map = None

    def _run_length(self, index: int, limit: int) -> int:
        """How many frames from `index` (at most `limit`) follow each other in the file, each at most
        a small gap after the one before (ufo's NXtomo writer puts 16 KiB of the angles' and keys'
        chunks between two frames): what one read takes in."""
        if limit < 1 or not 0 <= index < len(self._offsets) or self._offsets[index] < 0:
            return 0
        frame = self.height * self._row_bytes
        most = min(MAX_GAP, frame // 8)  # at most an eighth more bytes than the frames themselves
        n = 1
        while n < limit and index + n < len(self._offsets):
            gap = int(self._offsets[index + n]) - int(self._offsets[index + n - 1]) - frame
            if not 0 <= gap <= most:
                break
            n += 1
        return n

    def _scratch(self) -> memoryview:
        if self._gap_buffer is None:
            self._gap_buffer = memoryview(bytearray(MAX_GAP))
        return self._gap_buffer

    def _read_ahead(self, index: int, rows: tuple[int, int, int], count: int) -> None:
        """Ask for these rows of the frames after `index` (up to READ_AHEAD), each frame once."""
        if _ADVISE is None:
            return
        key, last = self._advised
        first = last + 1 if key == rows and index <= last else index + 1
        end = min(len(self._offsets), index + 1 + READ_AHEAD)
        start, stop, step = rows
        try:
            for frame in range(first, end):
                base = int(self._offsets[frame])
                if base < 0:
                    continue
                if step == 1:
                    _ADVISE(self._fd, base + start * self._row_bytes, count * self._row_bytes, os.POSIX_FADV_WILLNEED)
                else:
                    for row in range(start, stop, step):
                        _ADVISE(self._fd, base + row * self._row_bytes, self._row_bytes, os.POSIX_FADV_WILLNEED)
        except OSError:  # advice only: a file system that refuses it reads as before
            return
        self._advised = (rows, max(end - 1, last if key == rows else -1))
