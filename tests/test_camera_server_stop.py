"""`ufo camera serve` stopped by Ctrl-C while its stream thread still ends a stalled stream.

A Ctrl-C that lands in `Thread.join` marks the joined thread stopped while it runs on (CPython
before 3.13 releases the thread's own lock on the way out). The server then closed its stream
socket under the live stream thread: a libzmq assertion (exit 134), "Socket operation on
non-socket" tracebacks or a hang, 7 of 11 probes after a client stalled. The server waits for
the stream thread's own event instead."""

from __future__ import annotations

import signal
import threading
import time

import zmq

from ufo.camera.mock import MockCamera
from ufo.camera.server import CameraServer


class SlowReadout(MockCamera):
    """A camera whose driver returns 1 s after a frame is read out (a slow transfer): the stream
    thread stays busy for a while after the stop."""

    def grab(self, out=None, timeout=10.0):
        image = super().grab(out, timeout)
        time.sleep(1.0)
        return image


def test_a_ctrl_c_while_a_stop_waits_for_the_stream_thread_never_closes_its_socket_under_it():
    failures: list[BaseException] = []
    before = threading.excepthook
    threading.excepthook = lambda args: failures.append(args.exc_value)  # the stream thread's errors
    context = zmq.Context()
    client = context.socket(zmq.PULL)
    client.setsockopt(zmq.LINGER, 0)
    server = CameraServer(SlowReadout(sensor_width=64, sensor_height=64), buffers=2)
    try:
        client.connect(f"tcp://127.0.0.1:{server.stream_port}")
        server.handle({"cmd": "start"})
        time.sleep(0.3)  # inside the first readout
        main = threading.main_thread().ident  # a real SIGINT: it breaks into the wait, as a Ctrl-C does
        timer = threading.Timer(0.2, signal.pthread_kill, (main, signal.SIGINT))
        timer.start()
        interrupted = False
        try:
            server.handle({"cmd": "stop"})
            time.sleep(1)
        except KeyboardInterrupt:
            interrupted = True
        timer.join()
        assert interrupted
        streamer = server._streamer
        server.close()  # what `ufo camera serve` does after the Ctrl-C
        assert streamer is None or not streamer.is_alive() or server._streamed.is_set()
        time.sleep(1)  # the stream thread's last sends, had the socket been closed under them
    finally:
        threading.excepthook = before
        client.close()
        context.term()
    assert not failures, failures
