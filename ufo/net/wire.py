"""The frame wire format and the rules every ufo sender and receiver follow.

Messages
--------
A frame is two parts: a JSON header and the raw pixels (sent without copies).
Header of a frame::

    {"type": "frame", "dtype", "shape", "frame_number", "timestamp", "meta",
     "seq", "sender", "stream", "reliable", "peers"}

``seq`` counts the frames of one stream from 0 (one sender, one run: ``stream`` is a random
id, ``sender`` a readable name such as ``zmq-send host:pid tcp://...``); ``reliable`` is true
for PUSH streams, false for lossy PUB ones; ``peers`` is how many receivers the sender had
connected when it sent the frame (PUSH load-balances over them, so each one sees only some
sequence numbers and cannot tell a gap from another receiver's share).
The stream ends with ``{"type": "end", "frames": N, "sender", "stream"}``; a failure is
``{"type": "error", "message", "sender", "stream"}``. Senders of older versions send no
``seq``: their frames are accepted without gap checks.

Buffers (one mechanism for every sender)
-----------------------------------------
Pixels are handed to ZMQ without a copy (`send_frame`, ``copy=False, track=True``) and the
buffer is *held* until ZMQ is done with it (`wait_sent` on the returned tracker): `zmq-send`
waits before its ``consume`` returns (so the scheduler cannot give the buffer back to its pool
while ZMQ still reads it), the camera server and the Tango fan-out wait before they grab into
a ring slot again. A tracker that does not finish within the timeout is an error, never a
silent reuse of the buffer.

Receipt
-------
`decode` validates every message (parts, JSON, type, dtype, shape, payload size) and raises
`WireError` with the reason; receivers turn it into one error naming the sender. `StreamCheck`
follows the sequence numbers of each stream and reports gaps (frames lost with a receiver that
was killed, or never sent to this one).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket as _socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.frame import scalar_meta

END = "end"
TYPES = ("frame", END, "error")
MAX_HEADER = 1 << 20
MAX_STEP = 1.0  # seconds one step of `wait_sent` counts at most (its steps take 0.1 s unless the process was paused)


class WireError(ValueError):
    """A message that is not a ufo frame, end or error message (the reason says what is wrong)."""

    def __init__(self, reason: str, header: dict[str, Any] | None = None):
        super().__init__(reason)
        self.header = header  # the parsed header when there was one (it may name the sender)


def sender_name(kind: str, address: str) -> str:
    return f"{kind} {_socket.gethostname()}:{os.getpid()} {address}"


def new_stream_id() -> str:
    return uuid.uuid4().hex[:12]


def frame_parts(frame: np.ndarray, meta: dict[str, Any], seq: int | None = None, sender: str | None = None,
                stream: str | None = None, reliable: bool = True, peers: int = 1) -> list[Any]:
    header = {"type": "frame", "dtype": frame.dtype.str, "shape": list(frame.shape),
              "frame_number": meta.get("frame_number"), "timestamp": meta.get("timestamp"), "meta": scalar_meta(meta)}
    if seq is not None:
        header.update(seq=seq, sender=sender, stream=stream, reliable=reliable, peers=peers)
    return [json.dumps(header).encode(), np.ascontiguousarray(frame)]


def end_parts(frames: int, sender: str | None = None, stream: str | None = None, stopped: bool = False) -> list[bytes]:
    """The end of a stream of `frames` frames; `stopped`: its sender was stopped (Ctrl-C, SIGTERM)."""
    header = {"type": END, "frames": frames, "sender": sender, "stream": stream}
    return [json.dumps({**header, "stopped": True} if stopped else header).encode()]


def error_parts(message: str, sender: str | None = None, stream: str | None = None) -> list[bytes]:
    return [json.dumps({"type": "error", "message": message, "sender": sender, "stream": stream}).encode()]


# -- sending: the buffer is held until ZMQ is done with it ---------------------------------------
def send_frame(socket: Any, parts: list[Any]) -> Any:
    """Hand a frame to ZMQ without copying; returns the tracker to `wait_sent` on before the
    pixels' buffer may change (raises zmq.Again when the send queue stays full)."""
    return socket.send_multipart(parts, copy=False, track=True)


def wait_sent(trackers: Any, timeout: float, stop: threading.Event | None = None,
              poke: Callable[[], Any] | None = None) -> bool:
    """Wait until ZMQ is done with the buffers of `trackers` (one or several; None entries are
    ignored): True when done, False after `timeout` seconds or when `stop` is set. Until it
    returns True the buffer must not be reused.

    `poke` (e.g. ``lambda: socket.getsockopt(zmq.EVENTS)``, from the thread that owns the socket)
    is called every 0.1 s while waiting: a frame queued to a receiver that has gone is freed only
    when its socket processes the disconnection, which the socket does only when it is used.

    The timeout counts the time this process waited, not the time the clock moved: a step of
    the wait counts at most `MAX_STEP` seconds, so a sender that was itself paused (SIGSTOP,
    a suspended VM, a debugger) gives ZMQ its time to finish after it resumes instead of
    blaming the receiver for the pause."""
    if trackers is None:
        return True
    import zmq

    if not isinstance(trackers, (list, tuple)):
        trackers = [trackers]
    waited, last = 0.0, time.monotonic()
    for tracker in trackers:
        if tracker is None:
            continue
        while not tracker.done:
            if stop is not None and stop.is_set():
                return False
            now = time.monotonic()
            waited += min(now - last, MAX_STEP)
            last = now
            left = timeout - waited
            if left <= 0:
                return False
            with contextlib.suppress(zmq.NotDone):  # poll again (and look at `stop`)
                tracker.wait(min(left, 0.1))
            if poke is not None and not tracker.done:
                poke()
    return True


# -- receiving: validate, then check the sequence ----------------------------------------------
def _buffer(part: Any) -> Any:
    return part.buffer if hasattr(part, "buffer") else part


def peer_of(parts: list[Any]) -> str | None:
    """The IP address a received message came from (ZMQ's Peer-Address), when known."""
    try:
        return str(parts[0].get("Peer-Address"))
    except Exception:  # noqa: BLE001 - a bytes part, an inproc transport, an old libzmq
        return None


def decode(parts: list[Any]) -> tuple[dict[str, Any], np.ndarray | None]:
    """(header, frame view into the received buffer or None); WireError for anything else."""
    if not parts:
        raise WireError("an empty message")
    raw = bytes(_buffer(parts[0]))
    if len(raw) > MAX_HEADER:
        raise WireError(f"a header of {len(raw)} bytes (not a ufo message)")
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as err:
        preview = raw[:40]
        raise WireError(f"the header is not JSON (starts with {preview!r})") from err
    if not isinstance(header, dict) or header.get("type") not in TYPES:
        kind = header.get("type") if isinstance(header, dict) else type(header).__name__
        raise WireError(f"unknown message type {kind!r} (expected one of {', '.join(TYPES)})")
    if header["type"] != "frame":
        if header["type"] == END and not isinstance(header.get("frames", 0), int):
            raise WireError(header=header, reason=f"an end message with frames={header.get('frames')!r}")
        return header, None
    if len(parts) != 2:
        raise WireError(header=header, reason=f"a frame message of {len(parts)} part(s) (expected 2: header, pixels)")
    try:
        dtype = np.dtype(header["dtype"])
    except (KeyError, TypeError, ValueError) as err:
        raise WireError(header=header, reason=f"frame dtype {header.get('dtype')!r} is not a numpy data type") from err
    if dtype.hasobject or dtype.itemsize == 0 or dtype.kind not in "biufc":
        raise WireError(header=header, reason=f"frame dtype {dtype} is not a pixel type")
    shape = header.get("shape")
    if (not isinstance(shape, list) or not 1 <= len(shape) <= 4
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)):
        raise WireError(header=header, reason=f"frame shape {shape!r} is not a list of 1 to 4 sizes")
    seq = header.get("seq")
    if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool) or seq < 0):
        raise WireError(header=header, reason=f"sequence number {seq!r} is not a count")
    if not isinstance(header.get("meta", {}), dict):
        raise WireError("frame metadata is not a JSON object")
    payload = _buffer(parts[1])
    size = memoryview(payload).nbytes
    expected = math.prod(shape) * dtype.itemsize  # Python ints: 2**32 x 2**32 wrapped to 0 in int64
    if size != expected:
        raise WireError(header=header, reason=f"{size} bytes of pixels for shape {tuple(shape)} {dtype} ({expected} bytes expected)")
    frame = np.frombuffer(payload, dtype=dtype).reshape(shape)
    return header, frame


def describe_sender(header: dict[str, Any] | None, peer: str | None, address: str) -> str:
    """'zmq-send host:pid tcp://...' (from 10.0.0.5), or the peer's address when the message names no sender."""
    name = header.get("sender") if isinstance(header, dict) else None
    if name:
        return f"'{name}'" + (f" (from {peer})" if peer else "")
    return f"{peer or 'an unknown peer'} (on {address})"


@dataclass
class _Stream:
    sender: str
    expected: int = 0
    received: int = 0
    missing: int = 0
    peers: int = 1
    reliable: bool = True
    ended: bool = False
    last: float = 0.0  # monotonic time of its last frame
    gaps: int = 0  # gaps said one by one up to GAPS_SAID, then counted (a line each buried the console)


GAPS_SAID = 5  # gaps of a stream said one by one; the rest summed at its end
RESTART_SILENCE = 1.0  # seconds a stream without its end must have been silent for a new one to be its restart


def _source(sender: str) -> str:
    """A sender's name without its process id ('zmq-send host:1234 tcp://...' -> 'zmq-send host tcp://...'):
    a sender started again has a new one."""
    kind, _, rest = sender.partition(" ")
    where, _, address = rest.partition(" ")
    return f"{kind} {where.rsplit(':', 1)[0]} {address}"


class StreamCheck:
    """Follows the sequence numbers of every stream a receiver sees; reports each gap once.

    A reliable stream with one receiver must arrive without gaps: a frame whose ``seq`` is
    ahead of the next expected one means frames were lost (typically queued to a receiver that
    was killed) and `warn` is called with how many and from which sender. At the end message
    frames that never came are reported the same way. PUSH streams load-balanced over several
    receivers only count (`missing`); lossy (PUB) streams count and say the total once, at the end.
    """

    def __init__(self, name: str, warn: Callable[[str], None]):
        self.name = name
        self.warn = warn
        self.streams: dict[str, _Stream] = {}
        self.missing = 0
        self.reports: list[str] = []

    def _report(self, message: str) -> None:
        self.reports.append(message)
        self.warn(message)

    def frame(self, header: dict[str, Any]) -> None:
        seq = header.get("seq")
        if seq is None:
            return
        key = str(header.get("stream") or header.get("sender"))
        state = self.streams.get(key)
        if state is None:
            state = self.streams[key] = _Stream(str(header.get("sender") or "an unnamed sender"))
            now = time.monotonic()  # the same sender on the same host and address, silent for a second: a
            cut = [s for s in self.streams.values() if s is not state and s.received and not s.ended  # restart
                   and _source(s.sender) == _source(state.sender) and now - s.last > RESTART_SILENCE]
            for old in cut:  # a sender killed and started again: its two streams went into one output unsaid
                old.ended = True
                self._report(f"{self.name}: a new stream from sender '{state.sender}' began after {old.received} "
                             "frame(s) of one that never ended (the sender was killed and started again?): "
                             "their frames follow each other here")
            beside = [s for s in self.streams.values() if s is not state and s.received and not s.ended]
            if beside:  # two senders at once: one output of both, the receive ending at the first's end (lost)
                self._report(f"{self.name}: frames of sender '{state.sender}' arrive among those of sender "
                             f"'{beside[0].sender}': both streams go into one output, interleaved")
        state.peers = int(header.get("peers") or 1)
        state.reliable = bool(header.get("reliable", True))
        checked = state.reliable and state.peers <= 1
        if seq > state.expected:
            gap = seq - state.expected
            state.missing += gap
            self.missing += gap
            state.gaps += checked
            if checked and state.gaps <= GAPS_SAID:
                first = state.expected
                self._report(f"{self.name}: {gap} frame(s) missing from sender '{state.sender}' (sequence "
                             f"{first}..{seq - 1} never arrived here; lost with a receiver that was killed, "
                             "or sent before this receiver connected, or taken by another receiver of the same "
                             "push stream)" + ("; further gaps are counted and said at the end"
                                               if state.gaps == GAPS_SAID else ""))
        elif seq < state.expected and checked:
            self._report(f"{self.name}: frame {seq} from sender '{state.sender}' arrived after frame "
                         f"{state.expected - 1} (repeated or out of order)")
        state.expected = max(state.expected, seq + 1)
        state.received += 1
        state.last = time.monotonic()

    def open_streams(self) -> list[str]:
        """The senders whose streams sent frames here and have not ended (the receive waits for them)."""
        return [s.sender for s in self.streams.values() if s.received and not s.ended]

    def end(self, header: dict[str, Any]) -> None:
        frames = header.get("frames")
        key = str(header.get("stream") or header.get("sender"))
        if not isinstance(frames, int) or header.get("stream") is None:
            return
        state = self.streams.get(key)
        if state is None:
            state = self.streams[key] = _Stream(str(header.get("sender") or "an unnamed sender"))
        state.ended = True
        if header.get("stopped"):
            self._report(f"{self.name}: sender '{state.sender}' was stopped after {frames} frame(s) (Ctrl-C or "
                         "SIGTERM): the stream ends there")
        if frames > state.expected:
            gap = frames - state.expected
            state.missing += gap
            self.missing += gap
            state.gaps += state.peers <= 1 and state.reliable
            if state.peers <= 1 and state.reliable:
                self._report(f"{self.name}: {gap} frame(s) missing from sender '{state.sender}' at its end "
                             f"(it sent {frames}, the last {gap} never arrived here)")
            state.expected = frames
        if state.gaps > GAPS_SAID:
            self._report(f"{self.name}: {state.missing} frame(s) in all missing from sender '{state.sender}', in "
                         f"{state.gaps} gaps")
        if not state.reliable and state.missing:  # counted all along, said once: a PUB stream drops by design
            self._report(f"{self.name}: {state.missing} of the {frames} frames of the lossy (pub) stream from sender "
                         f"'{state.sender}' did not arrive here (a subscriber misses what it cannot take in time and "
                         "what was sent before it joined; mode=push delivers every frame)")


def count_peers(events: Iterable[int], up: int = 0) -> int:
    """Connected peers after socket-monitor `events` (accepted/connected minus disconnected)."""
    import zmq

    for event in events:
        if event in (zmq.EVENT_ACCEPTED, zmq.EVENT_CONNECTED):
            up += 1
        elif event == zmq.EVENT_DISCONNECTED:
            up = max(0, up - 1)
    return up
