"""The walker Tango device's write under a bad endpoint and a cancel (a probe, 2026-12-05): a write
whose stream could not be connected kept its file claimed (the same name refused until the server
restarted), and a cancel the user asked for ended in FAULT ("failed: stopped after 57 frame(s)")."""

from __future__ import annotations

import json
import time

import h5py
import pytest

tango = pytest.importorskip("tango")
from tango.test_context import MultiDeviceTestContext  # noqa: E402

from ufo.tango.camera import UfoCamera  # noqa: E402
from ufo.tango.walker import UfoWalker  # noqa: E402


def devices(root):
    settings = json.dumps({"sensor_width": 48, "sensor_height": 4, "pattern": "counter"})
    return [{"class": UfoCamera, "devices": [{"name": "t/u/cam", "properties": {"settings": settings}}]},
            {"class": UfoWalker, "devices": [{"name": "t/u/w", "properties": {"root": str(root)}}]}]


def wait_idle(walker, seconds=30.0):
    end = time.monotonic() + seconds
    while walker.state() == tango.DevState.RUNNING and time.monotonic() < end:
        time.sleep(0.05)


def test_a_write_that_cannot_connect_gives_its_name_back_and_a_cancel_is_no_fault(tmp_path):
    with MultiDeviceTestContext(devices(tmp_path), process=False) as ctx:
        camera = tango.DeviceProxy(ctx.get_device_access("t/u/cam"))
        walker = tango.DeviceProxy(ctx.get_device_access("t/u/w"))
        walker.endpoint = "tcp://127.0.0.1"  # no port: the receiver cannot connect
        with pytest.raises(tango.DevFailed, match="cannot connect"):
            walker.write("scan.h5")
        endpoint = camera.register_endpoint("tcp://127.0.0.1:0")
        try:
            walker.endpoint = endpoint
            walker.write("scan.h5")  # the same name: refused before ("being written by another writer")
            time.sleep(0.3)
            camera.start_recording()
            time.sleep(0.5)
            walker.cancel()
            wait_idle(walker)
            assert walker.state() == tango.DevState.ON, walker.status()
            assert walker.status().startswith("cancelled after "), walker.status()
            camera.stop_recording()
        finally:
            camera.unregister_endpoint(endpoint)
    with h5py.File(tmp_path / "scan.h5", "r") as f:  # the frames written before the cancel are whole
        assert f["data"].shape[0] > 0


def test_frames_a_stream_lost_are_in_the_walker_s_status_and_count(tmp_path):
    """The status said "wrote 50 frame(s)" of a stream that lost 20 (the server's log alone said so)."""
    import numpy as np
    import zmq

    from ufo.net.wire import end_parts, frame_parts

    context = zmq.Context()
    sender = context.socket(zmq.PUSH)  # the walker connects to the stream, as to a camera's
    port = sender.bind_to_random_port("tcp://127.0.0.1")
    try:
        with MultiDeviceTestContext(devices(tmp_path), process=False) as ctx:
            walker = tango.DeviceProxy(ctx.get_device_access("t/u/w"))
            walker.endpoint = f"tcp://127.0.0.1:{port}"
            walker.write("gaps.h5")
            for seq in [0, 1, 2, 5, 6]:  # 3 and 4 lost on the way, 7 and 8 at the end
                sender.send_multipart(frame_parts(np.full((4, 8), seq, np.uint16), {}, seq, "test-sender", "s1"))
            sender.send_multipart(end_parts(9, "test-sender", "s1"))
            wait_idle(walker)
            assert walker.state() == tango.DevState.ON and walker.frames_written == 5, walker.status()
            assert walker.frames_missing == 4, walker.status()
            assert "frame(s) missing from sender 'test-sender'" in walker.status()
    finally:
        sender.close(linger=0)
        context.term()
