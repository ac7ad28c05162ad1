"""Zinger and dead-pixel removal by comparison with the local median."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


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
    limit = threshold
    if unit == "sigma":
        mad = float(np.median(np.abs(diff)))
        limit = threshold * 1.4826 * (mad if mad > 0 else float(np.std(diff)) or 1.0)
    if sign == "bright":
        bad = diff > limit
    elif sign == "dark":
        bad = diff < -limit
    else:
        bad = np.abs(diff) > limit
    result = out if out is not None else np.empty_like(data)
    np.copyto(result, np.where(bad, median, data))
    return result
