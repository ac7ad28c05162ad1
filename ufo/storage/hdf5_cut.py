"""HDF5 files cut short: shorter than HDF5's own record of their end ("truncated file").

A copy stopped part-way, a disk that filled under another tool's writer, a file-size limit or a
quota met mid-write leave such a file; h5py refuses it outright, though its frames up to the cut
are whole. Opened in SWMR mode HDF5 skips that check, and frames past the cut read as zeros
without a word: so only the frames whose bytes lie wholly inside the file are read, and the
reader says so.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np


def is_cut(exc: BaseException) -> bool:
    """Whether h5py refused a file because it is shorter than HDF5's record of its end."""
    return "truncated file" in str(exc)


def open_cut(filename: str) -> Any:
    """The cut file opened for reading (SWMR mode: no check of its end); its frames past the cut
    are to be left out (`whole_frames`)."""
    import h5py

    return h5py.File(filename, "r", locking=False, swmr=True)


def whole_frames(dset: Any, frames: list[int], size: int) -> list[int]:
    """Of `frames` (indices along the first axis of `dset`, ascending), those before the first
    whose stored bytes do not lie wholly inside the first `size` bytes of the file; none of a
    dataset whose storage cannot be told (virtual, external, an h5py without chunk queries)."""
    if not frames:
        return frames
    ends = _frame_ends(dset)
    if ends is None:
        return []
    kept = []
    for index in frames:
        if index >= len(ends) or ends[index] < 0 or ends[index] > size:
            break
        kept.append(index)
    return kept


def _frame_ends(dset: Any) -> np.ndarray | None:
    """The end offset in the file of each frame's bytes (-1: not stored), or None where not known."""
    count = 1 if dset.ndim == 2 else dset.shape[0]
    frame = int(np.prod(dset.shape[-2:])) * dset.dtype.itemsize
    try:
        if dset.chunks is None:
            base = dset.id.get_offset()
            return None if base is None else base + frame * np.arange(1, count + 1, dtype=np.int64)
        ends = np.full(count, -1, np.int64)
        per = 1 if dset.ndim == 2 else dset.chunks[0]

        def note(info: Any) -> None:  # a chunk holds `per` frames: each ends no earlier than it
            first = 0 if dset.ndim == 2 else info.chunk_offset[0]
            ends[first: first + per] = np.maximum(ends[first: first + per], info.byte_offset + info.size)

        dset.id.chunk_iter(note)  # a frame over several chunks ends where its last stored one does
        return ends
    except Exception:  # noqa: BLE001 - an h5py without chunk queries, a virtual dataset: not known
        return None


def file_size(filename: str) -> int:
    try:
        return os.path.getsize(filename)
    except OSError:
        return 0
