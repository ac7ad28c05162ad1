"""Scans chunked across frames by other tools (for sinogram access), compressed: read a block of frames
at a time (`storage.hdf5_blocks`), each chunk decompressed once a block instead of once a frame (a
64 x 256 x 1024 gzip scan chunked (N, 1, W) took 19.5 s through `ufo run` against 0.31 s for h5py).
The values are checked against the array written; the block reader's use is checked too."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import ufo
from ufo.storage import open_source

N, H, W = 24, 32, 48


def scan() -> np.ndarray:
    return (1000 + np.random.default_rng(3).integers(0, 5000, (N, H, W))).astype(np.uint16)


@pytest.mark.parametrize("chunks", [(N, 1, W), (N, 16, W), (N, H, W), (5, 8, W)])
def test_frames_of_a_stack_chunked_across_frames_read_whole_and_in_rows(tmp_path, chunks):
    data = scan()
    path = str(tmp_path / "s.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=data, chunks=chunks, compression="gzip", compression_opts=1)
    np.testing.assert_array_equal(ufo.Reader(path=path + ":/data")().collect(), data)
    np.testing.assert_array_equal(ufo.Reader(path=path + ":/data", y=5, height=9, y_step=2)().collect(),
                                  data[:, 5:14:2])
    source = open_source(path + ":/data")
    try:
        out = np.empty((H, W), np.float32)  # another type than the stored one
        for i in (N - 1, 0, 7):  # out of order, the last block partial
            np.testing.assert_array_equal(source.read(i, slice(0, H), out), data[i].astype(np.float32))
        bands = np.empty((N - 3, 4, W), np.uint16)
        assert source.read_bands(3, slice(10, 14), bands) == N - 3
        np.testing.assert_array_equal(bands, data[3:, 10:14])
        assert source._blocks.get("/data") is not None  # a block at a time, not a frame
    finally:
        source.close()


def test_a_zarr_array_chunked_across_frames_reads_its_values(tmp_path):
    zarr = pytest.importorskip("zarr")
    data = scan()
    path = str(tmp_path / "s.zarr")
    zarr.create_array(path, shape=data.shape, dtype=data.dtype, chunks=(N, 16, W))[...] = data
    np.testing.assert_array_equal(ufo.Reader(path=path)().collect(), data)
    np.testing.assert_array_equal(ufo.Reader(path=path, y=3, height=20)().collect(), data[:, 3:23])


def test_a_damaged_gzip_chunk_is_said_as_damaged_not_as_a_missing_plugin(tmp_path):
    """gzip is built into HDF5: "pip install hdf5plugin" sent the user to reinstall packages."""
    data = scan()
    path = str(tmp_path / "d.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=data, chunks=(1, H, W), compression="gzip")
    with h5py.File(path) as f:
        offset, size = f["data"].id.get_chunk_info(5).byte_offset, f["data"].id.get_chunk_info(5).size
    with open(path, "r+b") as f:
        f.seek(offset + size // 2)
        f.write(bytes(64))
    with pytest.raises(Exception, match=r"d\.h5:/data\[5\].*damaged chunk: copy the file again") as caught:
        ufo.Reader(path=path + ":/data")().collect()
    assert "hdf5plugin" not in str(caught.value)


@pytest.mark.parametrize("lost", ["frame", "tile"])
def test_a_zarr_chunk_lost_within_the_scan_is_said_with_its_frames(tmp_path, lost):
    """zarr reads a missing chunk as the fill value: a lost chunk file gave a frame of zeros, exit 0,
    where ufo's HDF5 reader names such frames."""
    import os

    zarr = pytest.importorskip("zarr")
    data = scan()
    path = str(tmp_path / "s.zarr")
    chunks = (1, H, W) if lost == "frame" else (1, 16, W)
    zarr.create_array(path, shape=data.shape, dtype=data.dtype, chunks=chunks)[...] = data
    os.remove(os.path.join(path, "c", "7", "0" if lost == "frame" else "1", "0"))
    source = open_source(path)
    try:
        assert source.count == N
        assert any("frames 7 (1 of 24) have chunks that are not stored" in w for w in source.warnings), source.warnings
    finally:
        source.close()
