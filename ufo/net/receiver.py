"""Receiving a frame stream: frames until the sender's end message, clear errors otherwise.

Used by the `zmq-receive` task, the walker and reconstruction servers and the remote
camera client. Waits poll in short steps so `stop()` from another thread ends a receive
at once instead of after the timeout.

Every message is validated (`wire.decode`): a garbage message ends the receive with one
`InputError` that names the sender. Sequence numbers are followed per stream (`StreamCheck`):
gaps in a reliable stream are reported through `warn` (default: the "ufo.net" logger) and
counted in `missing`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import zmq

from ..core.errors import InputError
from .wire import StreamCheck, WireError, decode, describe_sender, peer_of

LOG = logging.getLogger("ufo.net")


class FrameReceiver:
    def __init__(self, address: str, mode: str = "pull", bind: bool = False, timeout: float = 10.0,
                 name: str = "zmq-receive", high_water_mark: int = 8, warn: Callable[[str], None] | None = None,
                 stop: threading.Event | None = None):
        if mode not in ("pull", "sub"):
            raise ValueError(f"{name}: mode is pull (from push) or sub (from pub), not '{mode}'")
        self.address = address
        self.timeout = timeout
        self.name = name
        self.frames = 0
        self.ended = False
        self.check = StreamCheck(name, warn or LOG.warning)
        self._stop = stop if stop is not None else threading.Event()  # a graph's cancel event ends a receive within 0.1 s
        self._closing = False
        self._receiving = threading.Lock()  # held through a receive: close() waits for it (see close)
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.PULL if mode == "pull" else zmq.SUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.RCVHWM, high_water_mark)
        if mode == "sub":
            self._socket.setsockopt(zmq.SUBSCRIBE, b"")
        try:
            self._socket.bind(address) if bind else self._socket.connect(address)
        except zmq.ZMQError as exc:
            self.close()
            raise InputError(f"{name} cannot {'bind' if bind else 'connect'} {address}: {exc}") from exc

    @property
    def missing(self) -> int:
        """Frames of the streams seen here that never arrived (by their sequence numbers)."""
        return self.check.missing

    def stop(self) -> None:
        """End a receive in progress from another thread (it raises InputError 'stopped')."""
        self._stop.set()

    def receive(self) -> tuple[np.ndarray, dict[str, Any]] | None:
        """The next (frame, meta); None at the end message. The frame is a view of the message."""
        with self._receiving:
            if self._socket is None:
                raise InputError(f"{self.name}: closed after {self.frames} frame(s)")
            return self._receive()

    def _receive(self) -> tuple[np.ndarray, dict[str, Any]] | None:
        deadline = time.monotonic() + self.timeout
        while self._stop.is_set() or self._closing or not self._socket.poll(100):  # a stream that never pauses
            if self._stop.is_set() or self._closing:  # is stopped too: at 200 frames/s poll never waited, the
                raise InputError(f"{self.name}: stopped after {self.frames} frame(s)")  # stop went unseen (hung)
            if time.monotonic() > deadline:
                raise InputError(f"{self.name}: nothing arrived from {self.address} for {self.timeout:g} s after "
                                 f"{self.frames} frame(s) (sender gone, or never started?)")
        parts = self._socket.recv_multipart(copy=False)
        try:
            header, frame = decode(parts)
        except WireError as exc:
            raise InputError(f"{self.name}: garbage message from {describe_sender(exc.header, peer_of(parts), self.address)} "
                             f"after {self.frames} frame(s): {exc}") from exc
        if frame is None:
            if header.get("type") == "error":
                raise InputError(f"{self.name}: the sender {describe_sender(header, peer_of(parts), self.address)} "
                                 f"failed: {header.get('message')}")
            self.check.end(header)
            if self.check.open_streams():  # another sender's stream goes on: it ended the receive (its frames lost)
                return self._receive()
            self.ended = True
            return None
        self.check.frame(header)
        self.frames += 1
        meta = dict(header.get("meta", {}))
        if header.get("frame_number") is not None:
            meta.setdefault("frame_number", header["frame_number"])
        return frame, meta

    def __iter__(self) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
        while True:
            item = self.receive()
            if item is None:
                return
            yield item

    def close(self) -> None:
        """Close the socket; a receive in progress in another thread (a cancelled `asyncio.to_thread`)
        ends first, within 0.1 s, with 'stopped'. Before, the socket was closed under its poll:
        the receive failed 'ZMQError: Socket operation on non-socket' (a ZMQ socket is not to be
        used from two threads at once)."""
        self._closing = True
        with self._receiving:
            if self._socket is not None:
                self._socket.close()
                self._socket = None  # type: ignore[assignment]
                self._context.term()

    def __enter__(self) -> FrameReceiver:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
