"""Zarr, compressed and direct-chunk HDF5, split BigTIFF, NXtomo and DXchange layouts, third-party readers."""

from __future__ import annotations

import glob

import h5py
import numpy as np
import pytest

import ufo
from ufo.core import InputError
from ufo.storage import open_writer
from ufo.storage.background import BackgroundWriter
from ufo.tomo.phantom import Phantom

RNG = np.random.default_rng(11)


@pytest.fixture
def frames():
    return RNG.integers(0, 60000, (9, 16, 20), dtype=np.uint16)


@pytest.mark.parametrize("compression", ["none", "zstd", "blosc"])
def test_zarr_round_trip_and_zarr_reads_ours(tmp_path, frames, compression):
    zarr = pytest.importorskip("zarr")
    path = str(tmp_path / "stack.zarr")
    ufo.Writer(path=path, compression=compression)(frames).run().wait()
    np.testing.assert_array_equal(ufo.Reader(path=path)().collect(), frames)
    array = zarr.open_group(path, mode="r")["data"]
    assert array.metadata.zarr_format == 3 and array.chunks == (1, 16, 20)
    assert array.metadata.dimension_names == ("frame", "y", "x")  # napari's and xarray's axis labels
    np.testing.assert_array_equal(array[:], frames)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_zarr_of_other_tools_every_frame_read(tmp_path, frames, zarr_format):
    """Other tools chunk several frames together (or tile them) and nest the array in a group: every
    frame of the shape is read (the count once came from the stored chunks: 9 frames in chunks of 4
    read as 3), the DXchange place in a group is found."""
    zarr = pytest.importorskip("zarr")
    path = str(tmp_path / "other.zarr")
    group = zarr.open_group(path, mode="w", zarr_format=zarr_format)
    group.create_array("exchange/data", shape=frames.shape, chunks=(4, 8, 20), dtype=frames.dtype)[:] = frames
    group.create_array("exchange/data_white", shape=(2, 16, 20), dtype=frames.dtype)[:] = 7
    np.testing.assert_array_equal(ufo.Reader(path=path)().collect(), frames)
    np.testing.assert_array_equal(ufo.Reader(path=f"{path}:/exchange/data_white")().collect(), np.full((2, 16, 20), 7))
    group.create_array("other", shape=(3, 16, 20), dtype=np.float32)
    del group["exchange/data"]
    with pytest.raises(ufo.core.UsageError, match="several image arrays.*exchange/data_white"):
        ufo.Reader(path=path)().collect()


@pytest.mark.parametrize("compression", ["none", "gzip", "lzf"])
def test_hdf5_chunk_per_frame_with_and_without_compression(tmp_path, frames, compression):
    path = tmp_path / "c.h5"
    ufo.Writer(path=f"{path}:/d", compression=compression)(frames).run().wait()
    with h5py.File(path) as f:
        assert f["d"].chunks == (1, 16, 20)
        assert f["d"].compression == (None if compression == "none" else compression)
        np.testing.assert_array_equal(f["d"][:], frames)


def test_bigtiff_split_by_bytes(tmp_path, frames):
    path = tmp_path / "stack.tif"
    ufo.Writer(path=str(path), bytes_per_file=3 * frames[0].nbytes)(frames).run().wait()
    parts = sorted(glob.glob(str(tmp_path / "stack-*.tif")))
    assert [p.rsplit("-", 1)[1] for p in parts] == ["0000.tif", "0001.tif", "0002.tif"]
    np.testing.assert_array_equal(ufo.Reader(path=str(tmp_path / "stack-*.tif"))().collect(), frames)


def scan_frames(n_dark=2, n_flat=3, n_proj=12):
    """(frame, meta) of a tiny scan: darks, flats, projections with angles."""
    out = []
    for i in range(n_dark):
        out.append((np.full((4, 6), 10, np.uint16), {"image_key": 2}))
    for i in range(n_flat):
        out.append((np.full((4, 6), 1000, np.uint16), {"image_key": 1}))
    for i in range(n_proj):
        out.append((np.full((4, 6), 500 + i, np.uint16), {"image_key": 0, "angle": i * np.pi / n_proj}))
    return out


@pytest.mark.parametrize("layout,name", [("nxtomo", "scan.nx"), ("dxchange", "scan.h5")])
def test_layouts_round_trip_with_image_keys_and_angles(tmp_path, layout, name):
    path = str(tmp_path / name)
    with open_writer(path, layout=layout) as writer:
        for frame, meta in scan_frames():
            writer.write(frame, meta)
    projections = list(ufo.Reader(path=path, image_key=0)())
    assert len(projections) == 12
    assert [int(p[0, 0]) for p in projections] == [500 + i for i in range(12)]
    np.testing.assert_allclose([p.meta["angle"] for p in projections], np.arange(12) * np.pi / 12, atol=1e-12)
    assert all(p.meta["image_key"] == 0 for p in projections)
    assert len(ufo.Reader(path=path, image_key=2)().collect()) == 2
    assert len(ufo.Reader(path=path, image_key=1)().collect()) == 3
    everything = list(ufo.Reader(path=path)())
    assert sorted(f.meta["image_key"] for f in everything) == [0] * 12 + [1] * 3 + [2] * 2
    with h5py.File(path) as f:
        if layout == "nxtomo":
            assert f["entry/definition"][()] == b"NXtomo"
            assert f["entry"].attrs["NX_class"] == "NXentry"
            assert f["entry/sample/rotation_angle"].attrs["units"] == "degree"
            np.testing.assert_array_equal(f["entry/data/image_key"][:], [2, 2, 1, 1, 1] + [0] * 12)
            assert f["entry/data/data"].shape == (17, 4, 6)
        else:
            assert f["exchange/data"].shape == (12, 4, 6) and f["exchange/data_dark"].shape == (2, 4, 6)
            np.testing.assert_allclose(f["exchange/theta"][:], np.arange(12) * 180 / 12)


def test_our_nxtomo_loads_in_the_nxtomo_package(tmp_path):
    nxtomo = pytest.importorskip("nxtomo")
    path = str(tmp_path / "ours.nx")
    with open_writer(path) as writer:
        for frame, meta in scan_frames():
            writer.write(frame, meta)
    from silx.io.utils import get_data

    scan = nxtomo.NXtomo().load(path, data_path="entry")
    data = np.concatenate([get_data(url) for url in scan.instrument.detector.data])  # nxtomo loads lazily
    assert data.shape == (17, 4, 6) and int(data[16, 0, 0]) == 511
    keys = [int(getattr(k, "value", k)) for k in scan.instrument.detector.image_key]
    assert keys == [2, 2, 1, 1, 1] + [0] * 12
    angles = np.asarray(getattr(scan.sample.rotation_angle, "magnitude", scan.sample.rotation_angle), float)
    np.testing.assert_allclose(angles[5:], np.arange(12) * 180 / 12, atol=1e-9)
    from silx.io import open as silx_open
    from silx.io.nxdata import get_default

    with silx_open(path) as f:  # no file-level `default`: silx plotted nothing when the scan was opened
        assert get_default(f) is not None and get_default(f).signal.shape == (17, 4, 6)


def test_nxtomo_written_by_the_nxtomo_package_reconstructs(tmp_path):
    nxtomo = pytest.importorskip("nxtomo")
    from nxtomo.nxobject.nxdetector import ImageKey

    from ufo import reco

    n, rows, count = 64, 6, 90
    phantom = Phantom(n, height=rows)
    dark, flat = 100.0, 4100.0
    angles = np.arange(count) * 180.0 / count
    projections = [dark + (flat - dark) * np.exp(-0.02 * phantom.projection(np.radians(a))) for a in angles]
    data = np.stack([np.full((rows, n), dark)] * 2 + [np.full((rows, n), flat)] * 2 + projections).astype(np.float32)
    scan = nxtomo.NXtomo()
    scan.instrument.detector.data = data
    scan.instrument.detector.image_key_control = [ImageKey.DARK_FIELD] * 2 + [ImageKey.FLAT_FIELD] * 2 + \
        [ImageKey.PROJECTION] * count
    import pint

    scan.sample.rotation_angle = np.concatenate([[0, 0, 0, 0], angles]) * pint.get_application_registry().degree
    path = str(tmp_path / "theirs.nx")
    scan.save(file_path=path, data_path="entry")
    result = reco.run(reco.plan(reco.RecoOptions(projections=path, output=str(tmp_path / "s.tif"))))
    assert result.plan.projections == count and result.plan.image_keys["darks"] == 2
    image = ufo.Reader(path=str(tmp_path / "s.tif"))().collect()[3]
    truth = 0.02 * phantom.slice(z=3 - rows / 2)
    mask = np.hypot(*(np.mgrid[:n, :n] - n / 2)) < 0.45 * n
    assert np.sqrt(np.mean((image - truth)[mask] ** 2)) < 0.15 * 0.02


def test_background_writer_writes_everything_and_reports_errors(tmp_path, frames):
    with BackgroundWriter(open_writer(str(tmp_path / "b.h5:/d")), queue_frames=2) as writer:
        for frame in frames:
            writer.write(frame, {"index": 1})
            frame[:] = 0  # the writer copied it
    with h5py.File(tmp_path / "b.h5") as f:
        assert f["d"].shape == (9, 16, 20) and f["d"][3].max() > 0
    writer = BackgroundWriter(open_writer(str(tmp_path / "w.h5:/d")))
    writer.write(frames[0])
    writer.write(np.zeros((3, 3), np.uint16))  # wrong shape: fails in the thread
    with pytest.raises(InputError, match="shape"):
        for _ in range(50):
            writer.write(frames[0])
        writer.close()


def test_appends_keep_the_output_s_shape_type_and_scale(tmp_path):
    """A Zarr append of another shape and type corrupted the store; a 16-bit append replaced the
    file's scale, so the frames already there decoded 100 times too large."""
    import subprocess
    import sys

    from ufo.storage.convert import stored_scale

    zarr_path = str(tmp_path / "o.zarr")
    ufo.Writer(path=zarr_path)(np.ones((3, 12, 10), np.float32)).run().wait()
    with pytest.raises(ufo.core.TaskError, match=r"has shape \(5, 5\) uint8, .* holds frames of shape \(12, 10\) float32"):
        ufo.Writer(path=zarr_path, append=True)(np.ones((2, 5, 5), np.uint8)).run().wait()
    assert ufo.Reader(path=zarr_path)().collect().shape == (3, 12, 10)
    frames = np.arange(4 * 12 * 10, dtype=np.float32).reshape(4, 12, 10)
    h5 = str(tmp_path / "s16.h5:/d")
    ufo.Writer(path=h5, bits=16)(frames).run().wait()
    scale = stored_scale(h5)
    before = ufo.Reader(path=h5)().collect()
    ufo.Writer(path=h5, bits=16, append=True)(frames * 100).run().wait()
    assert stored_scale(h5) == scale
    np.testing.assert_array_equal(ufo.Reader(path=h5)().collect()[:4], before)  # they decode as they did
    refused = subprocess.run([sys.executable, "-m", "ufo", "run", f"dummy-data shape=10,12 number=1 ! write path={h5} "
                              "bits=16 append=true minimum=0 maximum=1"], capture_output=True, text=True)
    assert refused.returncode == 2 and "stores its frames on the scale" in refused.stderr


@pytest.mark.parametrize("name", ["stack.tif", "seq/f-%03i.tif"], ids=["bigtiff", "sequence"])
def test_tiff_appends_keep_the_output_s_scale(tmp_path, name):
    """A 16-bit append to a BigTIFF stack or a TIFF sequence took a scale of its own: the appended
    pages (without a scale of their own) decoded by the first page's 100 times too small."""
    import tifffile

    from ufo.storage.convert import stored_scale

    path = str(tmp_path / name)
    first = dict(path=path, bits=16, minimum=0, maximum=100)
    if name.endswith("stack.tif"):
        first["tiff_format"] = "bigtiff"
    ufo.Writer(**first)(np.full((3, 8, 8), 10, np.float32)).run().wait()
    assert stored_scale(path) == (0.0, 100.0)
    more = dict(start=3) if "%" in name else {}
    ufo.Writer(path=path, bits=16, append=True, **more)(np.full((3, 8, 8), 50, np.float32)).run().wait()
    assert stored_scale(path) == (0.0, 100.0)
    stored = [p.asarray()[0, 0] for p in tifffile.TiffFile(path).pages] if "%" not in name else \
        [tifffile.imread(path % i)[0, 0] for i in range(6)]
    decoded = np.array(stored, np.float64) * 100 / 65535  # 10 and 50 on the one scale 0..100
    np.testing.assert_allclose(decoded, [10] * 3 + [50] * 3, atol=100 / 65535)


def test_frames_are_not_appended_to_an_imagej_stack_and_the_error_says_why(tmp_path):
    path = str(tmp_path / "ij.tif")
    ufo.Writer(path=path)(np.ones((3, 8, 8), np.float32)).run().wait()
    with pytest.raises(ufo.core.TaskError, match="is an ImageJ TIFF stack.*tiff-format=bigtiff"):
        ufo.Writer(path=path, append=True)(np.ones((2, 8, 8), np.float32)).run().wait()


def test_a_directory_walker_keeps_its_data_sets_inside_its_folder(tmp_path):
    """'../../escape.tif' and '/abs' were written outside the walker's root; a '%' in a folder broke
    the frame-number pattern."""
    import asyncio
    import os

    from ufo.core import UsageError
    from ufo.storage.walker import walker

    w = walker(str(tmp_path / "root"))
    frames = [np.ones((4, 4), np.float32)] * 2

    async def go():
        for name in ("../../escape.tif", "/abs", ".."):
            with pytest.raises(UsageError, match="leads out of the walker's folder"):
                await w.write(frames, name)
        w.descend("50%")
        await w.write(frames, "projections")

    asyncio.run(go())
    assert sorted(os.listdir(tmp_path / "root" / "50%" / "projections")) == ["frame-00000.tif", "frame-00001.tif"]
    assert not (tmp_path / "escape.tif").exists() and not os.path.exists("/abs")


def test_a_raw_file_of_big_endian_frames_reads_back_as_written(tmp_path):
    """A headerless file is read in this machine's byte order: big-endian frames (FITS, a
    foreign HDF5, np.fromfile(..., '>u2')) were written byte for byte, so ufo's own raw reader
    read 256x each value (and float32 as 1e-14 or -1e16). Values are now written, not bytes."""
    frames = np.arange(3 * 4 * 5, dtype=">u2").reshape(3, 4, 5)
    ufo.Writer(path=str(tmp_path / "be.raw"))(frames).run().wait()
    back = ufo.Reader(path=str(tmp_path / "be.raw"), raw_width=5, raw_height=4, raw_dtype="uint16")().collect()
    np.testing.assert_array_equal(back, frames)
    floats = (np.arange(20, dtype=">f4") / 7).reshape(1, 4, 5)
    ufo.Writer(path=str(tmp_path / "be32.raw"))(floats).run().wait()
    np.testing.assert_array_equal(np.fromfile(tmp_path / "be32.raw", np.float32).reshape(1, 4, 5), floats)


@pytest.mark.parametrize("name", ["s.h5:/data", "s.nx", "s.tif"])
def test_frames_appended_of_another_type_or_shape_are_refused(tmp_path, name):
    """HDF5 stored appended float32 0.75 as uint16 0 and int32 -3 as 0 (exit 0); a BigTIFF took frames
    of another shape or type, and ufo then could not read the stack at all (two series)."""
    path = str(tmp_path / name)
    tiff = {"tiff_format": "bigtiff"} if name.endswith(".tif") else {}
    ufo.Writer(path=path, **tiff)(np.full((3, 16, 20), 5, np.uint16)).run().wait()
    for frames in (np.full((2, 16, 20), 0.75, np.float32), np.full((2, 16, 20), -3, np.int32)):
        with pytest.raises(ufo.core.TaskError, match="int32|float32"):
            ufo.Writer(path=path, append=True, **tiff)(frames).run().wait()
    if name.endswith(".tif"):
        with pytest.raises(ufo.core.TaskError, match=r"has shape \(8, 8\) uint16, .* holds frames of shape \(16, 20\) uint16"):
            ufo.Writer(path=path, append=True, **tiff)(np.ones((2, 8, 8), np.uint16)).run().wait()
    ufo.Writer(path=path, append=True, **tiff)(np.full((2, 16, 20), 7, np.uint8)).run().wait()  # fits: taken
    np.testing.assert_array_equal(ufo.Reader(path=path)().collect()[:, 0, 0], [5, 5, 5, 7, 7])


def test_every_part_of_a_split_integer_stack_says_its_scale():
    """With bytes_per_file only the first part said scale_min/scale_step: the others' integers could
    not be mapped back to values once the parts were apart."""
    import json
    import tempfile

    import tifffile

    with tempfile.TemporaryDirectory() as folder:
        frames = np.linspace(-10, 119, 10 * 64 * 64, dtype=np.float32).reshape(10, 64, 64)
        ufo.Writer(path=f"{folder}/s.tif", bits=16, bytes_per_file=20000)(frames).run().wait()
        parts = sorted(glob.glob(f"{folder}/s-*.tif"))
        assert len(parts) > 2
        for part in parts:
            with tifffile.TiffFile(part) as tif:
                record = json.loads(tif.pages[0].description)
                stored = tif.pages[-1].asarray()
            index = record["index"] + len(tif.pages) - 1
            values = record["scale_min"] + stored.astype(np.float64) * record["scale_step"]
            np.testing.assert_allclose(values, frames[index], atol=record["scale_step"])
