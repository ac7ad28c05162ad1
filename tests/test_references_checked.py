"""Darks and flats that would correct every pixel to NaN (a flat of zeros, darks and flats
swapped, NaN flats) are refused with one clear error, in the graph's flat-field-correct task
(`ufo reco`, `ufo run`) and in the streaming engine's FlatField; a few bad pixels are warned of
and the rest of the slice stays right. Real files, real processes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tifffile

from ufo.core.errors import InputError
from ufo.tomo.phantom import Phantom
from ufo.tomo.steps import FlatField, check_references

N, ROWS, ANGLES = 64, 2, 96
DARK, FLAT = 100.0, 1000.0


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    """A folder with projections of the phantom, and scikit-image's FBP of their sinogram (the reference)."""
    from skimage.transform import iradon

    root = tmp_path_factory.mktemp("refs")
    phantom = Phantom(N)
    sino = phantom.sinogram(np.arange(ANGLES) * np.pi / ANGLES)  # angles x width, line integrals in 1/pixel
    ref = iradon(sino.T, theta=np.arange(ANGLES) * 180 / ANGLES, filter_name="ramp", circle=True, output_size=N)
    raw = DARK + (FLAT - DARK) * np.exp(-np.repeat(sino[:, None, :], ROWS, 1))
    tifffile.imwrite(root / "p.tif", raw.astype(np.float32), photometric="minisblack")
    tifffile.imwrite(root / "d.tif", np.full((2, ROWS, N), DARK, np.float32), photometric="minisblack")
    flat = np.full((2, ROWS, N), FLAT, np.float32)
    tifffile.imwrite(root / "f.tif", flat, photometric="minisblack")
    dead = flat.copy()
    dead[:, :, 5:9] = DARK  # 4 of 64 columns: 6 % of the pixels dead (flat = dark)
    tifffile.imwrite(root / "dead.tif", dead, photometric="minisblack")
    tifffile.imwrite(root / "zeros.tif", np.zeros((2, ROWS, N), np.float32), photometric="minisblack")
    nan = flat.copy()
    nan[:, :, : N // 2 + 1] = np.nan
    tifffile.imwrite(root / "nan.tif", nan, photometric="minisblack")
    return root, ref


def reco(root, darks, flats, out="s.tif"):
    return subprocess.run([sys.executable, "-m", "ufo", "reco", "--projections", "p.tif", "--darks", darks,
                           "--flats", flats, "--axis", str(N / 2), "--gpus", "cpu", "-q", "--overwrite",
                           "--output", out], cwd=root, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("darks,flats,says", [("d.tif", "zeros.tif", "darks and flats swapped, or no beam"),
                                              ("f.tif", "d.tif", "not brighter than the darks at 128 of 128"),
                                              ("d.tif", "nan.tif", "66 of them NaN or infinite")])
def test_references_that_zero_every_pixel_are_refused(scan, darks, flats, says):
    root, _ = scan
    result = reco(root, darks, flats)
    assert result.returncode == 1, result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_a_few_dead_pixels_are_warned_of_and_the_rest_is_right(scan):
    root, ref = scan
    result = reco(root, "d.tif", "dead.tif", out="dead-slices.tif")
    assert result.returncode == 0, result.stderr
    assert "not brighter than the darks at 8 of 128 pixels (6.2 %)" in " ".join(result.stderr.split())
    good = reco(root, "d.tif", "f.tif", out="good-slices.tif")
    assert good.returncode == 0, good.stderr
    slices = tifffile.imread(root / "good-slices.tif")
    inside = np.hypot(*(np.mgrid[:N, :N] - N / 2 + 0.5)) < 0.4 * N
    for got in slices:  # the correction is right where it is not refused: a 10 % scale or a mirror fails
        error = np.sqrt(np.mean((got - ref)[inside] ** 2)) / np.sqrt(np.mean(ref[inside] ** 2))
        assert error < 0.01, error  # measured 1.2e-4


def test_the_streaming_engines_flat_field_refuses_them_too():
    flat, dark = np.full((4, 8), FLAT, np.float32), np.full((4, 8), DARK, np.float32)
    with pytest.raises(InputError, match="not brighter than the darks at 32 of 32 pixels"):
        FlatField().reduce([flat], [dark])
    with pytest.raises(InputError, match="not brighter"):
        FlatField().reduce([dark], [np.zeros_like(flat)])
    assert check_references(dark, flat) is None
    half = flat.copy()
    half[:, :3] = DARK - 1  # 12 of 32: warned, not refused
    with pytest.warns(RuntimeWarning, match="12 of 32 pixels"):
        FlatField().reduce([dark], [half])
