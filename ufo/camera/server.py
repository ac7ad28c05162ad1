"""The camera server: control over ZMQ REQ/REP (JSON), frames over PUSH (reliable) or PUB (lossy).

Bound to 127.0.0.1 unless told otherwise. Several clients may send requests; a client that
dies mid-request or mid-stream never stops the server (sends time out and are retried or,
for PUB, dropped and counted).

Who holds the camera
--------------------
One client controls a recording: the one whose ``start`` was accepted (requests carry a
``client`` name; `NetCamera` sends ``user@host pid N #id``). While it records, ``start``,
``set``, ``trigger`` and ``stop`` from anyone else are refused with a message naming the
holder; ``info``, ``get`` and ``stats`` are served to everyone (and with ``--mode pub`` any
number of subscribers can watch the stream). ``stop`` or ``start`` with ``"force": true`` (what
``ufo camera stop`` sends) takes the camera whoever holds it: the holder's grab fails, told why.

A client that vanishes releases the camera: a start may ask for a lease (``"lease": seconds``,
`NetCamera` asks for its own timeout) which the client renews (``renew``) while it records;
when a lease runs out the server stops the recording and ends the stream. Requests without a
``client`` name keep the old behaviour (no lease). A stream the server cuts short (shut down,
released, taken over, a lease run out) ends marked stopped, with why: its client's grab fails, as
after a server killed, rather than pass for a finite camera's end (exit 0, 86 of 100000 frames).

Every recording has its own stream id in the frame headers (see `ufo.net.wire`): a client
ignores frames and end messages of an earlier recording still on their way, and buffers handed
to ZMQ are held (``wait_sent``) until ZMQ is done with them before a frame is grabbed into them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from typing import Any

import numpy as np
import zmq

from ..core.errors import UfoError, UsageError
from ..net.wire import count_peers, end_parts, error_parts, frame_parts, new_stream_id, send_frame, sender_name
from ..net.wire import wait_sent
from .base import Camera
from .errors import CameraError, EndOfFrames, FrameTimeout
from .server_requests import bind_port, start_options

LOG = logging.getLogger("ufo.camera")
ANONYMOUS = "an unnamed client"


class CameraServer:
    def __init__(self, camera: Camera, host: str = "127.0.0.1", port: int = 0, stream_port: int = 0,
                 mode: str = "push", buffers: int = 8, send_timeout: float = 30.0):
        if mode not in ("push", "pub"):
            raise ValueError(f"stream mode is push (reliable) or pub (lossy), not '{mode}'")
        self.camera = camera
        self.mode = mode
        self.send_timeout = send_timeout
        self._context = zmq.Context()
        self._control = self._context.socket(zmq.REP)
        self._control.setsockopt(zmq.LINGER, 0)
        self.port = bind_port(self._control, host, port)
        self._stream = self._context.socket(zmq.PUSH if mode == "push" else zmq.PUB)
        self._stream.setsockopt(zmq.SNDHWM, buffers)
        self._stream.setsockopt(zmq.SNDTIMEO, 200)
        self._stream.setsockopt(zmq.LINGER, 1000)
        # counts the stream's receivers: a new recording waits until the last holder's connection is gone
        self._monitor = self._stream.get_monitor_socket(zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
        self._monitor_lock = threading.Lock()
        self.peers = 0
        self.stream_port = bind_port(self._stream, host, stream_port)
        self.host = host
        self._buffers = [np.empty(camera.frame_shape, camera.dtype) for _ in range(buffers)]
        self._trackers: list[Any] = [None] * buffers
        self._streaming = threading.Event()
        self._halt = threading.Event()  # set by a stop: the streamer stops waiting for a receiver
        self._stop = threading.Event()
        self._streamer: threading.Thread | None = None
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None  # what ended a background server (start()); close() raises it
        self.sent = 0
        self.dropped = 0
        self.late_sent = 0  # frames sent that the camera grabbed later than its rate allows (unbuffered)
        self.camera_dropped = 0  # frames the camera dropped before those sent (its ring was full: the stream waited)
        self._lock = threading.RLock()
        self._sender = sender_name("camera-server", f"tcp://{host}:{self.stream_port}")
        self.stream_id: str | None = None
        self.owner: str | None = None  # the client that started the recording
        self.lease: float | None = None  # seconds; None: no lease (an unnamed client)
        self._renewed = 0.0
        self._since = 0.0
        self.released: list[str] = []  # why recordings were stopped by the server (lease ran out)
        self._why: str | None = None  # why the server stops the stream (its end says so); None: its own client did

    @property
    def address(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    def _count_peers(self) -> int:
        """Receivers connected to the stream now (from the socket monitor's events)."""
        from zmq.utils.monitor import recv_monitor_message

        with self._monitor_lock:
            events = []
            while self._monitor is not None:
                try:
                    events.append(recv_monitor_message(self._monitor, zmq.NOBLOCK)["event"])
                except zmq.Again:
                    break
            self.peers = count_peers(events, self.peers)
            return self.peers

    def _await_stale_receivers(self, timeout: float = 1.0) -> int:
        """Before a named client's recording (push mode; its receiver connects after the start
        reply): let connections of earlier holders close, so that no frame of the new recording is
        queued to a receiver that is going away. The streamer is not running: the socket is ours.
        The receivers still connected after `timeout` (not this recording's: refused)."""
        deadline = time.monotonic() + timeout
        waited = False
        while self._count_peers() > 0 and time.monotonic() < deadline:
            waited = True
            time.sleep(0.01)
        if waited:
            time.sleep(0.005)
            self._stream.getsockopt(zmq.EVENTS)  # take the closed connections out of the load balancer now
        return self._count_peers()

    # -- control ------------------------------------------------------------------------
    def _info(self) -> dict[str, Any]:
        cam = self.camera
        return {"name": cam.name, "properties": cam.describe(), "shape": list(cam.frame_shape), "dtype": cam.dtype.str,
                "stream": {"port": self.stream_port, "mode": self.mode}, "holder": self._holder()}

    def _holder(self) -> dict[str, Any] | None:
        if not self.camera.is_recording or self.owner is None:
            return None
        now = time.monotonic()
        return {"client": self.owner, "since": round(now - self._since, 3), "renewed": round(now - self._renewed, 3),
                "lease": self.lease}

    def _busy(self, client: str, cmd: str) -> CameraError:
        holder = self._holder() or {}
        lease = f", lease {holder['lease']:g} s renewed {holder['renewed']:.1f} s ago" if holder.get("lease") else ""
        return CameraError(f"'{cmd}' refused: camera '{self.camera.name}' is recording for {self.owner} "
                           f"(for {holder.get('since', 0):.1f} s{lease}); you are {client}. Wait for it to stop, "
                           f"or release it with 'ufo camera stop --host {self.host} --port {self.port}'")

    def _held_by_other(self, client: str) -> bool:
        return self.camera.is_recording and self.owner is not None and self.owner != client

    def handle(self, request: dict[str, Any], remote: bool = False) -> dict[str, Any]:
        """Answer one request. Calls in the server's own process (`remote=False`) act with full
        authority (like ``force``); requests from the network obey who holds the camera."""
        cmd = request.get("cmd")
        cam = self.camera
        client = str(request.get("client") or ANONYMOUS)
        if not remote:
            request = {**request, "force": True}
        with self._lock:
            if self.owner is not None and client == self.owner:
                self._renewed = time.monotonic()  # every request of the holder renews its lease
            if cmd == "info":
                return self._info()
            if cmd == "get":
                return {"value": cam.get(request["name"])}
            if cmd == "stats":
                return {"sent": self.sent, "dropped": self.dropped + cam.dropped, "recording": cam.is_recording,
                        "holder": self._holder(), "stream": self.stream_id}
            if cmd == "renew":
                if not cam.is_recording or self.owner != client:
                    return {"recording": False, "holder": self._holder()}
                self._renewed = time.monotonic()
                return {"recording": True}
            if self._held_by_other(client) and not request.get("force"):
                raise self._busy(client, cmd)
            if cmd == "stop":
                was = self.owner if cam.is_recording else None
                why = None if was in (None, client) else f"the camera was released by {client}"
                return {**self._stop_stream(why), "released": was}
            if cmd == "set":
                cam.set(**request["values"])
                if not cam.is_recording:
                    self._buffers = [np.empty(cam.frame_shape, cam.dtype) for _ in self._buffers]
                    self._trackers = [None] * len(self._buffers)
                return {"properties": cam.describe(), "shape": list(cam.frame_shape), "dtype": cam.dtype.str}
            if cmd == "start":
                return self._start_stream(request, client)
            if cmd == "trigger":
                cam.trigger(request.get("tags"))
                return {"triggered": True}
        raise ValueError(f"unknown command '{cmd}'; commands: info, get, set, start, stop, renew, trigger, stats")

    def _start_stream(self, request: dict[str, Any], client: str) -> dict[str, Any]:
        cam = self.camera
        number, lease = start_options(request)  # a bad request leaves a recording as it is
        taken = cam.is_recording and self.owner not in (None, client)  # a forced start: its holder is told
        if cam.is_recording or self._streamer is not None:  # (or the holder again, a recording that ended)
            self._stop_stream(f"the camera was taken over by {client}" if taken else None)
        if self.mode == "push" and request.get("client") and self._await_stale_receivers(2.0) and not taken:
            raise CameraError(f"{self.peers} receiver(s) stay connected to the stream port {self.stream_port} (a viewer "
                              "or an earlier client still running?): in push mode each would take a share of this "
                              "recording's frames; stop them, or serve with --mode pub for several receivers")
        cam.start_recording()
        self.sent = self.dropped = self.late_sent = self.camera_dropped = 0
        self.stream_id = new_stream_id()
        self.owner = client if request.get("client") else ANONYMOUS
        self.lease = lease if request.get("client") else None
        self._since = self._renewed = time.monotonic()
        self._halt.clear()
        self._streaming.set()
        self._streamed = threading.Event()  # set by the stream thread as its last act (see `_stop_stream`)
        self._streamer = threading.Thread(target=self._stream_frames, args=(number, self.stream_id),
                                          name="ufo:camera-server:stream", daemon=True)
        self._streamer.start()
        return {"recording": True, "stream": self.stream_id, "lease": self.lease}

    def _stop_stream(self, why: str | None = None) -> dict[str, Any]:
        self._why = self._why if self._halt.is_set() else why  # said by the stream's end (None: its client stopped it)
        self._streaming.clear()
        self._halt.set()
        cam = self.camera
        if cam.is_recording:
            cam.stop_recording()  # wakes a grab waiting for a trigger
        if self._streamer is not None:
            # every wait of the streamer looks at `_halt`; its event, not join(): a Ctrl-C in a join marks the thread
            # stopped as it runs on (CPython < 3.13): the socket closed under it (libzmq assertion, a hang at Ctrl-C)
            if self._streamed.wait(10):
                self._streamer.join(1)
            if not self._streamed.is_set():
                raise CameraError(f"camera '{cam.name}': the stream thread did not stop within 10 s "
                                  "(a grab that does not return?); try 'stop' again")
            self._streamer = None
        self.owner = None
        # late: the client's summary said "0 dropped, 18 frames/s reached (50 asked)" with nothing of why
        return {"recording": False, "sent": self.sent, "dropped": self.dropped, "late": self.late_sent,
                "camera_dropped": self.camera_dropped}

    def check_lease(self) -> str | None:
        """Stop a recording whose client stopped renewing its lease; returns why, or None."""
        with self._lock:
            if self.lease is None or self.owner is None or not self.camera.is_recording:
                return None
            silent = time.monotonic() - self._renewed
            if silent <= self.lease:
                return None
            why = (f"released camera '{self.camera.name}': client {self.owner} sent nothing for {silent:.1f} s "
                   f"(lease {self.lease:g} s; client gone?) after {self.sent} frame(s)")
            LOG.warning(why)
            self.released.append(why)
            try:
                self._stop_stream(f"the camera server {why[0].lower()}{why[1:]}")
            except CameraError as exc:  # the stream thread is stuck: the server goes on serving and says so
                LOG.error("%s", exc)
                return f"{why}; {exc}"
            return why

    def _serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self._control, zmq.POLLIN)
        while not self._stop.is_set():
            if not poller.poll(100):
                self._count_peers()  # keeps the monitor's queue short
                self.check_lease()
                continue
            try:
                request = json.loads(self._control.recv())
                if not isinstance(request, dict):
                    raise TypeError("a request is a JSON object such as {\"cmd\": \"info\"}")
                reply = {"ok": True, **self.handle(request, remote=True)}
            except Exception as exc:  # noqa: BLE001 - the server outlives any one request (UfoError, ValueError, ...)
                usage = isinstance(exc, UsageError)  # a refused value: the client's usage error (exit 2, as local)
                reply = {"ok": False, "error": str(exc) if usage else f"{type(exc).__name__}: {exc}", "usage": usage}
            try:
                self._control.send(json.dumps(reply).encode())
            except zmq.ZMQError:
                pass
            self.check_lease()

    # -- streaming ----------------------------------------------------------------------
    def _send(self, parts: list[Any], slot: int) -> bool:
        """Send one frame; PUSH waits (retrying while streaming), PUB drops when nobody keeps up."""
        while True:
            try:
                # processes pending commands now (send throttles them): connections of clients that
                # are gone leave the load balancer before this frame could be queued to them
                self._stream.getsockopt(zmq.EVENTS)
                self._trackers[slot] = send_frame(self._stream, parts)
                return True
            except zmq.Again:
                if self.mode == "pub" or not self._streaming.is_set():
                    return False

    def _wait_buffer(self, slot: int) -> bool:
        """Wait until ZMQ gave the slot's buffer back (False after `send_timeout` or a stop)."""
        return wait_sent(self._trackers[slot], self.send_timeout, self._halt,
                         poke=lambda: self._stream.getsockopt(zmq.EVENTS))

    def _stream_frames(self, number: int | None, stream: str) -> None:
        cam = self.camera
        count = 0
        try:
            while self._streaming.is_set() and (number is None or count < number):
                slot = count % len(self._buffers)
                # the buffer is held until ZMQ is done with it: never grab into pixels still being sent
                if not self._wait_buffer(slot):
                    if self._halt.is_set():
                        break  # stopped while a receiver that no longer reads holds the frame
                    raise CameraError(f"frame {count - len(self._buffers)} was still being sent after "
                                      f"{self.send_timeout:g} s (client stalled?)")
                late, dropped = cam.stats.late, cam.stats.dropped
                try:
                    frame = cam.grab(out=self._buffers[slot], timeout=0.5)
                except EndOfFrames:
                    break
                except UfoError as exc:  # a slow camera's timeout is waited again; another error (a file
                    if not self._streaming.is_set():  # camera's damaged frame) was retried for good at
                        break  # 100 % of a core, its clients told "no frame within 5 s"
                    if isinstance(exc, FrameTimeout):
                        continue
                    raise
                parts = frame_parts(self._buffers[slot], frame.meta, seq=count, sender=self._sender, stream=stream,
                                    reliable=self.mode == "push")
                if self._send(parts, slot):
                    self.sent += 1
                    self.late_sent += cam.stats.late > late  # grabbed later than the rate allows, then sent
                    self.camera_dropped += cam.stats.dropped - dropped
                else:
                    self.dropped += 1
                count += 1
        except Exception as exc:  # noqa: BLE001 - tell the clients instead of dying silently
            LOG.error("camera '%s' failed after %d frame(s): %s", cam.name, count, exc)
            with contextlib.suppress(Exception):  # no longer "recording" in stats
                cam.stop_recording()
            self._send_control_free(error_parts(f"{type(exc).__name__}: {exc}", self._sender, stream))
        finally:
            self._send_control_free(self._end_parts(count, stream))
            self._streamed.set()  # the last use of the socket: close() may close it now

    def _end_parts(self, count: int, stream: str) -> list[bytes]:
        """The stream's end; marked stopped, with why, where the server cut it short (the module's docstring)."""
        stopped = self._halt.is_set() and self._why is not None
        parts = end_parts(count, self._sender, stream, stopped=stopped)
        return [json.dumps({**json.loads(parts[0]), "why": self._why}).encode()] if stopped else parts

    def _send_control_free(self, parts: list[bytes]) -> None:
        # nobody connected (client gone) or, after a stop, the stopping client no longer reads: give up soon
        deadline = time.monotonic() + (0.5 if self._halt.is_set() else 2.0)
        while time.monotonic() < deadline:
            try:
                self._stream.send_multipart(parts)
                return
            except zmq.Again:
                if self.mode == "pub" or self._count_peers() == 0:
                    return  # nobody to tell (the client is gone)

    # -- lifetime -----------------------------------------------------------------------
    def start(self) -> CameraServer:
        self._thread = threading.Thread(target=self._serve_in_thread, name="ufo:camera-server", daemon=True)
        self._thread.start()
        return self

    def _serve_in_thread(self) -> None:
        """`_serve` in start()'s thread, where an error would reach nobody: kept for close()."""
        try:
            self._serve()
        except Exception as exc:  # noqa: BLE001 - the owner hears of it at close()
            LOG.error("camera server stopped: %s: %s", type(exc).__name__, exc)
            self.error = exc

    def serve_forever(self) -> None:
        self._serve()

    def close(self) -> None:
        if not self._halt.is_set():  # a client still reading takes the frames queued, then the end that says so
            self._why = "the camera server was shut down (Ctrl-C, SIGTERM or its program ended)"
        self._stop.set()
        self._halt.set()
        if self._thread is not None:
            self._thread.join(15)
        with self._lock:
            if self._streaming.is_set() or self._streamer is not None:
                self._stop_stream()  # raises rather than close the stream socket under a live streamer
        with self._monitor_lock:
            with contextlib.suppress(zmq.ZMQError):
                self._stream.disable_monitor()
            self._monitor.close(0)
            self._monitor = None
        self._control.close()
        self._stream.close()
        self._context.term()
        if self.error is not None:
            raise CameraError(f"the camera server had stopped serving: {type(self.error).__name__}: {self.error}") \
                from self.error

    def __enter__(self) -> CameraServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()
