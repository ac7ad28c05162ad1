"""Reading and writing every format: round trips, selections, third-party readers, bad files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
import tifffile

import ufo
from ufo.core import InputError, TaskError, UsageError
from ufo.storage.convert import to_bits


@pytest.fixture
def frames():
    rng = np.random.default_rng(1)
    return rng.random((7, 12, 10)).astype(np.float32)


@pytest.mark.parametrize("name", ["seq/frame-%05i.tif", "stack.tif", "scan.h5:/entry/data", "frames.raw"])
def test_round_trip_every_format(tmp_path, frames, name):
    path = str(tmp_path / name)
    ufo.Writer(path=path)(frames).run().wait()
    if name.endswith(".raw"):
        read = ufo.Reader(path=path, raw_width=10, raw_height=12, raw_dtype="float32")
    elif "%" in name:
        read = ufo.Reader(path=str(tmp_path / "seq"))
    else:
        read = ufo.Reader(path=path)
    back = read().collect()
    np.testing.assert_array_equal(back, frames)


def test_our_files_open_in_tifffile_and_h5py(tmp_path, frames):
    ufo.Writer(path=str(tmp_path / "f-%03i.tif"))(frames).run().wait()
    ufo.Writer(path=str(tmp_path / "stack.tif"), tiff_format="bigtiff")(frames).run().wait()  # JSON per page
    ufo.Writer(path=str(tmp_path / "s.h5:/data"))(frames).run().wait()
    assert sorted(os.listdir(tmp_path))[:2] == ["f-000.tif", "f-001.tif"]
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "f-003.tif"), frames[3])
    with tifffile.TiffFile(tmp_path / "stack.tif") as tif:
        assert tif.is_bigtiff and len(tif.pages) == 7
        np.testing.assert_array_equal(tif.pages[6].asarray(), frames[6])
        assert json.loads(tif.pages[2].description)["index"] == 2
    with h5py.File(tmp_path / "s.h5") as f:
        assert f["data"].shape == (7, 12, 10) and f["data"].chunks == (1, 12, 10)
        np.testing.assert_array_equal(f["data"][4], frames[4])
        np.testing.assert_array_equal(f["data_index"][:], np.arange(7))


def test_read_selection_of_frames_and_rows(tmp_path, frames):
    path = str(tmp_path / "stack.tif")
    tifffile.imwrite(path, frames)
    out = ufo.Reader(path=path, start=1, number=3, step=2, y=2, height=6, y_step=2)().collect()
    np.testing.assert_array_equal(out, frames[1:7:2, 2:8:2])


def test_read_sequence_in_natural_order_with_metadata(tmp_path):
    for i in (1, 2, 10, 11):
        tifffile.imwrite(tmp_path / f"p-{i}.tif", np.full((3, 3), i, np.uint16))
    got = list(ufo.Reader(path=str(tmp_path / "p-*.tif"))())
    assert [int(f[0, 0]) for f in got] == [1, 2, 10, 11]
    assert got[2].meta["path"].endswith("p-10.tif") and got[2].meta["index"] == 2
    assert got[0].dtype == np.uint16


def test_read_sequence_of_multipage_files(tmp_path, frames):
    tifffile.imwrite(tmp_path / "a-1.tif", frames[:3], photometric="minisblack")
    tifffile.imwrite(tmp_path / "a-2.tif", frames[3:], photometric="minisblack")
    np.testing.assert_array_equal(ufo.Reader(path=str(tmp_path))().collect(), frames)


def test_hdf5_dataset_found_without_a_name(tmp_path, frames):
    with h5py.File(tmp_path / "one.h5", "w") as f:
        f["group/stack"] = frames
        f["angles"] = np.arange(7.0)
    np.testing.assert_array_equal(ufo.Reader(path=str(tmp_path / "one.h5"))().collect(), frames)
    with h5py.File(tmp_path / "two.h5", "w") as f:
        f["a"] = frames
        f["b"] = frames
    with pytest.raises(UsageError, match="several image datasets.*two.h5:/a"):
        ufo.Reader(path=str(tmp_path / "two.h5"))().run()


def test_hdf5_dataset_found_by_nexus_default_attributes(tmp_path, frames):
    """A NeXus file names its data (file @default -> NXentry @default -> NXdata @signal): silx's
    writer, as nabu's reconstructions use it, puts axes beside the signal; without the chain the
    error lists the image datasets largest first."""
    from silx.io.nxdata import save_NXdata

    path = tmp_path / "silx.h5"
    axes = [np.arange(n, dtype=np.float64) for n in frames.shape]
    assert save_NXdata(str(path), frames, axes=axes, axes_names=["z", "y", "x"], nxentry_name="entry0000",
                       nxdata_name="results")
    with h5py.File(path, "a") as f:
        f["entry0000/configuration/matrix"] = np.eye(3)  # a 2-D array that is not the data
        f["entry0000/configuration/big"] = np.zeros((9, *frames.shape[1:]), np.float32)
    np.testing.assert_array_equal(ufo.Reader(path=str(path))().collect(), frames)
    with h5py.File(path, "a") as f:  # the chain broken: every image dataset a candidate, the largest first
        del f["entry0000"].attrs["default"]
        f.attrs.pop("default", None)
    with pytest.raises(UsageError, match=r"several image datasets; name one: .*silx.h5:/entry0000/configuration/big "
                                         r"\(candidates, largest first: /entry0000/configuration/big, "
                                         r"/entry0000/results/data, /entry0000/configuration/matrix\)"):
        ufo.Reader(path=str(path))().run()


def test_raw_with_offset_and_partial_frame(tmp_path):
    data = np.arange(2 * 4 * 5, dtype=np.uint16).reshape(2, 4, 5)
    (tmp_path / "x.raw").write_bytes(b"HEADER" + data.tobytes() + b"xx")
    out = ufo.Reader(path=str(tmp_path / "x.raw"), raw_width=5, raw_height=4, raw_offset=6)().collect()
    np.testing.assert_array_equal(out, data)


def test_missing_and_corrupt_inputs_give_clear_errors(tmp_path):
    with pytest.raises(UsageError, match="no files match"):  # a path to fix too: exit 2 (it exited 1)
        ufo.Reader(path=str(tmp_path / "*.tif"))().run()
    (tmp_path / "empty").mkdir()
    for path in (tmp_path / "*.tif", tmp_path / "empty"):
        run = subprocess.run([sys.executable, "-m", "ufo", "run", "-q", f"read path={path} ! null"],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 2 and "Traceback" not in run.stderr, (path, run.returncode, run.stderr)
    with pytest.raises(UsageError, match="does not exist"):  # a path to fix: exit 2
        ufo.Reader(path=str(tmp_path / "nothing.tif"))().run()
    (tmp_path / "bad.tif").write_bytes(b"not a tiff at all")
    with pytest.raises(InputError, match="bad.tif"):
        ufo.Reader(path=str(tmp_path / "bad.tif"))().run()
    with pytest.raises(UsageError, match="raw-width"):
        (tmp_path / "r.raw").write_bytes(b"\0" * 8)
        ufo.Reader(path=str(tmp_path / "r.raw"))().run()


def test_truncated_stack_yields_its_complete_frames_and_warns(tmp_path, frames):
    path = tmp_path / "stack.tif"
    ufo.Writer(path=str(path))(frames).run().wait()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    stream = ufo.Reader(path=str(path))()
    out = []
    handle = ufo.MemoryOut(out=out)(stream).run().wait()
    assert 1 <= len(out) < 7
    np.testing.assert_array_equal(np.stack(out), frames[: len(out)])
    assert any("stack.tif" in w and "truncated" in w for w in handle.warnings)


def test_truncated_single_file_fails_naming_it(tmp_path, frames):
    path = tmp_path / "one.tif"
    tifffile.imwrite(path, frames[0])
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises((TaskError, InputError), match="one.tif"):
        ufo.Reader(path=str(path))().collect()


def test_frames_of_another_shape_in_a_sequence(tmp_path):
    tifffile.imwrite(tmp_path / "a1.tif", np.zeros((4, 4), np.float32))
    tifffile.imwrite(tmp_path / "a2.tif", np.zeros((5, 4), np.float32))
    with pytest.raises(TaskError, match="a2.tif.*one shape"):
        ufo.Reader(path=str(tmp_path))().collect()


def test_existing_data_is_not_overwritten(tmp_path, frames):
    for name in ("stack.tif", "f-%02i.tif", "d.h5:/x", "r.raw"):
        path = str(tmp_path / name)
        ufo.Writer(path=path)(frames).run().wait()
        with pytest.raises(TaskError, match="refusing to overwrite"):
            ufo.Writer(path=path)(frames).run().wait()
        ufo.Writer(path=path, overwrite=True)(frames[:2]).run().wait()


def test_output_name_decides_format_or_fails_clearly():
    with pytest.raises(UsageError, match="cannot tell the format"):
        ufo.Writer(path="out.png")(np.zeros((1, 2, 2))).run()


@pytest.mark.parametrize("bits,dtype", [(8, np.uint8), (16, np.uint16), (32, np.float32)])
def test_bits_conversion(tmp_path, bits, dtype):
    frames = np.linspace(-1, 1, 2 * 4 * 4, dtype=np.float64).reshape(2, 4, 4)
    path = str(tmp_path / "b.tif")
    ufo.Writer(path=path, bits=bits, minimum=-1, maximum=1)(frames).run().wait()
    back = tifffile.imread(path)
    assert back.dtype == dtype
    if bits != 32:
        top = np.iinfo(dtype).max
        assert back.min() == 0 and back.max() == top
        np.testing.assert_allclose(back / top * 2 - 1, frames, atol=2.0 / top)


def test_to_bits_ignores_non_finite_values_for_the_range():
    frame = np.array([[0.0, np.nan], [np.inf, 2.0]], np.float32)
    out = to_bits(frame, 8)
    assert out.dtype == np.uint8 and out[0, 0] == 0 and out[1, 1] == 255 and out[0, 1] == 0


def test_a_dxchange_file_without_references_has_no_empty_reference_data_sets(tmp_path):
    """Empty data_white and data_dark were kept: dxchange hands tomopy the empty arrays, whose
    normalisation then gives NaN instead of taking the frames as they are."""
    import h5py

    from ufo.storage import open_writer

    bare, full = tmp_path / "bare.h5", tmp_path / "full.h5"
    with open_writer(str(bare), layout="dxchange") as writer:
        for i in range(3):
            writer.write(np.full((8, 8), i, np.uint16), {"image_key": 0, "angle": 0.1 * i})
    with open_writer(str(full), layout="dxchange") as writer:
        for key in (2, 1, 0, 0):
            writer.write(np.full((8, 8), key, np.uint16), {"image_key": key, "angle": 0.0})
    with h5py.File(bare, "r") as f:
        assert sorted(f["exchange"]) == ["data", "theta"] and f["exchange/data"].shape == (3, 8, 8)
    with h5py.File(full, "r") as f:
        assert {k: f["exchange"][k].shape[0] for k in ("data", "data_white", "data_dark")} == \
            {"data": 2, "data_white": 1, "data_dark": 1}
