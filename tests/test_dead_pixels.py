"""Dead pixels filled from the good pixels of their rows (ufo.tomo.dead_pixels), against a pixel by
pixel reference; the end-to-end effect on slices is in tests/test_flat_starved.py."""

from __future__ import annotations

import numpy as np
import pytest

from ufo.tomo.dead_pixels import DeadFill


def _reference(values, dead):
    out = values.astype(np.float64).copy()
    for r, c in zip(*np.nonzero(dead)):
        good = np.flatnonzero(~dead[r])
        left, right = good[good < c], good[good > c]
        if left.size and right.size:
            a, b = left[-1], right[0]
            out[r, c] = values[r, a] * (b - c) / (b - a) + values[r, b] * (c - a) / (b - a)
        elif left.size:
            out[r, c] = values[r, left[-1]]
        elif right.size:
            out[r, c] = values[r, right[0]]
    return out


def _references(shape=(7, 40), seed=0):
    rng = np.random.default_rng(seed)
    dark = rng.uniform(90, 110, shape).astype(np.float32)
    flat = dark + rng.uniform(2000, 3000, shape).astype(np.float32)
    flat[0, 0] = dark[0, 0]  # at a row's start
    flat[1, -2:] = dark[1, -2:] - 5  # at its end, two
    flat[2, 10:15] = dark[2, 10:15]  # a cluster of 5
    flat[3, :] = dark[3, :]  # a whole row: nothing to fill from
    flat[4, 20] = np.nan  # not finite
    flat[5, [3, 5]] = dark[5, [3, 5]]  # two with one good between
    return dark, flat


def test_each_dead_pixel_is_the_linear_interpolation_of_its_rows_nearest_good_ones():
    dark, flat = _references()
    dead = ~(flat - dark > 0)
    values = np.random.default_rng(1).normal(size=(3,) + dark.shape).astype(np.float32)
    values[:, 3, :] = 0.5  # the constant fill of a whole dead row stays
    fill = DeadFill.of(dark, [flat])
    assert fill.count == dead.sum() - dark.shape[1]
    got = fill.apply(values.copy())
    for b in range(3):
        np.testing.assert_allclose(got[b], _reference(values[b], dead), rtol=1e-6, atol=1e-6)
    assert not np.allclose(got[:, 2, 10:15], values[:, 2, 10:15])  # something was filled
    np.testing.assert_array_equal(got[:, ~dead], values[:, ~dead])  # and nothing else touched


def test_pixels_dead_in_either_flat_are_filled_and_none_gives_no_plan():
    dark, flat = _references(seed=2)
    good = dark + 2500
    assert DeadFill.of(dark, [good]) is None
    assert DeadFill.of(dark, [np.full_like(dark, 50)]) is None  # all dead: nothing to fill from
    after = good.copy()
    after[6, 30] = dark[6, 30]
    fill = DeadFill.of(dark, [flat, after])
    marked = np.zeros(dark.shape, np.float32)
    marked[6, 29], marked[6, 31] = 2.0, 4.0
    assert fill.apply(marked)[6, 30] == pytest.approx(3.0)


def test_a_band_of_rows_seen_through_a_view_is_filled_in_place():
    """The engines correct bands of a frame's rows; the fill writes into the array it is given."""
    dark, flat = _references()
    values = np.random.default_rng(3).normal(size=(2,) + dark.shape).astype(np.float32)
    fill = DeadFill.of(dark[2:3], [flat[2:3]])
    band = values[:, 2:3, :]
    fill.apply(band)
    np.testing.assert_allclose(values[0, 2], _reference(values[0, 2:3], ~(flat[2:3] - dark[2:3] > 0))[0], rtol=1e-6)
