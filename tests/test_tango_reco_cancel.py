"""`cancel` on the reconstruction server while it back-projects after the stream's end: a real
Tango device server (DeviceTestContext), a real ZMQ stream on 127.0.0.1.

Before, `cancel` stopped only the stream's receive: with the axis found at the end of the scan
the back-projection ran on for its whole length after the end message, `cancel` waited 10 s for
it, and the device then said "reconstructed"."""

from __future__ import annotations

import time

import numpy as np
import pytest

tango = pytest.importorskip("tango")
zmq = pytest.importorskip("zmq")
from tango.test_context import DeviceTestContext  # noqa: E402

from ufo.net.wire import end_parts, frame_parts  # noqa: E402
from ufo.tango.reco import UfoReconstruction  # noqa: E402
from ufo.tomo.phantom import Phantom  # noqa: E402

from .zmq_peers import free_port  # noqa: E402


def test_cancel_stops_the_back_projection_after_the_end_of_the_stream():
    width, height, projections = 512, 64, 600  # 10 G voxel updates after the end: seconds on any core
    port = free_port()
    context = zmq.Context()
    push = context.socket(zmq.PUSH)
    push.bind(f"tcp://127.0.0.1:{port}")
    phantom = Phantom(width, height=height)
    frames = [(np.full((height, width), 100, np.uint16), {"image_key": 2}),
              (np.full((height, width), 3100, np.uint16), {"image_key": 1})]
    for i in range(projections):
        angle = i * np.pi / projections
        frame = np.rint(100 + 3000 * np.exp(-0.01 * phantom.projection(angle, axis=width / 2 + 3)))
        frames.append((frame.astype(np.uint16), {"image_key": 0, "angle": angle}))
    try:
        with DeviceTestContext(UfoReconstruction, process=False) as reco:
            reco.endpoint = f"tcp://127.0.0.1:{port}"
            reco.axis_mode = "auto"  # the half turn is complete at the last projection: all kept until then
            reco.reconstruct()
            for frame, meta in frames:
                push.send_multipart(frame_parts(frame, meta))
            push.send_multipart(end_parts(len(frames)))
            deadline = time.monotonic() + 60
            while reco.frames_received < len(frames) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert reco.frames_received == len(frames) and reco.state() == tango.DevState.RUNNING
            time.sleep(0.5)  # into the axis search or the back-projection
            t0 = time.perf_counter()
            reco.cancel()
            waited = time.perf_counter() - t0
            assert waited < 2.0, f"cancel took {waited:.1f} s"
            assert reco.state() == tango.DevState.ON, reco.status()
            assert "cancelled after 602 frame(s)" in reco.status()
    finally:
        push.close(0)
        context.term()
