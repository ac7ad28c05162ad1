"""Rows of uncompressed HDF5 frames read with positioned reads (ufo.storage.hdf5_direct) equal what
h5py reads, in every layout the direct path takes; every other layout still reads through h5py."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from ufo.storage import open_source
from ufo.storage.hdf5_direct import DirectFrames
from ufo.storage.readers import Hdf5Frames

H, W, N = 12, 10, 5


def _data(dtype: str) -> np.ndarray:
    return (np.random.default_rng(1).random((N, H, W)) * 1000).astype(dtype)


def _write(path, data: np.ndarray, **kwargs) -> str:
    with h5py.File(path, "w") as f:
        f.create_dataset("frames", data=data, **kwargs)
    return f"{path}:/frames"


SLICES = [slice(None), slice(0, 1), slice(H - 1, H), slice(3, 8), slice(5, 5 + 100), slice(2, 9, 2), slice(1, H, 5)]


@pytest.mark.parametrize("dtype, kwargs, direct", [
    ("uint16", dict(chunks=(1, H, W)), True),  # one chunk per frame: ufo's NXtomo writer, most beamlines
    ("<f4", {}, True),  # contiguous
    (">f4", dict(chunks=(1, H, W)), True),  # big-endian values stay big-endian in their own dtype
    ("uint16", dict(chunks=(1, H, W), compression="gzip"), False),
    ("uint16", dict(chunks=(1, H, W), shuffle=True), False),
    ("uint16", dict(chunks=(1, 4, W)), False),  # a frame in several chunks
    ("uint16", dict(chunks=(2, H, W)), False),  # two frames a chunk
])
def test_rows_equal_h5py_in_every_layout(tmp_path, dtype, kwargs, direct):
    data = _data(dtype)
    path = _write(tmp_path / "scan.h5", data, **kwargs)
    with h5py.File(str(tmp_path / "scan.h5"), "r") as f:
        assert (DirectFrames.open(f["frames"], -1) is not None) == direct
    source = open_source(path)
    try:
        for index in (0, N - 1, 2):
            for rows in SLICES:
                expected = data[index][rows]
                got = source.read(index, rows, None)
                assert got.dtype == np.dtype(dtype) and np.array_equal(got, expected), (index, rows)
                into = np.full(expected.shape, 7, np.dtype(dtype))
                assert source.read(index, rows, into) is into and np.array_equal(into, expected)
                as_float = np.full(expected.shape, np.nan, np.float64)  # another dtype: converted
                assert source.read(index, rows, as_float) is as_float
                np.testing.assert_array_equal(as_float, expected.astype(np.float64))
    finally:
        source.close()


def test_a_frame_never_written_reads_as_the_fill_value(tmp_path):
    with h5py.File(tmp_path / "scan.h5", "w") as f:
        d = f.create_dataset("frames", shape=(3, H, W), dtype="uint16", chunks=(1, H, W), fillvalue=42)
        d[0] = 1
        d[2] = 3
    source = open_source(f"{tmp_path / 'scan.h5'}:/frames")
    try:
        assert (source.read(0, slice(2, 4), None) == 1).all()
        assert (source.read(1, slice(2, 4), None) == 42).all()  # no chunk: h5py gives the fill value
        assert (source.read(2, slice(None), None) == 3).all()
    finally:
        source.close()


def test_one_2d_frame_and_an_nxtomo_scan(tmp_path):
    from ufo.storage import open_writer

    frame = _data("uint16")[0]
    single = _write(tmp_path / "one.h5", frame, chunks=(H, W))
    source = open_source(single)
    try:
        assert np.array_equal(source.read(0, slice(4, 6), None), frame[4:6])
    finally:
        source.close()
    writer = open_writer(str(tmp_path / "scan.nx"))
    data = _data("uint16")
    writer.write(np.full((H, W), 100, np.uint16), {"image_key": 2})
    for i, projection in enumerate(data):
        writer.write(projection, {"image_key": 0, "angle": i * np.pi / N})
    writer.close()
    projections = Hdf5Frames(str(tmp_path / "scan.nx"), None, image_key=0)
    try:
        assert projections._direct_reader(projections._dset) is not None  # the direct path is taken
        rows = np.stack([projections.read(i, slice(6, 7), None)[0] for i in range(N)])
        assert np.array_equal(rows, data[:, 6])  # one row of every projection: a sinogram
        assert not np.array_equal(rows, data[::-1, 6])
    finally:
        projections.close()


def test_a_short_read_falls_back_instead_of_handing_back_garbage(tmp_path):
    """HDF5 refuses to open a truncated file; should the bytes still end early (a file cut under the
    reader), the direct path reports a short read so that h5py reads (and raises) instead."""
    import os

    path = tmp_path / "scan.h5"
    _write(path, _data("uint16"), chunks=(1, H, W))
    with h5py.File(path, "r") as f:
        direct = DirectFrames.open(f["frames"], -1)
        assert direct is not None
    cut = tmp_path / "cut.bin"
    cut.write_bytes(path.read_bytes()[: int(direct._offsets[N - 1]) + H * W])  # half of the last frame
    fd = os.open(cut, os.O_RDONLY)
    try:
        reader = DirectFrames(fd, direct._offsets, H, W, np.dtype("uint16"))
        out = np.empty((H, W), np.uint16)
        assert reader.read(0, slice(None), out) and np.array_equal(out, _data("uint16")[0])
        assert not reader.read(N - 1, slice(None), out)  # 240 bytes asked, 120 there
        assert reader.read(N - 1, slice(0, H // 2), out[: H // 2])  # the half that is there
        assert not reader.read(N - 1, slice(0, H, 3), out[:4])  # a row past the end in a stepped read
        stepped = np.empty((3, W), np.uint16)
        assert reader.read(0, slice(1, H, 5), stepped) and np.array_equal(stepped, _data("uint16")[0][1::5])
        run = [np.empty((H, W), np.uint16) for _ in range(N)]
        assert reader.read_run(N - 2, run[:2]) == 0  # a run into the cut frame: none of it counts
        assert reader.read_run(0, run[: N - 1]) == N - 1 and np.array_equal(np.stack(run[: N - 1]), _data("uint16")[:-1])
    finally:
        os.close(fd)


@pytest.mark.parametrize("kwargs", [dict(chunks=(1, H, W)), {}])
def test_runs_of_whole_frames_equal_h5py_and_stop_where_the_file_does(tmp_path, kwargs):
    """`read_run`: whole frames one after the other in one read (the resident reader's runs),
    equal to h5py frame for frame; a run stops at the end, at a gap in the file (frames written
    out of order) and at a buffer that does not fit; nothing readable this way reads 0."""
    data = _data("uint16")
    path = _write(tmp_path / "scan.h5", data, **kwargs)
    source = open_source(path)
    try:
        outs = [np.full((H, W), 7, np.uint16) for _ in range(N + 2)]
        assert source.read_run(1, outs) == N - 1  # to the end, not past it
        for k in range(N - 1):
            assert np.array_equal(outs[k], data[1 + k]), k
        assert (outs[N - 1] == 7).all()  # untouched
        odd = [np.empty((H, W), np.uint16), np.empty((H - 1, W), np.uint16), np.empty((H, W), np.uint16)]
        assert source.read_run(0, odd) == 1 and np.array_equal(odd[0], data[0])
        assert source.read_run(0, [np.empty((H, W), np.float32)]) == 0  # another dtype: read() converts
    finally:
        source.close()


def test_a_run_stops_at_frames_stored_out_of_order(tmp_path):
    with h5py.File(tmp_path / "scan.h5", "w") as f:
        d = f.create_dataset("frames", shape=(4, H, W), dtype="uint16", chunks=(1, H, W))
        for i in (0, 1, 3, 2):  # chunk 3 is stored before chunk 2
            d[i] = i + 1
    source = open_source(f"{tmp_path / 'scan.h5'}:/frames")
    try:
        outs = [np.zeros((H, W), np.uint16) for _ in range(4)]
        n = source.read_run(0, outs)
        assert n == 2 and [int(o[0, 0]) for o in outs[:n]] == [1, 2]
        assert source.read_run(2, outs[:2]) == 1 and int(outs[0][0, 0]) == 3
    finally:
        source.close()


def test_runs_of_an_nxtomo_scan_keep_to_one_image_key(tmp_path):
    """NXtomo: the darks, flats and projections share one dataset; a run of projections neither
    starts in nor runs into the flats, whatever their order in the file."""
    from ufo.storage import open_writer

    data = _data("uint16")
    writer = open_writer(str(tmp_path / "scan.nx"))
    writer.write(np.full((H, W), 100, np.uint16), {"image_key": 2})
    for i in range(3):
        writer.write(data[i], {"image_key": 0, "angle": i * 0.1})
    writer.write(np.full((H, W), 900, np.uint16), {"image_key": 1})  # a flat between projections
    for i in range(3, N):
        writer.write(data[i], {"image_key": 0, "angle": i * 0.1})
    writer.close()
    projections = Hdf5Frames(str(tmp_path / "scan.nx"), None, image_key=0)
    try:
        outs = [np.empty((H, W), np.uint16) for _ in range(N)]
        assert projections.read_run(0, outs) == 3  # stops before the flat
        assert projections.read_run(3, outs[3:]) == N - 3
        assert np.array_equal(np.stack(outs), data)
    finally:
        projections.close()


@pytest.mark.parametrize("between, run", [((16, 64), 8), ((256, 512), 1)], ids=["small-gaps", "large-gaps"])
def test_runs_read_through_small_chunks_of_other_datasets_between_frames(tmp_path, between, run):
    """Writers that store each frame's metadata (a thumbnail, counters) beside it leave other
    datasets' chunks between two frames: a run reads through gaps of up to an eighth of a frame
    (into a scratch buffer, thrown away) and stops at larger ones; the frames are right either way."""
    rng = np.random.default_rng(7)
    frames = rng.integers(0, 60000, (12, 512, 512), dtype=np.uint16)
    with h5py.File(tmp_path / "scan.h5", "w") as f:
        data = f.create_dataset("frames", shape=frames.shape, dtype="uint16", chunks=(1, 512, 512))
        other = f.create_dataset("thumbs", shape=(12, *between), dtype="uint16", chunks=(1, *between))
        thumb = np.zeros(between, np.uint16)
        for i, frame in enumerate(frames):  # direct chunk writes: each chunk placed as it is written
            data.id.write_direct_chunk((i, 0, 0), frame.tobytes())
            other.id.write_direct_chunk((i, 0, 0), thumb.tobytes())  # a chunk of its own after the frame's
    source = Hdf5Frames(str(tmp_path / "scan.h5"), "/frames")
    try:
        direct = source._direct_reader(source._dset)
        assert direct is not None
        gaps = np.diff(direct._offsets) - 512 * 512 * 2
        assert (gaps[1:] == between[0] * between[1] * 2).all() and gaps[0] > 0, gaps  # the layout meant
        outs = [np.empty((512, 512), np.uint16) for _ in range(8)]
        assert source.read_run(2, outs) == run
        assert all(np.array_equal(out, frame) for out, frame in zip(outs[:run], frames[2:2 + run]))
        assert source.read_run(8, outs) == min(run, 4)
        assert all(np.array_equal(out, frame) for out, frame in zip(outs[:min(run, 4)], frames[8:]))
    finally:
        source.close()
