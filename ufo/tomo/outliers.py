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


def limit_of(diff: Any, threshold: float, unit: str = "sigma", xp: Any = np) -> Any:
    """The largest allowed |frame - median|: `threshold` itself (unit 'absolute'), or that many
    robust standard deviations of each row of `diff` (unit 'sigma'; a column of limits).

    Why per row: a row's limit then depends on that row alone, so a slice does not change with
    the rows read beside it. One statistic over the frame gave every --region, pass and cluster
    worker's band of rows a limit of its own, and other zingers removed (slices 2.5e-3 apart on
    a signal of 0.02). Why the finite values only: a detector gap or a dead pixel stored as NaN
    (Eiger, Pilatus, a corrected frame's 0/0) made the median NaN, every comparison with it
    false, and nothing was removed; a row of no finite value has no outliers."""
    if unit != "sigma":
        return threshold
    import warnings

    rows = xp.abs(diff).reshape(-1, diff.shape[-1])
    finite = xp.isfinite(rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows of no finite value: inf below
        if bool(finite.all()):
            spread = xp.median(rows, axis=-1, keepdims=True)
        else:
            spread = xp.nanmedian(xp.where(finite, rows, xp.nan), axis=-1, keepdims=True)
        if not bool((spread > 0).all()):  # flat rows (synthetic data): the standard deviation, else 1
            std = xp.nanstd(xp.where(finite, diff.reshape(rows.shape), xp.nan), axis=-1, keepdims=True)
            spread = xp.where(spread > 0, spread, xp.where(std > 0, std, 1.0))
    spread = xp.where(finite.any(axis=-1, keepdims=True), spread, xp.inf)
    return (threshold * MAD_TO_SIGMA * spread).reshape(*diff.shape[:-1], 1)


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

    With unit 'sigma' the threshold is in robust standard deviations of each row (1.4826 x the median
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
