"""Frame streams between graphs and hosts: `zmq-send` and `zmq-receive` (the camera server's wire format).

PUSH/PULL is reliable (the sender waits for a receiver, up to `timeout`), PUB/SUB is lossy
(frames nobody reads in time are dropped). Every stream ends with an explicit end message;
a receiver that hears nothing for `timeout` seconds stops with an error saying so.

Reliability (see `ufo.net.wire`):

* `zmq-send` hands the pixels to ZMQ without a copy and waits, before it takes the next frame,
  until ZMQ is done with them: the frame's buffer goes back to its pool only then, so a later
  frame can never overwrite pixels still on their way.
* Every frame carries a sequence number; `zmq-receive` warns when frames of a reliable stream
  are missing (how many, from which sender) and validates every header (a garbage message is
  one error naming the sender).
* End of stream with several receivers: PUSH load-balances, so one end message would reach only
  one of them. `zmq-send` therefore sends one end message per receiver connected at the end
  (counted with a ZMQ socket monitor, or the `receivers` property when set), after every frame
  has left its queue, so ZMQ's round-robin hands one end to each receiver.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..core import Kind, Property, Spec, Task
from ..core.errors import InputError
from ..core.task import STOPPED
from ..net.wire import count_peers, end_parts, error_parts, frame_parts, new_stream_id, send_frame, sender_name, wait_sent

MODES = ("push", "pub")
STOPPED_END_MS = 1000  # how long a stopped sender's end message may wait for room in the send queue


class _Socket:
    """One ZMQ socket of a task: opened in setup (bind or connect), closed in teardown."""

    address: str
    bind: bool
    name: str

    def _open(self, kind: int, options: dict[int, Any], monitor: bool = False) -> None:
        import zmq

        self._context = zmq.Context()
        self._socket = self._context.socket(kind)
        for option, value in options.items():
            self._socket.setsockopt(option, value)
        self._monitor = None
        if monitor:  # before bind/connect: counts every peer that comes and goes
            self._monitor = self._socket.get_monitor_socket(
                zmq.EVENT_ACCEPTED | zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
        try:
            self._socket.bind(self.address) if self.bind else self._socket.connect(self.address)
        except zmq.ZMQError as exc:
            self._socket.close()
            self._socket = None
            raise InputError(f"{self.name} cannot {'bind' if self.bind else 'connect'} {self.address}: {exc}") from exc

    def teardown(self) -> None:
        import contextlib

        import zmq

        socket = getattr(self, "_socket", None)
        if socket is not None:
            monitor = getattr(self, "_monitor", None)
            if monitor is not None:
                with contextlib.suppress(zmq.ZMQError):  # closing anyway
                    socket.disable_monitor()
                monitor.close(0)
                self._monitor = None
            if getattr(self, "_failed", False):
                socket.setsockopt(zmq.LINGER, 0)  # frames still queued were reported lost
            socket.close()
            self._context.term()
            self._socket = None


class ZmqSend(_Socket, Task):
    """Send frames over ZMQ (PUSH reliable, PUB lossy) with a JSON header and the raw pixels.

    Each frame's buffer is held until ZMQ is done sending it (no copy, no reuse while on the
    wire); frames carry sequence numbers; the end message goes to every connected receiver
    (or to `receivers` of them when set).
    """

    name = "zmq-send"
    kind = Kind.SINK
    uses_meta = True

    address = Property(str, "tcp://127.0.0.1:5556", doc="where to send: tcp://host:port")
    mode = Property(str, "push", choices=MODES, doc="push: reliable, one receiver per frame; pub: lossy, every subscriber")
    bind = Property(bool, True, doc="bind the address (else connect to a receiver that binds)")
    timeout = Property(float, 10.0, range=(0.001, None), unit="s", doc="how long a frame may wait for a receiver")
    receivers = Property(int, 0, range=(0, None),
                         doc="push to this many receivers: wait for them before the first frame, one end message to "
                         "each; 0: one end to every receiver connected at the end")

    def setup(self, ctx: Any) -> None:
        import zmq

        super().setup(ctx)
        self._failed = self._ended = False
        self._open(zmq.PUSH if self.mode == "push" else zmq.PUB,
                   {zmq.SNDTIMEO: int(self.timeout * 1000), zmq.LINGER: int(self.timeout * 1000), zmq.SNDHWM: 8},
                   monitor=True)
        if self.mode == "push":
            # Track every frame, small ones too (pyzmq copies frames under 64 KiB and reports them
            # sent at once): each send then waits until ZMQ's I/O thread took the frame, so no
            # receiver's queue is full when the end messages go out (see `finish`).
            self._socket.copy_threshold = 0
        self.sent = 0
        self.peers = 0
        self._sender = sender_name("zmq-send", self.address)
        self._stream = new_stream_id()

    def _watch_peers(self) -> None:
        import zmq
        from zmq.utils.monitor import recv_monitor_message

        if self._monitor is None:
            return
        events = []
        while True:
            try:
                events.append(recv_monitor_message(self._monitor, zmq.NOBLOCK)["event"])
            except zmq.Again:
                break
        before = self.peers
        self.peers = count_peers(events, self.peers)
        lost = sum(1 for e in events if e == zmq.EVENT_DISCONNECTED)
        if lost and self.mode == "push" and self.sent:
            self.ctx.warn(f"{lost} receiver(s) of {self.address} disconnected after frame {self.sent - 1} "
                          f"({before} -> {self.peers} connected); frames queued to them are lost and the next "
                          "receiver reports the gap")

    def _wait_for_receivers(self) -> None:
        """With `receivers` set, the stream starts once that many receivers are connected, so
        load balancing includes every one of them from the first frame."""
        import time

        deadline = time.monotonic() + self.timeout
        while self.peers < self.receivers:
            if self.ctx.cancelled.is_set():
                return
            if time.monotonic() > deadline:
                self._failed = True
                raise InputError(f"zmq-send: only {self.peers} of {self.receivers} receivers connected to "
                                 f"{self.address} within {self.timeout:g} s")
            time.sleep(0.02)
            self._watch_peers()

    def consume(self, frame: np.ndarray, meta: dict[str, Any]) -> None:  # type: ignore[override]
        import zmq

        self._watch_peers()
        push = self.mode == "push"
        if push and self.sent == 0 and self.receivers > 1:
            self._wait_for_receivers()
        parts = frame_parts(frame, meta, seq=self.sent, sender=self._sender, stream=self._stream, reliable=push,
                            peers=max(1, self.peers) if push else 1)
        try:
            tracker = send_frame(self._socket, parts)
        except zmq.Again as err:
            if not push:
                self.sent += 1  # the sequence number is spent: subscribers see the drop as a gap
                return
            self._failed = True
            raise InputError(f"zmq-send: no receiver took frame {self.sent} at {self.address} within "
                             f"{self.timeout:g} s (is 'zmq-receive' running and connected?)") from err
        self.sent += 1
        # hold the buffer until ZMQ is done with it: after consume returns it goes back to its pool
        poke = lambda: self._socket.getsockopt(zmq.EVENTS)  # noqa: E731 - frees frames of receivers gone
        if not wait_sent(tracker, self.timeout, self.ctx.cancelled, poke):
            if self.ctx.cancelled.is_set():  # stopped: the end message still goes (`teardown`)
                return
            self._failed = True
            raise InputError(f"zmq-send: frame {self.sent - 1} was still on its way to {self.address} after "
                             f"{self.timeout:g} s (receiver stalled or gone?)")

    def finish(self) -> Any:
        """The end message; where the frames ended early it says why, so the receivers do not end
        as if the stream were whole (a source that failed at frame 30 of 60, or a Ctrl-C, left a
        receiver's file of 30 frames, exit 0, without a word)."""
        why = self.ctx.ended_early()
        if why is None or why == STOPPED:
            self._end(stopped=why is not None)
        else:
            self._end(error=f"its run failed after {self.sent} frame(s): {why}")
        return ()

    def teardown(self) -> None:
        if not self._ended and not self._failed and getattr(self, "_socket", None) is not None:
            self._end(stopped=True)  # stopped (Ctrl-C, SIGTERM): the receivers end now, told why, instead of
        super().teardown()  # waiting out their timeout and failing with "sender gone"

    def _end(self, stopped: bool = False, error: str | None = None) -> None:
        import zmq

        self._ended = True
        self._watch_peers()
        if self.mode == "pub":
            ends = 1
        else:
            ends = self.receivers or max(1, self.peers)
        for _ in range(ends):
            # ZMQ load-balances over receivers whose queue it believes not full, and it learns
            # that a queue drained only when it processes its commands (throttled in a burst of
            # sends). Processing them before each end gives each receiver exactly one end;
            # without it a receiver that was sent a burst could get none and wait for ever.
            self._socket.getsockopt(zmq.EVENTS)
            if stopped:  # a second at most for the queued frames to make room: Ctrl-C ends promptly
                self._socket.setsockopt(zmq.SNDTIMEO, STOPPED_END_MS)
            try:
                self._socket.send_multipart(end_parts(self.sent, self._sender, self._stream, stopped) if error is None
                                            else error_parts(error, self._sender, self._stream))
            except zmq.Again:
                break


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
        self._receiver = FrameReceiver(self.address, self.mode, self.bind, self.timeout, name="zmq-receive",
                                       warn=lambda text: ctx.warn(text.removeprefix("zmq-receive: ")),  # the run
                                       stop=getattr(ctx, "cancelled", None))  # names the node itself

    def generate(self) -> Iterator[Any]:
        count, first = 0, None
        while self.number is None or count < self.number:
            item = self._receiver.receive()
            if item is None:
                return
            frame, meta = item
            first = frame.dtype if first is None else first
            if not self.dtype and frame.dtype != first:  # a writer cast float32 1e9 into uint16 65535 without a word
                raise InputError(f"zmq-receive: frame {count} is {frame.dtype}, the stream's first {first}: a "
                                 f"stream's frames have one type; declare dtype= to take frames of both")
            if self.shape and tuple(frame.shape) != tuple(self.shape):
                raise InputError(f"zmq-receive: frame {count} has shape {tuple(frame.shape)}, declared {tuple(self.shape)}")
            if self.dtype and not np.can_cast(frame.dtype, self.dtype, "safe"):  # uint16 into uint8 wrapped
                raise InputError(f"zmq-receive: frame {count} is {frame.dtype}, declared dtype={self.dtype}, which does "
                                 f"not hold all its values; declare dtype={frame.dtype}")
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

