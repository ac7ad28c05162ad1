"""Streams whose peer is paused (SIGSTOP ... SIGCONT), not killed: a hung peer that comes back.

Real processes, real signals and real sockets on 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from .zmq_peers import free_port, pull_frames


def slow_counting_pull(address: str, values: list[int], done: threading.Event, delay: float = 0.05) -> None:
    """A raw PULL receiver, slower than the sender (so the sender mostly waits for ZMQ to finish
    each frame), that keeps each frame's value (mock camera 'counter' pattern) and waits 30 s."""
    pull_frames(address, delay, lambda frame: values.append(int(frame[0, 0])), done)


def test_a_sender_paused_longer_than_its_timeout_carries_on_when_it_resumes():
    """zmq-send (timeout 3 s) is stopped twice for 6 s while its receiver (which waits 30 s)
    takes 8 MiB frames. The frame on the wire when it stopped was not late because of the
    receiver: before the fix the sender failed at once on SIGCONT, 'frame N was still on its
    way ... after 3 s (receiver stalled or gone?)', and the stream was cut."""
    number = 80
    address = f"tcp://127.0.0.1:{free_port()}"
    values: list[int] = []
    done = threading.Event()
    receiver = threading.Thread(target=slow_counting_pull, args=(address, values, done), daemon=True)
    receiver.start()
    pipeline = (f"camera name=mock settings='sensor-width=2048,sensor-height=2048' number={number} "
                f"! zmq-send address={address} timeout=3s")
    sender = subprocess.Popen([sys.executable, "-m", "ufo", "run", pipeline], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        for start in (10, 40):
            deadline = time.monotonic() + 60
            while len(values) < start and time.monotonic() < deadline and sender.poll() is None:
                time.sleep(0.01)
            assert sender.poll() is None, sender.communicate()[0]
            os.kill(sender.pid, signal.SIGSTOP)
            time.sleep(6)
            os.kill(sender.pid, signal.SIGCONT)
        output = sender.communicate(timeout=120)[0]
    finally:
        if sender.poll() is None:
            sender.kill()
            sender.wait(10)
    assert done.wait(60)
    assert sender.returncode == 0, output
    assert values == list(range(number))  # every frame, once, in order
