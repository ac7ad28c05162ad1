"""Cameras on their own clock: drops counted (never a slowed-down camera), replayed scans, reports.

Real threads, real files, real timing: the tolerances leave room for a busy 2-core machine.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import time
import warnings

import h5py
import numpy as np
import pytest
import tifffile

from ufo.camera import CameraError, DroppedFramesWarning, EndOfFrames, open_camera
from ufo.storage import open_writer

FPS = 200.0


def _missing(numbers):
    """Frame numbers absent between 0 and the last one received."""
    return sorted(set(range(numbers[-1] + 1)) - set(numbers))


def _expand(runs):
    return [first + i for first, count in runs for i in range(count)]


# -- the mock camera keeps its clock --------------------------------------------------------
def test_a_slow_consumer_gets_counted_drops_not_a_slower_camera():
    cam = open_camera("mock", sensor_width=48, sensor_height=32, frames_per_second=FPS, buffered=True, num_buffers=4)
    frames = []
    with cam.recording():
        t0 = time.perf_counter()
        for _ in range(30):
            frames.append(cam.grab())
            time.sleep(0.02)  # the consumer takes 20 ms a frame, the camera makes one every 5 ms
        elapsed = time.perf_counter() - t0
    numbers = [f.meta["frame_number"] for f in frames]
    stats = cam.stats
    assert numbers == sorted(numbers) and len(set(numbers)) == 30
    assert all(int(f[0, 0]) == n for f, n in zip(frames, numbers))  # each frame is the one its number says
    # drops are counted, and the gaps in the frame numbers are exactly the drops
    assert stats.received == 30 and stats.dropped == numbers[-1] + 1 - 30 > 30
    assert _expand(stats.dropped_frames) == _missing(numbers)
    assert cam.dropped >= stats.dropped  # the ring buffer's own count (it goes on dropping after the last grab)
    # not slowed: the camera's frame numbers advanced at its clock; the last frame grabbed waited at most
    # the ring's 4 slots (4 x 20 ms of the consumer) before it was taken
    assert numbers[-1] >= FPS * (elapsed - 4 * 0.02 - 0.1)
    assert (numbers[-1] + 1) / FPS == pytest.approx(elapsed, abs=4 * 0.02 + 0.1)
    assert stats.fps_asked == FPS and stats.fps_reached < 60  # what the consumer got, against what it asked for
    assert "dropped" in stats.summary() and "frames/s reached" in stats.summary()


def test_a_camera_behind_its_clock_drops_frames_instead_of_delivering_them_late():
    slow = lambda: (time.sleep(0.012), 0.3)[1]  # rendering a frame takes 12 ms at 5 ms a frame  # noqa: E731
    cam = open_camera("mock", angle_source=slow, pattern="tomography", sensor_width=32, sensor_height=4,
                      frames_per_second=FPS, buffered=True, num_buffers=1000, max_lag=0.05)
    with cam.recording():
        numbers, behind = [], []
        for _ in range(25):
            meta = cam.grab().meta
            numbers.append(meta["frame_number"])
            behind.append(time.time() - meta["timestamp"])  # how late it came, by the camera's own clock
    assert cam.stats.dropped == numbers[-1] + 1 - 25 > 10
    # never later than max_lag (+ one frame period, the 12-ms render and scheduling slack) behind the clock
    assert max(behind) < 0.05 + 1 / FPS + 0.012 + 0.1


def test_unbuffered_grabs_report_frames_grabbed_too_late():
    cam = open_camera("mock", sensor_width=16, sensor_height=8, frames_per_second=FPS)
    with cam.recording():
        numbers = []
        for _ in range(10):
            numbers.append(cam.grab().meta["frame_number"])
            time.sleep(0.02)
    assert numbers == list(range(10))  # a synchronous grab takes the next frame, nothing is lost...
    assert cam.stats.dropped == 0 and cam.stats.late >= 8  # ...but it came later than 200 frames/s allow
    assert "later than the frame rate allows" in cam.stats.summary()


def test_a_fast_consumer_loses_nothing_at_the_asked_rate():
    cam = open_camera("mock", sensor_width=16, sensor_height=8, frames_per_second=FPS, buffered=True, num_buffers=64)
    with cam.recording():
        numbers = [cam.grab().meta["frame_number"] for _ in range(40)]
    assert numbers == list(range(40)) and cam.stats.dropped == 0
    assert cam.stats.fps_reached == pytest.approx(FPS, rel=0.15)


# -- replay -----------------------------------------------------------------------------------
def _nxtomo(path, darks=2, flats=3, projections=20, shape=(6, 10)):
    """A small scan written with ufo's own NXtomo writer; pixel value = frame index."""
    keys = [2] * darks + [1] * flats + [0] * projections
    with open_writer(str(path)) as writer:
        for i, key in enumerate(keys):
            meta = {"image_key": key}
            if key == 0:
                meta["angle"] = (i - darks - flats) * math.pi / projections
            writer.write(np.full(shape, i, np.uint16), meta)
    return keys


@pytest.mark.parametrize("buffered", [False, True])
def test_replay_streams_a_recorded_nxtomo_with_keys_and_angles_at_the_asked_rate(tmp_path, buffered):
    path = tmp_path / "scan.nx"
    keys = _nxtomo(path)
    cam = open_camera("replay", path=str(path), frames_per_second=100, buffered=buffered, num_buffers=64)
    assert cam.frame_shape == (6, 10) and cam.dtype == np.uint16 and cam.count == 25
    with cam.recording():
        t0 = time.perf_counter()
        frames = [cam.grab() for _ in range(25)]
        elapsed = time.perf_counter() - t0
        with pytest.raises(EndOfFrames, match="all 25 frames"):
            cam.grab()
    assert [int(f[0, 0]) for f in frames] == list(range(25))
    assert [f.meta["image_key"] for f in frames] == keys
    angles = [f.meta["angle"] for f in frames if f.meta["image_key"] == 0]
    np.testing.assert_allclose(angles, np.arange(20) * math.pi / 20, atol=1e-9)  # radians, as the mock gives them
    assert [f.meta["frame_number"] for f in frames] == list(range(25))
    assert elapsed == pytest.approx(24 / 100, abs=0.1)  # frame 24 is due 0.24 s after the first
    assert cam.stats.dropped == 0 and cam.stats.fps_reached == pytest.approx(100, rel=0.15)


def test_replay_drops_what_a_slow_consumer_cannot_take_and_loops(tmp_path):
    path = tmp_path / "scan.nx"
    _nxtomo(path, projections=40)
    cam = open_camera("replay", path=str(path), frames_per_second=FPS, buffered=True, num_buffers=2, loop=True)
    with cam.recording():
        frames = []
        for _ in range(20):
            frames.append(cam.grab())
            time.sleep(0.02)
    numbers = [f.meta["frame_number"] for f in frames]
    assert cam.stats.dropped == numbers[-1] + 1 - 20 > 20 and numbers[-1] >= 45  # past the end of the file: loop
    assert all(int(f[0, 0]) == n % 45 and f.meta["source_index"] == n % 45 for f, n in zip(frames, numbers))


def test_replay_a_range_of_a_tiff_stack_and_a_region(tmp_path):
    stack = np.arange(8 * 6 * 10, dtype=np.uint16).reshape(8, 6, 10)
    tifffile.imwrite(tmp_path / "s.tif", stack, photometric="minisblack")
    cam = open_camera("replay", path=str(tmp_path / "s.tif"), start=2, number=4, roi_x0=1, roi_width=5, roi_height=3)
    with cam.recording():
        got = [cam.grab() for _ in range(4)]
        with pytest.raises(EndOfFrames):
            cam.grab()
    np.testing.assert_array_equal(got, stack[2:6, 0:3, 1:6])
    assert [f.meta["source_index"] for f in got] == [2, 3, 4, 5] and "image_key" not in got[0].meta


def test_replay_errors_name_the_file_and_the_fix(tmp_path):
    with pytest.raises(CameraError, match=r"cannot load '.*missing.nx'.*does not exist.*NXtomo"):
        open_camera("replay", path=str(tmp_path / "missing.nx"))
    with pytest.raises(CameraError, match="holds no .tif"):
        open_camera("replay", path=str(tmp_path))
    with pytest.raises(CameraError, match="needs a path.*path='scan.nx'"):
        open_camera("replay").start_recording()
    with h5py.File(tmp_path / "two.h5", "w") as f:
        f["a"] = np.zeros((2, 3, 4))
        f["b"] = np.zeros((2, 3, 4))
    with pytest.raises(CameraError, match=r"several image datasets.*two.h5:/a"):
        open_camera("replay", path=str(tmp_path / "two.h5"))
    with h5py.File(tmp_path / "cube.h5", "w") as f:
        f["v"] = np.zeros((2, 3, 4, 5))
    with pytest.raises(CameraError, match=r"frames of shape \(3, 4, 5\), not images"):
        open_camera("replay", path=str(tmp_path / "cube.h5"))
    _nxtomo(tmp_path / "scan.nx")
    with pytest.raises(CameraError, match="number=30 .* holds 25 frames; use number=25"):
        open_camera("replay", path=str(tmp_path / "scan.nx"), number=30).start_recording()


def test_replay_refuses_a_scan_larger_than_the_memory_it_may_take(tmp_path, monkeypatch):
    import ufo.camera.replay as replay

    _nxtomo(tmp_path / "scan.nx")
    monkeypatch.setattr(replay, "MEMORY_FRACTION", 1e-12)  # as if the scan were far larger than the memory
    cam = open_camera("replay", path=str(tmp_path / "scan.nx"))
    with pytest.raises(CameraError, match=r"need .* GB of memory, .* available; replay fewer frames \(-p number"):
        cam.start_recording()
    assert not cam.is_recording


# -- reports ----------------------------------------------------------------------------------
def test_camera_grab_reports_rate_drops_and_throughput_and_the_file_records_them(tmp_path):
    out = tmp_path / "g.h5"
    proc = subprocess.run(
        [sys.executable, "-m", "ufo", "camera", "grab", "mock", "-n", "60", "-o", f"{out}:/data",
         "-p", "sensor-width=256", "-p", "sensor-height=256", "-p", "frames-per-second=2000",
         "-p", "buffered=true", "-p", "num-buffers=2"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stderr.split())
    assert "60 frames received" in text and "frames/s reached (2000 asked)" in text and "MB/s" in text
    dropped = int(text.split("60 frames received, ")[1].split(" dropped")[0])
    with h5py.File(out) as f:
        numbers = list(f["data_frame_number"][:])
        assert f["data"].attrs["frames_dropped"] == dropped == numbers[-1] + 1 - 60
        if dropped:
            assert "the camera dropped" in text
            table = f["data_dropped_frames"][:]
            assert _expand([(int(first), int(count)) for _, first, count in table]) == _missing(numbers)


def test_replayed_file_ends_a_grab_early_with_a_note(tmp_path):
    _nxtomo(tmp_path / "scan.nx")
    proc = subprocess.run([sys.executable, "-m", "ufo", "camera", "grab", "replay", "-n", "100",
                           "-o", str(tmp_path / "copy.nx"), "-p", f"path={tmp_path / 'scan.nx'}",
                           "-p", "frames-per-second=500"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stderr.split())
    assert "ended after 25 of 100 frames" in text and "25 frames received, 0 dropped" in text
    with h5py.File(tmp_path / "copy.nx") as f:
        assert list(f["entry/data/image_key"][:]) == [2, 2, 1, 1, 1] + [0] * 20
        assert f["entry/data"].attrs["frames_dropped"] == 0


def test_an_experiment_whose_camera_dropped_frames_warns_and_the_file_records_it(tmp_path):
    from ufo.control import Acquisition, Addon, Experiment, ImageWriter
    from ufo.storage.walker import DirectoryWalker

    cam = open_camera("mock", sensor_width=32, sensor_height=8, frames_per_second=FPS, buffered=True, num_buffers=4)

    async def projections():
        with cam.recording():
            for _ in range(30):
                frame = await asyncio.to_thread(cam.grab)
                frame.meta["image_key"] = 0
                yield frame

    class Slow(Addon):  # a consumer that takes 20 ms a frame; lossless, so the acquisition waits for it
        async def consume(self, acquisition, frame):
            await asyncio.sleep(0.02)

    experiment = Experiment([Acquisition("projections", projections)], DirectoryWalker(str(tmp_path)))
    experiment.attach(ImageWriter())
    experiment.attach(Slow(queue_size=1))
    with pytest.warns(DroppedFramesWarning, match=r"scan_0000: the camera dropped (\d+) frame\(s\).*projections: \d+ "
                                                  r"\(frame numbers \d+"):
        name = asyncio.run(experiment.run())
    dropped = experiment.frames_dropped
    assert dropped > 0 and experiment.state == "standby"
    assert experiment.frame_stats["projections"].received == 30
    with h5py.File(tmp_path / name / "scan.nx") as f:
        assert f["entry/data"].attrs["frames_dropped"] == dropped
        assert f["entry/instrument/detector"].attrs["frames_dropped"] == dropped
        assert f["entry/instrument/detector/dropped_frames"][:, 2].sum() == dropped
    finish = json.loads((tmp_path / name / "metadata.json").read_text())["finish"]
    assert finish["frames_dropped"] == dropped and finish["frames"]["projections"]["dropped"] == dropped


def test_an_experiment_without_drops_does_not_warn(tmp_path):
    from ufo.control import Accumulator, SimulatedBeamline, Tomography
    from ufo.storage.walker import DirectoryWalker

    async def main():
        async with SimulatedBeamline(width=16, height=2) as beamline:
            tomo = Tomography(beamline, DirectoryWalker(str(tmp_path)), projections=4, darks=1, flats=1)
            tomo.attach(Accumulator())
            await tomo.run()
            return tomo

    with warnings.catch_warnings():
        warnings.simplefilter("error", DroppedFramesWarning)
        tomo = asyncio.run(main())
    assert tomo.frames_dropped == 0 and tomo.frame_stats["projections"].received == 4
