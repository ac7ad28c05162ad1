"""forwardproject and the Fourier stripe filters through real graphs.

forwardproject: the analytic Radon transform of a Gaussian blob (max error 1 % of the peak),
scikit-image's `radon` of the Shepp-Logan slice (relative L2 1 %), and the round trip through
`backproject` (as close to the slice as the reconstruction of the exact phantom sinogram,
within 10 %). Stripe filters: numpy full-spectrum FFTs with UFO's kernel formulas (atol 1e-5)
and, for UFO's default, the closed form "subtract each column's mean, keep the global mean".
"""

from __future__ import annotations

import numpy as np
import pytest

import ufo
from ufo.tomo.phantom import Phantom

W = 96
N_ANGLES = 192
ANGLES = np.arange(N_ANGLES) * np.pi / N_ANGLES
RNG = np.random.default_rng(3)


def blob(x0=12.0, y0=-15.0, sigma=5.0):
    yy, xx = np.mgrid[:W, :W].astype(np.float64) - W / 2
    return np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * sigma**2)).astype(np.float32)


def blob_sinogram(angles, axis=W / 2, x0=12.0, y0=-15.0, sigma=5.0):
    """Line integrals of the blob: sqrt(2 pi) sigma exp(-(t - t0)^2 / 2 sigma^2), t0 = x0 cos - y0 sin."""
    t = np.arange(W) - axis
    t0 = x0 * np.cos(angles)[:, None] - y0 * np.sin(angles)[:, None]
    return np.sqrt(2 * np.pi) * sigma * np.exp(-(t[None] - t0) ** 2 / (2 * sigma**2))


def test_forwardproject_matches_the_analytic_radon_transform():
    out = ufo.task("forwardproject", number=N_ANGLES)(blob()[None]).collect()[0]
    reference = blob_sinogram(ANGLES)
    assert out.shape == (N_ANGLES, W) and out.dtype == np.float32
    assert np.abs(out - reference).max() < 0.01 * reference.max()


def test_forwardproject_angle_offset_step_and_axis():
    angles = 0.4 + 0.05 * np.arange(10)
    out = ufo.task("forwardproject", number=10, angle_step=0.05, angle_offset="0.4 rad", axis_pos=W / 2 + 4.5)(
        blob()[None]).collect()[0]
    reference = blob_sinogram(angles, axis=W / 2 + 4.5)
    assert np.abs(out - reference).max() < 0.01 * reference.max()


def test_forwardproject_matches_scikit_image_radon():
    radon = pytest.importorskip("skimage.transform").radon
    image = Phantom(W, scale=0.8).slice().astype(np.float32)
    out = ufo.task("forwardproject", number=N_ANGLES)(image[None]).collect()[0]
    reference = radon(image, theta=np.degrees(ANGLES), circle=True).T  # its centre is W // 2, as ours
    assert np.linalg.norm(out - reference) < 0.01 * np.linalg.norm(reference)


def test_forwardproject_then_backproject_returns_the_slice():
    phantom = Phantom(W, scale=0.8)
    image = phantom.slice().astype(np.float32)
    inside = np.hypot(*(np.mgrid[:W, :W] - W / 2)) < W / 2 - 2

    def error(sinogram):
        slice_ = ufo.task("backproject")(sinogram[None].astype(np.float32)).collect()[0]
        return np.sqrt(np.mean((slice_ - image)[inside] ** 2)) / np.sqrt(np.mean(image[inside] ** 2))

    ours = error(ufo.task("forwardproject", number=N_ANGLES)(image[None]).collect()[0])
    exact = error(phantom.sinogram(ANGLES))
    assert ours < 1.1 * exact and ours < 0.35
    smooth = ufo.task("backproject")(ufo.task("forwardproject", number=N_ANGLES)(blob()[None])).collect()[0]
    assert np.abs(smooth - blob()).max() < 0.02


def _ufo_stripe_filter(frame, horizontal_sigma, vertical_sigma):
    """UFO's stripe_filter kernel on the full 2-D spectrum (numpy FFTs, float64)."""
    h, w = frame.shape
    spectrum = np.fft.fft2(frame.astype(np.float64))
    kx = np.array([w - i if i >= w // 2 else i for i in range(w)], float)
    ky = np.array([h - i if i >= h // 2 else i for i in range(h)], float)
    x = np.exp(-kx**2 / (2 * horizontal_sigma**2)) if horizontal_sigma else np.zeros(w)
    if vertical_sigma == 0:
        weights = np.ones((h, w))
        weights[0] = x
    else:
        y = np.exp(-ky**2 / (2 * vertical_sigma**2))
        weights = 1 - y[:, None] * (1 - x[None])
    return np.fft.ifft2(spectrum * weights).real


@pytest.mark.parametrize("horizontal,vertical", [(1e-7, 0.0), (1.5, 0.0), (1.0, 4.0), (0.0, 2.0)])
def test_filter_stripes_matches_ufos_kernel(horizontal, vertical):
    frames = RNG.random((2, 32, 48)).astype(np.float32)
    out = ufo.task("filter-stripes", horizontal_sigma=horizontal, vertical_sigma=vertical)(frames).collect()
    for i in range(2):
        np.testing.assert_allclose(out[i], _ufo_stripe_filter(frames[i], horizontal, vertical), atol=1e-5)


def test_filter_stripes_default_removes_column_offsets():
    sino = Phantom(64, scale=0.7).sinogram(np.arange(60) * np.pi / 60).astype(np.float32)
    striped = sino + RNG.normal(0, 0.5, 64).astype(np.float32)[None]
    out = ufo.task("filter-stripes")(striped[None]).collect()[0]
    expected = striped - striped.mean(axis=0) + striped.mean()
    np.testing.assert_allclose(out, expected, atol=1e-4)


def test_filter_stripes_on_fft_row_spectra_equals_the_padded_real_frame():
    from ufo.tomo.filters import padded_size

    frames = RNG.random((1, 16, 24)).astype(np.float32)
    chain = ufo.task("ifft", crop_width=24)(ufo.task("filter-stripes", vertical_sigma=2.0)(ufo.task("fft")(frames)))
    padded = np.zeros((16, padded_size(24)), np.float32)
    padded[:, :24] = frames[0]
    np.testing.assert_allclose(chain.collect()[0], _ufo_stripe_filter(padded, 1e-7, 2.0)[:, :24], atol=1e-5)


@pytest.mark.parametrize("strength", [0.5, 2.0, 10.0])
def test_filter_stripes1d_matches_ufos_coefficients(strength):
    frames = RNG.random((2, 8, 40)).astype(np.float32)
    out = ufo.task("filter-stripes1d", strength=strength)(frames).collect()
    sigma = strength / (2 * np.sqrt(2 * np.log(2)))
    k = np.array([40 - i if i >= 20 else i for i in range(40)], float)
    expected = np.fft.ifft(np.fft.fft(frames.astype(np.float64), axis=-1) * (1 - np.exp(-k**2 / (2 * sigma**2))),
                           axis=-1).real
    np.testing.assert_allclose(out, expected, atol=1e-5)
