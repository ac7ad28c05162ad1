"""A Zarr output of a camera that dropped frames says which (a soak probe at 2560 x 2160, 100/s).

`ufo camera grab mock -n 100 -o zd.zarr:/d` said "31 dropped" on the terminal, and the store held
100 frames whose pixels showed camera frames 0..130 with nothing in the store to say so: read
later (napari, dask, a script) they were 100 consecutive frames, a scan's angles off after the
first gap. HDF5 records the gaps and an ImageJ stack lists the frame numbers; Zarr does now too
(the array's attributes `frames_dropped` and `frame_numbers`, ranges as ImageJ's header lists them),
and ufo's reader gives each frame its number back.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import zarr

from ufo.storage.writers import open_writer
from ufo.storage.zarr_frames import ZarrFrames

NUMBERS = [0, 1, 2, 5, 6, 9, 10, 11, 20]  # 12 dropped: 3-4, 7-8, 12-19


def _write(path, numbers, **options):
    with open_writer(path, record_drops=True, **options) as writer:
        for n in numbers:
            writer.write(np.full((6, 5), n, np.uint16), {"frame_number": n})


@pytest.mark.parametrize("compression", [None, "zstd"], ids=["direct", "zarr-python"])
@pytest.mark.parametrize("zarr_format", [2, 3])
def test_the_gaps_of_a_camera_s_frames_are_in_the_store(tmp_path, compression, zarr_format):
    path = tmp_path / "s.zarr"
    _write(f"{path}:/d", NUMBERS, compression=compression, zarr_format=zarr_format)
    attrs = dict(zarr.open_group(str(path), mode="r")["d"].attrs)
    assert attrs["frames_dropped"] == 12 and attrs["frame_numbers"] == "0-2,5-6,9-11,20"
    frames = ZarrFrames(str(path), "d")
    assert [frames.meta(i)["frame_number"] for i in range(frames.count)] == NUMBERS
    assert [int(frames.read(i, slice(None), None)[0, 0]) for i in range(frames.count)] == NUMBERS


def test_appended_frames_add_to_the_record(tmp_path):
    path = f"{tmp_path / 's.zarr'}:/d"
    _write(path, NUMBERS[:4])  # 0-2, 5: 2 dropped
    _write(path, [30, 31, 33], append=True)  # 24 dropped before 30, 1 in between
    attrs = dict(zarr.open_group(str(tmp_path / "s.zarr"), mode="r")["d"].attrs)
    assert attrs["frame_numbers"] == "0-2,5,30-31,33"
    assert attrs["frames_dropped"] == 2 + 1  # each writer counts the gaps it saw; the numbers say the rest
    frames = ZarrFrames(str(tmp_path / "s.zarr"), "d")
    assert [frames.meta(i)["frame_number"] for i in range(frames.count)] == [0, 1, 2, 5, 30, 31, 33]


def test_frames_without_gaps_leave_no_record(tmp_path):
    _write(f"{tmp_path / 's.zarr'}:/d", range(5))
    assert "frame_numbers" not in zarr.open_group(str(tmp_path / "s.zarr"), mode="r")["d"].attrs
    assert ZarrFrames(str(tmp_path / "s.zarr"), "d").meta(0) == {}


def test_a_camera_grab_into_zarr_records_what_it_dropped(tmp_path):
    """The mock camera's counter pattern writes each frame's number into its pixels."""
    out = tmp_path / "g.zarr"
    grab = subprocess.run([sys.executable, "-m", "ufo", "camera", "grab", "mock", "-n", "40", "-o", f"{out}:/d",
                           "-p", "pattern=counter", "-p", "frames-per-second=2000", "-p", "buffered=true",
                           "-p", "num-buffers=2", "-p", "sensor-width=512", "-p", "sensor-height=512"],
                          capture_output=True, text=True, timeout=300)
    assert grab.returncode == 0, grab.stderr
    frames = ZarrFrames(str(out), "d")
    pixels = [int(frames.read(i, slice(0, 1), None)[0, 0]) for i in range(frames.count)]
    if pixels == list(range(frames.count)):
        pytest.skip("the camera dropped nothing this time")
    assert [frames.meta(i)["frame_number"] for i in range(frames.count)] == pixels


@pytest.mark.parametrize(("first", "then", "numbers"), [
    ([0, 1, 3, 4], [5, 6, 7], [0, 1, 3, 4, 5, 6, 7]),  # gaps, then none: the record goes on over the new frames
    ([0, 1, 2], [3, 5], [None, None, None, 3, 5]),  # none, then gaps: the record starts at the appended frames
])
def test_an_append_keeps_the_record_in_step_with_the_frames(tmp_path, first, then, numbers):
    """The record covered only some frames (4 ranges' worth for 7 frames): the reader dropped every number."""
    path = f"{tmp_path / 's.zarr'}:/d"
    _write(path, first)
    _write(path, then, append=True)
    frames = ZarrFrames(str(tmp_path / "s.zarr"), "d")
    assert [frames.meta(i).get("frame_number") for i in range(frames.count)] == numbers


def _write_unnumbered(path, count, **options):
    with open_writer(path, record_drops=True, **options) as writer:
        for n in range(count):
            writer.write(np.full((6, 5), 99, np.uint16), {})


def test_frames_appended_without_numbers_end_the_record(tmp_path):
    """Frames without numbers appended after a record left it covering 4 of 7 frames: the reader
    found a list that did not fit and dropped every frame's number. The record says where it ends."""
    path, store = f"{tmp_path / 's.zarr'}:/d", str(tmp_path / "s.zarr")
    _write(path, [0, 1, 3, 4])
    _write_unnumbered(path, 3, append=True)
    frames = ZarrFrames(store, "d")
    assert [frames.meta(i).get("frame_number") for i in range(frames.count)] == [0, 1, 3, 4, None, None, None]
    with pytest.warns(RuntimeWarning, match="frames 4-6 have no frame number"):
        _write(path, [10, 12], append=True)  # numbers after a block without: the record cannot go on
    frames = ZarrFrames(store, "d")
    assert [frames.meta(i).get("frame_number") for i in range(frames.count)] == [0, 1, 3, 4] + [None] * 5


def test_a_writer_whose_frames_lose_their_numbers_records_the_numbered_ones(tmp_path):
    with open_writer(f"{tmp_path / 's.zarr'}:/d", record_drops=True) as writer:
        for meta in ({"frame_number": 0}, {"frame_number": 2}, {}, {}):
            writer.write(np.zeros((6, 5), np.uint16), meta)
    frames = ZarrFrames(str(tmp_path / "s.zarr"), "d")
    assert [frames.meta(i).get("frame_number") for i in range(frames.count)] == [0, 2, None, None]
