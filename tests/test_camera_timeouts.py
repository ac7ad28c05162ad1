"""A grab's timeout holds for every camera: an unbuffered camera on software trigger waited for a
trigger for ever (`grab(timeout=...)` was passed to the ring buffer only), and the timeout's words
named no camera (a scan's log: "no frame arrived within 10.0 s")."""

from __future__ import annotations

import time

import pytest

from ufo.camera import open_camera
from ufo.camera.errors import FrameTimeout


@pytest.mark.parametrize("buffered", [False, True])
def test_a_grab_without_a_trigger_times_out_naming_the_camera(buffered):
    camera = open_camera("mock", sensor_width=16, sensor_height=8, trigger_source="software", buffered=buffered)
    camera.start_recording()
    try:
        started = time.monotonic()
        with pytest.raises(FrameTimeout, match="camera 'mock': .* within 0.2 s .*after 0 frame"):
            camera.grab(timeout=0.2)
        assert time.monotonic() - started < 5  # not for ever
        camera.trigger()
        assert camera.grab(timeout=5).shape == (8, 16)  # a trigger after a timeout still makes its frame
    finally:
        camera.stop_recording()
