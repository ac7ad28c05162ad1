"""A float32 ImageJ stack carries a display range (`min`/`max` of its header): without one ImageJ
opens the stack at the range of slice 1, a reconstruction's air, and saturated the sample's slices.
The range is that of the stack's values (0.05..99.95 percentiles of a sample of its slices), read
here as tifffile reads ImageJ's header."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from ufo import reco
from ufo.storage import open_writer
from ufo.storage.imagej import DisplayRange

from .resident_scan import write_scan
from .resident_scan import options as _options


def _stack(n: int = 12, shape: tuple[int, int] = (40, 48)) -> np.ndarray:
    """Slice 0 is air (0 .. 0.001); every other slice spans -1 .. 5, each end in a whole column (so
    in every row a sample takes, and in more than 0.05 % of the values)."""
    rng = np.random.default_rng(3)
    stack = rng.uniform(0, 1, (n, *shape)).astype(np.float32)
    stack[0] *= 0.001
    stack[1:, :, 0], stack[1:, :, -1] = -1.0, 5.0
    return stack


def _write(path: str, stack: np.ndarray, metadata: dict | None = None) -> None:
    with open_writer(path, expected_frames=len(stack), metadata=metadata) as writer:
        for frame in stack:
            writer.write(frame, {})


def test_a_float32_stack_shows_the_range_of_its_values_not_of_slice_1(tmp_path):
    stack = _stack()
    path = str(tmp_path / "s.tif")
    _write(path, stack)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej and len(tif.pages) == len(stack)
        ij = tif.imagej_metadata
        read = tif.asarray()
    assert ij["min"] == -1.0 and ij["max"] == 5.0
    np.testing.assert_array_equal(read, stack)  # the pixels as written


def test_the_range_is_robust_to_a_few_outlying_values(tmp_path):
    stack = _stack()
    stack[5, 10, 10], stack[7, 20, 20] = -1e6, 1e6  # two voxels of the reconstruction circle's rim
    path = str(tmp_path / "s.tif")
    _write(path, stack)
    with tifffile.TiffFile(path) as tif:
        ij = tif.imagej_metadata
    assert ij["min"] == -1.0 and ij["max"] == 5.0


def test_integer_stacks_keep_their_calibrated_range(tmp_path):
    stack = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5)
    path = str(tmp_path / "s.tif")
    _write(path, stack, {"scale_min": 0.0, "scale_max": 1.0, "scale_step": 1 / 65535, "bits": 16})
    with tifffile.TiffFile(path) as tif:
        ij = tif.imagej_metadata
    assert ij["min"] == 0.0 and ij["max"] == 65535.0 and ij["c0"] == 0.0


def test_the_sample_stays_spread_over_a_long_stack_in_bounded_memory():
    sampler = DisplayRange()
    count = DisplayRange.FRAMES * 5 + 3
    for i in range(count):
        sampler.see(np.full((64, 64), float(i), np.float32))
    held = sampler._samples
    assert len(held) <= DisplayRange.FRAMES
    assert held[0][0] == 0.0 and held[-1][0] >= count - 1 - sampler._every  # first to last slice
    lo, hi = sampler.range()
    assert lo < 0.01 * count and hi > 0.99 * (count - 1) - sampler._every


def test_a_reconstruction_s_float32_stack_has_its_display_range(tmp_path_factory):
    scan = write_scan(str(tmp_path_factory.mktemp("scan") / "scan.nx"))[0]
    out = tmp_path_factory.mktemp("out") / "r.tif"
    reco.run(reco.plan(_options(scan, out)))
    with tifffile.TiffFile(out) as tif:
        ij = tif.imagej_metadata
        volume = tif.asarray()
    first = volume[0]
    assert volume.dtype == np.float32 and ij["min"] < ij["max"]
    assert (ij["min"], ij["max"]) == pytest.approx(tuple(np.percentile(volume, [0.05, 99.95])), rel=0.2)
    assert (ij["min"], ij["max"]) != (float(first.min()), float(first.max()))
