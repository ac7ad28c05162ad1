"""The frame rate changed while a simulated camera records (a scan that slows down for a region of
interest, a user at the session): the clock goes on from the next frame at the new rate.

Frame n was due at t0 + n / rate with t0 fixed: from 200 to 20 frames/s after 100 frames, the next
frame came 4.5 s later; from 20 to 400 after 20 frames, the frames whose due time on the new clock
had passed were dropped, drops of frames no sensor exposed.
"""

from __future__ import annotations

import time

import pytest

from ufo.camera import open_camera


def _camera(**kw):
    return open_camera("mock", sensor_width=32, sensor_height=16, **kw)


@pytest.mark.parametrize("buffered", [False, True])
def test_a_lower_rate_takes_effect_from_the_next_frame(buffered):
    cam = _camera(frames_per_second=200, buffered=buffered, num_buffers=256)
    with cam.recording():
        for _ in range(100):
            cam.grab()
        cam.frames_per_second = 20
        t0 = time.monotonic()
        numbers = [cam.grab().meta["frame_number"] for _ in range(3)]
        waited = time.monotonic() - t0
    assert waited < 1.5, waited  # about 3 frames of 50 ms (and what the ring held); 4.5 s and more before
    assert numbers == sorted(numbers) and cam.dropped == 0


@pytest.mark.parametrize("buffered", [False, True])
def test_a_higher_rate_drops_no_frame_of_a_reader_that_keeps_up(buffered):
    cam = _camera(frames_per_second=20, buffered=buffered, num_buffers=256)
    with cam.recording():
        for _ in range(20):
            cam.grab()
        cam.frames_per_second = 400
        numbers = [cam.grab().meta["frame_number"] for _ in range(100)]
        dropped = cam.dropped
    assert dropped == 0 and numbers == list(range(20, 120)), (dropped, numbers[:5])


def test_a_rate_changed_while_frames_are_scheduled_drops_none():
    """The camera's thread read the clock's start and its rate one after the other: a rate set in
    between put a frame on the old start at the new rate, long past, and dropped it (11000 frames
    dropped in 3 s of a rate toggled between 1000 and 4000 frames/s). They are read together now."""
    import sys
    import threading

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the threads switch often: the window between the two reads is met
    cam = _camera(frames_per_second=2000, buffered=True, num_buffers=4096)
    stop = threading.Event()

    def toggle():
        while not stop.is_set():
            cam.frames_per_second = 1000
            cam.frames_per_second = 4000

    try:
        with cam.recording():
            for _ in range(1000):
                cam.grab()
            thread = threading.Thread(target=toggle)
            thread.start()
            t0 = time.monotonic()
            while time.monotonic() - t0 < 1.5:
                cam.grab()
            stop.set()
            thread.join()
            dropped = cam.dropped
    finally:
        stop.set()
        sys.setswitchinterval(interval)
    assert dropped == 0
