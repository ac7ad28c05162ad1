"""ImageJ's signed 16-bit TIFFs read as the signed values ImageJ shows.

Why: ImageJ keeps a signed 16-bit image as unsigned pixels plus a calibration (function 0, a
straight line, c0 = -32768, c1 = 1, 'Gray Value': `Calibration.setSigned16BitCalibration`), and
shows value = stored - 32768. Read as stored, every value was 32768 too large: a sinogram of
-2000..1999 came in as 30768..34767 and was reconstructed without a word (correlation 0.12).
Other calibrations (ufo's own 8/16-bit outputs: c0 = the scale's minimum, c1 its step) are
decoded from ufo's record of the scale, as their HDF5 twins are (ufo.storage.scaled_frames).
"""

from __future__ import annotations

from typing import Any

import numpy as np

SIGNED16 = (0, -32768.0, 1.0)  # ImageJ's function (straight line), c0, c1
#: the fast paths that read stored bytes past `read`: not offered, so every frame is shifted
_STORED = ("read_run", "read_bands", "byte_ranges")


def imagej_signed16(file: str) -> bool:
    """Whether `file` is an ImageJ TIFF of unsigned 16-bit pixels calibrated as signed."""
    try:
        import tifffile

        with tifffile.TiffFile(file) as tif:
            meta = tif.imagej_metadata or {}
            kind = tif.pages[0].dtype
    except Exception:  # noqa: BLE001 - not a file tifffile reads: the reader says what is wrong
        return False
    try:
        calibration = (int(meta.get("cf", -1)), float(meta.get("c0", 0.0)), float(meta.get("c1", 1.0)))
    except (TypeError, ValueError):
        return False
    return np.dtype(kind) == np.uint16 and calibration == SIGNED16


class Signed16:
    """The frames of `source` (unsigned 16-bit, ImageJ's signed calibration) as int16: stored - 32768."""

    def __init__(self, source: Any):
        self._source = source
        self.dtype = np.dtype(np.int16)
        self.warnings = list(getattr(source, "warnings", []))
        self.warnings.append(f"'{source.files[0]}' is an ImageJ signed 16-bit image (calibrated c0=-32768, c1=1): "
                             "read as signed values, stored - 32768, as ImageJ shows them")

    def __getattr__(self, name: str) -> Any:
        if name in _STORED:
            raise AttributeError(name)
        return getattr(self._source, name)

    def read(self, index: int, rows: slice, out: np.ndarray | None) -> np.ndarray:
        if out is not None and out.dtype == np.int16:
            stored = self._source.read(index, rows, out.view(np.uint16))
            np.bitwise_xor(stored, np.uint16(0x8000), out=stored)  # stored - 32768, as int16 bits
            return out
        frame = self._source.read(index, rows, None)
        values = (frame ^ np.uint16(0x8000)).view(np.int16)
        if out is None:
            return values
        np.copyto(out, values, casting="unsafe")
        return out


def signed_where_calibrated(source: Any) -> Any:
    """`source` (TIFF frames) as `Signed16` where its first file is ImageJ's signed 16-bit, else itself."""
    if np.dtype(source.dtype) != np.uint16 or not imagej_signed16(source.files[0]):
        return source
    return Signed16(source)
