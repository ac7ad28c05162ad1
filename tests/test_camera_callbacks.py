"""Frame callbacks run in a thread of their own: what goes wrong there reaches the caller
(at stop_recording, in camera.callback_errors, as a CallbackWarning) instead of ending delivery
silently."""

from __future__ import annotations

import time

import pytest

from ufo.camera import CallbackWarning, CameraError, open_camera
from ufo.camera.callback import KEPT_ERRORS
from ufo.camera.mock import MockCamera


def small(**kw):
    return open_camera("mock", **{"sensor_width": 48, "sensor_height": 32, "frames_per_second": 200, **kw})


def wait_for(condition, timeout=5.0):
    end = time.monotonic() + timeout
    while not condition() and time.monotonic() < end:
        time.sleep(0.01)
    assert condition()


@pytest.mark.parametrize("buffered", [False, True])
def test_a_failing_callback_keeps_getting_frames_and_stop_recording_raises_its_error(buffered, no_leftover_threads):
    cam = small(buffered=buffered)
    seen = []

    def callback(frame):
        seen.append(frame.meta["frame_number"])
        if frame.meta["frame_number"] == 2:
            raise ZeroDivisionError("bad frame 2")

    with pytest.warns(CallbackWarning, match="ZeroDivisionError: bad frame 2"):
        cam.start_grab_callback(callback)
        wait_for(lambda: len(seen) > 6)  # delivery went on after the failure
    with pytest.raises(CameraError, match="1 error.*ZeroDivisionError: bad frame 2") as info:
        cam.stop_recording()
    assert isinstance(info.value.__cause__, ZeroDivisionError)  # the root cause is kept
    assert not cam.is_recording  # stopped before raising
    assert [type(e) for e in cam.callback_errors] == [ZeroDivisionError]
    assert seen[:7] == list(range(7))


def test_a_callback_that_always_fails_keeps_a_bounded_number_of_errors(no_leftover_threads):
    cam = small(frames_per_second=2000)
    calls = []

    def callback(frame):
        calls.append(1)
        raise ValueError(f"frame {frame.meta['frame_number']}")

    with pytest.warns(CallbackWarning):
        cam.start_grab_callback(callback)
        wait_for(lambda: len(calls) > KEPT_ERRORS + 5)
    with pytest.raises(CameraError, match=r"delivering \d+ frame\(s\).*ValueError: frame 0") as info:
        cam.stop_recording()
    assert len(cam.callback_errors) == KEPT_ERRORS
    assert str(info.value.__cause__) == "frame 0"


def test_a_camera_failing_while_grabbing_for_the_callback_is_reported(no_leftover_threads):
    class Failing(MockCamera):  # a real mock camera whose sensor fails at frame 3
        def _acquire(self, out, number):
            if number == 3:
                raise OSError("sensor link lost")
            return super()._acquire(out, number)

    cam = Failing(sensor_width=48, sensor_height=32, frames_per_second=200)
    seen = []
    with pytest.warns(CallbackWarning, match="sensor link lost"):
        cam.start_grab_callback(lambda frame: seen.append(frame.meta["frame_number"]))
        wait_for(lambda: cam.callback_errors)
    with pytest.raises(CameraError, match="OSError: sensor link lost") as info:
        cam.stop_recording()
    assert isinstance(info.value.__cause__, OSError) and seen == [0, 1, 2]


def test_a_good_callback_stops_without_error(no_leftover_threads):
    cam = small()
    seen = []
    cam.start_grab_callback(seen.append)
    wait_for(lambda: len(seen) > 3)
    cam.stop_recording()
    assert cam.callback_errors == []
    # a new recording starts with no errors of the old one
    cam.start_grab_callback(seen.append)
    cam.stop_recording()
    assert cam.callback_errors == []


def test_a_background_camera_server_that_dies_says_why_at_close(no_leftover_threads):
    from ufo.camera.server import CameraServer

    server = CameraServer(small())

    def broken():
        raise RuntimeError("monitor socket broke")

    server.check_lease = broken  # what the serving loop calls when no request comes
    server.start()
    wait_for(lambda: not server._thread.is_alive())
    with pytest.raises(CameraError, match="stopped serving: RuntimeError: monitor socket broke") as info:
        server.close()
    assert isinstance(info.value.__cause__, RuntimeError)
