"""A camera's dropped frames in a classic ImageJ stack, and its header after a kill.

A grab that dropped 106 of 166 frames into `-o stack.tif` read back as 60 consecutive frames
(no metadata per page in ImageJ's format): a series at wrong angles, no sign of it. The header's
description now says `frames_dropped` and the pages' `frame_numbers` once a gap appears, also
in a stack whose writer was killed; and that description is read whole after a kill (its IFD
count said the first text's 54 bytes: '...hyperstack=true\\nmode=').
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import tifffile

from ufo.storage import open_writer

NUMBERS = [0, 1, 2, 5, 6, 9, 10, 11, 20, 21]
WRITE = """
import os, sys
import numpy as np
from ufo.storage import open_writer
w = open_writer(sys.argv[1], True, expected_frames=100)
for n in {numbers}:
    w.write(np.full((64, 64), n, np.uint16), {meta})
{end}
"""


def _write(path, numbers, meta, end):
    code = WRITE.format(numbers=numbers, meta=meta, end=end)
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=60)
    with tifffile.TiffFile(path) as tif:
        return tif.is_imagej, tif.imagej_metadata, tif.asarray()


def test_gaps_in_the_frame_numbers_are_said_in_the_header(tmp_path):
    imagej, header, frames = _write(tmp_path / "s.tif", NUMBERS, '{"frame_number": n}', "w.close()")
    assert imagej and frames[:, 0, 0].tolist() == NUMBERS
    assert header["frames_dropped"] == 12 and header["frame_numbers"] == "0-2,5-6,9-11,20-21"
    _, header, _ = _write(tmp_path / "t.tif", list(range(10)), '{"frame_number": n}', "w.close()")
    assert "frames_dropped" not in header and header["images"] == 10  # no gap: nothing to say
    _, header, _ = _write(tmp_path / "u.tif", list(range(10)), "{}", "w.close()")
    assert "frame_numbers" not in header


def test_a_killed_stack_says_its_count_its_gaps_and_its_whole_header(tmp_path):
    _, header, _ = _write(tmp_path / "k.tif", NUMBERS, '{"frame_number": n}', "os._exit(0)")
    assert header["images"] == 10 and header["mode"] == "grayscale", header
    assert header["frames_dropped"] == 12 and header["frame_numbers"] == "0-2,5-6,9-11,20-21"
    _, header, _ = _write(tmp_path / "p.tif", NUMBERS, "{}", "os._exit(0)")
    assert header["images"] == 10 and header["mode"] == "grayscale", header


def test_a_long_list_of_gaps_is_written_at_close_past_the_header_room(tmp_path):
    numbers = np.arange(0, 60000, 2)  # 30000 ranges: past the room kept in the header
    path = tmp_path / "l.tif"
    writer = open_writer(str(path), True, expected_frames=len(numbers))
    for n in numbers:
        writer.write(np.zeros((4, 4), np.uint8), {"frame_number": int(n)})
    writer.close()
    with tifffile.TiffFile(path) as tif:
        header = tif.imagej_metadata
    assert header["frames_dropped"] == 29999 and header["frame_numbers"].split(",")[-1] == "59998"


def test_the_listed_numbers_come_back_with_the_frames_and_their_gaps_reach_hdf5(tmp_path):
    """Read back, each frame carries its number; written on to HDF5, the drops are recorded there."""
    import h5py

    from ufo.storage import open_source

    _write(tmp_path / "s.tif", NUMBERS, '{"frame_number": n}', "w.close()")
    source = open_source(str(tmp_path / "s.tif"))
    assert [source.meta(i).get("frame_number") for i in range(source.count)] == NUMBERS
    source.close()
    done = subprocess.run([sys.executable, "-m", "ufo", "run", "-q", "read path=s.tif ! write path=s.h5"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with h5py.File(tmp_path / "s.h5") as f:
        assert int(f["data"].attrs["frames_dropped"]) == 12


def test_a_list_that_does_not_fit_the_pages_numbers_none(tmp_path):
    """A damaged header ('0-3,10-300000000' for 10 pages) was expanded whole (a MemoryError); a list
    shorter than the pages numbered the rest 0; numbers that fall read as drops."""
    from ufo.storage.imagej import frame_numbers_of

    assert frame_numbers_of("ImageJ=1.11a\nframe_numbers=0-3,10-300000000\n", 10) is None
    assert frame_numbers_of("frame_numbers=0-3,10\n", 10) is None
    assert frame_numbers_of("frame_numbers=5-9,0-4\n", 10) is None
    assert frame_numbers_of("frame_numbers=0-3,10-15\n", 10) == [0, 1, 2, 3, 10, 11, 12, 13, 14, 15]
