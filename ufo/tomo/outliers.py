"""Zinger and dead-pixel removal by comparison with the local median.

The decision (`outliers`) is written once for NumPy and CuPy arrays: the CPU task and its GPU
backend (ufo.gpu.tasks.RemoveOutliersGpu) differ only in how they take the median.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

#: the median absolute deviation times this is the standard deviation of normal noise
MAD_TO_SIGMA = 1.4826


def limit_of(diff: Any, threshold: float, unit: str = "sigma", xp: Any = np) -> float:
    """The largest allowed |frame - median|: `threshold` itself (unit 'absolute'), or that many
    robust standard deviations of `diff`'s finite values (unit 'sigma').

    Why the finite values only: a detector gap or a dead pixel stored as NaN (Eiger, Pilatus,
    a corrected frame's 0/0) made the median NaN, every comparison with it false, and the task
    silently removed nothing in the whole frame."""
    if unit != "sigma":
        return threshold
    finite = xp.isfinite(diff)
    values = diff if bool(finite.all()) else diff[finite]
    if values.size == 0:
        return float("inf")  # nothing finite to compare with: nothing is an outlier
    mad = float(xp.median(xp.abs(values)))
    spread = mad if mad > 0 else float(xp.std(values))
    return threshold * MAD_TO_SIGMA * (spread or 1.0)


def outliers(diff: Any, limit: float, sign: str = "both", xp: Any = np) -> Any:
    """Where `diff` (frame - median) strays beyond `limit`: above it ('bright'), below -limit
    ('dark') or either way ('both'). NaN is never an outlier (it stays as it was)."""
    if sign == "bright":
        return diff > limit
    if sign == "dark":
        return diff < -limit
    return xp.abs(diff) > limit


def remove_outliers(frame: np.ndarray, size: int = 3, threshold: float = 5.0, unit: str = "sigma",
                    sign: str = "both", out: np.ndarray | None = None) -> np.ndarray:
    """Pixels further than `threshold` from their `size` x `size` median take the median's value.

    With unit 'sigma' the threshold is in robust standard deviations (1.4826 x the median
    absolute deviation of frame - median), so one value works across exposures and detectors.
    """
    from ..kernels.median import median_2d

    data = np.asarray(frame, np.float32)
    median = median_2d(data, size, np.empty_like(data)) if data.ndim == 2 else ndimage.median_filter(data, size=size, mode="reflect")
    diff = data - median
    bad = outliers(diff, limit_of(diff, threshold, unit), sign)
    result = out if out is not None else np.empty_like(data)
    np.copyto(result, np.where(bad, median, data))
    return result
