"""Tasks on a camera's integer frames and UFO's spellings at their edges (a pipelines probe):
`subtract` of uint16 darks wrapped (100 - 300 = 65336), a `jit` kernel computed in uint16
(2 * 40000 + 1 = 14465), `pad value=-1` failed mid-run and 3.5 was stored as 3, negative widths
were taken for 'whole frame', `crop from-center` was a pixel off UFO's. Each value against numpy
in float64.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import ufo
from ufo.core import GraphError, PropertyError

RAW = np.array([[[100, 40000, 65535], [0, 7, 300]]], np.uint16)
DARK = np.array([[[300, 100, 0], [1, 7, 65535]]], np.uint16)


def test_subtract_of_integer_frames_is_signed():
    got = ufo.Subtract()(RAW, DARK).collect()
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, RAW.astype(np.float64) - DARK)


def test_jit_kernels_see_integer_frames_as_float32(tmp_path):
    kernels = tmp_path / "k.py"
    kernels.write_text("def scale(x):\n    return 2 * x + 1\n\n"
                       "def laplacian(x):\n    return x[-1, 0] + x[1, 0] + x[0, -1] + x[0, 1] - 4 * x[0, 0]\n")
    got = ufo.Map(file=str(kernels), function="scale")(RAW).collect()
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, 2 * RAW.astype(np.float64) + 1)
    frame = np.zeros((1, 5, 5), np.uint16)
    frame[0, 2, 2] = 10000
    lap = ufo.Map(file=str(kernels), function="laplacian")(frame).collect()
    assert lap[0, 2, 2] == -40000 and lap[0, 1, 2] == 10000


@pytest.mark.parametrize("value, dtype", [(7.0, np.uint16), (-1.0, np.float32), (3.5, np.float32),
                                          (float("nan"), np.float32), (70000.0, np.float32)])
def test_pad_keeps_the_fill_value(value, dtype):
    got = ufo.Pad(width=5, height=4, value=value)(RAW).collect()
    assert got.dtype == dtype
    border = got[0, 0, 0]
    assert (np.isnan(border) and np.isnan(value)) or border == value
    np.testing.assert_array_equal(got[0, 1:3, 1:4], RAW[0])


def test_negative_sizes_are_refused_and_ufo_s_unset_values_are_defaults():
    with pytest.raises(PropertyError, match="'width' must be >= 1, got -3"):
        ufo.Crop(width=-3)
    for unset in (0, -1):  # UFO's 'not set': the whole frame
        assert ufo.Crop(width=unset)(RAW).collect().shape == RAW.shape
    result = subprocess.run([sys.executable, "-m", "ufo", "run", "-q", "dummy-data shape=7,11 number=1 ! rescale "
                             "width=-5 ! null"], capture_output=True, text=True)
    assert result.returncode == 2 and "'width' must be >= 1, got -5" in result.stderr, result.stderr


def test_crop_from_center_as_ufo_and_the_count_of_inputs():
    frames = np.arange(2 * 52 * 52, dtype=np.float32).reshape(2, 52, 52)
    got = ufo.Crop(width=11, height=11, from_center=True)(frames).collect()
    np.testing.assert_array_equal(got, frames[:, 21:32, 21:32])  # UFO's crop.c: 52 / 2 - 11 / 2 = 21
    with pytest.raises(GraphError, match=r"takes 3 to 4 input\(s\).*got 2"):
        ufo.FlatFieldCorrect()(RAW, DARK)


@pytest.mark.parametrize("suffix", ["tif", "h5", "zarr"])
def test_a_measurement_s_values_are_written_as_rows(tmp_path, suffix):
    """`measure` gives 1-D frames (a value per row): refused by every writer but raw before."""
    frames = np.random.default_rng(2).random((3, 5, 7)).astype(np.float32)
    path = str(tmp_path / f"m.{suffix}")
    ufo.Write(path=path)(ufo.Measure(metric="mean", axis=0)(frames)).run().wait()
    got = ufo.Read(path=path)().collect()
    np.testing.assert_allclose(got, frames.mean(axis=2, dtype=np.float64)[:, None, :], rtol=1e-6)
