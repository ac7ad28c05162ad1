"""8/16-bit output in one pass (ufo.kernels.convert): the same integers as the numpy formula it replaced."""

from __future__ import annotations

import numpy as np
import pytest

from ufo.storage.convert import to_bits


def _numpy_reference(frame: np.ndarray, bits: int, lo: float, hi: float) -> np.ndarray:
    """The formula before the kernel: float32 scaling, NaN -> 0, +inf -> top, round half to even, clip."""
    dtype = np.uint8 if bits == 8 else np.uint16
    top = np.iinfo(dtype).max
    scale = top / (hi - lo) if hi != lo else 0.0
    scaled = (np.asarray(frame, dtype=np.float32) - np.float32(lo)) * np.float32(scale)
    np.nan_to_num(scaled, copy=False, nan=0.0, posinf=top, neginf=0.0)
    return np.clip(np.rint(scaled), 0, top).astype(dtype)


@pytest.mark.parametrize("bits", [8, 16])
def test_one_pass_conversion_gives_the_same_integers(bits):
    rng = np.random.default_rng(7)
    top = (1 << bits) - 1
    lo, hi = -0.25, 1.75
    frame = rng.uniform(-1.0, 3.0, (64, 96)).astype(np.float32)
    frame[0, :6] = [np.nan, np.inf, -np.inf, lo, hi, 1e30]
    # values that scale to exact halves (k + 0.5): rint rounds them to the even neighbour
    halves = (np.arange(40, dtype=np.float32) + np.float32(0.5)) / np.float32(top / (hi - lo)) + np.float32(lo)
    frame[1, :40] = halves
    got = to_bits(frame, bits, lo, hi)
    expected = _numpy_reference(frame, bits, lo, hi)
    assert got.dtype == expected.dtype and np.array_equal(got, expected)
    assert got[0, 0] == 0 and got[0, 1] == top and got[0, 2] == 0 and got[0, 3] == 0 and got[0, 4] == top
    assert not np.array_equal(got, _numpy_reference(frame[::-1], bits, lo, hi))  # a mirrored frame differs
    assert not np.array_equal(got, _numpy_reference(frame, bits, lo, 0.9 * hi))  # and so does another scale


def test_views_other_dtypes_and_a_flat_range():
    rng = np.random.default_rng(8)
    base = rng.uniform(0, 10, (50, 70))
    view = base[::2, 5:60]  # float64, not contiguous
    assert np.array_equal(to_bits(view, 16, 1.0, 9.0), _numpy_reference(view, 16, 1.0, 9.0))
    flat = np.full((4, 4), 3.0, np.float32)
    assert np.array_equal(to_bits(flat, 8, 3.0, 3.0), np.zeros((4, 4), np.uint8))


@pytest.mark.parametrize("low, high", [(-1e308, 1e308), (0, 1e-300), (0, 1e39)])
def test_a_scale_float32_cannot_hold_is_refused_before_anything_is_written(tmp_path, low, high):
    """[-1e308, 1e308] stored every value as 0, [0, 1e-300] only 0 and 65535 (exit 0, numpy's cast warning)."""
    import subprocess
    import sys

    from ufo.storage.convert import scale_problem

    assert scale_problem(16, low, high) is not None
    assert scale_problem(16, 0.0, 1e-3) is None and scale_problem(8, -5.0, 5.0) is None
    out = tmp_path / "s.tif"
    done = subprocess.run([sys.executable, "-m", "ufo", "run", "-q", f"dummy-data shape=8,8 number=2 ! write path={out} "
                           f"bits=16 minimum={low} maximum={high}"], capture_output=True, text=True)
    assert done.returncode == 2 and "cannot be stored in 16 bits" in done.stderr and not out.exists()
