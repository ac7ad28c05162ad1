"""The slice grid of parallel-beam reconstruction: where a slice's pixels lie about the axis.

Kept apart from ufo.tomo.fbp (SciPy's FFT, numba's kernels) so that the GPU path, which needs
only this, imports neither: a cold import of both costs about a second at the start of `ufo reco`.
"""

from __future__ import annotations


def slice_grid(width: int, roi: tuple[int, int, int | None, int | None] = (0, 0, None, None),
               centre: float | None = None) -> tuple[float, float, int, int]:
    """(x0, y0, columns, rows) of the slice region.

    The full grid is width x width pixels; the rotation axis passes through pixel
    (`centre`, `centre`), width / 2 by default (UFO's and scikit-image's choice; ASTRA
    centres the volume at (width - 1) / 2).
    """
    roi_x, roi_y, roi_w, roi_h = roi
    cols = width - roi_x if roi_w is None else roi_w
    rows = width - roi_y if roi_h is None else roi_h
    centre = width / 2 if centre is None else centre
    return roi_x - centre, roi_y - centre, cols, rows


def outside_view(width: int, roi: tuple[int, int, int | None, int | None], centre: float | None = None,
                 axis: float | None = None) -> bool:
    """Whether the region lies wholly outside the field of view: the circle about the rotation
    axis that the detector's rays cross at every angle, of radius max(axis, width - axis) pixels.
    Such a region reconstructs to zeros and noise, which nobody asks for on purpose."""
    import math

    x0, y0, cols, rows = slice_grid(width, roi, centre)
    a = width / 2 if axis is None else axis
    radius = max(a, width - a) + 1  # a pixel of slack: pixels are squares, not points
    dx = max(x0, -(x0 + cols), 0.0)  # from the axis (the origin) to the nearest column of the region
    dy = max(y0, -(y0 + rows), 0.0)
    return math.hypot(dx, dy) > radius
