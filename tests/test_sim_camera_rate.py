"""A simulated camera slower than its clock, and camera settings that cannot work.

A continuous scan on the SimulatedBeamline whose camera rendered a few per cent slower than its
frame rate failed "the rotation stage turned past the end of the scan's range ... (it stalled or
dropped frames)" while the camera said 0 dropped and 0 late: its frames, made late but stamped
at their due time, asked the stage where it was then, and the stage, stopped at the range's end
meanwhile, answered where it stood. One too slow to keep up now names that as the cause.

Settings: a region outside the sensor, a million million zingers, the file camera without a
path and a frame rate of 1e-9 failed as camera faults (exit 1), ran out of memory or waited for
30 years; they are bad values (exit 2) or a grab's timeout now.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import tifffile

from ufo.camera import FrameTimeout, open_camera
from ufo.camera.scene import Cylinders
from ufo.control import ImageWriter, SimulatedBeamline, Tomography
from ufo.control.errors import ControlError
from ufo.control.motors import SimulatedMotor
from ufo.core.errors import PropertyError, UsageError
from ufo.core.framestats import DroppedFramesWarning
from ufo.storage.walker import walker

RATE = 40.0  # frames/s of the continuous scans below
PROJECTIONS = 30


class SlowScene(Cylinders):
    """Cylinders that take `seconds` to render a frame, as a large frame does on a busy host (the one row
    the camera renders when it starts, to set the scene up, stays quick: the stage turns already)."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def project(self, angle, shape, axis=None, rows=None):
        if rows is None or rows.stop - rows.start > 1:
            time.sleep(self.seconds)
        return super().project(angle, shape, axis, rows)


def test_a_stopped_stage_still_says_where_it_was_while_it_turned():
    stage = SimulatedMotor("deg", velocity=100.0)
    stage.start_motion(100.0)
    time.sleep(0.05)
    turning = time.monotonic()
    time.sleep(0.05)
    stage.stop()
    stopped_at = stage.position_at()
    before = stage.position_at(turning)
    assert 0 < before < stopped_at - 3  # half way, not where it stopped
    assert stage.position_at(turning + 0.01) == pytest.approx(before + 1.0, abs=1e-6)  # 100 deg/s
    stage.move_to(stopped_at + 10)
    assert stage.position_at(turning) == pytest.approx(before)  # a later move keeps the rotation's record


def continuous_scan(tmp_path, render_s: float):
    """A continuous scan at RATE whose camera takes `render_s` per projection; (tomography, error or None)."""
    async def scan():
        async with SimulatedBeamline(width=32, height=8, continuous=True, scene=SlowScene(render_s)) as beamline:
            beamline.camera.camera.frames_per_second = RATE
            tomo = Tomography(beamline, walker(str(tmp_path)), projections=PROJECTIONS, darks=1, flats=1,
                              continuous=True)
            tomo.attach(ImageWriter("scan.nx"))
            try:
                await tomo.run()
            except ControlError as exc:
                return tomo, exc
            return tomo, None

    return asyncio.run(scan())


def test_a_camera_a_little_slower_than_its_clock_completes_a_continuous_scan(tmp_path):
    """The camera renders 20 % slower than its clock: the last frames come after the stage passed the
    range's end and was stopped, within the camera's lag allowance (its ring's length in time)."""
    tomo, error = continuous_scan(tmp_path, 1.2 / RATE)
    assert error is None, error
    stats = tomo.frame_stats["projections"]
    assert (stats.received, stats.dropped) == (PROJECTIONS, 0)
    import h5py

    with h5py.File(tmp_path / "scan_0000" / "scan.nx", "r") as f:
        keys = f["entry/instrument/detector/image_key"][()]
        angles = f["entry/sample/rotation_angle"][()][keys == 0]
        assert f["entry"].attrs["run_state"] == "complete"
    step = 180 / PROJECTIONS
    assert len(angles) == PROJECTIONS and np.all(np.diff(angles) == pytest.approx(step, abs=0.01 * step))
    assert angles[-1] < 180


def test_a_camera_far_slower_than_its_clock_is_named_as_the_cause(tmp_path):
    """Three times slower: it drops the frames it fell more than its lag allowance behind for, the
    stage reaches the range's end with projections missing, and the error says why."""
    with pytest.warns(DroppedFramesWarning, match="projections"):  # the drops are reported as such too
        tomo, error = continuous_scan(tmp_path, 3 / RATE)
    assert error is not None and tomo.state == "error"
    text = str(error)
    assert "past the end of the scan's range" in text
    assert "the camera made its frames slower than its frame rate" in text and "% behind its clock" in text
    assert "lower its frames_per_second" in text


def test_an_unbuffered_grab_on_a_slow_clock_times_out():
    cam = open_camera("mock", sensor_width=8, sensor_height=4, frames_per_second=1e-9)
    with cam.recording():
        assert cam.grab().meta["frame_number"] == 0  # due at once
        t0 = time.monotonic()
        with pytest.raises(FrameTimeout, match=r"frame 1 is due in 1e\+09 s .* timeout of 0.5 s"):
            cam.grab(timeout=0.5)
        assert 0.45 < time.monotonic() - t0 < 5  # after the timeout, as a ring's grab: a retry loop never spins
        cam.frames_per_second = 100.0
        assert cam.grab(timeout=None).meta["frame_number"] > 0  # no frame was consumed by the refusal


@pytest.mark.parametrize("settings, words", [
    ({"roi_x0": 600}, "roi-x0=600 does not fit the sensor's 512 columns (binned): roi-x0 takes 0 .. 511"),
    ({"roi_width": 100000}, "roi-width=100000 from roi-x0=0 does not fit the sensor's 512 columns"),
    ({"roi_y0": 500, "roi_height": 20}, "roi-height=20 from roi-y0=500 does not fit the sensor's 512 rows (binned): "
                                        "at most 12"),
    ({"sensor_width": 8, "sensor_horizontal_binning": 16}, "binned 16 x 1 has no pixels"),
])
def test_a_region_outside_the_sensor_is_a_bad_value_naming_the_property(settings, words):
    with pytest.raises(UsageError) as caught:  # at once (it was taken, and refused at the start)
        open_camera("mock", **settings).start_recording()
    assert words in str(caught.value) and "-88" not in str(caught.value)


def test_zingers_have_a_range():
    with pytest.raises(PropertyError, match=r"'zingers' must be in \[0, 1000000\]"):
        open_camera("mock", zingers=10_000_000_000)


def test_the_file_camera_says_it_needs_a_path_and_takes_one_set_later(tmp_path):
    with pytest.raises(PropertyError, match="camera 'file' needs a path"):
        open_camera("file").start_recording()
    tifffile.imwrite(tmp_path / "s.tif", np.arange(3 * 4 * 6, dtype=np.uint16).reshape(3, 4, 6),
                     photometric="minisblack")
    cam = open_camera("file")
    cam.path = str(tmp_path / "s.tif")
    with cam.recording():
        assert cam.grab().shape == (4, 6)


@pytest.mark.parametrize("args, words", [
    (["mock", "-p", "roi-x0=600"], "roi-x0=600 does not fit"),
    (["mock", "-p", "roi-width=100000"], "roi-width=100000 from roi-x0=0 does not fit"),
    (["mock", "-p", "zingers=10000000000"], "'zingers' must be in [0, 1000000]"),
    (["file"], "camera 'file' needs a path"),
])
def test_bad_camera_settings_exit_2(tmp_path, args, words):
    proc = subprocess.run([sys.executable, "-m", "ufo", "camera", "grab", *args, "-n", "3", "-o", "out.tif"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 2, proc.stderr
    assert words in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out.tif").exists()
