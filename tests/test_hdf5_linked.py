"""HDF5 files whose frames live in other files, reached through external links (a Dectris Eiger
master: /entry/data/data_000001 ... linking the data files, beside its 2-D pixel mask).

The search for the frames' data set followed no external link: the pixel mask was the one image
data set it saw, and `ufo run "read path=master.h5 ! write ..."` wrote one frame of zeros (exit 0).
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from ufo.core.errors import UsageError
from ufo.storage import open_source


def _master(tmp_path):
    data = np.arange(8 * 16 * 12, dtype=np.uint16).reshape(8, 16, 12)
    for k in range(2):
        with h5py.File(tmp_path / f"m_data_{k + 1:06d}.h5", "w") as f:
            f.create_dataset("entry/data/data", data=data[4 * k:4 * (k + 1)])
    with h5py.File(tmp_path / "m_master.h5", "w") as f:
        for k in range(2):
            f[f"entry/data/data_{k + 1:06d}"] = h5py.ExternalLink(f"m_data_{k + 1:06d}.h5", "/entry/data/data")
        f["entry/instrument/detector/detectorSpecific/pixel_mask"] = np.zeros((16, 12), np.uint32)
    return str(tmp_path / "m_master.h5"), data


def test_a_master_file_s_linked_frames_are_candidates_not_its_pixel_mask(tmp_path):
    path, data = _master(tmp_path)
    with pytest.raises(UsageError, match=r"several image datasets; name one: .*m_master.h5:/entry/data/data_000001"):
        open_source(path)
    linked = open_source(f"{path}:/entry/data/data_000002")
    assert linked.count == 4
    np.testing.assert_array_equal(linked.read(3, slice(None), None), data[7])


@pytest.mark.parametrize("keys", [np.array([0.0, np.nan, 0.0, 0.0]), np.zeros((4, 1), np.int32)], ids=["nan", "n-by-1"])
def test_image_keys_that_are_no_key_a_frame_are_named(tmp_path, keys):
    """'cannot convert float NaN to integer', 'only 0-dimensional arrays can be converted': no file named."""
    from ufo.core.errors import InputError
    from ufo.storage import open_writer

    path = str(tmp_path / "scan.nx")
    with open_writer(path) as writer:
        for i in range(4):
            writer.write(np.ones((4, 6), np.uint16), {"image_key": 0, "angle": 0.1 * i})
    with h5py.File(path, "a") as f:
        del f["entry/instrument/detector/image_key"], f["entry/instrument/detector/image_key_control"]
        f["entry/instrument/detector/image_key"] = keys
    with pytest.raises(InputError, match=r"scan.nx:/entry/instrument/detector/image_key' does not hold one whole-number"):
        open_source(path, image_key=0)


def test_a_virtual_dataset_whose_source_holds_fewer_frames_than_mapped_is_named(tmp_path):
    """The last of 3 files held 1 of its 3 frames (an acquisition stopped early): 7 frames read,
    then HDF5's 'insufficient elements in destination selection' (exit 1), naming no file."""
    from ufo.core.errors import InputError

    data = np.arange(9 * 8 * 6, dtype=np.uint16).reshape(9, 8, 6)
    layout = h5py.VirtualLayout((9, 8, 6), np.uint16)
    for k in range(3):
        with h5py.File(tmp_path / f"part{k}.h5", "w") as f:
            f["data"] = data[3 * k:3 * k + 3] if k < 2 else data[6:7]
        layout[3 * k:3 * k + 3] = h5py.VirtualSource(f"part{k}.h5", "data", shape=(3, 8, 6))
    with h5py.File(tmp_path / "scan.h5", "w") as f:
        f.create_virtual_dataset("data", layout, fillvalue=0)
    with pytest.raises(InputError, match=r"part2.h5:data' \(it holds 1 frame\(s\) .*; 3 are mapped from it\)"):
        open_source(f"{tmp_path / 'scan.h5'}:/data")
    with h5py.File(tmp_path / "part2.h5", "w") as f:  # complete again: read as before
        f["data"] = data[6:9]
    complete = open_source(f"{tmp_path / 'scan.h5'}:/data")
    assert complete.count == 9 and int(complete.read(8, slice(None), None)[7, 5]) == int(data[8, 7, 5])


def test_a_big_endian_raw_file_reads_its_values(tmp_path):
    """ImageJ's "Save As > Raw Data" writes big-endian: raw-dtype=>u2 was refused with no way to read it."""
    import ufo

    values = (np.arange(12).reshape(3, 4) * 300).astype(">u2")
    values.tofile(tmp_path / "be.raw")
    frames = ufo.Reader(path=str(tmp_path / "be.raw"), raw_width=4, raw_height=3, raw_dtype=">u2")().collect()
    assert frames.dtype.isnative and frames.shape == (1, 3, 4)
    np.testing.assert_array_equal(frames[0], values.astype(np.uint16))


def test_a_stack_of_four_frames_tifffile_stored_as_one_rgb_page_is_said(tmp_path):
    """`tifffile.imwrite` of a (4, H, W) stack makes one RGB page: `read ! write` made a (1, 4, H, W)
    volume without a word. ufo's own stacks of 4-frame stacks are no such note."""
    import tifffile

    import ufo

    tifffile.imwrite(tmp_path / "four.tif", np.zeros((4, 16, 20), np.uint16))
    assert any("tifffile.imwrite stores a stack of 3 or 4 frames" in w for w in open_source(str(tmp_path / "four.tif")).warnings)
    ufo.Writer(path=str(tmp_path / "ours.tif"))(ufo.Stack(number=4)([np.zeros((8, 8), np.float32)] * 8)).run().wait()
    assert open_source(str(tmp_path / "ours.tif")).warnings == []


def test_a_hyperstack_s_channels_and_an_ome_tiff_s_series_are_said(tmp_path):
    """Read as one stream without a note: 2 channels of 5 time points as 10 projections, an OME-TIFF's
    flats series as projections."""
    import tifffile

    tifffile.imwrite(tmp_path / "hyper.tif", np.zeros((5, 2, 16, 20), np.uint16), imagej=True,
                     metadata={"axes": "TCYX"})
    with tifffile.TiffWriter(tmp_path / "two.ome.tif", ome=True) as writer:
        writer.write(np.zeros((6, 16, 20), np.uint16), metadata={"Name": "projections", "axes": "ZYX"})
        writer.write(np.ones((2, 16, 20), np.uint16), metadata={"Name": "flats", "axes": "ZYX"})
    hyper, ome = open_source(str(tmp_path / "hyper.tif")), open_source(str(tmp_path / "two.ome.tif"))
    assert hyper.count == 10 and any("ImageJ hyperstack of 2 channels" in w for w in hyper.warnings)
    assert ome.count == 8 and any("2 OME series (projections (6 page(s)), flats (2 page(s)))" in w for w in ome.warnings)
