"""ufo.tomo.flat_runs against numpy written out: the tests its mutation run (docs/mutation.md)
showed missing. Names start with `flat_runs_`, which is how benchmarks/mutation.sh selects them.
"""

from __future__ import annotations

import numpy as np
import pytest

from ufo.tomo.flat_runs import FlatRuns, split_runs


def test_flat_runs_refuses_a_centre_without_its_flat_and_no_runs_at_all():
    flat = np.ones((2, 3), np.float32)
    for centres, flats in (([1.0, 2.0], [flat]), ([1.0], [flat, flat]), ([], [])):
        with pytest.raises(ValueError, match="one centre per reduced flat"):
            FlatRuns(centres, flats)
    assert len(FlatRuns([4.0], [flat])) == 1


def test_flat_runs_interpolate_each_pixel_as_numpy_interp_and_leave_the_flats_as_they_were():
    """Four runs given out of order, float32 frames: at every place (the ends, the centres, between,
    beyond) each pixel is np.interp of the runs' centres in float64 (constant past the ends)."""
    rng = np.random.default_rng(7)
    centres = [130.5, 1.5, 260.0, 64.0]
    flats = [rng.uniform(500, 1500, (3, 5)).astype(np.float32) for _ in centres]
    kept = [f.copy() for f in flats]
    runs = FlatRuns(centres, flats)
    assert runs.centres == sorted(centres) and len(runs) == 4
    order = np.argsort(centres)
    stack = np.stack([flats[i] for i in order]).astype(np.float64)
    for place in (-3.0, 1.5, 2.0, 33.0, 64.0, 64.25, 100.0, 130.5, 200.0, 259.9, 260.0, 1e4):
        got = runs.at(place)
        assert got.dtype == np.float32 and got.shape == (3, 5)
        want = np.array([np.interp(place, sorted(centres), stack[:, r, c]) for r, c in np.ndindex(3, 5)]).reshape(3, 5)
        np.testing.assert_allclose(got, want, rtol=2e-6)
        k, w = runs.weights(place)
        assert 0 <= w < 1 and sorted(centres)[k] <= max(place, 1.5)
    for f, k in zip(flats, kept):  # at() writes a new frame, never into a flat
        np.testing.assert_array_equal(f, k)


def test_flat_runs_split_where_positions_are_not_consecutive():
    assert split_runs([]) == []
    assert split_runs([7]) == [[0]]
    assert split_runs([3, 4, 5]) == [[0, 1, 2]]
    assert split_runs([0, 2, 4]) == [[0], [1], [2]]
    assert split_runs([5, 5, 6]) == [[0], [1, 2]]  # the same position twice is not consecutive
