"""ufo.kernels.median/convert/spots/wedge and ufo.tomo.rings/outliers against independent references
(scipy.ndimage, numpy written out step by step): the tests of their mutation run (docs/mutation.md).

Small arrays with many ties (values from a few integers), windows larger than a row, values on
every branch of the integer conversion. Names start with the module (`median_`, `convert_`,
`spots_`, `rings_`, `outliers_`, `wedge_`), which is how benchmarks/mutation.sh selects them.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import ndimage

from ufo.kernels.convert import scale_to_integers
from ufo.kernels.median import median_2d, median_rows
from ufo.kernels.spots import grow_mask
from ufo.kernels.wedge import one_weight_fits, one_weight_problem, wedge_limit
from ufo.tomo.outliers import limit_of, remove_outliers
from ufo.tomo.rings import remove_stripes_sorting


def ties(shape, seed=0, levels=5):
    """float32 values from `levels` integers: sorted windows hold many equal values."""
    return np.random.default_rng(seed).integers(0, levels, shape).astype(np.float32)


# -- ufo/kernels/median.py ----------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 3, 5, 9, 15])
def test_median_rows_equal_scipy_with_reflected_borders(size):
    for data in (ties((4, 11)), np.random.default_rng(1).random((3, 11)).astype(np.float32)):
        out = np.full_like(data, np.nan)
        assert median_rows(data, size, out) is out
        np.testing.assert_array_equal(out, ndimage.median_filter(data, size=(1, size), mode="reflect"))


@pytest.mark.parametrize("size", [3, 5, 9])
def test_median_rows_leave_nan_out_of_every_window(size):
    """A NaN was never found when it left the window: a number went in its place, the NaN stayed,
    and 63 of a row's 64 medians were wrong after it (remove-stripes: NaN across the row)."""
    data = np.random.default_rng(4).random((3, 40)).astype(np.float32)
    data[0, 10], data[1, [5, 6]], data[2, 20:20 + size] = np.nan, np.nan, np.nan
    out = median_rows(data, size, np.empty_like(data))
    padded = np.pad(data, ((0, 0), (size // 2, size // 2)), mode="symmetric")
    windows = np.lib.stride_tricks.sliding_window_view(padded, size, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "All-NaN slice": NaN there, as the kernel gives
        np.testing.assert_allclose(out, np.nanmedian(windows, axis=-1), rtol=1e-6)  # NaN only where all are


@pytest.mark.parametrize("size", [3, 4, 5])  # 4: an even window, the median taken at index n // 2
@pytest.mark.parametrize("shape", [(7, 9), (9, 6)])
def test_median_2d_equals_scipy_with_reflected_borders(size, shape):
    for data in (ties(shape, 2), np.random.default_rng(3).random(shape).astype(np.float32)):
        out = np.full_like(data, np.nan)
        assert median_2d(data, size, out) is out
        np.testing.assert_array_equal(out, ndimage.median_filter(data, size=size, mode="reflect"))


_BOUNDS_SCRIPT = """
import numpy as np
from scipy import ndimage
from ufo.kernels.convert import scale_to_integers
from ufo.kernels.median import median_2d, median_rows
from ufo.kernels.spots import grow_mask

data = np.random.default_rng(0).integers(0, 5, (6, 9)).astype(np.float32)
for size in (1, 3, 5, 9, 21):
    expected = ndimage.median_filter(data, size=(1, size), mode="reflect")
    assert np.array_equal(median_rows(data, size, np.empty_like(data)), expected), size
for size in (3, 5):
    expected = ndimage.median_filter(data, size=size, mode="reflect")
    assert np.array_equal(median_2d(data, size, np.empty_like(data)), expected), size
holed = data.copy()
holed[2, 4] = np.nan  # a NaN is never found as the leaving value: the search runs to the window's end
smoothed = median_rows(holed, 5, np.empty_like(holed))
rows = [0, 1, 3, 4, 5]
assert np.array_equal(smoothed[rows], ndimage.median_filter(data, size=(1, 5), mode="reflect")[rows])
mask = np.ones(data.shape, bool)  # every pixel queued at once: the queue's whole length
assert grow_mask(data, mask, np.float32(0.5)).all()
out = np.empty(data.size, np.uint8)
scale_to_integers(data.reshape(-1), np.float32(0), np.float32(50), np.float32(255), out)
assert np.array_equal(out, np.clip(data.reshape(-1) * 50, 0, 255))
print("inside")
"""


def test_median_spots_convert_kernels_stay_inside_their_arrays(tmp_path):
    """numba does not check indices: a kernel reading or writing past an array's end can still give
    the right values. With NUMBA_BOUNDSCHECK=1 (a fresh process and cache) it raises IndexError."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", _BOUNDS_SCRIPT], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "inside", result.stderr[-2000:]


# -- ufo/kernels/convert.py ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype,top", [(np.uint8, 255), (np.uint16, 65535)])
def test_convert_scale_to_integers_equals_numpy_in_float32(dtype, top):
    """(v - lo) x scale rounded half to even, clipped to [0, top]; NaN and -inf 0, +inf top."""
    lo, scale = np.float32(-1.0), np.float32(top / 4.0)
    special = np.array([np.nan, np.inf, -np.inf, -1.0, -1.5, 3.0, 3.5, 40.0, lo + 0.75 / scale, lo + 1 / scale],
                       np.float32)  # ... and values that scale to 0.75 and 1: both round to 1
    halves = ((np.arange(12, dtype=np.float32) + 0.5) / scale + lo).astype(np.float32)  # ties to even
    values = np.concatenate([special, halves, np.linspace(-2, 4, 61, dtype=np.float32)])
    scaled = (values - lo) * scale
    expected = np.clip(np.rint(np.nan_to_num(scaled, nan=0, posinf=top, neginf=0)), 0, top).astype(dtype)
    out = np.full(values.shape, 7, dtype)
    scale_to_integers(values, lo, scale, np.float32(top), out)
    np.testing.assert_array_equal(out, expected)
    assert out[0] == 0 and out[1] == top and out[2] == 0 and out[3] == 0 and out[5] == top and out[8] == out[9] == 1


# -- ufo/kernels/spots.py -----------------------------------------------------------------------------
def _shifted(a, dr, dc, fill):
    """a moved by (dr, dc) without wrapping: out[r, c] = a[r - dr, c - dc], `fill` where that is outside."""
    out = np.full_like(a, fill)
    rows, cols = a.shape
    out[max(dr, 0): rows + min(dr, 0), max(dc, 0): cols + min(dc, 0)] = \
        a[max(-dr, 0): rows + min(-dr, 0), max(-dc, 0): cols + min(-dc, 0)]
    return out


def _grown_by_rings(data, mask, threshold):
    """UFO's way: one ring per pass over the whole frame until nothing changes (numpy, float64)."""
    values = data.astype(np.float64)
    inner = np.zeros_like(mask)
    inner[1:-1, 1:-1] = True
    while True:
        grown = mask.copy()
        for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            near = _shifted(mask, dr, dc, False) & (np.abs(values - _shifted(values, dr, dc, np.nan)) > threshold)
            grown |= inner & near
        if np.array_equal(grown, mask):
            return mask
        mask = grown


@pytest.mark.parametrize("threshold", [0.5, 1.0, 1.5, 2.5])  # 1.0: integer steps of exactly 1 stay out
def test_spots_grow_mask_reaches_the_ring_by_ring_fixpoint(threshold):
    data = ties((9, 12), 4, levels=6)
    seeds = np.zeros(data.shape, bool)
    seeds[[0, 4, 8, 3], [5, 6, 0, 11]] = True  # two seeds on the outer border, one inside, one on the edge
    expected = _grown_by_rings(data, seeds, threshold)
    mask = seeds.copy()
    assert grow_mask(data, mask, np.float32(threshold)) is mask
    np.testing.assert_array_equal(mask, expected)
    assert mask.sum() > seeds.sum() or threshold == 2.5


def test_spots_grow_mask_never_enters_the_outer_rows_and_columns():
    data = np.zeros((6, 7), np.float32)
    data[1:-1, 1:-1] = 10.0  # every border pixel differs from its inner neighbour
    mask = np.zeros(data.shape, bool)
    mask[2, 2] = True
    grow_mask(data, mask, np.float32(1.0))
    assert mask.sum() == 1  # all inner neighbours equal: nothing joins
    data[2, 3] = 0.0
    seeds = mask.copy()
    grow_mask(data, mask, np.float32(1.0))
    np.testing.assert_array_equal(mask, _grown_by_rings(data, seeds, 1.0))
    assert mask.sum() == 5  # (2, 3), then its inner neighbours (1, 3), (3, 3), (2, 4)
    assert not mask[0].any() and not mask[-1].any() and not mask[:, 0].any() and not mask[:, -1].any()


# -- ufo/tomo/rings.py --------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [3, 4, 9])
def test_rings_sorting_equals_vos_algorithm_step_by_step(size):
    """Sort each column along the angles (stable), median across columns (odd size, reflected), unsort."""
    sino = ties((12, 10), 5, levels=7) + np.linspace(0, 0.5, 10, dtype=np.float32)  # stripes and ties
    order = np.argsort(sino, axis=0, kind="stable")
    ranked = np.take_along_axis(sino, order, axis=0)
    smoothed = ndimage.median_filter(ranked, size=(1, size | 1), mode="reflect")
    expected = np.empty_like(sino)
    np.put_along_axis(expected, order, smoothed, axis=0)
    out = np.full_like(sino, np.nan)
    assert remove_stripes_sorting(sino, size, out=out) is out
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(remove_stripes_sorting(sino.astype(np.float64), size), expected)


def test_rings_default_window_is_21_columns():
    sino = ties((6, 40), 8, levels=9)
    order = np.argsort(sino, axis=0, kind="stable")
    smoothed = ndimage.median_filter(np.take_along_axis(sino, order, axis=0), size=(1, 21), mode="reflect")
    expected = np.empty_like(sino)
    np.put_along_axis(expected, order, smoothed, axis=0)
    np.testing.assert_array_equal(remove_stripes_sorting(sino), expected)


# -- ufo/tomo/outliers.py -----------------------------------------------------------------------------
def _outliers_reference(data, size, threshold, unit, sign):
    median = ndimage.median_filter(data, size=size, mode="reflect")
    diff = data.astype(np.float64) - median
    limit = threshold
    if unit == "sigma":  # each row's robust sigma: a slice does not depend on the rows read with it
        mad = np.median(np.abs(diff), axis=-1, keepdims=True)
        std = np.std(diff, axis=-1, keepdims=True)
        limit = threshold * 1.4826 * np.where(mad > 0, mad, np.where(std > 0, std, 1.0))
    bad = {"bright": diff > limit, "dark": diff < -limit, "both": np.abs(diff) > limit}[sign]
    return np.where(bad, median, data), bad


@pytest.mark.parametrize("sign", ["both", "bright", "dark"])
@pytest.mark.parametrize("unit,threshold", [("sigma", 3.0), ("absolute", 0.5)])
def test_outliers_replace_what_lies_beyond_the_threshold(sign, unit, threshold):
    rng = np.random.default_rng(6)
    frame = (1.0 + 0.1 * rng.standard_normal((10, 96))).astype(np.float32)  # rows of 96: a robust sigma each
    frame[2, 3], frame[7, 8], frame[5, 5] = 5.0, -3.0, 1.35  # a zinger, a dead pixel, a mild one
    expected, bad = _outliers_reference(frame, 3, threshold, unit, sign)
    assert bad[2, 3] if sign != "dark" else bad[7, 8]  # the zinger (or the dead pixel) is among them
    assert bad.sum() <= 0.03 * bad.size
    out = np.full_like(frame, np.nan)
    assert remove_outliers(frame, 3, threshold, unit, sign, out=out) is out
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    stack = np.stack([frame, frame[::-1]])  # 3-D: scipy's median over the whole volume
    expected3, _ = _outliers_reference(stack, 3, threshold, unit, sign)
    np.testing.assert_allclose(remove_outliers(stack, 3, threshold, unit, sign), expected3, rtol=1e-6)


@pytest.mark.parametrize("d", [3.0, 0.3])  # a spread std(diff) near 1 (0.99) and far below it (0.099)
def test_outliers_spread_falls_back_to_the_standard_deviation(d):
    """One pixel d off a flat frame: its row's MAD is 0, the spread std(diff) = d sqrt(7) / 8, so
    the pixel is replaced iff threshold < 8 / (1.4826 sqrt(7)) = 2.04, whatever d."""
    frame = np.ones((8, 8), np.float32)
    frame[3, 3] = 1.0 + d
    np.testing.assert_array_equal(remove_outliers(frame, 3, 2.0), np.ones((8, 8), np.float32))
    np.testing.assert_array_equal(remove_outliers(frame, 3, 2.1), frame)
    np.testing.assert_array_equal(remove_outliers(np.ones((8, 8), np.float32), 3, 5.0), np.ones((8, 8)))
    ramp = np.ones((8, 8), np.float32)
    ramp[1, 1], ramp[1, 5] = 3.0, 1.2  # one row: its std tells them apart
    expected, bad = _outliers_reference(ramp, 3, 1.0, "sigma", "both")
    assert bad[1, 1] and not bad[1, 5]
    np.testing.assert_allclose(remove_outliers(ramp, 3, 1.0), expected, rtol=1e-6)
    np.testing.assert_allclose(remove_outliers(ramp, 5, 0.2, "absolute", "bright"),
                               _outliers_reference(ramp, 5, 0.2, "absolute", "bright")[0], rtol=1e-6)


def test_outliers_exactly_at_the_threshold_stay_and_the_defaults_are_3_pixels_5_sigma():
    """Integer data, an absolute threshold of 2: a pixel 2 from its median stays, 3 away goes."""
    frame = np.full((7, 7), 10.0, np.float32)
    frame[2, 2], frame[4, 4] = 12.0, 7.0  # +2 (stays), -3 (goes)
    frame[2, 5] = 13.0  # +3 (goes)
    for sign, gone in (("both", [(4, 4), (2, 5)]), ("bright", [(2, 5)]), ("dark", [(4, 4)])):
        expected = frame.copy()
        for r, c in gone:
            expected[r, c] = 10.0
        np.testing.assert_array_equal(remove_outliers(frame, 3, 2.0, "absolute", sign), expected)
        frame_low = frame.copy()
        frame_low[4, 4] = 8.0  # -2: stays for every sign
        np.testing.assert_array_equal(remove_outliers(frame_low, 3, 2.0, "absolute", sign)[4, 4], 8.0)
    rng = np.random.default_rng(11)
    noisy = (1.0 + 0.1 * rng.standard_normal((12, 96))).astype(np.float32)
    for _ in range(6):  # about 5.5 of its row's robust sigma from its median: between 5 and 6
        diff = noisy - ndimage.median_filter(noisy, size=3, mode="reflect")
        noisy[8, 8] += 5.5 * 1.4826 * np.median(np.abs(diff[8])) - diff[8, 8]
    expected, bad = _outliers_reference(noisy, 3, 5.0, "sigma", "both")
    assert bad[8, 8] and not _outliers_reference(noisy, 3, 6.0, "sigma", "both")[1][8, 8]
    np.testing.assert_array_equal(remove_outliers(noisy), expected)  # replaced by its 3 x 3 median


def test_outliers_limit_of_each_row_counts_its_finite_differences_only():
    """limit_of on its own, (2, 5, 40) float64 differences: each row's limit is threshold x 1.4826 x
    the median |diff| of its finite values (NaN: a detector gap; inf: a hot pixel), the standard
    deviation of them where that median is 0, and inf for a row of no finite value."""
    diff = np.random.default_rng(12).standard_normal((2, 5, 40))
    diff[0, 1, ::3] = np.nan
    diff[1, 4, 7] = np.inf
    diff[1, 2] = np.nan
    diff[0, 3] = 0.0
    diff[0, 3, [5, 9]] = 0.5, -1.5  # MAD 0: the standard deviation of the row's finite values
    expected = np.empty((2, 5, 1))
    for index in np.ndindex(2, 5):
        finite = diff[index][np.isfinite(diff[index])]
        mad = np.median(np.abs(finite)) if finite.size else np.nan
        expected[index] = np.inf if not finite.size else 4.0 * 1.4826 * (mad if mad > 0 else np.std(finite))
    assert expected[0, 3, 0] == pytest.approx(4.0 * 1.4826 * np.sqrt(2.5 / 40 - (1 / 40) ** 2))
    got = limit_of(diff, 4.0)
    assert got.shape == (2, 5, 1)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(limit_of(diff[0, 2:], 4.0), expected[0, 2:], rtol=1e-12)  # all finite: the median
    assert limit_of(diff, 4.0, "absolute") == 4.0


# -- ufo/kernels/wedge.py -----------------------------------------------------------------------------
def test_wedge_limit_is_3_typical_gaps_and_at_least_5_degrees():
    """wedge_limit = max(3 typical gaps, 5 degrees), and angle_weights follows it: at 1-degree steps a
    5.5-degree gap is a missing wedge (its neighbours take their other gap, weight 0.5 degree), at
    2-degree steps a 7-degree gap is one, a 5.5-degree gap is covered ((2 + 5.5) / 4 each)."""
    from ufo.kernels.backproject import angle_weights

    np.testing.assert_allclose(wedge_limit(np.radians(1.0)), np.radians(5.0), rtol=1e-15)
    np.testing.assert_allclose(wedge_limit(np.radians(2.0)), np.radians(6.0), rtol=1e-15)
    for step, start, around in ((1, 94.5, 0.5), (2, 95, 1.0), (2, 93.5, 1.875)):  # gaps of 5.5, 7, 5.5 after 89, 88, 88
        first = np.arange(0, 90, step)
        degrees = np.concatenate([first, np.arange(start, 180, step)])
        gaps = np.diff(np.append(degrees, 180.0))  # the last one wraps to 0
        expected = np.full(len(degrees), step / 2)
        expected[0] = expected[-1] = (step + gaps[-1]) / 4
        expected[len(first) - 1:len(first) + 1] = around
        np.testing.assert_allclose(np.degrees(angle_weights(np.radians(degrees))), expected, rtol=1e-9)


def test_wedge_one_weight_fits_up_to_a_half_turn_and_whole_half_turns_within_1e_6():
    """Any span up to a half turn fits, even one a millionth short of it (below pi / (1 + 1e-6) the
    whole-number test alone would refuse it); above, a whole number of half turns within 1e-6 of
    the span (a step rounded to 7 digits), not 2e-6 off; spans of no finite number are left to others."""
    for n, span in ((1, 0.3), (180, np.pi * (1 - 0.9999995e-6)), (180, np.pi), (180, np.pi * (1 + 0.9e-6))):
        assert one_weight_fits(n, span / n) and one_weight_fits(n, -span / n), span
    for n, half_turns in ((360, 2), (540, 3), (3600, 20)):
        step = half_turns * np.pi / n
        assert one_weight_fits(n, step * (1 + 5e-7)) and one_weight_fits(n, -step * (1 - 5e-7))
        assert not one_weight_fits(n, step * (1 + 2e-6)) and not one_weight_fits(n, step * (1 - 2e-6))
    assert one_weight_fits(180, np.nan) and one_weight_fits(180, np.inf)


def test_wedge_one_weight_problem_says_what_the_scan_covers():
    assert one_weight_problem(180, np.pi / 180) is None and one_weight_problem(720, -np.pi / 360) is None
    for step in (0.5, -0.5):
        problem = one_weight_problem(540, np.radians(step))
        assert problem.startswith("540 projections 0.5 degrees apart cover 270 degrees, more than a half turn"), problem
