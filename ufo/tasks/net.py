"""Frame streams between graphs and hosts: `zmq-send` and `zmq-receive` (the camera server's wire format).

PUSH/PULL is reliable (the sender waits for a receiver, up to `timeout`), PUB/SUB is lossy
(frames nobody reads in time are dropped). Every stream ends with an explicit end message;
a receiver that hears nothing for `timeout` seconds stops with an error saying so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..core import Kind, Property, Spec, Task
from ..core.errors import InputError
from ..net.wire import end_parts, frame_parts

MODES = ("push", "pub")


class _Socket:
    """One ZMQ socket of a task: opened in setup (bind or connect), closed in teardown."""

    address: str
    bind: bool
    name: str

    def _open(self, kind: int, options: dict[int, Any]) -> None:
        import zmq

        self._context = zmq.Context()
        self._socket = self._context.socket(kind)
        for option, value in options.items():
            self._socket.setsockopt(option, value)
        try:
            self._socket.bind(self.address) if self.bind else self._socket.connect(self.address)
        except zmq.ZMQError as exc:
            self._socket.close()
            self._socket = None
            raise InputError(f"{self.name} cannot {'bind' if self.bind else 'connect'} {self.address}: {exc}") from None

    def teardown(self) -> None:
        socket = getattr(self, "_socket", None)
        if socket is not None:
            socket.close()
            self._context.term()
            self._socket = None


class ZmqSend(_Socket, Task):
    """Send frames over ZMQ (PUSH reliable, PUB lossy) with a JSON header and the raw pixels."""

    name = "zmq-send"
    kind = Kind.SINK
    uses_meta = True

    address = Property(str, "tcp://127.0.0.1:5556", doc="where to send: tcp://host:port")
    mode = Property(str, "push", choices=MODES, doc="push: reliable, one receiver per frame; pub: lossy, every subscriber")
    bind = Property(bool, True, doc="bind the address (else connect to a receiver that binds)")
    timeout = Property(float, 10.0, range=(0.001, None), unit="s", doc="how long a frame may wait for a receiver")

    def setup(self, ctx: Any) -> None:
        import zmq

        super().setup(ctx)
        self._open(zmq.PUSH if self.mode == "push" else zmq.PUB, {zmq.SNDTIMEO: int(self.timeout * 1000),
                                                                 zmq.LINGER: int(self.timeout * 1000), zmq.SNDHWM: 8})
        self.sent = 0

    def consume(self, frame: np.ndarray, meta: dict[str, Any]) -> None:  # type: ignore[override]
        import zmq

        try:
            self._socket.send_multipart(frame_parts(frame, meta), copy=False)
        except zmq.Again:
            if self.mode == "pub":
                return
            raise InputError(f"zmq-send: no receiver took frame {self.sent} at {self.address} within "
                             f"{self.timeout:g} s (is 'zmq-receive' running and connected?)") from None
        self.sent += 1

    def finish(self) -> Any:
        import zmq

        try:
            self._socket.send_multipart(end_parts(self.sent))
        except zmq.Again:
            pass
        return ()



class ZmqReceive(Task):
    """Receive frames sent by zmq-send or a camera server until its end message."""

    name = "zmq-receive"
    kind = Kind.SOURCE
    inputs = ()

    address = Property(str, "tcp://127.0.0.1:5556", doc="where to receive from: tcp://host:port")
    mode = Property(str, "pull", choices=("pull", "sub"), doc="pull (from push) or sub (from pub)")
    bind = Property(bool, False, doc="bind the address (else connect to a sender that binds)")
    timeout = Property(float, 10.0, range=(0.001, None), unit="s", doc="longest wait for the next frame")
    shape = Property(int, None, array=True, doc="frame shape, when downstream tasks need it before the first frame")
    dtype = Property(str, None, doc="frame data type (with shape)")
    number = Property(int, None, range=(1, None), doc="stop after this many frames (default: at the end message)")

    def output_spec(self) -> Spec:  # type: ignore[override]
        shape = tuple(self.shape) if self.shape else None
        return Spec(shape, np.dtype(self.dtype) if self.dtype else None, self.number)

    def setup(self, ctx: Any) -> None:
        from ..net.receiver import FrameReceiver

        super().setup(ctx)
        self._receiver = FrameReceiver(self.address, self.mode, self.bind, self.timeout, name="zmq-receive")

    def generate(self) -> Iterator[Any]:
        count = 0
        while self.number is None or count < self.number:
            item = self._receiver.receive()
            if item is None:
                return
            frame, meta = item
            if self.shape and tuple(frame.shape) != tuple(self.shape):
                raise InputError(f"zmq-receive: frame {count} has shape {tuple(frame.shape)}, declared {tuple(self.shape)}")
            if self.ctx.alloc is not None:
                out = self.ctx.buffer()
                np.copyto(out.data, frame, casting="unsafe")
                out.meta = meta
                yield out
            else:
                yield np.array(frame), meta
            count += 1

    def teardown(self) -> None:
        receiver = getattr(self, "_receiver", None)
        if receiver is not None:
            receiver.close()
            self._receiver = None

