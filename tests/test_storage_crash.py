"""Nothing acquired is lost: a writer killed by SIGKILL, or stopped by a full disk, leaves files
that read back every frame it had reported written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import ufo
from ufo.core import InputError
from ufo.storage import open_writer

from .small_disk import small_disk as mounted

FORMATS = ["stack.tif", "scan.h5:/data", "scan.nx", "seq/f-%05i.tif", "frames.raw", "stack.zarr"]
SHAPE = (64, 96)

CHILD = r"""
import sys, numpy as np
from ufo.storage import open_writer
writer = open_writer(sys.argv[1])
frame = np.zeros((64, 96), np.uint16)
for i in range(10**6):
    frame[:] = i
    writer.write(frame, {"image_key": 0, "angle": 0.01 * i})
    print(i, flush=True)
"""


def read_back(path):
    if path.endswith(".raw"):
        return ufo.Reader(path=path, raw_width=SHAPE[1], raw_height=SHAPE[0])().collect()
    if "%" in path:
        return ufo.Reader(path=os.path.dirname(path))().collect()
    return ufo.Reader(path=path)().collect()


@pytest.mark.parametrize("name", FORMATS)
def test_sigkill_mid_stream_loses_no_reported_frame(tmp_path, name):
    if name.endswith(".zarr"):
        pytest.importorskip("zarr")
    path = str(tmp_path / name)
    child = subprocess.Popen([sys.executable, "-c", CHILD, path], stdout=subprocess.PIPE, text=True)
    reported = -1
    deadline = time.time() + 60
    while reported < 60 and time.time() < deadline:
        line = child.stdout.readline()
        if line:
            reported = int(line)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    for line in child.stdout:  # lines printed before the kill
        reported = int(line)
    frames = read_back(path)
    assert len(frames) >= reported + 1, f"{len(frames)} frames readable, {reported + 1} reported written"
    assert [int(f[0, 0]) for f in frames] == list(range(len(frames)))
    assert all(np.all(f == f[0, 0]) for f in frames)


@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MiB filesystem (tmpfs; needs root, as CI has)."""
    with mounted(tmp_path, "1m") as mount:
        yield mount


@pytest.mark.parametrize("name", ["stack.tif", "scan.h5:/data", "seq/f-%05i.tif", "frames.raw"])
def test_full_disk_gives_a_clear_error_and_keeps_earlier_frames(small_disk, name):
    path = str(small_disk / name)
    frame = np.zeros(SHAPE, np.uint16)  # 12 KiB: about 80 fit
    writer = open_writer(path)
    written = 0
    with pytest.raises(InputError, match="full after"):
        for i in range(1000):
            frame[:] = i
            writer.write(frame, {"index": i})
            written += 1
    try:
        writer.close()
    except InputError:
        pass
    assert written > 10
    frames = read_back(path)
    assert len(frames) >= written - 1  # at most the frame being written when the disk filled is lost
    assert [int(f[0, 0]) for f in frames] == list(range(len(frames)))


def test_a_killed_imagej_stack_shows_its_frames_to_tifffile_and_imagej(tmp_path):
    """A classic ImageJ stack (`ufo reco --output slices.tif`: the count known) killed mid-write held
    40 whole slices whose header said one: tifffile and ImageJ showed one (a probe); only ufo's
    reader walked them. Its header's count now follows the pages."""
    import tifffile

    path = str(tmp_path / "stack.tif")
    child = subprocess.Popen([sys.executable, "-c", CHILD.replace("open_writer(sys.argv[1])",
                                                                  "open_writer(sys.argv[1], expected_frames=10**4)"),
                              path], stdout=subprocess.PIPE, text=True)
    reported = -1
    while reported < 30:
        reported = int(child.stdout.readline())
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    for line in child.stdout:
        reported = int(line)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej
        frames = tif.series[0].asarray()  # what ImageJ reads: the header's count, the pages one after another
    assert reported + 1 <= len(frames) <= reported + 2 and frames.shape[1:] == SHAPE
    assert [int(f[0, 0]) for f in frames] == list(range(len(frames)))
