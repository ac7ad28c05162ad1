"""zmq-send and zmq-receive between two graphs over real sockets on 127.0.0.1."""

from __future__ import annotations

import socket

import numpy as np
import pytest

import ufo
from ufo.core import TaskError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_push_pull_between_graphs_keeps_frames_metadata_and_order():
    address = f"tcp://127.0.0.1:{free_port()}"
    frames = np.random.default_rng(0).integers(0, 4000, (50, 24, 32), dtype=np.uint16)
    receiver = ufo.Calculate(expression="x")(ufo.ZmqReceive(address=address, bind=True, shape=[24, 32], dtype="uint16")())
    received = []
    receiving = ufo.MemoryOut(out=received)(receiver).run()
    ufo.ZmqSend(address=address, bind=False)(frames).run().wait(timeout=30)
    receiving.wait(timeout=30)
    assert len(received) == 50
    np.testing.assert_array_equal(np.stack(received), frames.astype(np.float32))


def test_receiver_reports_a_silent_sender():
    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(TaskError, match="nothing arrived .* for 0.2 s after 0 frame"):
        ufo.Null()(ufo.ZmqReceive(address=address, bind=True, timeout=0.2)()).run().wait(timeout=10)


def test_sender_reports_a_missing_receiver():
    address = f"tcp://127.0.0.1:{free_port()}"
    frames = np.zeros((40, 256, 256), np.float32)  # more than the send queue holds
    with pytest.raises(TaskError, match="no receiver took frame"):
        ufo.ZmqSend(address=address, timeout=0.2)(frames).run().wait(timeout=30)


def test_pipeline_text_and_shape_check():
    address = f"tcp://127.0.0.1:{free_port()}"
    from ufo.core.pipeline import parse

    out = []
    receiving = ufo.MemoryOut(out=out)(ufo.ZmqReceive(address=address, bind=True, shape=[8, 8])()).run()
    sending = parse(f"dummy-data shape=8,9 number=3 ! zmq-send address={address} bind=false timeout=2").run()
    with pytest.raises(TaskError, match="shape \\(8, 9\\), declared \\(8, 8\\)"):
        receiving.wait(timeout=20)
    # the receiver stopped at the first frame. Frames the kernel's socket buffers took count as sent; where
    # they did not, the sender must say that the rest never left (never hang, never another error)
    try:
        sending.wait(timeout=20)
    except TaskError as exc:
        assert "still on its way" in str(exc) or "no receiver took" in str(exc), exc


def test_a_declared_type_that_does_not_hold_the_frames_is_refused():
    """uint16 frames received as dtype=uint8 were wrapped (frame 260 became 4) without a word."""
    address = f"tcp://127.0.0.1:{free_port()}"
    out = []
    receiving = ufo.MemoryOut(out=out)(ufo.ZmqReceive(address=address, bind=True, shape=[8, 8], dtype="uint8")()).run()
    sending = ufo.ZmqSend(address=address, bind=False, timeout=2)(np.full((3, 8, 8), 260, np.uint16)).run()
    with pytest.raises(TaskError, match="frame 0 is uint16, declared dtype=uint8, .* declare dtype=uint16"):
        receiving.wait(timeout=20)
    assert out == []
    try:
        sending.wait(timeout=20)
    except TaskError as exc:
        assert "still on its way" in str(exc) or "no receiver took" in str(exc), exc


def test_receiving_from_the_camera_server_wire_format():
    """A camera server's PUSH stream feeds a graph directly."""
    from ufo.camera import open_camera
    from ufo.camera.server import CameraServer

    with CameraServer(open_camera("mock", sensor_width=16, sensor_height=8)) as server:
        stream = ufo.ZmqReceive(address=f"tcp://127.0.0.1:{server.stream_port}", shape=[8, 16], dtype="uint16",
                                number=5)()
        out = []
        handle = ufo.MemoryOut(out=out)(stream).run()
        server.handle({"cmd": "start"})
        handle.wait(timeout=20)
        server.handle({"cmd": "stop"})
    assert [int(f[0, 0]) for f in out] == [0, 1, 2, 3, 4]


def test_a_stopped_sender_ends_its_receivers_at_once_and_says_so():
    """A zmq-send stopped by Ctrl-C or SIGTERM told its receivers nothing: they waited out their
    timeout (10 s) and failed with 'sender gone, or never started?'."""
    import time

    address = f"tcp://127.0.0.1:{free_port()}"
    out = []
    receiving = ufo.MemoryOut(out=out)(ufo.ZmqReceive(address=address, bind=True, timeout=20)()).run()
    sending = ufo.ZmqSend(address=address, bind=False)(ufo.DummyData(shape=[16, 16], number=10**9)()).run()
    time.sleep(0.5)
    sending.cancel()
    t0 = time.perf_counter()
    receiving.wait(timeout=30)
    assert time.perf_counter() - t0 < 5 and len(out) > 0
    assert any("was stopped after" in w for w in receiving.warnings), receiving.warnings


def test_a_sender_started_again_after_a_kill_is_said_by_the_receiver():
    """A sender killed (no end message) and started again within the receiver's timeout: both
    streams' frames went into one file, frame numbers 0..128 then 0..49, without a word."""
    from ufo.net.wire import StreamCheck

    import time

    said = []
    check = StreamCheck("zmq-receive", said.append)
    address = "tcp://127.0.0.1:5555"
    for seq in range(129):
        check.frame({"seq": seq, "sender": f"zmq-send host:1234 {address}", "stream": "first"})
    for seq in range(3):  # another sender beside it (fan-in): not a restart, but said (one output of both)
        check.frame({"seq": seq, "sender": f"zmq-send host:777 {address}", "stream": "beside"})
    assert len(said) == 1 and "both streams go into one output" in said[0] and "began after" not in said[0]
    time.sleep(1.1)  # the first went silent: killed; started again, its process id is new
    check.frame({"seq": 3, "sender": f"zmq-send host:777 {address}", "stream": "beside"})  # still sending
    for seq in range(3):
        check.frame({"seq": seq, "sender": f"zmq-send host:5678 {address}", "stream": "second"})
    assert sum("began after 129 frame(s) of one that never ended" in w for w in said) == 1


def test_a_sender_whose_source_fails_fails_its_receivers_with_its_error():
    """A damaged file at frame 30 of 60: the sender exited 1, its receiver ended as if the stream
    were whole (30 frames written, exit 0, no word)."""
    import time

    def frames():
        for i in range(5):
            yield np.full((16, 16), i, np.uint16)
        time.sleep(0.2)
        raise OSError("cannot read 'f-030.tif' (truncated or corrupt?)")

    address = f"tcp://127.0.0.1:{free_port()}"
    out = []
    receiving = ufo.MemoryOut(out=out)(ufo.ZmqReceive(address=address, bind=True, timeout=20)()).run()
    with pytest.raises(TaskError, match="f-030.tif"):
        ufo.ZmqSend(address=address, bind=False)(frames()).run().wait(timeout=30)
    with pytest.raises(TaskError, match=r"the sender .* failed: its run failed after 5 frame\(s\): .*f-030.tif"):
        receiving.wait(timeout=30)
    assert [int(f[0, 0]) for f in out] == [0, 1, 2, 3, 4]  # what came is kept


def test_a_sender_drained_by_ctrl_c_tells_its_receivers_it_was_stopped():
    """`ufo run ... ! zmq-send` on Ctrl-C or SIGTERM drains (its source ends, the sink finishes):
    the receivers got the plain end and exited 0 with part of the stream, without a word."""
    import time

    address = f"tcp://127.0.0.1:{free_port()}"
    out = []
    receiving = ufo.MemoryOut(out=out)(ufo.ZmqReceive(address=address, bind=True, timeout=20)()).run()
    sending = ufo.ZmqSend(address=address, bind=False)(ufo.DummyData(shape=[16, 16], number=10**9)()).run()
    time.sleep(0.5)
    sending.drain()  # what the commands do on Ctrl-C (ufo.cli.progress.watch)
    receiving.wait(timeout=30)
    assert len(out) > 0
    assert any("was stopped after" in w for w in receiving.warnings), receiving.warnings


def send_by_hand(address: str, frames: list, timeout: float = 10.0) -> None:
    """zmq-send's calls one by one, as the scheduler makes them: frames of any type in one stream."""
    from ufo.core.task import Context

    sender = ufo.ZmqSend(address=address, bind=False, timeout=timeout)
    sender.setup(Context("zmq-send", (), None))
    try:
        for frame in frames:
            sender.consume(frame, {})
        sender.finish()
    finally:
        sender.teardown()


def test_a_frame_of_another_type_mid_stream_is_one_clear_error():
    """Frame 0 uint16, frame 1 float32 holding 1e9: the HDF5 writer stored 65535 (and int32 -5 as 0),
    exit 0, without a word; a shape change was already an error."""
    address = f"tcp://127.0.0.1:{free_port()}"
    out = []
    receiving = ufo.MemoryOut(out=out)(ufo.ZmqReceive(address=address, bind=True, timeout=20)()).run()
    frames = [np.full((4, 4), 7, np.uint16), np.full((4, 4), 1e9, np.float32)]
    send_by_hand(address, frames, timeout=1)  # its end message waits for nobody long
    with pytest.raises(TaskError, match="frame 1 is float32, the stream's first uint16: .* declare dtype="):
        receiving.wait(timeout=30)
    out = []
    receiving = ufo.MemoryOut(out=out)(ufo.ZmqReceive(address=address, bind=True, timeout=20, dtype="float32")()).run()
    send_by_hand(address, frames)
    receiving.wait(timeout=30)
    assert [float(f[0, 0]) for f in out] == [7.0, 1e9]
