"""Float slices to 8/16-bit integers on the GPU: the mapping of ufo/kernels/convert.py, bit for bit.

Why on the GPU: `ufo reco --output-bits 16` converted each slice in the writer's thread, so
integer output was slower than float32 output of twice the bytes; converted where the slices
are, they also cross the bus and the page cache at half (16 bits) or a quarter (8 bits) the size.
The arithmetic is the CPU kernel's: float32, (value - lo) * scale, NaN and values <= 0 to 0,
values >= top to top, else rounded half to even (`rintf`, as `np.rint`).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

_BODY = """
float v = (x - lo) * scale;
if (v != v || v <= 0.f) y = 0;
else if (v >= top) y = (T)top;
else y = (T)rintf(v);
"""


@functools.lru_cache(maxsize=None)
def _kernel() -> Any:
    import cupy

    return cupy.ElementwiseKernel("float32 x, float32 lo, float32 scale, float32 top", "T y", _BODY,
                                  "ufo_scale_to_integers")


def scale_to_integers_gpu(values: Any, bits: int, lo: float, hi: float) -> Any:
    """A CuPy float32 array mapped from [lo, hi] onto the integers of `bits` (8 or 16), as `to_bits`."""
    import cupy

    dtype = np.uint8 if bits == 8 else np.uint16
    top = np.iinfo(dtype).max
    scale = top / (hi - lo) if hi != lo else 0.0
    out = cupy.empty(values.shape, dtype)
    _kernel()(values, np.float32(lo), np.float32(scale), np.float32(top), out)
    return out
