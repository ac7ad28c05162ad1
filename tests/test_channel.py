"""Channels: bounded by count and bytes, cancellable from any thread."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from ufo.core import Cancelled, Frame
from ufo.core.channel import Channel


def test_fifo_and_batches():
    ch = Channel(8)
    for i in range(5):
        ch.put(i)
    assert ch.get() == 0
    assert ch.get_batch() == [1, 2, 3, 4]


def test_put_blocks_when_full_until_a_get():
    ch = Channel(2)
    ch.put(1)
    ch.put(2)
    done = threading.Event()
    threading.Thread(target=lambda: (ch.put(3), done.set())).start()
    assert not done.wait(0.1)
    assert ch.get() == 1
    assert done.wait(1)


def test_byte_bound_admits_one_large_frame_and_blocks_the_next():
    ch = Channel(64, max_bytes=1000)
    ch.put(Frame(np.zeros(2000, np.uint8)))  # larger than the bound: still admitted when empty
    blocked = threading.Event()
    threading.Thread(target=lambda: (ch.put(Frame(np.zeros(10, np.uint8))), blocked.set())).start()
    assert not blocked.wait(0.1)
    ch.get()
    assert blocked.wait(1)


@pytest.mark.parametrize("side", ["get", "put"])
def test_cancel_wakes_blocked_threads(side):
    ch = Channel(1)
    if side == "put":
        ch.put(0)
    errors = []

    def blocked():
        try:
            ch.get() if side == "get" else ch.put(1)
        except Cancelled as exc:
            errors.append(exc)

    thread = threading.Thread(target=blocked)
    thread.start()
    time.sleep(0.05)
    ch.cancel()
    thread.join(1)
    assert not thread.is_alive() and len(errors) == 1
