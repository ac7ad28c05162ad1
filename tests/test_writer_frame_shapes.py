"""Every frame of one file has the first frame's shape and a type that holds its values.

`ufo run "... ! stack number=4 partial=true ! write path=r.zarr"` (10 slices: stacks of 4, 4, 2)
exited 0 with a Zarr array resized to the last frame's shape over the frames before it (6 of the
10 slices left), or chunks zarr could not read ("cannot reshape array of size 128"); a TIFF stack
held two series that ufo's reader refused, a raw file frames that no longer lined up. HDF5
refused the frame. Now every writer of one file refuses it, naming both shapes, and the frames
before it stay whole.
"""

from __future__ import annotations

import numpy as np
import pytest

from ufo.core.errors import InputError
from ufo.storage import open_source
from ufo.storage.writers import open_writer

OUTPUTS = ["s.zarr:/d", "s.zarr:/d?zstd", "stack.tif", "big.tif?bigtiff", "s.raw", "s.h5:/d"]


def _open(tmp_path, output):
    name, _, how = output.partition("?")
    return str(tmp_path / name), open_writer(str(tmp_path / name), compression="zstd" if how == "zstd" else None,
                                             imagej=False if how == "bigtiff" else None)


def _read_back(path, output):
    if output.endswith(".raw"):
        return open_source(path, raw_width=8, raw_height=4, raw_dtype="float32")
    return open_source(path)


@pytest.mark.parametrize("output", OUTPUTS)
def test_a_frame_of_another_shape_is_refused_and_the_frames_before_stay(tmp_path, output):
    path, writer = _open(tmp_path, output)
    frames = [np.full((4, 8), i, np.float32) for i in range(2)]
    with writer:
        for frame in frames:
            writer.write(frame, {})
        with pytest.raises(InputError, match=r"frame 2 has shape \(2, 8\)"):
            writer.write(np.zeros((2, 8), np.float32), {})
    source = _read_back(path, output)
    assert source.count == 2
    for i, frame in enumerate(frames):
        np.testing.assert_array_equal(source.read(i, slice(None), None), frame)


@pytest.mark.parametrize("output", ["s.zarr:/d", "stack.tif", "s.raw"])
def test_a_frame_whose_type_loses_values_is_refused_and_a_wider_float_is_kept(tmp_path, output):
    path, writer = _open(tmp_path, output)
    with writer:
        writer.write(np.full((4, 8), 1.5, np.float32), {})
        writer.write(np.full((4, 8), 2.25, np.float64), {})  # float into float: kept as the file's type
        with pytest.raises(InputError, match="does not hold these frames' values"):
            writer.write(np.full((4, 8), 1.5 + 1j, np.complex64), {})
    source = _read_back(path, output)
    assert source.count == 2 and float(source.read(1, slice(None), None)[0, 0]) == 2.25
