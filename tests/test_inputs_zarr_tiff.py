"""Zarr arrays and TIFF files as other tools write them (zarr-python, tifffile as ImageJ does):
frames of the fill value that zarr never stores, a missing array named, ImageJ's one-IFD
big-endian stacks, a file of another type inside a sequence (scratch/probes/inputs.md)."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest
import tifffile

import ufo
from ufo.core import InputError
from ufo.storage.tiff_frames import TiffFrames

zarr = pytest.importorskip("zarr")


def read_with_warnings(path: str) -> tuple[np.ndarray, list[str]]:
    out: list[np.ndarray] = []
    handle = ufo.MemoryOut(out=out)(ufo.Reader(path=path)()).run()
    handle.wait(timeout=30)
    return np.stack(out), list(handle.warnings)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_frames_of_the_fill_value_in_another_tools_zarr_array_are_read_where_they_are(tmp_path, zarr_format):
    """zarr-python stores no chunk that holds only the fill value (write_empty_chunks=False, its
    default): a 20-frame stack whose first 5 frames and frame 12 are zeros stores 14 chunks.
    ufo read 14 frames (the zero ones, then frames 5..13 shifted into place) and blamed a
    stopped writer; zarr reads 20, the missing chunks as the fill value, and so does ufo now."""
    stack = np.arange(1, 21, dtype=np.uint16)[:, None, None] * np.ones((20, 16, 16), np.uint16)
    stack[:5] = 0
    stack[12] = 0
    path = str(tmp_path / "masks.zarr")
    array = zarr.create_array(path, shape=stack.shape, chunks=(1, 16, 16), dtype=stack.dtype,
                              zarr_format=zarr_format, fill_value=0)
    array[:] = stack
    assert array.nchunks_initialized == 14  # what zarr stored
    frames, warnings = read_with_warnings(path)
    np.testing.assert_array_equal(frames, zarr.open_array(path, mode="r")[:])
    np.testing.assert_array_equal(frames, stack)
    # no stopped writer blamed; the frames without chunks named, as a lost chunk file reads the same
    assert len(warnings) == 1 and "frames 0-4, 12 (6 of 20) have chunks that are not stored" in warnings[0] \
        and "stopped" not in warnings[0], warnings


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_another_tools_zarr_array_with_frames_of_the_fill_value_at_its_end_says_why_it_stops(tmp_path, zarr_format):
    """Frames past the last stored chunk are cut there (a recorded shape of 10^15 frames streamed
    zeros without end): said, naming the fill value zarr would read them as."""
    stack = np.arange(1, 11, dtype=np.float32)[:, None, None] * np.ones((10, 8, 8), np.float32)
    stack[0] = stack[7:] = 0
    path = str(tmp_path / "tail.zarr")
    zarr.create_array(path, shape=stack.shape, chunks=(1, 8, 8), dtype=stack.dtype, zarr_format=zarr_format,
                      fill_value=0)[:] = stack
    frames, warnings = read_with_warnings(path)
    np.testing.assert_array_equal(frames, stack[:7])
    assert any("records 10 frames, its last stored chunk ends at frame 7" in w and "fill value, 0.0" in w
               for w in warnings), warnings


def test_ufos_own_zarr_array_stores_frames_of_zeros_and_is_cut_at_its_first_unwritten_frame(tmp_path):
    """ufo's writer stores every chunk and marks its arrays; a chunk missing within their shape is
    a frame its writer never stored, so they read up to the first missing one, and say so."""
    from ufo.storage.zarr_frames import OWN_ARRAY, ZarrFrames

    stack = np.arange(10, dtype=np.float32)[:, None, None] * np.ones((10, 8, 8), np.float32)  # frame 0 is zeros
    path = str(tmp_path / "own.zarr")
    ufo.Writer(path=path, compression="zstd")(stack).run().wait()
    array = zarr.open_group(path, mode="r")["data"]
    assert array.attrs[OWN_ARRAY] is True and array.nchunks_initialized == 10
    np.testing.assert_array_equal(read_with_warnings(path)[0], stack)
    os.remove(os.path.join(path, "data", "c.6.0.0"))  # a frame recorded, its chunk never stored
    frames = ZarrFrames(path, "data")
    assert frames.count == 6
    assert [frames.read(i, slice(None), None)[0, 0] for i in range(6)] == list(range(6))
    assert frames.warnings == [(f"'{path}' records 10 frames but stores the first 6: reading those (ufo's writer "
                                "of it stopped before the rest)")]


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_a_zarr_array_that_is_not_there_is_an_input_error_naming_the_store_and_its_arrays(tmp_path, zarr_format):
    """'store.zarr:/9' of an OME-Zarr image with levels 0, 1, 2 said "node 'read' cannot take its
    input (): '9'"."""
    path = str(tmp_path / "ome.zarr")
    group = zarr.open_group(path, mode="w", zarr_format=zarr_format)
    for level, size in enumerate((32, 16, 8)):
        group.create_array(str(level), shape=(4, size, size), dtype=np.uint16)[:] = level + 1
    group.create_array("labels/mask", shape=(4, 8, 8), dtype=np.uint8)[:] = 1
    message = (f"node 'read': Zarr store '{path}' has no array '/9'; its arrays: /0, /1, /2, /labels/mask "
               f"(e.g. {path}:/0)")
    with pytest.raises(InputError) as error:
        ufo.Reader(path=f"{path}:/9")().collect()
    assert str(error.value) == message
    with pytest.raises(InputError, match="has no array '/0/x'; its arrays: /0, /1, /2"):
        ufo.Reader(path=f"{path}:/0/x")().collect()
    with pytest.raises(InputError, match="has a group at '/labels', not an array; its arrays there: /labels/mask"):
        ufo.Reader(path=f"{path}:/labels")().collect()
    np.testing.assert_array_equal(ufo.Reader(path=f"{path}:/2")().collect(), np.full((4, 8, 8), 3, np.uint16))


def imagej_one_ifd(path: str, stack: np.ndarray, byteorder: str) -> None:
    """An ImageJ stack as ImageJ writes those over 4 GB: one IFD with 'images=N' in its description,
    the N frames' pixels one after the other behind it (tifffile's ImageJ stack, its IFD chain
    ended after the first IFD)."""
    tifffile.imwrite(path, stack, imagej=True, byteorder=byteorder, metadata={"axes": "ZYX"})
    with open(path, "rb") as f:
        data = bytearray(f.read())
    (first,) = struct.unpack(byteorder + "I", data[4:8])
    (entries,) = struct.unpack(byteorder + "H", data[first:first + 2])
    data[first + 2 + 12 * entries:first + 6 + 12 * entries] = b"\0\0\0\0"  # no next IFD
    with open(path, "wb") as f:
        f.write(bytes(data))


@pytest.mark.parametrize("byteorder", [">", "<"], ids=["big-endian", "little-endian"])
@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_an_imagej_one_ifd_stack_reads_every_frame_in_either_byte_order(tmp_path, byteorder, dtype):
    """ImageJ writes big-endian ('MM') by default; such a one-IFD stack read as 1 frame, silently."""
    stack = (np.arange(5)[:, None, None] * 1000 + np.arange(32 * 48).reshape(32, 48)).astype(dtype)
    path = str(tmp_path / "ij.tif")
    imagej_one_ifd(path, stack, byteorder)
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 1 and tif.byteorder == byteorder
        theirs = tif.series[0].asarray()
    frames = TiffFrames([path])
    assert frames.count == len(theirs) == 5 and not frames.warnings
    for i in range(5):
        np.testing.assert_array_equal(frames.read(i, slice(None), None), theirs[i])
        out = np.empty((32, 48), dtype)
        assert frames.read(i, slice(None), out) is out
        np.testing.assert_array_equal(out, theirs[i])
        np.testing.assert_array_equal(frames.read(i, slice(5, 9), None), theirs[i, 5:9])
    frames.close()
    got = ufo.Reader(path=path)().collect()
    assert got.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(got, stack)


def test_a_big_endian_page_is_still_one_frame_and_read_by_tifffile(tmp_path):
    """Only a one-IFD ImageJ stack reads past its page: another big-endian single page stays one."""
    path = str(tmp_path / "be.tif")
    frame = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    tifffile.imwrite(path, frame, byteorder=">", photometric="minisblack", description="not imagej")
    with open(path, "ab") as f:
        f.write(frame.tobytes() * 2)  # room for more frames behind it: not a stack for that
    frames = TiffFrames([path])
    assert frames.count == 1 and frames._plain[path] == [None]
    np.testing.assert_array_equal(frames.read(0, slice(None), None), frame)
    frames.close()


@pytest.mark.parametrize("compression", [None, "zlib"], ids=["plain", "compressed"])
def test_a_file_of_another_type_in_a_sequence_is_named_with_both_types(tmp_path, compression):
    """A float32 file among uint16 ones was refused as "(truncated or corrupt?): cannot cast float32
    to uint16"; the file is fine, of another type, and the error says that."""
    for i in range(4):
        tifffile.imwrite(tmp_path / f"t_{i}.tif", np.full((8, 8), 1000.5 + i, np.float32 if i == 2 else np.uint16),
                         compression=compression)
    with pytest.raises(ufo.core.TaskError) as error:
        ufo.Reader(path=str(tmp_path))().collect()
    assert str(error.value) == (f"task 'read' failed: InputError: '{tmp_path}/t_2.tif' holds float32 frames, the first "
                                f"file '{tmp_path}/t_0.tif' uint16: all frames of one stream must have one type "
                                "(convert the odd file, or read the files apart)")
    frames = TiffFrames([str(tmp_path / f"t_{i}.tif") for i in range(4)])
    for out in (None, np.empty((8, 8), np.uint16)):  # not passed on as a float32 frame either
        with pytest.raises(InputError, match="t_2.tif' holds float32 frames"):
            frames.read(2, slice(None), out)
    np.testing.assert_array_equal(frames.read(3, slice(None), None), np.full((8, 8), 1003, np.uint16))
    frames.close()
