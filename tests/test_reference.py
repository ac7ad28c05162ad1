"""The reference behind every reconstruction test (tests/reference.py) checked on its own: it
reconstructs the phantom where the phantom is, and its tolerance rejects the wrong answers that
ufo's own FBP gives with a wrong axis, mirrored angles or a wrong scale."""

from __future__ import annotations

import numpy as np
import pytest

from ufo.tomo.fbp import fbp
from ufo.tomo.phantom import Phantom

from .reference import assert_matches, disk, iradon_slice, line_integrals, position, rmse

W, N, MU = 96, 120, 0.01
AXIS = W / 2 + 1.7
THETA = np.arange(N) * np.pi / N


@pytest.fixture(scope="module")
def noisy():
    """Line integrals of the phantom with the noise of about 3000 counts, and the true slice."""
    phantom = Phantom(W)
    sino = MU * phantom.sinogram(THETA, AXIS) + np.random.default_rng(2).normal(0, 0.002, (N, W))
    return sino, MU * phantom.slice()


def test_line_integrals_are_the_closed_form():
    transmission = np.array([[[0.5, 0.25]]])
    darks, flats = np.full((2, 1, 2), 100.0), np.full((3, 1, 2), 2100.0)
    np.testing.assert_allclose(line_integrals(100 + 2000 * transmission, darks, flats), -np.log(transmission),
                               rtol=1e-12)


def test_the_reference_slice_is_the_phantom_where_the_phantom_is():
    phantom = Phantom(W)
    truth = phantom.slice()
    image = iradon_slice(phantom.sinogram(THETA, AXIS), THETA, AXIS)
    mask = disk(W)
    assert rmse(image, truth, mask) < 0.1 * truth.max()  # FBP's error at the phantom's edges, 96 px
    assert np.abs(position(image, truth)).max() <= 0.05
    for wrong in (image[:, ::-1], image[::-1], image.T):
        assert rmse(wrong, truth, mask) > 1.5 * rmse(image, truth, mask)


def test_ufo_fbp_passes_and_its_wrong_answers_fail(noisy):
    sino, truth = noisy
    right = fbp(sino.astype(np.float32), axis=AXIS)
    tolerance = assert_matches(right, truth, sino, THETA, AXIS)
    assert 0.5 * MU * 0.1 < tolerance < MU * 0.2  # a tolerance of FBP's size, not a loose bound
    wrong = {"axis half a pixel off": fbp(sino.astype(np.float32), axis=AXIS + 0.5),
             "angles the other way round": fbp(sino[::-1].astype(np.float32), axis=AXIS),
             "scaled by 0.7": 0.7 * right, "shifted by one pixel": np.roll(right, 1, axis=0)}
    for name, image in wrong.items():
        with pytest.raises(AssertionError, match="the slice is wrong"):
            assert_matches(image, truth, sino, THETA, AXIS)
