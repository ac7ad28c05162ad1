"""Dropped frames are reported exactly, with their numbers: by the 'camera' source task (real camera
threads, the buffered mock on its clock, a real graph with a slow sink) and in HDF5 files (real files).
"""

from __future__ import annotations

import re
import time

import h5py
import numpy as np

import ufo
from ufo.camera import open_camera
from ufo.core import Kind, Task
from ufo.storage import open_writer


class SlowSink(Task):
    name = "slow-sink"
    kind = Kind.SINK

    def __init__(self, delay: float, **kw):
        super().__init__(**kw)
        self.delay = delay
        self.numbers: list[int] = []

    def consume(self, frame):
        self.numbers.append(int(frame[0, 0]))  # pattern=counter: every pixel is the frame number
        time.sleep(self.delay)


class SlowStep(Task):
    """Passes frames on, slowly: the graph falls behind the camera."""

    name = "slow-step"

    def __init__(self, delay: float, **kw):
        super().__init__(**kw)
        self.delay = delay

    def process(self, frame, out=None):
        time.sleep(self.delay)
        return frame


def _expand(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(", "):
        first, _, last = part.partition("-")
        out.extend(range(int(first), int(last or first) + 1))
    return out


def test_a_slow_graph_gets_the_drops_between_its_frames_reported_with_their_numbers():
    sink = SlowSink(0.02)  # 50 frames/s downstream, the camera makes 250
    source = ufo.CameraSource(camera="mock", number=60, buffered=True,
                              settings="sensor-width=1024,sensor-height=1024,pattern=counter,"
                                       "frames-per-second=250,num-buffers=2")
    handle = sink(source).run()
    handle.wait()
    numbers = sink.numbers
    missing = sorted(set(range(numbers[-1] + 1)) - set(numbers))
    assert len(numbers) == 60 and numbers == sorted(numbers) and missing  # the graph was too slow: gaps
    (warning,) = [w for w in handle.warnings if "dropped" in w]
    # before: the ring buffer's count, which goes on while the graph drains after the last frame, and no numbers
    count = int(re.search(r"dropped (\d+) frame", warning).group(1))
    assert count == len(missing), warning
    assert _expand(re.search(r"frame numbers ([\d, -]+)\)", warning).group(1)) == missing


def test_an_unbuffered_camera_slowed_by_the_graph_says_so():
    sink = SlowSink(0.03)
    source = ufo.CameraSource(camera="mock", number=60,
                              settings="sensor-width=1024,sensor-height=1024,frames-per-second=250")
    handle = sink(source).run()
    handle.wait()
    assert sink.numbers == list(range(60))  # unbuffered: nothing dropped, the camera waited
    assert any("grabbed later than its 250 frames/s allow" in w for w in handle.warnings), handle.warnings


def test_an_hdf5_file_lists_every_gap_of_a_long_recording(tmp_path):
    # every other frame dropped: 10 009 gaps (before: the table stopped at 10 000 rows, silently, while
    # frames_dropped said 10 009; 5 minutes of a camera at 100 frames/s can drop that way)
    n = 10_010
    writer = open_writer(f"{tmp_path}/d.h5:/data", record_drops=True)
    frame = np.zeros((2, 2), np.uint16)
    for i in range(n):
        writer.write(frame, {"frame_number": 2 * i})
    writer.close()
    with h5py.File(tmp_path / "d.h5") as f:
        table = f["data_dropped_frames"][:]
        assert f["data"].attrs["frames_dropped"] == n - 1 == len(table) == table[:, 2].sum()
        assert list(table[-1]) == [n - 1, 2 * n - 3, 1]


def test_each_frames_dropped_count_is_what_was_missing_before_it(tmp_path):
    # before: the ring buffer's count when the frame was grabbed, which includes frames numbered after it
    # (an HDF5 file showed 3 frames dropped before frame 7 when 8-10 were the ones dropped)
    cam = open_camera("mock", sensor_width=256, sensor_height=256, frames_per_second=500,
                                 buffered=True, num_buffers=2)
    writer = open_writer(f"{tmp_path}/d.h5:/data", record_drops=True)
    with cam.recording():
        for _ in range(30):
            frame = cam.grab()
            writer.write(frame, frame.meta)
            time.sleep(0.01)  # 100 frames/s taken of 500
    writer.close()
    with h5py.File(tmp_path / "d.h5") as f:
        numbers, dropped = f["data_frame_number"][:], f["data_dropped"][:]
        assert f["data"].attrs["frames_dropped"] == numbers[-1] + 1 - 30 > 0
    assert list(dropped) == [int(n) - i for i, n in enumerate(numbers)]


def test_a_recording_written_by_a_graph_keeps_its_drops_in_the_hdf5_file(tmp_path):
    """`camera ... ! write path=x.h5:/data` stored the frames but not which were dropped (the write
    task's writer did not record them, as `ufo camera grab`'s does)."""
    path = tmp_path / "rec.h5"
    source = ufo.CameraSource(camera="mock", number=120, buffered=True,
                              settings="sensor-width=512,sensor-height=256,pattern=counter,"
                                       "frames-per-second=500,num-buffers=2")
    writer = ufo.Write(path=f"{path}:/data")
    handle = writer(SlowStep(0.02)(source)).run()
    handle.wait()
    with h5py.File(path) as f:
        numbers = [int(frame[0, 0]) for frame in f["/data"]]
        missing = sorted(set(range(numbers[-1] + 1)) - set(numbers))
        assert missing and len(numbers) == 120
        assert int(f["/data"].attrs["frames_dropped"]) == len(missing)
        table = f["/data_dropped_frames"][()]
    assert sum(int(row[2]) for row in table) == len(missing)
    assert [n for row in table for n in range(int(row[1]), int(row[1]) + int(row[2]))] == missing
