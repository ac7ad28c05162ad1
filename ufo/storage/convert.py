"""Value conversion for writing: float frames to 8/16-bit integers over a chosen range."""

from __future__ import annotations

import numpy as np


def to_bits(frame: np.ndarray, bits: int | None, minimum: float | None = None, maximum: float | None = None,
            rescale: bool = True) -> np.ndarray:
    """Frame in the stored type: `bits` None keeps it, 32 is float32, 8/16 map [min, max] onto the integer range.

    With `rescale` off, 8/16-bit values are clipped and cast instead. Unset min/max mean
    the frame's own finite range, so each frame uses the whole integer range.
    """
    if bits is None:
        return frame
    if bits == 32:
        return frame if frame.dtype == np.float32 else frame.astype(np.float32)
    dtype = np.uint8 if bits == 8 else np.uint16
    top = np.iinfo(dtype).max
    if not rescale:
        return np.clip(frame, 0, top).astype(dtype)
    lo, hi = minimum, maximum
    if lo is None or hi is None:
        finite = frame[np.isfinite(frame)] if frame.dtype.kind == "f" else frame
        if finite.size == 0:
            return np.zeros(frame.shape, dtype)
        lo = float(finite.min()) if lo is None else lo
        hi = float(finite.max()) if hi is None else hi
    scale = top / (hi - lo) if hi != lo else 0.0
    scaled = (np.asarray(frame, dtype=np.float32) - np.float32(lo)) * np.float32(scale)
    np.nan_to_num(scaled, copy=False, nan=0.0, posinf=top, neginf=0.0)
    return np.clip(np.rint(scaled), 0, top).astype(dtype)
