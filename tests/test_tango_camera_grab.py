"""The Tango camera's `grab` where nobody listens: a real device (DeviceTestContext), real ZMQ
endpoints on 127.0.0.1."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

tango = pytest.importorskip("tango")
from tango.test_context import DeviceTestContext  # noqa: E402

from ufo.net.receiver import FrameReceiver  # noqa: E402
from ufo.tango.camera import UfoCamera  # noqa: E402


def test_a_grab_to_an_endpoint_nobody_listens_at_neither_holds_the_device_nor_hides_the_frame():
    """A grab sent its frame to a reliable endpoint no receiver had connected to: the device's
    request thread waited the whole stream timeout (30 s; `state()` timed out meanwhile) and the
    server's exit waited 5 s more for the end message. Now the frame is kept in last_frame, the
    endpoint says it was not sent (a receiver that connects later sees the gap), and the device
    answers at once; a receiver that is connected gets the next grab."""
    settings = json.dumps({"sensor_width": 48, "sensor_height": 4, "pattern": "counter"})
    with DeviceTestContext(UfoCamera, properties={"settings": settings}, process=False) as cam:
        address = cam.register_endpoint("tcp://127.0.0.1:0")
        started = time.monotonic()
        cam.grab('{"angle": 0.5}')
        assert cam.state() == tango.DevState.ON
        assert time.monotonic() - started < 5  # not the 30 s stream timeout
        assert cam.last_frame.shape == (4, 48)
        assert cam.endpoints == (f"{address} push: 0 sent, 1 dropped (frame 0 not sent: no receiver connected)",)
        receiver = FrameReceiver(address, timeout=10)
        try:
            time.sleep(0.2)  # the receiver's connect, as a walker connects before it asks for frames
            cam.grab('{"angle": 1.5}')
            frame, meta = next(iter(receiver))
            assert meta["angle"] == 1.5
            np.testing.assert_array_equal(frame, cam.last_frame)
            assert receiver.missing == 1  # the frame nobody got is reported lost, not hidden
            assert cam.unregister_endpoint(address) == 1
        finally:
            receiver.close()
        address = cam.register_endpoint("tcp://127.0.0.1:0")
        started = time.monotonic()
        assert cam.unregister_endpoint(address) == 0
        assert time.monotonic() - started < 2  # no 5 s wait for a receiver to take the end message
