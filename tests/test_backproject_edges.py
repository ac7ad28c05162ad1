"""The back-projection kernels at the detector's edges (`ufo.kernels.backproject._edge`), named
test_backproject_* so that benchmarks/mutation.sh's backproject selection runs them."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("stacked", [False, True], ids=["single", "stacked"])
def test_backproject_a_column_that_rounds_onto_the_first_pixel_sees_that_pixel(stacked):
    """A column the float64 ranges put off the detector whose float32 position is exactly 0: the edge
    was chosen by the sign of the position and the far edge taken with a weight of `width` (4000 for
    1, 40 x the last pixel; mutation testing found it, 16 in 200 000 positions near an edge)."""
    from ufo.kernels.backproject import backproject_slice, backproject_stack

    width = 40
    sino = np.zeros((1, width), np.float32)
    sino[0, 0], sino[0, -1] = 1.0, 100.0
    cos_, sin_ = np.array([0.43867588], np.float32), np.zeros(1, np.float32)
    axis = np.float32(-1.316027641)
    t = axis + np.arange(8, dtype=np.float32) * cos_[0]  # the positions the kernels compute, float32
    expected = np.interp(t.astype(np.float64), np.arange(-1, width + 1), np.r_[0, sino[0], 0])  # zero past the edges
    if stacked:
        out = np.zeros((1, 8, 1), np.float32)
        backproject_stack(sino[..., None].copy(), cos_, sin_, axis, np.float32(0), np.float32(0), np.float32(1), out)
        out = out[..., 0]
    else:
        out = np.zeros((1, 8), np.float32)
        backproject_slice(sino, cos_, sin_, axis, np.float32(0), np.float32(0), np.float32(1), out)
    assert t[3] == 0.0  # the case itself
    np.testing.assert_allclose(out[0], expected, atol=1e-6)
