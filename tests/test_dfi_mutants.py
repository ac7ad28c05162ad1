"""ufo.tomo.dfi on small data against float64 references: the tests that kill its mutants (docs/mutation.md).

The reference is FBP's sum with exact (trigonometric) interpolation of the filtered rows,
evaluated pixel by pixel at the pixels' own coordinates: no gridding, no 2-D FFT, no kernel.
DFI equals it up to its gridding error (1-3e-6 of the slice's peak with Kaiser-Bessel here,
2e-3 with UFO's sinc; the tolerances are about 3x and 1.5x that) for any axis, start angle,
direction, region, centre, padding and filter; the kernel table and its Fourier transform are
checked against their closed forms.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import integrate, special

from ufo.tomo.dfi import deapodization, dfi, kernel_table, plan
from ufo.tomo.filters import fbp_filter, padded_size

WIDTH = 24


def reference(sino, theta, axis, roi=(0, 0, None, None), centre=None, padding="zero", filter="ramp", cutoff=1.0):
    """float64: sum over angles of the filtered, padded row's Fourier series at x cos - y sin + axis,
    times FBP's weight pi / (2 n) (a half turn of n angles; a full turn of n counts each line twice)."""
    n, width = sino.shape
    size = padded_size(width)
    left = (size - width) // 2 if padding == "edge" else 0
    rows = np.pad(np.asarray(sino, np.float64), ((0, 0), (left, size - width - left)),
                  mode="edge" if padding == "edge" else "constant")
    q = np.fft.irfft(np.fft.rfft(rows, axis=1) * fbp_filter(size, filter, cutoff), n=size, axis=1)
    coeffs = np.fft.fft(q, axis=1) / size
    coeffs[:, size // 2] = 0  # the unpaired Nyquist term
    k = np.fft.fftfreq(size) * size
    centre = width / 2 if centre is None else centre
    cols = width - roi[0] if roi[2] is None else roi[2]
    lines = width - roi[1] if roi[3] is None else roi[3]
    y, x = np.mgrid[:lines, :cols] + np.array([roi[1], roi[0]])[:, None, None] - centre
    out = np.zeros((lines, cols))
    for row, th in zip(coeffs, theta):
        t = x * np.cos(th) - y * np.sin(th) + axis + left
        out += np.real(np.exp(2j * np.pi * np.multiply.outer(t, k) / size) @ row)
    return out * np.pi / (2 * n)


def sinogram(n, seed=0, width=WIDTH):
    """A smooth random sinogram (a few low-frequency cosines per row): every pixel of the slice sees data."""
    rng = np.random.default_rng(seed)
    t = np.arange(width) / width
    rows = [sum(rng.normal() * np.cos(2 * np.pi * m * t + rng.uniform(0, 6)) for m in range(1, 5)) for _ in range(n)]
    return (1.0 + 0.3 * np.array(rows)).astype(np.float32)


def close(ours, expected, tolerance):
    error = np.abs(ours - expected).max() / np.abs(expected).max()
    assert error <= tolerance, error


CASES = {  # name: (dfi's keywords, the angles, tolerance relative to the peak)
    "default": ({}, np.arange(16) * np.pi / 16, 1e-5),
    "axis_offset_region_off_grid": (dict(axis=10.3, angle_offset=0.4, roi=(3, 5, 15, 11), centre=12.6),
                                    0.4 + np.arange(16) * np.pi / 16, 1e-5),
    "backwards_edge_padding_hann": (dict(axis=13.0, angle_step=-np.pi / 16, angle_offset=np.pi, padding="edge",
                                         filter="hann", cutoff=0.8), np.pi - np.arange(16) * np.pi / 16, 1e-5),
    "full_turn_unfiltered_centre_off": (dict(angle_step=np.pi / 12, filter="none", centre=4.5),
                                        np.arange(24) * np.pi / 12, 1e-5),
    "sinc_kernel": (dict(kernel="sinc", axis=11.7), np.arange(16) * np.pi / 16, 3e-3),
    # a region far off the slice's centre: the grid must hold it (G >= 2 x its farthest extent)
    "far_region": (dict(roi=(10, 20, 4, 8), centre=2.0), np.arange(16) * np.pi / 16, 1e-5),
    "small_kernel_table_oversampling_3": (dict(kernel_size=5, table_size=1001, oversampling=3.0, roi=(2, 0, 20, 24)),
                                          np.arange(16) * np.pi / 16, 3e-5),
}


@pytest.mark.parametrize("name", CASES)
def test_dfi_equals_the_exact_fbp_sum_on_small_data(name):
    keywords, theta, tolerance = CASES[name]
    sino = sinogram(len(theta))
    names = ("axis", "roi", "centre", "padding", "filter", "cutoff")
    picked = {key: keywords[key] for key in names if key in keywords}
    expected = reference(sino, theta, picked.pop("axis", WIDTH / 2), **picked)
    close(dfi(sino, workers=1, **keywords), expected, tolerance)


def test_dfi_threads_and_stacks_give_the_same_slices():
    """Angles split between threads (more threads than angles too) and slices of a stack."""
    theta = np.arange(7) * np.pi / 7
    sinos = np.stack([sinogram(7, seed) for seed in range(3)])
    expected = [reference(s, theta, 12.5) for s in sinos]
    for workers in (1, 2, 3, 9):
        stack = dfi(sinos, axis=12.5, workers=workers)
        assert stack.shape == (3, WIDTH, WIDTH) and stack.dtype == np.float32
        for ours, theirs in zip(stack, expected):
            close(ours, theirs, 1e-5)
    single = dfi(sinos[1], axis=12.5, workers=2)
    assert single.shape == (WIDTH, WIDTH)
    close(single, expected[1], 1e-5)
    close(dfi(sinos[1], axis=12.5), expected[1], 1e-5)  # workers None: all cores


@pytest.mark.parametrize("kernel,size,oversampling", [("kaiser-bessel", 7, 2.0), ("kaiser-bessel", 4, 1.3),
                                                      ("kaiser-bessel", 1, 2.0), ("sinc", 6, 2.0)])
def test_dfi_kernel_table_is_the_closed_form(kernel, size, oversampling):
    table, scale = kernel_table(kernel, size, oversampling, 801)
    assert len(table) == 403 and table.dtype == np.float32 and np.all(table[-2:] == 0)
    assert scale == pytest.approx(400 / (size / 2))
    s = np.arange(401) / scale
    u = np.clip(2 * s / size, 0, 1)
    if kernel == "sinc":  # UFO's Hamming-windowed sinc
        expected = np.sinc(s) * (0.54 + 0.46 * np.cos(np.pi * u))
    else:  # Beatty et al. 2005; the grid's oversampling taken as at least 1.01
        sigma = max(oversampling, 1.01)
        beta = np.pi * np.sqrt(max((size / sigma) ** 2 * (sigma - 0.5) ** 2 - 0.8, 1e-6))
        expected = special.i0(beta * np.sqrt(1 - u ** 2)) / special.i0(beta)
    np.testing.assert_allclose(table[:-2], expected, rtol=2e-6, atol=1e-7)
    assert table[0] == pytest.approx(1.0)


def test_dfi_kernel_table_refuses_what_it_cannot_sample():
    assert np.array_equal(kernel_table(oversampling=1.0)[0], kernel_table(oversampling=1.01)[0])
    # 27 points, 2047 samples: the last distance, 1023 / (1023 / 13.5), rounds a hair above 13.5
    table, _ = kernel_table("kaiser-bessel", 27, 2.0, 2047)
    assert np.isfinite(table).all() and table[-3] == pytest.approx(1 / special.i0(np.pi * np.sqrt(
        (27 / 2) ** 2 * 1.5 ** 2 - 0.8)), rel=1e-5)
    table, scale = kernel_table("sinc", 1, 2.0, 3)  # the smallest: one value each side of 0, then zeros
    assert len(table) == 4 and scale == pytest.approx(2.0)
    with pytest.raises(ValueError, match="unknown DFI kernel 'gauss'; choose one of kaiser-bessel, sinc"):
        kernel_table("gauss")
    with pytest.raises(ValueError, match="kernel size must be >= 1 and presampled values >= 3, got 0 and 2047"):
        kernel_table(size=0)
    with pytest.raises(ValueError, match="got 7 and 2"):
        kernel_table(samples=2)


def test_dfi_deapodization_is_the_kernels_fourier_transform():
    """2 x the integral of the kernel times cos(2 pi s n / G) over [0, W/2], by adaptive quadrature."""
    size, sigma, grid = 7, 2.0, 64
    table, scale = kernel_table("kaiser-bessel", size, sigma, 4095)
    beta = math.pi * math.sqrt((size / sigma) ** 2 * (sigma - 0.5) ** 2 - 0.8)

    def kernel(s):
        return special.i0(beta * math.sqrt(max(0.0, 1 - (2 * s / size) ** 2))) / special.i0(beta)

    positions = np.array([-20, -3, 0, 5, 17])
    ours = deapodization(table, scale, positions, grid)
    exact = [2 * integrate.quad(lambda s, n=n: kernel(s) * math.cos(2 * math.pi * s * n / grid), 0, size / 2)[0]
             for n in positions]
    np.testing.assert_allclose(ours, exact, rtol=2e-6)


def test_dfi_deapodization_of_a_coarse_table_is_the_trapezoid_rule():
    """Three and five presampled values: the trapezoid's half weights at both ends show."""
    for samples in (3, 5):
        table, scale = kernel_table("kaiser-bessel", 7, 2.0, samples)
        values = table[:-2].astype(np.float64)
        s = np.arange(len(values)) / scale
        weights = np.full(len(values), 1 / scale)
        weights[[0, -1]] = 0.5 / scale
        positions = np.array([0, 3, 10])
        expected = [2 * np.sum(weights * values * np.cos(2 * np.pi * s * n / 64)) for n in positions]
        np.testing.assert_allclose(deapodization(table, scale, positions, 64), expected, rtol=1e-12)


def test_dfi_of_an_impulse_a_quarter_row_from_the_axis():
    """A point 16 pixels from an axis at pixel 0: half of its filtered spectrum is purely imaginary
    (real part exactly 0), and every sample of it must be gridded."""
    theta = np.arange(16) * np.pi / 16
    sino = np.zeros((16, WIDTH), np.float32)
    sino[:, 16] = 1.0
    close(dfi(sino, axis=0.0, workers=1), reference(sino, theta, 0.0), 1e-5)


def test_dfi_plan_refuses_bad_options_and_padded_rows_are_fbps():
    with pytest.raises(ValueError, match="oversampling must be >= 1.5 .* got 1.4"):
        plan((16, WIDTH), oversampling=1.4)
    assert plan((16, WIDTH), oversampling=1.5).size >= 1.5 * WIDTH
    with pytest.raises(ValueError, match="padding must be 'zero' or 'edge', got 'mirror'"):
        plan((16, WIDTH), padding="mirror")
    with pytest.raises(ValueError, match=r"dfi needs a sinogram \(angles, width\) or a stack of them, got shape \(24"):
        dfi(np.zeros(WIDTH, np.float32))
    with pytest.raises(ValueError, match="got shape"):
        dfi(np.zeros((1, 1, 16, WIDTH), np.float32))
    p = plan((3, 16, WIDTH), padding="edge")
    stack = sinogram(16)[None]
    size = padded_size(WIDTH)
    np.testing.assert_array_equal(p.padded(stack), np.pad(stack, ((0, 0), (0, 0), (20, 20)), mode="edge"))
    assert size == 64 and p.pad == size and p.left == 20
    assert plan((16, WIDTH)).padded(stack) is stack
    default = plan((16, WIDTH))  # the whole width x width slice about width / 2
    assert np.array_equal(default.ys, np.arange(-12, 12)) and np.array_equal(default.xs, default.ys)


def test_dfi_defaults_are_the_documented_ones():
    """Kaiser-Bessel of 7 points, oversampling 2, 2047 presampled values, ramp, zero padding, axis width / 2."""
    sino = sinogram(16)
    explicit = dfi(sino, axis=WIDTH / 2, angle_step=np.pi / 16, angle_offset=0.0, oversampling=2.0,
                   kernel="kaiser-bessel", kernel_size=7, table_size=2047, filter="ramp", cutoff=1.0, order=4,
                   padding="zero", roi=(0, 0, None, None), centre=WIDTH / 2, workers=1)
    np.testing.assert_array_equal(dfi(sino, workers=1), explicit)
    ours = plan((16, WIDTH))
    given = plan((16, WIDTH), None, None, 0.0, 2.0, "kaiser-bessel", 7, 2047, "ramp", 1.0, 4, "zero",
                 (0, 0, None, None), None)
    assert ours is not given and (ours.size, ours.kernel_size) == (given.size, given.kernel_size) == (48, 7)
    for field in ("table", "cos", "sin", "phase", "ys", "xs", "apod"):
        np.testing.assert_array_equal(getattr(ours, field), getattr(given, field))
        assert not getattr(ours, field).flags.writeable  # shared by every call with this geometry
    with pytest.raises(dataclasses.FrozenInstanceError):
        ours.size = 96  # a cached plan is shared: it cannot change under another caller
    table, scale = kernel_table()
    np.testing.assert_array_equal(table, kernel_table("kaiser-bessel", 7, 2.0, 2047)[0])
    table, scale = kernel_table(samples=2048)  # an even count: 1023 values each side, as for 2047
    assert len(table) == 1026 and scale == pytest.approx(1023 / 3.5)
