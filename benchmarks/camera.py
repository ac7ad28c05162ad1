"""Camera throughput against its peers, same run.

1. mock camera at unlimited fps without pattern filling: grab rate (into a caller's array)
   vs copying the same frames with numpy in one thread.
2. net camera over tcp://127.0.0.1, 2048 x 2048 uint16: MB/s through `ufo camera serve`'s
   server and the net client, vs a bare pyzmq PUSH/PULL pair sending the same frames
   (zero-copy send, receive, copy into the caller's array: the client's own work), sender
   and receiver each with its own ZMQ context as two processes have.

Run: python benchmarks/camera.py [--frames 500]
"""

from __future__ import annotations

import argparse
import os
import platform
import threading
import time

import numpy as np
import zmq

from ufo.camera import open_camera
from ufo.camera.server import CameraServer

SHAPE = (2048, 2048)


def mock_rate(n: int, shape: tuple[int, int]) -> tuple[float, float]:
    cam = open_camera("mock", sensor_width=shape[1], sensor_height=shape[0], pattern="none")
    out = np.empty(shape, np.uint16)
    with cam.recording():
        cam.grab(out=out)
        t0 = time.perf_counter()
        for _ in range(n):
            cam.grab(out=out)
        grab = time.perf_counter() - t0
    source = np.random.default_rng(0).integers(0, 4096, shape, dtype=np.uint16)
    t0 = time.perf_counter()
    for _ in range(n):
        np.copyto(out, source)
    return n / grab, n / (time.perf_counter() - t0)


def net_rate(n: int) -> float:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.node()}, {os.cpu_count()} cores")
    rows = []
    for shape in ((512, 512), SHAPE):
        grab, copy = max(mock_rate(args.frames * 4, shape) for _ in range(args.repeat))
        rows.append((f"mock grab, pattern none, {shape[0]}x{shape[1]} uint16", f"{grab:,.0f} fps",
                     f"numpy copy {copy:,.0f} fps", f"{grab / copy:.1f}x"))
    ours = max(net_rate(args.frames) for _ in range(args.repeat))
    bare = max(bare_zmq_rate(args.frames) for _ in range(args.repeat))
    rows.append(("net camera 2048x2048 uint16 over tcp://127.0.0.1", f"{ours:,.0f} MB/s",
                 f"bare pyzmq PUSH/PULL {bare:,.0f} MB/s", f"{ours / bare:.2f}x (goal >= 0.9)"))
    width = max(len(r[0]) for r in rows)
    for row in rows:
        print(f"{row[0]:<{width}}  {row[1]:>14}  {row[2]:>34}  {row[3]}")


if __name__ == "__main__":
    main()
