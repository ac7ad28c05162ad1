"""8/16-bit frames that record the values they stand for, read as those values.

Why: ufo's 8/16-bit outputs (and a cluster's volumes) store integers on one scale and record it
(`scale_min`, `scale_max`, `bits`: HDF5 and Zarr attributes, the TIFF's JSON description or ImageJ
Info; `ufo.storage.convert.scale_metadata`). Read as stored, the next step worked on the integers:
`read ! calculate expression='x*2'` of a slice of -50..50 gave 10786..120196, and written again
with bits=16 its new scale described integers, the values gone for good. ImageJ shows such a
file calibrated, and `ufo reco --slice` and the GUI's viewer already decoded it; every reader does
now (`decode=false` in `read` keeps the stored integers). Other tools' integers (a camera's
counts) record no scale and stay as stored.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .convert import from_bits

#: the fast paths that read stored bytes past `read`: not offered, so every frame is decoded
_STORED = ("read_run", "read_bands", "byte_ranges")


def recorded_scale(source: Any) -> tuple[float, float] | None:
    """(scale_min, scale_max) that `source` (frames just opened) records for its 8/16-bit integers,
    or None: no record, another type, or a record of another number of bits."""
    dtype = np.dtype(source.dtype)
    if dtype not in (np.uint8, np.uint16):
        return None
    try:
        attrs = _record(source)
        if attrs is None or "scale_min" not in attrs or "scale_max" not in attrs:
            return None
        low, high = float(attrs["scale_min"]), float(attrs["scale_max"])
        bits = int(attrs.get("bits", dtype.itemsize * 8))
    except (TypeError, ValueError, KeyError, OSError):
        return None
    if bits != dtype.itemsize * 8 or not (np.isfinite(low) and np.isfinite(high)) or high <= low:
        return None
    return low, high


def _record(source: Any) -> dict[str, Any] | None:
    """The attributes `source` keeps its scale in: an HDF5 dataset's (the first a layout lists), a
    Zarr array's, or the first TIFF file's JSON description / ImageJ Info."""
    dset = getattr(source, "_dset", None)
    locations = getattr(source, "_locations", None)
    if locations:
        dset = source._file[locations[0][0]]
    if dset is not None:
        return dict(dset.attrs)
    array = getattr(source, "_arr", None)
    if array is not None:
        return dict(array.attrs)
    files = getattr(source, "files", None)
    if files and str(files[0]).lower().endswith((".tif", ".tiff")):
        from .convert import tiff_record

        return tiff_record(files[0], False)
    return None


class Decoded:
    """The frames of `source` as float32 values: scale_min + stored * step."""

    def __init__(self, source: Any, scale: tuple[float, float]):
        self._source = source
        self.scale = scale
        self.dtype = np.dtype(np.float32)

    def __getattr__(self, name: str) -> Any:
        if name in _STORED:
            raise AttributeError(name)
        return getattr(self._source, name)

    def read(self, index: int, rows: slice, out: np.ndarray | None) -> np.ndarray:
        values = from_bits(self._source.read(index, rows, None), *self.scale)
        if out is None:
            return values.astype(np.float32)
        np.copyto(out, values, casting="unsafe")
        return out


def decoded_where_scaled(source: Any) -> Any:
    """`source` as `Decoded` where it records the values of its integers, else itself."""
    scale = recorded_scale(source)
    return source if scale is None else Decoded(source, scale)
