"""ufo.tomo.fbp: the tests its second mutation run showed missing (docs/mutation.md).

References are closed forms worked by hand and numpy in float64, not the functions under test;
names start with `fbp_`, which is how benchmarks/mutation.sh selects them.
"""

from __future__ import annotations

import numpy as np
import pytest

from ufo.tomo.fbp import filter_rows, slices_per_batch
from ufo.tomo.filters import fbp_filter


def test_fbp_edge_padding_filters_each_sinogram_of_a_stack_along_its_rows():
    """(K, angles, width) with edge padding: each row padded with its own end values, centred in
    the 128-point row, as numpy's pad does it row by row in float64."""
    width, size = 40, 128
    stack = np.random.default_rng(3).random((2, 5, width)) + np.linspace(0, 3, width)  # uneven ends
    left = (size - width) // 2
    reference = np.empty_like(stack)
    for index in np.ndindex(stack.shape[:2]):
        row = np.pad(stack[index], (left, size - width - left), mode="edge")
        reference[index] = np.fft.irfft(np.fft.rfft(row) * fbp_filter(size, "hann"), n=size)[left: left + width]
    ours = filter_rows(stack.astype(np.float32), "hann", padding="edge")
    np.testing.assert_allclose(ours, reference, atol=2e-6 * np.abs(reference).max())


SLICE = 4 * (3 * 100 * 100 + 2 * 100 * 100)  # bytes a slice takes: sinogram x 3 (with copies), slice x 2


@pytest.mark.parametrize("fits,most,expected", [
    (1000, None, 64), (1000, 40, 40), (64, None, 64), (63, None, 32), (40, None, 32), (32, None, 32),
    (31, None, 31), (5, None, 5), (1, None, 1), (0, None, 1),
])
def test_fbp_slices_per_batch_is_the_closed_form(fits, most, expected):
    """K: a multiple of 32 up to `most` (64) while the batch takes at most 1/8 of the memory; below
    32 slices, as many as fit (at least one). `fits` = memory / 8 / bytes a slice."""
    extra = {} if most is None else {"most": most}
    for memory in (8 * SLICE * fits, 8 * SLICE * (fits + 1) - 1):  # the floor of memory / 8 / slice
        got = slices_per_batch(100, 100, 100, 100, memory=memory, **extra)
        assert got == expected and isinstance(got, int), (memory, got)


def test_fbp_filter_rows_into_an_out_of_another_dtype_or_layout():
    """`out` float64 or a non-contiguous view: filtered into a float32 buffer, then copied into `out`,
    which is returned (numpy float64 reference)."""
    width, size = 40, 128
    rows = np.random.default_rng(5).random((6, width))
    reference = np.fft.irfft(np.fft.rfft(rows, n=size) * fbp_filter(size, "ramp"), n=size)[:, :width]
    as_float64 = np.full((6, width), np.nan)
    assert filter_rows(rows.astype(np.float32), out=as_float64) is as_float64
    np.testing.assert_allclose(as_float64, reference, atol=2e-6 * np.abs(reference).max())
    holder = np.full((6, 2 * width), np.nan, np.float32)
    view = holder[:, ::2]  # every other column: not contiguous
    assert filter_rows(rows.astype(np.float32), out=view) is view
    np.testing.assert_allclose(holder[:, ::2], reference, atol=2e-6 * np.abs(reference).max())
    assert np.isnan(holder[:, 1::2]).all()
