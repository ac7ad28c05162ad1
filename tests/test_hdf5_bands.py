"""Bands of rows of many uncompressed HDF5 frames copied at once from a memory map
(ufo.storage.hdf5_direct.DirectFrames.read_bands, the resident reader's passes): equal to what
h5py reads, stopping where the frames stop lying at one stride, and never past the file's end."""

from __future__ import annotations

import os
import sys
import time

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ufo.storage import open_source, open_writer
from ufo.storage.hdf5_direct import DirectFrames
from ufo.storage.readers import Hdf5Frames

from .page_cache import evict, in_memory

H, W, N = 24, 40, 9


def _data() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 65535, (N, H, W), dtype=np.uint16)


@pytest.mark.parametrize("kwargs", [dict(chunks=(1, H, W)), {}], ids=["chunk-per-frame", "contiguous"])
@pytest.mark.parametrize("rows", [slice(0, H), slice(5, 6), slice(7, 19), slice(H - 3, H)])
def test_bands_equal_h5py(tmp_path, kwargs, rows):
    data = _data()
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f.create_dataset("frames", data=data, **kwargs)
    source = open_source(f"{tmp_path / 's.h5'}:/frames")
    try:
        count = rows.stop - rows.start
        out = np.full((N + 3, count, W), 7, np.uint16)
        assert source.read_bands(2, rows, out) == N - 2  # to the end, not past it
        assert np.array_equal(out[: N - 2], data[2:, rows])
        assert (out[N - 2:] == 7).all()  # untouched
        one = np.empty((1, count, W), np.uint16)
        assert source.read_bands(N - 1, rows, one) == 1 and np.array_equal(one[0], data[N - 1, rows])
    finally:
        source.close()


def test_what_a_copy_cannot_take_reads_zero(tmp_path):
    """Another dtype, a stepped band, a band that does not fit `out`, a 2-D or strided `out`: 0, so that the
    caller reads frame by frame (and converts) instead."""
    data = _data()
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f.create_dataset("frames", data=data, chunks=(1, H, W))
    source = open_source(f"{tmp_path / 's.h5'}:/frames")
    try:
        assert source.read_bands(0, slice(0, 4), np.empty((3, 4, W), np.float32)) == 0
        assert source.read_bands(0, slice(0, 8, 2), np.empty((3, 4, W), np.uint16)) == 0
        assert source.read_bands(0, slice(0, 4), np.empty((3, 5, W), np.uint16)) == 0
        assert source.read_bands(0, slice(0, 4), np.empty((4, W), np.uint16)) == 0
        assert source.read_bands(0, slice(0, 4), np.empty((3, 4, W), np.uint16)[:, :, ::-1]) == 0  # not contiguous
    finally:
        source.close()


def test_a_band_stops_where_the_stride_changes(tmp_path):
    """Chunks stored out of order (3 before 2): a copy takes the frames at the first two's stride."""
    with h5py.File(tmp_path / "s.h5", "w") as f:
        d = f.create_dataset("frames", shape=(5, H, W), dtype="uint16", chunks=(1, H, W))
        for i in (0, 1, 3, 2, 4):
            d[i] = i + 1
    source = open_source(f"{tmp_path / 's.h5'}:/frames")
    try:
        out = np.zeros((5, 2, W), np.uint16)
        n = source.read_bands(0, slice(3, 5), out)
        assert n == 2 and [int(o[0, 0]) for o in out[:n]] == [1, 2]
        n = source.read_bands(2, slice(3, 5), out)
        assert [int(o[0, 0]) for o in out[:n]] == [3, 4, 5][:n] and n >= 1
    finally:
        source.close()


def test_an_nxtomo_band_keeps_to_one_image_key_and_reads_through_the_writer_s_gaps(tmp_path):
    """ufo's NXtomo writer stores each frame's chunk with the keys' and angles' chunks between
    them: one stride all the same; a flat between projections ends the projections' copy."""
    data = _data()
    writer = open_writer(str(tmp_path / "scan.nx"))
    writer.write(np.full((H, W), 100, np.uint16), {"image_key": 2})
    for i in range(4):
        writer.write(data[i], {"image_key": 0, "angle": i * 0.1})
    writer.write(np.full((H, W), 900, np.uint16), {"image_key": 1})
    for i in range(4, N):
        writer.write(data[i], {"image_key": 0, "angle": i * 0.1})
    writer.close()
    projections = Hdf5Frames(str(tmp_path / "scan.nx"), None, image_key=0)
    try:
        out = np.empty((N, 6, W), np.uint16)
        got = []
        index = 0
        while index < N:
            n = projections.read_bands(index, slice(10, 16), out[index:])
            assert n >= 1
            got.append(n)
            index += n
        assert got[0] <= 4 and np.array_equal(out, data[:, 10:16])
    finally:
        projections.close()


def test_a_file_cut_shorter_reads_zero_not_sigbus(tmp_path):
    """A copy from a memory map past the file's end would end the process (SIGBUS): the file's size
    is checked first, and a band past it reads 0 (the caller's positioned read then reports it)."""
    data = _data()
    path = tmp_path / "s.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("frames", data=data, chunks=(1, H, W))
    with h5py.File(path, "r") as f:
        direct = DirectFrames.open(f["frames"], -1)
        assert direct is not None
    cut = tmp_path / "cut.bin"
    cut.write_bytes(path.read_bytes()[: int(direct._offsets[N - 1]) + H * W])  # half the last frame
    fd = os.open(cut, os.O_RDONLY)
    try:
        reader = DirectFrames(fd, direct._offsets, H, W, np.dtype("uint16"))
        out = np.empty((N, H // 2, W), np.uint16)
        assert reader.read_bands(0, slice(0, H // 2), out) == N  # the halves that are there
        assert np.array_equal(out, data[:, : H // 2])
        assert reader.read_bands(N - 2, slice(H // 2, H), out[:2]) == 0  # into the cut: nothing
        os.truncate(cut, int(direct._offsets[2]))  # cut again while mapped
        assert reader.read_bands(0, slice(0, 2), np.empty((N, 2, W), np.uint16)) == 0
        reader.close()
    finally:
        os.close(fd)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 6), h=st.integers(1, 9), w=st.integers(1, 7), chunked=st.booleans(),
       dtype=st.sampled_from(["uint8", "<u2", ">u2", "<f4", ">f8"]), data=st.data())
def test_any_band_of_any_layout_equals_h5py(tmp_path, n, h, w, chunked, dtype, data):
    """Random shapes, types (both byte orders), layouts, bands, first frames and block lengths: the
    frames copied equal h5py's and the count is what fits before the end."""
    first = data.draw(st.integers(0, h - 1))
    stop = data.draw(st.integers(first + 1, h))
    index = data.draw(st.integers(0, n - 1))
    length = data.draw(st.integers(1, n + 2))
    values = np.random.default_rng(n * 100 + h * 10 + w).integers(0, 200, (n, h, w)).astype(dtype)
    path = tmp_path / f"f-{n}-{h}-{w}-{chunked}-{dtype.replace('<', 'l').replace('>', 'b')}.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("frames", data=values, chunks=(1, h, w) if chunked else None)
    source = open_source(f"{path}:/frames")
    try:
        out = np.full((length, stop - first, w), 7, np.dtype(dtype))
        got = source.read_bands(index, slice(first, stop), out)
        assert got == min(length, n - index)
        assert np.array_equal(out[:got], values[index:index + got, first:stop])
    finally:
        source.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mincore and posix_fadvise: Linux")
def test_a_block_asks_the_disk_for_the_bands_of_the_frames_after_it(tmp_path):
    """A cold file: while a block is copied, the bands of the next BANDS_AHEAD frames are asked for
    (read into the page cache), and no further (frames far beyond stay on the disk)."""
    n, h, w = 400, 256, 256  # 128 KiB a frame (50 MiB), past a disk's read-ahead (8 MiB here) around a read
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f.create_dataset("frames", data=np.arange(n * h * w, dtype=np.uint16).reshape(n, h, w))
    path = str(tmp_path / "s.h5")
    with h5py.File(path) as f:
        base = f["frames"].id.get_offset()  # contiguous: frame i at base + i x frame bytes
    evict(path)
    band = slice(32, 40)  # 4 KiB of each frame

    def page(i: int) -> int:
        return (base + i * h * w * 2 + band.start * w * 2) // 4096

    if in_memory(path)[page(120)] or in_memory(path)[page(250)]:
        pytest.skip("the file stayed in the page cache (this file system keeps it)")
    source = open_source(f"{path}:/frames")
    try:
        assert source.read_bands(0, band, np.empty((32, 8, w), np.uint16)) == 32
        for _ in range(300):  # asked for: read by the disk meanwhile
            if in_memory(path)[page(120)]:
                break
            time.sleep(0.01)
        pages = in_memory(path)
        assert pages[page(120)] and pages[page(32)]  # in the 96 frames after the block
        assert not pages[page(250)] and not pages[page(399)]
    finally:
        source.close()
