"""ufo.tomo.halftomo against closed forms: the tests that kill its mutants (docs/mutation.md).

The sinograms here are analytic: p(theta, t) = f(theta, t - axis) over the first half turn and
f(theta - pi, axis - t) over the second (a parallel beam sees the same line mirrored about the
axis half a turn later), with f smooth. A stitched half-acquisition sinogram must then be
f(theta, u - new_axis) pixel by pixel, which fixes its width, offset, axis and orientation; a
constant added to the second half turn shows the blend weights over the overlap directly.
"""

from __future__ import annotations

import numpy as np
import pytest

from ufo.tomo.halftomo import coverage, first_half, opposite, regular_angles, stitch, stitch_stack, stitched_geometry


def f(theta: np.ndarray, s: np.ndarray) -> np.ndarray:
    """A smooth projection: its value at signed distance s from the axis, angle theta in [0, pi)."""
    return 1.0 + 0.3 * np.cos(theta) + 0.02 * s * np.sin(theta) + 0.001 * s * s


def scan(width: int, axis: float, count: int = 16, second_offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A regular 360-degree scan of `count` angles: (sinogram, angles); `second_offset` is added
    to every row of the second half turn (an error the blend must fade in or out)."""
    angles = regular_angles(count, 2 * np.pi)
    t = np.arange(width, dtype=np.float64)
    rows = [f(th, t - axis) if th < np.pi - 1e-9 else f(th - np.pi, axis - t) + second_offset for th in angles]
    return np.array(rows, np.float32), angles


def test_halftomo_regular_angles_and_coverage_are_the_closed_forms():
    np.testing.assert_allclose(regular_angles(4), [0, np.pi / 4, np.pi / 2, 3 * np.pi / 4], atol=1e-15)
    np.testing.assert_allclose(regular_angles(5, 2.0, 0.5), 0.5 + 2.0 * np.arange(5) / 5, atol=1e-15)
    assert coverage(regular_angles(180)) == pytest.approx(np.pi, abs=1e-12)
    assert coverage(-regular_angles(90, 2 * np.pi)) == pytest.approx(2 * np.pi, abs=1e-12)  # descending
    assert coverage(np.array([0.0, 0.1, 0.3, 0.35])) == pytest.approx(0.35 + 0.1)  # extent + median step
    assert coverage(np.array([1.0])) == coverage(np.array([])) == pytest.approx(np.pi)
    assert coverage(np.array([0.0, 0.5])) == pytest.approx(1.0)  # two angles: their extent and step


def test_halftomo_first_half_counts_the_angles_within_a_half_turn():
    assert first_half(regular_angles(8, 2 * np.pi)) == 4
    assert first_half(-regular_angles(8, 2 * np.pi)) == 4
    assert first_half(1.0 + regular_angles(8, 2 * np.pi)) == 4
    assert first_half(regular_angles(10)) == 10  # a 180-degree scan is all one half turn
    # step 0.5: |theta| < pi - 0.25 = 2.89 holds for 0 .. 2.5, the first six
    assert first_half(np.arange(9) * 0.5) == 6
    assert first_half(np.array([0.0, 0.5, 1.0, 1.2, 2.7, 2.8])) == 6  # median step 0.5 -> 2.89 covers 2.8
    assert first_half(np.array([0.0, 0.5, 1.0, 1.2, 2.7, 2.95])) == 5
    assert first_half(np.array([2.0])) == 1 and first_half(np.array([])) == 0
    assert first_half(np.array([0.0, 4.0])) == 1  # step 4: pi - 2 excludes the second
    # exactly half a step short of a half turn: its opposite would lie half a step beyond the
    # scan's end, so it belongs to the second half turn (strictly within)
    edge = np.concatenate([np.arange(6) * 0.5, [np.pi - 0.25], np.pi + 0.25 + np.arange(7) * 0.5])
    assert first_half(edge) == 6


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_halftomo_opposite_rows_interpolate_linearly_in_angle(sign):
    """Rows linear in angle are interpolated exactly: the opposite of theta holds theta + pi."""
    step = 2 * np.pi / 16
    turned = 0.2 + step * np.arange(15)  # 360 degrees less a step; the second half turn 0.1 later:
    turned[8:] += 0.1  # theta + pi falls between its rows, before the first and after the last
    angles = sign * turned
    columns = np.arange(1, 5, dtype=np.float64)
    sino = np.outer(turned, columns)
    first, second = opposite(sino, angles)
    assert first_half(angles) == 8 and first.shape == second.shape == (8, 4)
    np.testing.assert_array_equal(first, sino[:8])
    expected = np.outer(turned[:8] + np.pi, columns)
    expected[0], expected[-1] = sino[8], sino[-1]  # outside the measured ones: the nearest end row
    np.testing.assert_allclose(second, expected, rtol=1e-12)


def test_halftomo_opposite_sorts_the_second_half_and_refuses_a_half_turn():
    angles = regular_angles(16, 2 * np.pi)
    order = np.array([0, 1, 2, 3, 4, 5, 6, 7, 9, 8, 10, 11, 13, 12, 14, 15])  # the second half out of order
    sino = np.outer(angles, [1.0, 2.0])
    _, second = opposite(sino[order], angles[order])
    np.testing.assert_allclose(second, np.outer(angles[:8] + np.pi, [1.0, 2.0]), rtol=1e-12)
    jitter = regular_angles(16, 2 * np.pi)
    jitter[1] = -0.01  # the second angle read a hair behind the first (backlash): still an increasing scan
    _, second = opposite(np.outer(jitter, [1.0, 2.0]), jitter)
    expected = np.outer(jitter[:8] + np.pi, [1.0, 2.0])
    expected[1] = [np.pi, 2 * np.pi]  # pi - 0.01 lies before the second half turn: its first row
    np.testing.assert_allclose(second, expected, rtol=1e-12)
    step = np.arange(8) * 0.5  # first half 6 of 8: two rows after it are enough
    np.testing.assert_allclose(opposite(np.outer(step, [1.0]), step)[1], [[np.pi]] + [[3.5]] * 5)
    with pytest.raises(ValueError, match=r"covers 200\.5 degrees: no opposite"):
        opposite(np.zeros((7, 3)), np.arange(7) * 0.5)  # first half 6 of 7: one row after it
    with pytest.raises(ValueError, match="360-degree scan is needed"):
        opposite(np.zeros((10, 3)), regular_angles(10))


@pytest.mark.parametrize("width,axis,expected", [
    (10, 2.0, (15, 5, 7.0)), (10, 2.3, (14, 4, 6.3)), (10, 7.0, (15, 0, 7.0)), (10, 4.5, (10, 0, 4.5)),
    (10, 4.4, (10, 0, 4.4)), (10, 4.6, (10, 0, 4.6)), (32, 0.5, (62, 30, 30.5))])
def test_halftomo_stitched_geometry_spans_both_footprints(width, axis, expected):
    """Hand-computed: the projection covers [offset, offset + width - 1], its mirror
    [2 axis + offset - (width - 1), 2 axis + offset]; the union starts at 0."""
    total, offset, new_axis = stitched_geometry(width, axis)
    assert (total, offset) == expected[:2] and new_axis == pytest.approx(expected[2])
    assert min(offset, np.ceil(2 * axis + offset - (width - 1) - 1e-9)) == 0
    assert total - 1 == max(offset + width - 1, np.floor(2 * axis + offset))


@pytest.mark.parametrize("axis", [7.5, 23.5, 7.3, 24.2, 15.5, 16.2])
def test_halftomo_stitch_equals_the_wide_sinogram_and_blends_linearly(axis):
    width = 32
    sino, angles = scan(width, axis)
    half = stitch(sino, axis, angles)
    total, offset, new_axis = stitched_geometry(width, axis)
    assert half.axis == pytest.approx(new_axis) and half.sinogram.shape == (8, total)
    np.testing.assert_array_equal(half.angles, angles[:8])
    u = np.arange(total, dtype=np.float64)
    reference = np.array([f(th, u - new_axis) for th in angles[:8]])
    if 2 * axis == int(2 * axis):  # the mirror falls on whole pixels: no interpolation
        np.testing.assert_allclose(half.sinogram, reference, atol=2e-6)
    else:  # a cubic spline: its 'nearest' boundary costs ~4e-3 within 3 pixels of the detector's ends
        t2 = 2 * axis + offset - u
        inner = (t2 < -1) | (t2 > width) | ((t2 > 3) & (t2 < width - 4))
        np.testing.assert_allclose(half.sinogram[:, inner], reference[:, inner], atol=2e-4)
        np.testing.assert_allclose(half.sinogram, reference, atol=1e-2)

    # a constant error in the second half turn shows its weight: 1 where only the mirror sees,
    # 0 where only the projection at theta sees, linear over the overlap in between
    raised = stitch(scan(width, axis, second_offset=1.0)[0], axis, angles).sinogram - half.sinogram
    mirror_lo, mirror_hi = 2 * axis + offset - (width - 1), 2 * axis + offset
    lo, hi = max(offset, np.ceil(mirror_lo - 1e-6)), min(offset + width - 1, np.floor(mirror_hi + 1e-6))
    if axis <= (width - 1) / 2:  # the mirror lies left (at the centre too: it fully overlaps)
        weight = np.clip((hi - u) / (hi - lo), 0, 1)
    else:
        weight = np.clip((u - lo) / (hi - lo), 0, 1)
    np.testing.assert_allclose(raised, np.broadcast_to(weight, raised.shape), atol=2e-6)


def test_halftomo_an_overlap_of_one_pixel_and_of_two():
    """Axis 0.25 from the edge: one overlapping column; 0.5: two, weighted 1 and 0."""
    width = 16
    for axis, overlap in ((0.25, [1.0]), (0.5, [1.0, 0.0]), (width - 1.5, [0.0, 1.0])):
        sino, angles = scan(width, axis, second_offset=1.0)
        plain = stitch(scan(width, axis)[0], axis, angles)
        raised = stitch(sino, axis, angles).sinogram - plain.sinogram
        _, offset, new_axis = stitched_geometry(width, axis)
        both = [u for u in range(raised.shape[1]) if 0 <= u - offset <= width - 1 and
                -1e-6 <= 2 * axis + offset - u <= width - 1 + 1e-6]
        np.testing.assert_allclose(raised[0, both], overlap, atol=1e-6)
        assert plain.axis == pytest.approx(new_axis)


def test_halftomo_stitch_refuses_an_axis_off_the_detector_and_a_wrong_shape():
    sino, angles = scan(16, 4.0)
    for axis in (0.0, 15.0, -1.0, 20.0):
        with pytest.raises(ValueError, match=rf"axis {axis} lies outside the detector \(0 \.\. 15\)"):
            stitch(sino, axis, angles)
    stitch(sino, 14.9, angles)
    stitch(sino, 0.1, angles)
    with pytest.raises(ValueError, match="one angle per row"):
        stitch(sino, 4.0, angles[:-1])
    with pytest.raises(ValueError, match="one angle per row"):
        stitch(sino[None], 4.0, angles)


def test_halftomo_stitch_stack_is_stitch_per_sinogram():
    width, axis = 24, 5.5
    one, angles = scan(width, axis)
    two = scan(width, axis, second_offset=0.5)[0]
    single = stitch(one, axis, angles)
    stitched, new_axis, first_angles = stitch_stack(one, axis, angles)
    np.testing.assert_array_equal(stitched, single.sinogram)
    assert new_axis == single.axis and np.array_equal(first_angles, single.angles)
    stack, new_axis, first_angles = stitch_stack(np.stack([one, two]), axis, angles)
    np.testing.assert_array_equal(stack[0], single.sinogram)
    np.testing.assert_array_equal(stack[1], stitch(two, axis, angles).sinogram)
    assert stack.shape == (2, *single.sinogram.shape) and new_axis == single.axis
    np.testing.assert_array_equal(first_angles, angles[:8])
    stack, new_axis, _ = stitch_stack(one[None], axis, angles)  # a stack of one
    np.testing.assert_array_equal(stack[0], single.sinogram)
    assert new_axis == single.axis
