"""Which frames of a chunked HDF5 dataset were ever written.

Why: a writer that stopped (killed, a full disk) leaves a dataset laid out for all its frames of
which only some chunks exist; HDF5 reads the others as the fill value, so another tool's scan
cut short read its missing frames as zeros and was reconstructed without a word. A frame counts
as written when every chunk that holds part of it is stored (chunks of one frame, of several
frames, or tiles of a frame alike); a chunk of several frames written in part cannot be told
from a whole one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .formats import FRAMES_WRITTEN


def stored_frames(dset: Any) -> np.ndarray | None:
    """Per frame along the first axis of `dset` (3 or more dimensions), whether all its chunks are
    stored; None where every chunk is, or where it cannot be told (contiguous or virtual storage,
    an h5py without chunk queries)."""
    parts = stored_parts(dset)
    return None if parts is None else parts[0]


def stored_parts(dset: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """Per frame along the first axis of `dset`: whether all its chunks are stored, and whether any
    is (a frame a tiling writer stored in part); None as `stored_frames`."""
    chunks = dset.chunks
    if chunks is None or dset.ndim < 3 or getattr(dset, "is_virtual", False):
        return None
    grid = [math.ceil(size / chunk) for size, chunk in zip(dset.shape, chunks)]
    try:
        stored = dset.id.get_num_chunks()
        if stored >= math.prod(grid):
            return None
        per_row = np.zeros(grid[0], np.int64)  # stored chunks of each row of chunks along the frames

        def note(info: Any) -> None:
            per_row[info.chunk_offset[0] // chunks[0]] += 1

        try:
            dset.id.chunk_iter(note)
        except AttributeError:  # HDF5 before 1.12.3: one query a chunk
            for k in range(stored):
                note(dset.id.get_chunk_info(k))
    except Exception:  # noqa: BLE001 - an h5py or HDF5 without chunk queries: read as HDF5 reads it
        return None
    whole = per_row == math.prod(grid[1:])
    return np.repeat(whole, chunks[0])[: dset.shape[0]], np.repeat(per_row > 0, chunks[0])[: dset.shape[0]]


def spans(frames: list[int]) -> str:
    """'6-9, 12': frame numbers as runs (the first 4 runs)."""
    runs: list[list[int]] = []
    for k in frames:
        if runs and k == runs[-1][1] + 1:
            runs[-1][1] = k
        else:
            runs.append([k, k])
    text = ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in runs[:4])
    return text + (", ..." if len(runs) > 4 else "")


def frames_written(h5file: Any, name: str) -> int | None:
    """The count of frames written whole that `Hdf5VolumeWriter` keeps beside a volume, if any."""
    counter = h5file.get(name + FRAMES_WRITTEN)
    try:
        return max(0, int(counter[0])) if counter is not None and counter.shape == (1,) else None
    except Exception:  # noqa: BLE001 - not ours after all: read the dataset as it is
        return None
