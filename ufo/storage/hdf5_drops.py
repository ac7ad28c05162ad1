"""The frames a camera dropped, recorded in an HDF5 file once its writer closed it.

Its own module beside ufo.storage.hdf5: SWMR files take no new attributes nor datasets, so the
record is made after closing, in the file opened again: attribute `frames_dropped` on the data
group(s) and a table `dropped_frames` of one row per gap.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np


def record_drops(path: str, layout: str, dataset: str, drops: Any, first_index: int) -> None:
    """How many frames the camera dropped (`drops`: a FrameStats), and which, into `path`."""
    import h5py

    if layout == "nxtomo":
        groups, table = ["/entry/data", "/entry/instrument/detector"], "/entry/instrument/detector/dropped_frames"
    elif layout == "dxchange":
        groups, table = ["/exchange"], "/exchange/dropped_frames"
    else:
        groups, table = [dataset], f"{dataset}_dropped_frames"
    rows = np.array([(first_index + at, first, count) for at, first, count in drops.gaps],
                    np.int64).reshape(-1, 3)
    try:
        with h5py.File(path, "a", locking=False) as f:
            earlier = 0
            for name in groups:
                if name in f:
                    earlier = max(earlier, int(f[name].attrs.get("frames_dropped", 0)))
            for name in groups:
                if name in f:
                    f[name].attrs["frames_dropped"] = earlier + drops.dropped
            if len(rows):
                if table not in f:
                    dset = f.create_dataset(table, shape=(0, 3), maxshape=(None, 3), dtype=np.int64,
                                            chunks=(1024, 3))
                    dset.attrs["columns"] = ("index of the frame after the gap (write order), "
                                             "first missing frame_number, frames missing")
                dset = f[table]
                n = dset.shape[0]
                dset.resize(n + len(rows), axis=0)
                dset[n:] = rows
    except Exception as exc:  # noqa: BLE001 - the frames are safe; say that the record is missing
        message = f"'{path}': could not record the {drops.dropped} dropped frame(s) in the file: {exc}"
        warnings.warn(message, RuntimeWarning, stacklevel=3)
