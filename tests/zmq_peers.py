"""Peers for the tests of frames on the wire: a free port, the frames `dummy-data init=random`
yields, and a raw PULL receiver slower than its sender (shared by test_wire_reliability,
test_fanout and test_stream_pauses)."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import zmq

from ufo.net.wire import decode


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def expected_random_frames(number: int, shape: tuple[int, int], seed: int = 0):
    """The frames `dummy-data init=random dtype=uint16` yields (same generator, same order)."""
    rng = np.random.default_rng(seed)
    for _ in range(number):
        yield rng.integers(0, np.iinfo(np.uint16).max, size=shape, dtype=np.uint16, endpoint=True)


def pull_frames(address: str, delay: float, keep: Callable[[Any], None], done: threading.Event,
                timeout: float = 30.0) -> None:
    """A raw PULL receiver (one frame of room) that hands every frame to `keep` and sleeps `delay`
    after it, until the end message or `timeout` seconds without one; `done` is set at the end."""
    context = zmq.Context()
    pull = context.socket(zmq.PULL)
    pull.setsockopt(zmq.RCVHWM, 1)
    pull.setsockopt(zmq.LINGER, 0)
    pull.connect(address)
    try:
        while pull.poll(int(timeout * 1000)):
            _, frame = decode(pull.recv_multipart(copy=False))
            if frame is None:
                break
            keep(frame)
            time.sleep(delay)
    finally:
        pull.close()
        context.term()
        done.set()


def slow_pull(address: str, delay: float, digests: list[str], done: threading.Event, timeout: float = 30.0) -> None:
    """`pull_frames` keeping an md5 of each payload."""
    pull_frames(address, delay, lambda frame: digests.append(hashlib.md5(frame).hexdigest()), done, timeout)
