"""Camera throughput: the net camera against bare pyzmq; the mock camera's grab cost on its own.

A mock camera without a pattern writes no pixels, so its grab rate is the camera API's cost
per frame (states, ring buffer, metadata), reported without a peer: a ratio against copying
8 MiB would compare that no-op with real work.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import zmq

from ufo.camera import open_camera
from ufo.camera.server import CameraServer

from .measure import Measure

SHAPE = (2048, 2048)


def mock_rate(n: int, shape: tuple[int, int]) -> float:
    """Mock grabs/s into a caller's array, pattern none: the API's cost per frame, no pixels written."""
    cam = open_camera("mock", sensor_width=shape[1], sensor_height=shape[0], pattern="none")
    out = np.empty(shape, np.uint16)
    with cam.recording():
        cam.grab(out=out)
        t0 = time.perf_counter()
        for _ in range(n):
            cam.grab(out=out)
        grab = time.perf_counter() - t0
    return n / grab


def net_rate(n: int) -> float:
    """MB/s through a camera server and the net client over tcp://127.0.0.1."""
    cam = open_camera("mock", sensor_width=SHAPE[1], sensor_height=SHAPE[0], pattern="none")
    with CameraServer(cam) as server:
        client = open_camera("net", port=server.port)
        out = np.empty(SHAPE, np.uint16)
        with client.recording():
            client.grab(out=out)
            t0 = time.perf_counter()
            for _ in range(n):
                client.grab(out=out)
            seconds = time.perf_counter() - t0
        client.close()
    return n * out.nbytes / seconds / 1e6


def bare_zmq_rate(n: int) -> float:
    """MB/s of a bare pyzmq PUSH/PULL pair doing the client's work (the peer)."""
    # sender and receiver each with their own context (I/O thread), as two processes would have
    context, receiving = zmq.Context(), zmq.Context()
    push = context.socket(zmq.PUSH)
    push.setsockopt(zmq.SNDHWM, 4)
    port = push.bind_to_random_port("tcp://127.0.0.1")
    pull = receiving.socket(zmq.PULL)
    pull.setsockopt(zmq.RCVHWM, 8)
    pull.connect(f"tcp://127.0.0.1:{port}")
    frame = np.random.default_rng(0).integers(0, 4096, SHAPE, dtype=np.uint16)
    header = b'{"type": "frame"}'

    def send() -> None:
        for _ in range(n + 1):
            push.send_multipart([header, frame], copy=False)

    sender = threading.Thread(target=send)
    sender.start()
    out = np.empty(SHAPE, np.uint16)
    parts = pull.recv_multipart(copy=False)
    t0 = time.perf_counter()
    for _ in range(n):
        parts = pull.recv_multipart(copy=False)
        np.copyto(out, np.frombuffer(parts[1].buffer, np.uint16).reshape(SHAPE))
    seconds = time.perf_counter() - t0
    sender.join()
    push.close()
    pull.close()
    context.term()
    receiving.term()
    return n * out.nbytes / seconds / 1e6


def detailed(frames: int, repeat: int) -> tuple[float, list[float], list[float]]:
    """benchmarks/camera.py's figures, `repeat` interleaved runs of each: (median mock grabs/s at
    2048^2, net camera MB/s per run, bare pyzmq MB/s per run)."""
    grabs, ours, bare = [], [], []
    for _ in range(repeat):
        grabs.append(mock_rate(frames * 4, SHAPE))
        ours.append(net_rate(frames))
        bare.append(bare_zmq_rate(frames))
    return float(np.median(grabs)), ours, bare


def measure(scale: float = 1.0) -> list[Measure]:
    """`ufo bench`'s camera row: the net camera against bare pyzmq, medians of 3 interleaved runs."""
    n = max(20, int(100 * scale))
    _, ours, bare = detailed(n, 3)
    return [Measure("camera", "net camera, 2048^2 uint16 over tcp://127.0.0.1, median of 3", float(np.median(ours)),
                    "bare pyzmq PUSH/PULL", float(np.median(bare)), "MB/s")]
