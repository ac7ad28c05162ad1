"""Ring (stripe) removal in sinograms: Vo's sorting-based method.

N. T. Vo, R. C. Atwood, M. Drakopoulos, "Superior techniques for eliminating ring artifacts
in X-ray micro-tomography", Optics Express 26 (2018) 28396, algorithm 3: sort each detector
column along the angles, smooth across columns with a median filter, undo the sort.
"""

from __future__ import annotations

import numpy as np


def remove_stripes_sorting(sino: np.ndarray, size: int = 21, out: np.ndarray | None = None) -> np.ndarray:
    """Remove stripes (full and partial) from one sinogram (angles x width)."""
    from ..kernels.median import median_rows

    columns = np.ascontiguousarray(np.asarray(sino, np.float32).T)  # one detector column per row: fast sorts
    order = np.argsort(columns, axis=1, kind="stable")
    ranked = np.ascontiguousarray(np.take_along_axis(columns, order, axis=1).T)
    smoothed = median_rows(ranked, size | 1, np.empty_like(ranked))
    restored = np.empty_like(columns)
    np.put_along_axis(restored, order, smoothed.T, axis=1)
    result = out if out is not None else np.empty_like(ranked)
    np.copyto(result, restored.T)
    return result
