"""The fan-out of the Tango camera and camera server (ufo.net.fanout): buffers held until every
endpoint sent them, endpoints removed mid-send, an endpoint whose receiver was killed.

Real sockets on 127.0.0.1 and real processes (killed with SIGKILL where a receiver dies).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np

from .zmq_peers import expected_random_frames, slow_pull


def test_fanout_holds_its_ring_buffers_until_every_endpoint_sent_them():
    """The Tango camera's fan-out: a ring of 2 buffers of 8 MiB reused after `Fanout.wait`,
    two slow PUSH receivers: every frame arrives bit-identical at both, with sequence numbers."""
    from ufo.net.fanout import Fanout

    number, shape = 16, (2048, 2048)
    fanout = Fanout(timeout=20)
    addresses = [fanout.add("tcp://127.0.0.1:0"), fanout.add("tcp://127.0.0.1:0")]
    digests: list[list[str]] = [[], []]
    dones = [threading.Event(), threading.Event()]
    threads = [threading.Thread(target=slow_pull, args=(a, 0.03, d, e), daemon=True)
               for a, d, e in zip(addresses, digests, dones)]
    for t in threads:
        t.start()
    slots = [np.empty(shape, np.uint16) for _ in range(2)]
    trackers: list[list] = [[], []]
    expected = []
    for i, frame in enumerate(expected_random_frames(number, shape, seed=3)):
        slot = i % 2
        assert fanout.wait(trackers[slot])  # before reusing the buffer
        slots[slot][...] = frame
        expected.append(hashlib.md5(frame.tobytes()).hexdigest())
        trackers[slot] = fanout.send(slots[slot], {"frame_number": i})
    fanout.close()
    for done in dones:
        assert done.wait(60)
    assert digests[0] == expected and digests[1] == expected


def test_an_endpoint_removed_while_frames_are_sent_there_ends_cleanly():
    """`ufo tango`'s RemoveEndpoint arrives in its own thread while the camera's thread sends: the
    socket is closed between two sends, never inside one (libzmq aborts the process then), and
    the sending thread goes on with the other endpoints."""
    from ufo.net.fanout import Fanout

    fanout = Fanout(timeout=0.5)
    keep = fanout.add("tcp://127.0.0.1:0 pub")
    stop = threading.Event()
    errors: list[BaseException] = []
    frame = np.arange(256 * 256, dtype=np.uint16).reshape(256, 256)

    def camera() -> None:
        try:
            while not stop.is_set():
                fanout.wait(fanout.send(frame, {"frame_number": 0}, stop), stop)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    thread = threading.Thread(target=camera, daemon=True)
    thread.start()
    try:
        for mode in ("pub", "push") * 4:  # push without a receiver: the sender waits inside zmq's send
            address = fanout.add(f"tcp://127.0.0.1:0 {mode}")
            time.sleep(0.05)
            fanout.remove(address)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive() and not errors, errors
    assert fanout.addresses == [keep]
    fanout.close()


def test_a_fanout_gives_up_an_endpoint_whose_receiver_was_killed_at_once():
    """A walker killed mid-scan: the camera's fan-out waited its whole timeout (30 s in `ufo tango`)
    in send and wait, holding the Tango device, so the experiment's emergency stop could not run.
    Now the endpoint's monitor sees the last receiver go and the endpoint is given up at once; the
    other endpoint gets every frame."""
    from ufo.net.fanout import Fanout

    fanout = Fanout(timeout=30)
    doomed, kept = fanout.add("tcp://127.0.0.1:0"), fanout.add("tcp://127.0.0.1:0")
    receiver = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, zmq
        s = zmq.Context().socket(zmq.PULL); s.setsockopt(zmq.RCVHWM, 1); s.connect("{doomed}")
        s.recv_multipart(); print("got", flush=True); sys.stdin.read()""")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    digests: list[str] = []
    done = threading.Event()
    threading.Thread(target=slow_pull, args=(kept, 0.0, digests, done), daemon=True).start()
    frames = list(expected_random_frames(12, (2048, 2048), seed=5))
    slots = [np.empty((2048, 2048), np.uint16) for _ in range(2)]
    trackers: list[list] = [[], []]
    started = None
    for i, frame in enumerate(frames):
        slot = i % 2
        assert fanout.wait(trackers[slot]), f"frame {i - 2} still on its way"
        slots[slot][...] = frame
        trackers[slot] = fanout.send(slots[slot], {"frame_number": i})
        if i == 0:
            assert receiver.stdout.readline().strip() == "got"
            receiver.kill()  # SIGKILL: its queued frames and the next ones have nowhere to go
            receiver.wait()
            started = time.monotonic()
    for slot in trackers:
        assert fanout.wait(slot)
    assert time.monotonic() - started < 10  # not the 30 s timeout (typically well under a second)
    assert any("FAILED: its receiver disconnected" in line and doomed in line for line in fanout.status())
    fanout.close()
    assert done.wait(60)
    assert digests == [hashlib.md5(f.tobytes()).hexdigest() for f in frames]
