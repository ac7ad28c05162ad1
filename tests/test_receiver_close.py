"""A frame receiver closed while another thread receives (a cancelled `asyncio.to_thread`, as a
continuous scan's or the remote slices' on Ctrl-C): a real ZMQ socket on 127.0.0.1."""

from __future__ import annotations

import threading
import time

import pytest

from ufo.core.errors import InputError
from ufo.net.receiver import FrameReceiver

from .zmq_peers import free_port


@pytest.mark.parametrize("round_", range(5))
def test_close_during_a_receive_ends_it_as_stopped(round_):
    """Before, the socket was closed under the other thread's poll: 'ZMQError: Socket operation on
    non-socket' there (20 of 20 rounds), a socket used from two threads at once."""
    receiver = FrameReceiver(f"tcp://127.0.0.1:{free_port()}", timeout=30.0, name="test-receive")
    said: list[BaseException] = []

    def receive():
        try:
            receiver.receive()
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            said.append(exc)

    worker = threading.Thread(target=receive)
    worker.start()
    time.sleep(0.05 + 0.02 * round_)  # into the poll
    t0 = time.perf_counter()
    receiver.close()
    worker.join(10)
    assert not worker.is_alive() and time.perf_counter() - t0 < 2.0
    assert len(said) == 1 and isinstance(said[0], InputError) and "test-receive: stopped after 0" in str(said[0])
    with pytest.raises(InputError, match="test-receive: closed after 0 frame"):
        receiver.receive()
    receiver.close()  # twice: nothing more
