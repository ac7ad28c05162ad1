"""Whole experiments under faults (scratch/probes/experiments.md): limits, drops, a second run,
a failing live view, pause, the run's record in the NXtomo file, limit errors mid-scan."""

from __future__ import annotations

import asyncio
import json
import warnings

import h5py
import numpy as np
import pytest

from ufo.control import ImageWriter, LimitError, LiveView, SimulatedBeamline, Tomography, q
from ufo.control.errors import ControlError
from ufo.control.experiment import Addon
from ufo.control.runparts import AddonFailedWarning
from ufo.storage.walker import DirectoryWalker


def _nxtomo(path):
    with h5py.File(path, "r") as f:
        keys = f["/entry/instrument/detector/image_key"][()]
        angles = f["/entry/sample/rotation_angle"][()]
        return keys, angles, dict(f["/entry"].attrs)


async def _until(predicate, limit=20.0):
    waited = 0.0
    while not predicate():
        await asyncio.sleep(0.01)
        waited += 0.01
        assert waited < limit, "timed out"


async def _running(tmp_path, projections, darks, flats, continuous=False):
    """A simulated beamline's tomography started with an ImageWriter: (beamline, tomo, writer, run task);
    `continuous`: the stage turning, the camera at 100 frames/s."""
    bl = await SimulatedBeamline(width=64, height=8, continuous=continuous).connect()
    if continuous:
        bl.camera.camera.frames_per_second = 100.0
    tomo = Tomography(bl, DirectoryWalker(str(tmp_path)), projections=projections, darks=darks, flats=flats,
                      continuous=continuous)
    writer = tomo.attach(ImageWriter())
    return bl, tomo, writer, asyncio.ensure_future(tomo.run())


def test_continuous_range_past_the_limit_is_refused_before_the_darks(tmp_path):
    async def main():
        bl = await SimulatedBeamline(width=64, height=8, continuous=True).connect()
        bl.rotation.io.upper = 90.0  # the stage's limit switch
        tomo = Tomography(bl, DirectoryWalker(str(tmp_path)), projections=180, darks=3, flats=3, continuous=True)
        writer = tomo.attach(ImageWriter())
        with pytest.raises(LimitError, match="beyond its limits.*nothing was taken"):
            await tomo.run()
        return bl, writer

    bl, writer = asyncio.run(main())
    assert writer.frames == 0 and not (tmp_path / "scan_0000" / "scan.nx").exists()
    assert bl.shutter.state == "closed"


def test_continuous_stage_that_stops_turning_fails_the_scan(tmp_path):
    async def main():
        bl, tomo, writer, run = await _running(tmp_path, 180, 2, 2, continuous=True)
        await _until(lambda: writer.frames >= 4 + 10)
        bl.rotation.io.upper = bl.rotation.io.position_at() + 20.0  # a limit switch met mid-scan
        with pytest.raises(ControlError, match="stopped turning.*of 180 projections"):
            await run
        return tomo

    tomo = asyncio.run(main())
    assert tomo.state == "error"
    keys, angles, attrs = _nxtomo(tmp_path / "scan_0000" / "scan.nx")
    projections = angles[keys == 0]
    assert 10 <= len(projections) < 180 and len(np.unique(projections)) == len(projections)  # no repeated angle
    assert attrs["run_state"] == "stopped (error)" and "stopped turning" in attrs["run_reason"]


def test_continuous_scan_whose_camera_drops_frames_stays_in_its_range(tmp_path):
    async def main():
        bl, tomo = await stalling_continuous(tmp_path, 0.8)  # its ring overflows, frames are dropped
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(ControlError, match="past the end of the scan's range"):
                await tomo.run()
        return bl

    bl = asyncio.run(main())
    keys, angles, _ = _nxtomo(tmp_path / "scan_0000" / "scan.nx")
    assert angles.max() <= 180 + 3 and len(angles) < 60
    assert bl.rotation.state == "standby" and bl.shutter.state == "closed"


def test_a_second_run_at_once_is_refused_and_the_first_completes(tmp_path):
    async def main():
        bl = await SimulatedBeamline(width=64, height=8).connect()
        tomo = Tomography(bl, DirectoryWalker(str(tmp_path)), projections=20, darks=2, flats=2)
        tomo.attach(ImageWriter())
        return await asyncio.gather(tomo.run(), tomo.run(), return_exceptions=True)

    first, second = asyncio.run(main())
    assert first == "scan_0000"
    assert isinstance(second, ControlError) and "a second run() of it is refused" in str(second)
    keys, angles, attrs = _nxtomo(tmp_path / "scan_0000" / "scan.nx")
    assert list(keys) == [2, 2, 1, 1] + [0] * 20 and len(angles) == len(keys)
    assert attrs["run_state"] == "complete" and attrs["projections_expected"] == 20
    assert not (tmp_path / "scan_0001").exists()


def test_a_failing_live_view_is_reported_and_the_scan_goes_on(tmp_path):
    shown = []

    def show(frame):
        shown.append(frame)
        if len(shown) == 5:
            raise RuntimeError("display: window was closed")

    async def main():
        bl = await SimulatedBeamline(width=64, height=8).connect()
        tomo = Tomography(bl, DirectoryWalker(str(tmp_path)), projections=30, darks=2, flats=2)
        writer, view = tomo.attach(ImageWriter()), tomo.attach(LiveView(show, queue_size=64))
        with pytest.warns(AddonFailedWarning, match="LiveView failed.*window was closed.*scan goes on"):
            await tomo.run()
        return tomo, writer, view

    tomo, writer, view = asyncio.run(main())
    assert tomo.state == "standby" and writer.frames == 34 and view.errors == 1
    record = json.loads((tmp_path / "scan_0000" / "metadata.json").read_text())["finish"]
    assert record["addon_errors"] == {"LiveView": 1} and record["run_state"] == "complete"


def test_pause_closes_the_shutter_and_stops_the_camera_and_resume_goes_on(tmp_path):
    async def main():
        bl, tomo, writer, run = await _running(tmp_path, 40, 4, 2)
        await _until(lambda: writer.frames >= 2)  # during the darks: the camera records across frames
        tomo.pause()
        await _until(lambda: tomo.state == "paused")
        await asyncio.sleep(0.1)
        darks = (bl.shutter.state, bl.camera.camera.is_recording)
        tomo.resume()
        await _until(lambda: writer.frames >= 12)
        tomo.pause()
        await _until(lambda: tomo.state == "paused")
        await asyncio.sleep(0.1)
        projections = (bl.shutter.state, bl.camera.camera.is_recording)
        tomo.resume()
        await run
        return darks, projections

    darks, projections = asyncio.run(main())
    assert darks == ("closed", False) and projections == ("closed", False)
    keys, angles, attrs = _nxtomo(tmp_path / "scan_0000" / "scan.nx")
    assert list(keys) == [2] * 4 + [1] * 2 + [0] * 40 and attrs["run_state"] == "complete"
    np.testing.assert_allclose(angles[keys == 0], np.arange(40) * 180 / 40, atol=1e-6)


class FailingWriter(Addon):
    """A lossless addon that fails at its `at`-th frame (a full disk)."""

    def __init__(self, at):
        super().__init__(64)
        self.at, self.seen = at, 0

    async def consume(self, acquisition, frame):
        self.seen += 1
        if self.seen == self.at:
            raise OSError("No space left on device")


def test_frames_acquired_after_a_failure_are_counted_lost_and_the_file_says_stopped(tmp_path):
    async def main():
        bl = await SimulatedBeamline(width=64, height=8).connect()
        tomo = Tomography(bl, DirectoryWalker(str(tmp_path)), projections=60, darks=2, flats=2)
        writer = tomo.attach(ImageWriter())
        tomo.attach(FailingWriter(20))
        with pytest.raises(OSError, match="No space"):
            await tomo.run()
        return tomo, writer

    tomo, writer = asyncio.run(main())
    record = json.loads((tmp_path / "scan_0000" / "metadata.json").read_text())["finish"]
    acquired = sum(record["frames_received"].values())
    assert record["frames_lost"]["FailingWriter"] == acquired - 19 >= 1  # its failing frame, and any after
    assert record["run_state"] == "stopped (error)" and record["frames_expected"]["projections"] == 60
    keys, _, attrs = _nxtomo(tmp_path / "scan_0000" / "scan.nx")
    assert attrs["run_state"] == "stopped (error)" and "No space" in attrs["run_reason"]
    assert attrs["projections_expected"] == 60 and attrs["darks_expected"] == 2
    assert attrs["frames_lost"] == acquired - len(keys) >= 1  # the frame in hand when the run stopped


def test_a_limit_met_mid_scan_is_a_failure_that_says_where_the_data_is(tmp_path):
    async def main():
        bl, tomo, writer, run = await _running(tmp_path, 60, 2, 2)
        await _until(lambda: writer.frames >= 4 + 10)
        bl.rotation.io.upper = float((await bl.rotation.get_position()).to("deg").magnitude) + 10
        with pytest.raises(ControlError, match=r"scan_0000: the scan stopped after darks 2 of 2, flats 2 of 2, "
                           r"projections \d+ of 60: .*outside the limits.*frames taken are in .*scan_0000") as info:
            await run
        assert isinstance(info.value.__cause__, LimitError) and not isinstance(info.value, LimitError)
        refused = Tomography(bl, DirectoryWalker(str(tmp_path / "b")), projections=60, darks=2, flats=2,
                             start_angle=400 * q.deg)
        with pytest.raises(LimitError, match="nothing was taken"):  # before anything moved: a usage error
            await refused.run()

    asyncio.run(main())


async def stalling_continuous(tmp_path, seconds: float):
    """A continuous 180-degree scan of 60 projections at 200 frames/s (3 degrees a frame) on a
    simulated beamline whose mock camera's host stalls `seconds` once at projection 20 (the first
    frame past 60 degrees, after the run-up): (beamline, tomography with an ImageWriter attached),
    connected, not started."""
    import math
    import time

    from ufo.camera.mock import MockCamera

    class Stalling(MockCamera):
        stalled = False

        def _acquire(self, out, number):
            if not self.stalled and self.angle(number, self._due) > math.radians(59.0):
                self.stalled = True
                time.sleep(seconds)
            return super()._acquire(out, number)

    bl = await beamline_with(Stalling, 200.0)
    tomo = Tomography(bl, DirectoryWalker(str(tmp_path)), projections=60, darks=0, flats=0, continuous=True)
    tomo.attach(ImageWriter())
    return bl, tomo


async def beamline_with(camera_type, fps: float):
    """A continuous simulated beamline (64 x 8 pixels) whose camera is a `camera_type` (a MockCamera
    with a fault) at `fps` frames/s, connected."""
    from ufo.control import Detector
    from ufo.tomo.phantom import PhantomScene

    bl = SimulatedBeamline(width=64, height=8, continuous=True)
    camera = camera_type(angle_source=bl._angle, scene=PhantomScene(), sensor_width=64, sensor_height=8,
                         pattern="tomography", beam_source=bl._beam)
    bl.camera = Detector(camera, "camera")
    bl.devices[-1] = bl.camera
    await bl.connect()
    camera.frames_per_second = fps
    return bl


class SlowWriter(ImageWriter):
    """The NXtomo writer, each frame 0.1 s late: the acquisition waits for its full queue."""

    async def consume(self, acquisition, frame):
        await asyncio.sleep(0.1)
        await super().consume(acquisition, frame)


def test_the_frame_in_hand_when_ctrl_c_comes_still_reaches_the_file(tmp_path):
    """Ctrl-C while the acquisition waited for the writer's full queue: the frame it held was lost
    ('frames acquired but not stored: ImageWriter 1', SIGTERM on `ufo demo` at 1024^2)."""
    from ufo.control import Acquisition, Experiment
    from ufo.core.frame import Image

    async def produce():  # frames at once: the acquisition always waits in the writer's queue
        for i in range(200):
            yield Image(np.full((8, 32), i, np.uint16), {"image_key": 0, "angle": 0.01 * i, "frame_number": i})

    async def main():
        experiment = Experiment([Acquisition("projections", produce, 200)], DirectoryWalker(str(tmp_path)))
        writer = experiment.attach(SlowWriter(queue_size=1))
        task = asyncio.ensure_future(experiment.run())
        while writer.frames < 5:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return experiment, writer

    experiment, writer = asyncio.run(main())
    received = experiment.frame_stats["projections"].received
    assert experiment.state == "cancelled" and writer.meant == received and writer.taken == received
    with h5py.File(tmp_path / "scan_0000" / "scan.nx", "r") as f:
        data = f["/entry/instrument/detector/data"]
        assert data.shape[0] == received and [int(frame[0, 0]) for frame in data] == list(range(received))
        assert f["/entry"].attrs["frames_lost"] == 0
