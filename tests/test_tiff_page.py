"""The TIFF sequence writer's one-write pages (ufo.storage.tiff_page) are the TIFF files tifffile
writes for the same frame: read back by tifffile (an independent reader) and by ufo's reader
with the same pixels, dtype, description and tags; frames the module does not cover still go
through tifffile."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from ufo.storage import open_source, open_writer
from ufo.storage.tiff_page import page_header, write_page

DTYPES = ["uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
SAME = (256, 257, 258, 259, 262, 270, 277, 278, 279)  # the tags both write; offsets, resolution, software differ


def _tags(path) -> dict[int, object]:
    return {k: v.value for k, v in tifffile.TiffFile(path).pages[0].tags.items() if k in SAME}


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_page_is_what_tifffile_writes(tmp_path, dtype):
    rng = np.random.default_rng(3)
    frame = (rng.standard_normal((37, 53)) * 40).astype(dtype)
    for description in ['{"index": 7, "angle": 0.5}', "{}"]:
        assert write_page(str(tmp_path / "ours.tif"), frame, description)
        tifffile.imwrite(tmp_path / "theirs.tif", frame, description=description, metadata=None)
        ours = tifffile.TiffFile(tmp_path / "ours.tif")
        assert ours.pages[0].description == description
        read = ours.asarray()
        assert read.dtype == frame.dtype and np.array_equal(read, frame, equal_nan=True)
        assert _tags(tmp_path / "ours.tif") == _tags(tmp_path / "theirs.tif")


def test_the_sequence_writer_round_trips_through_both_readers(tmp_path):
    frames = [np.full((16, 24), i, np.uint16) + np.arange(24, dtype=np.uint16) for i in range(5)]
    with open_writer(str(tmp_path / "seq" / "frame-%05i.tif"), metadata={"units": "1/pixel"}) as writer:
        for i, frame in enumerate(frames):
            writer.write(frame, {"index": i, "angle": i * 0.1})
    files = sorted((tmp_path / "seq").iterdir())
    assert [f.name for f in files] == [f"frame-{i:05d}.tif" for i in range(5)]  # no .part left
    for i, path in enumerate(files):
        page = tifffile.TiffFile(path).pages[0]
        assert np.array_equal(page.asarray(), frames[i])
        assert json.loads(page.description) == {"index": i, "angle": i * 0.1, "units": "1/pixel"}
    source = open_source(str(tmp_path / "seq"))
    out = np.empty(source.shape, source.dtype)
    for i in range(source.count):
        source.read(i, slice(None), out)
        assert np.array_equal(out, frames[i])
    source.close()


@pytest.mark.parametrize("frame", [np.ones((4, 6), bool), np.ones((4, 6, 3), np.uint8), np.ones((4, 6), ">u2"),
                                   np.ones((4, 6), np.complex64)], ids=["bool", "rgb", "big-endian", "complex"])
def test_frames_it_does_not_cover_go_through_tifffile(tmp_path, frame):
    assert page_header(frame, "{}") is None and not write_page(str(tmp_path / "x.tif"), frame, "{}")
    assert not (tmp_path / "x.tif").exists()
    with open_writer(str(tmp_path / "seq" / "f-%05i.tif")) as writer:
        writer.write(frame, {"index": 0})
    assert np.array_equal(tifffile.imread(tmp_path / "seq" / "f-00000.tif"), frame)


def test_a_strided_frame_is_written_as_its_values(tmp_path):
    frame = np.arange(96, dtype=np.float32).reshape(8, 12)[::2, 1::3]
    assert write_page(str(tmp_path / "s.tif"), frame, "{}")
    assert np.array_equal(tifffile.imread(tmp_path / "s.tif"), frame)


@pytest.mark.parametrize("dtype", ["uint16", "float32", "bool"])  # bool: tifffile's way, with the same tags
@pytest.mark.parametrize("description", ['{"pixel_size": 6.5e-06}', '{"a": 1}', "{}"])
def test_a_sequence_s_pages_carry_the_pixel_size_as_tifffile_would(tmp_path, dtype, description):
    """`ufo reco`'s default output said its pixel size in ufo's JSON only: Fiji's Image Sequence import and
    tifffile saw none, where the ImageJ stack said 6.5 microns."""
    frame = np.arange(35, dtype=np.float32).reshape(5, 7).astype(dtype)
    with open_writer(str(tmp_path / "seq" / "s-%03i.tif"), metadata={"pixel_size": 6.5e-6}) as writer:
        writer.write(frame, {"row": 3})
    page = tifffile.TiffFile(tmp_path / "seq" / "s-000.tif").pages[0]
    assert np.array_equal(page.asarray(), frame)
    x, y = page.tags["XResolution"].value, page.tags["YResolution"].value
    assert x == y and abs(1e4 / (x[0] / x[1]) - 6.5) < 1e-6  # microns a pixel
    assert page.tags["ResolutionUnit"].value == 3  # centimetre
    assert json.loads(page.description) == {"row": 3, "pixel_size": 6.5e-6}
    theirs = tmp_path / "theirs.tif"  # the bytes tifffile writes for the same call, tag for tag
    tifffile.imwrite(theirs, frame, description=description, metadata=None, resolution=(1e4 / 6.5, 1e4 / 6.5),
                     resolutionunit="CENTIMETER")
    if dtype != "bool":
        assert write_page(str(tmp_path / "ours.tif"), frame, description, 1e4 / 6.5)
        ours = tifffile.TiffFile(tmp_path / "ours.tif").pages[0]
        want = tifffile.TiffFile(theirs).pages[0]
        for tag in (*SAME, 282, 283, 296):
            assert ours.tags[tag].value == want.tags[tag].value, tag
        assert np.array_equal(ours.asarray(), frame)
