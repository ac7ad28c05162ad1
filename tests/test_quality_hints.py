"""The quality hints' checks (ufo.tomo.quality_hints): numpy's 3 x 3 neighbourhoods equal SciPy's
filters, zingers and stripes put into a phantom's sinogram are found where they are, a clean
sinogram gives no hint, and the check imports no SciPy (the resident GPU path needs none)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage

from ufo.tomo.phantom import Phantom
from ufo.tomo.quality_hints import _around, check_sinogram, count_outliers, median3x3, stripe_columns

EIGHT = np.ones((3, 3), bool)
EIGHT[1, 1] = False


@pytest.mark.parametrize("shape", [(64, 80), (3, 3), (1, 5), (2, 2), (7, 1)])
@pytest.mark.parametrize("kind", ["random", "ties"])
def test_neighbourhoods_equal_scipys_filters(shape, kind):
    rng = np.random.default_rng(3)
    data = rng.random(shape, dtype=np.float32) if kind == "random" else rng.integers(0, 3, shape).astype(np.float32)
    assert np.array_equal(median3x3(data), ndimage.median_filter(data, size=3, mode="reflect"))
    assert np.array_equal(_around(data, np.maximum), ndimage.maximum_filter(data, footprint=EIGHT, mode="reflect"))
    assert np.array_equal(_around(data, np.minimum), ndimage.minimum_filter(data, footprint=EIGHT, mode="reflect"))
    assert not np.array_equal(median3x3(data), data) or data.size < 9  # a filter, not the identity


def _sinogram() -> np.ndarray:
    rng = np.random.default_rng(5)
    angles = np.arange(180) * np.pi / 180
    sino = Phantom(128).sinogram(angles).astype(np.float32)
    return sino + rng.normal(0, 0.002 * sino.max(), sino.shape).astype(np.float32)


def test_zingers_and_stripes_are_found_where_they_are_and_a_clean_sinogram_gives_no_hint():
    clean = _sinogram()
    assert check_sinogram(clean).hints() == []
    spots = [(10, 20), (50, 64), (100, 3), (170, 120), (90, 90)]
    zingers = clean.copy()
    for row, col in spots:
        zingers[row, col] += 0.5 * clean.max()
    assert count_outliers(zingers) == len(spots)
    striped = clean.copy()
    striped[:, 40] += 0.04 * clean.max()  # two columns with an offset the flat field missed
    striped[:, 90] -= 0.03 * clean.max()
    assert stripe_columns(striped).tolist() == [40, 90]
    assert stripe_columns(clean).tolist() == []
    hints = check_sinogram(zingers).hints()
    assert len(hints) == 1 and "5 pixels" in hints[0] and "--remove-outliers" in hints[0]


def test_the_check_imports_no_scipy():
    code = ("import sys, numpy as np; from ufo.tomo.quality_hints import check_sinogram; "
            "check_sinogram(np.random.default_rng(0).random((32, 32), dtype=np.float32)); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
