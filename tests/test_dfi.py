"""Direct Fourier inversion against independent references: the analytic phantom, a float64
direct sum, FBP and scikit-image's iradon, with stated tolerances."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

import ufo
from ufo.core import GraphError
from ufo.tomo.dfi import dfi
from ufo.tomo.fbp import fbp
from ufo.tomo.filters import fbp_filter, padded_size
from ufo.tomo.phantom import Phantom

N, ANGLES = 256, 400
THETA = np.arange(ANGLES) * np.pi / ANGLES


def rmse(a, b, mask):
    return float(np.sqrt(np.mean((a - b)[mask] ** 2)))


def disk(n, fraction=0.45):
    return np.hypot(*(np.mgrid[:n, :n] - n / 2)) < fraction * n


@pytest.fixture(scope="module")
def case():
    """The analytic Shepp-Logan phantom: exact slice, exact 180-degree sinogram, FBP of it."""
    phantom = Phantom(N)
    sino = phantom.sinogram(THETA).astype(np.float32)
    return phantom, phantom.slice(), sino, fbp(sino)


def interior(truth):
    """The uniform 0.2 inside of the head, away from edges: where the mean tests the scale."""
    return ndimage.binary_erosion(np.isclose(truth, 0.2), iterations=3)


def exact_trigonometric_fbp(sino, theta, axis):
    """float64 reference: FBP's filtered rows, interpolated exactly (their Fourier series) and
    summed over the angles with FBP's weight, pixel by pixel; no gridding, no FFT of the slice."""
    n_angles, width = sino.shape
    size = padded_size(width)
    q = np.fft.irfft(np.fft.rfft(sino, n=size, axis=1) * fbp_filter(size), n=size, axis=1)
    coeffs = np.fft.fft(q, axis=1) / size
    k = np.fft.fftfreq(size) * size
    coeffs[:, size // 2] = 0  # the unpaired Nyquist term
    yy, xx = np.mgrid[:width, :width] - width / 2
    out = np.zeros((width, width))
    for row, th in zip(coeffs, theta):
        t = xx * np.cos(th) - yy * np.sin(th) + axis
        out += np.real(np.exp(2j * np.pi * np.multiply.outer(t, k) / size) @ row)
    return out * (np.pi / n_angles) / 2


@pytest.mark.parametrize("kernel,tolerance", [("kaiser-bessel", 2e-5), ("sinc", 5e-3)])
def test_dfi_equals_the_exact_fbp_sum(kernel, tolerance):
    """Gridding computes FBP's sum with exact interpolation: off-centre axis, start angle, 64 px."""
    theta = 0.2 + np.arange(90) * np.pi / 90
    sino = Phantom(64).sinogram(theta, axis=33.3)
    reference = exact_trigonometric_fbp(sino, theta, 33.3)
    ours = dfi(sino, axis=33.3, angle_offset=0.2, kernel=kernel)
    assert np.abs(ours - reference).max() <= tolerance * np.abs(reference).max()


def test_dfi_is_as_accurate_as_fbp_and_overlays_it(case):
    phantom, truth, sino, ours_fbp = case
    ours = dfi(sino)
    mask = disk(N)
    error, error_fbp = rmse(ours, truth, mask), rmse(ours_fbp, truth, mask)
    assert error <= 1.2 * error_fbp, (error, error_fbp)
    # The same slice: what differs is only FBP's linear interpolation (high frequencies).
    smooth = [ndimage.gaussian_filter(a.astype(np.float64), 1.0) for a in (ours, ours_fbp)]
    assert rmse(*smooth, mask) < 0.01
    # Values: the attenuation per pixel, not a multiple of it.
    inside = interior(truth)
    assert abs(ours[inside].mean() - 0.2) < 0.02 * 0.2
    assert abs(np.median(ours[truth == 1.0]) - 1.0) < 0.05


def test_dfi_is_as_accurate_as_scikit_image(case):
    iradon = pytest.importorskip("skimage.transform").iradon
    phantom, truth, sino, _ = case
    theirs = iradon(sino.T.astype(np.float64), theta=np.degrees(THETA), filter_name="ramp")
    mask = disk(N)
    assert rmse(dfi(sino), truth, mask) <= 1.2 * rmse(theirs, truth, mask)


def test_shifted_axis_gives_the_same_unmirrored_slice(case):
    phantom, truth, _, _ = case
    axis = N / 2 + 5.3
    sino = phantom.sinogram(THETA, axis=axis).astype(np.float32)
    ours = dfi(sino, axis=axis)
    mask = disk(N)
    right = np.corrcoef(ours[mask], truth[mask])[0, 1]
    for mirrored in (truth[:, ::-1], truth[::-1]):
        assert right - np.corrcoef(ours[mask], mirrored[mask])[0, 1] > 0.08
    assert right > 0.96
    assert rmse(ours, truth, mask) <= 1.2 * rmse(fbp(sino, axis=axis), truth, mask)
    assert abs(ours[interior(truth)].mean() - 0.2) < 0.02 * 0.2


def test_360_degree_scan_gives_the_180_degree_values(case):
    phantom, truth, sino, _ = case
    full = phantom.sinogram(np.arange(2 * ANGLES) * np.pi / ANGLES).astype(np.float32)
    half, turn = dfi(sino), dfi(full, angle_step=np.pi / ANGLES)
    mask = disk(N)
    assert np.abs(turn - half)[mask].max() < 0.02 * np.abs(half[mask]).max()
    assert abs(turn[interior(truth)].mean() / half[interior(truth)].mean() - 1) < 0.02


def test_start_angle_and_step_sign(case):
    """A scan from 180 degrees downwards sees the same lines: the same slice."""
    phantom, truth, sino, _ = case
    theta = np.pi - THETA
    backwards = phantom.sinogram(theta).astype(np.float32)
    ours = dfi(backwards, angle_step=-np.pi / ANGLES, angle_offset=np.pi)
    np.testing.assert_allclose(ours, dfi(sino), atol=1e-4)
    # A scan that starts at +90 degrees and says so gives the upright phantom.
    turned = dfi(phantom.sinogram(THETA + np.pi / 2).astype(np.float32), angle_offset=np.pi / 2)
    mask = disk(N)
    assert rmse(turned, truth, mask) <= 1.2 * rmse(dfi(sino), truth, mask)


def test_stack_equals_single_calls_and_roi_is_a_window(case):
    phantom, truth, sino, _ = case
    sinos = np.stack([sino, 0.5 * sino[:, ::-1], phantom.sinogram(THETA, axis=131.7, z=20).astype(np.float32)])
    stacked = dfi(sinos, axis=129.0, workers=2)
    for k in range(3):
        np.testing.assert_allclose(stacked[k], dfi(sinos[k], axis=129.0, workers=1), atol=1e-5)
    full = dfi(sino)
    np.testing.assert_allclose(dfi(sino, roi=(10, 20, 30, 40)), full[20:60, 10:40], atol=1e-5)


def test_centre_moves_the_slice_as_fbp_does(case):
    _, _, sino, _ = case
    mask = np.ones((N, N), bool)
    assert rmse(dfi(sino, centre=100.3), fbp(sino, centre=100.3), mask) < 0.03


def test_task_in_a_graph_equals_the_function(case):
    phantom, truth, sino, _ = case
    sinos = np.stack([sino, phantom.sinogram(THETA, z=30).astype(np.float32)])
    out = ufo.DfiSinc(axis=128.0, filter="hann")(sinos).collect()
    assert out.shape == (2, N, N) and out.dtype == np.float32
    for k in range(2):
        np.testing.assert_allclose(out[k], dfi(sinos[k], axis=128.0, filter="hann"), atol=1e-5)
    stacked = ufo.DfiSinc(roi_size=100)(sinos[None]).collect()
    assert stacked.shape == (1, 2, 100, 100)
    np.testing.assert_allclose(stacked[0, 0], dfi(sino)[78:178, 78:178], atol=1e-5)


def test_task_refuses_what_backproject_refuses():
    with pytest.raises(GraphError, match="transpose-projections"):
        ufo.DfiSinc()(np.zeros((3, 1, 64), np.float32)).run()
    with pytest.raises(GraphError, match="outside the detector"):
        ufo.DfiSinc(axis=500)(np.zeros((1, 90, 64), np.float32)).run()
    with pytest.raises(GraphError, match="roi-size"):
        ufo.DfiSinc(roi_size=65)(np.zeros((1, 90, 64), np.float32)).run()


@pytest.mark.gpu
def test_gpu_version_matches_the_cpu():
    cupy = pytest.importorskip("cupy")
    try:
        cupy.cuda.runtime.getDeviceCount()
    except Exception:
        pytest.skip("no CUDA device")
    from ufo.tomo.dfi_cuda import dfi_gpu

    sino = Phantom(128).sinogram(np.arange(180) * np.pi / 180).astype(np.float32)
    np.testing.assert_allclose(dfi_gpu(sino, axis=61.3), dfi(sino, axis=61.3), atol=1e-4)
