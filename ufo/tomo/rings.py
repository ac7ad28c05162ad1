"""Ring (stripe) removal in sinograms: Vo's sorting-based method.

N. T. Vo, R. C. Atwood, M. Drakopoulos, "Superior techniques for eliminating ring artifacts
in X-ray micro-tomography", Optics Express 26 (2018) 28396, algorithm 3: sort each detector
column along the angles, smooth across columns with a median filter, undo the sort.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def remove_stripes_sorting(sino: np.ndarray, size: int = 21, out: np.ndarray | None = None) -> np.ndarray:
    """Remove stripes (full and partial) from one sinogram (angles x width)."""
    data = np.asarray(sino, np.float32)
    order = np.argsort(data, axis=0, kind="stable")
    ranked = np.take_along_axis(data, order, axis=0)
    smoothed = ndimage.median_filter(ranked, size=(1, size), mode="reflect")
    result = out if out is not None else np.empty_like(data)
    np.put_along_axis(result, order, smoothed, axis=0)
    return result
