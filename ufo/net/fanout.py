"""One frame stream to several endpoints: each a bound PUSH (reliable) or PUB (lossy) socket.

A camera serves its frames to whoever registered an endpoint (a writer host, a
reconstruction host, a viewer). Every endpoint gets every frame; a reliable endpoint whose
receiver has not taken a frame for `timeout` seconds is given up (and says so) so that one
dead consumer never stops the others or the camera.

Buffers follow the rule of `ufo.net.wire`: `send` hands the frame to ZMQ without a copy and
returns the trackers; the caller must `wait_sent` (or ``Fanout.wait``) on them before it
reuses the frame's buffer. Each endpoint is its own stream with its own sequence numbers,
so a receiver of one endpoint sees its gaps reported.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zmq

from .wire import (count_peers, end_parts, error_parts, frame_parts, new_stream_id, send_frame, sender_name,
                   wait_sent)

LOG = logging.getLogger("ufo.net")
MODES = ("push", "pub")


@dataclass
class Endpoint:
    address: str
    mode: str
    socket: zmq.Socket
    sent: int = 0
    dropped: int = 0
    failed: str | None = None
    trackers: list[Any] = field(default_factory=list)
    stream: str = field(default_factory=new_stream_id)
    seq: int = 0  # frames offered to this endpoint (sent or, for pub, dropped)
    monitor: zmq.Socket | None = None  # push: the socket's connect/disconnect events
    peers: int = 0  # receivers connected now (push)
    unsent: str | None = None  # why the last frame counted in `dropped` was not sent (push)

    @property
    def sender(self) -> str:
        return sender_name("fanout", self.address)


def parse_endpoint(text: str) -> tuple[str, str]:
    """'tcp://host:port [push|pub]' -> (address, mode)."""
    parts = text.split()
    if not parts or not parts[0].startswith(("tcp://", "ipc://", "inproc://")):
        raise ValueError(f"endpoint '{text}' must look like 'tcp://127.0.0.1:5600' or 'tcp://127.0.0.1:0 pub' "
                         "(port 0 picks a free one)")
    mode = parts[1] if len(parts) > 1 else "push"
    if mode not in MODES:
        raise ValueError(f"endpoint mode is push (reliable) or pub (lossy), not '{mode}'")
    return parts[0], mode


class Fanout:
    def __init__(self, timeout: float = 30.0, high_water_mark: int = 8):
        self.timeout = timeout
        self.high_water_mark = high_water_mark
        self._context = zmq.Context()
        self._endpoints: dict[str, Endpoint] = {}
        self._lock = threading.RLock()

    def add(self, text: str) -> str:
        """Bind an endpoint ('tcp://127.0.0.1:0' binds a free port); returns the address to connect to."""
        address, mode = parse_endpoint(text)
        socket = self._context.socket(zmq.PUSH if mode == "push" else zmq.PUB)
        socket.setsockopt(zmq.SNDHWM, self.high_water_mark)
        socket.setsockopt(zmq.SNDTIMEO, 100)
        socket.setsockopt(zmq.LINGER, int(self.timeout * 1000))
        try:
            if address.startswith("tcp://") and address.endswith(":0"):
                port = socket.bind_to_random_port(address[: address.rindex(":")])
                address = f"{address[: address.rindex(':')]}:{port}"
            else:
                socket.bind(address)
        except zmq.ZMQError as exc:
            socket.close(0)
            raise ValueError(f"cannot bind endpoint {address}: {exc} (port in use? use port 0 for a free one)") from exc
        monitor = None
        if mode == "push":  # a receiver that goes is noticed at once, not after `timeout` of a stuck send
            monitor = socket.get_monitor_socket(zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
        with self._lock:
            self._endpoints[address] = Endpoint(address, mode, socket, monitor=monitor)
        return address

    def _watch(self, endpoint: Endpoint) -> None:
        """Count the endpoint's receivers from its monitor; when the last one has gone (a walker
        killed mid-scan) the endpoint is given up at once: frames queued to it are dropped by ZMQ,
        and sends, waits and the camera's commands stop waiting `timeout` for a receiver that is
        not there (they held Tango's device lock for 30 s, so an emergency stop could not run)."""
        from zmq.utils.monitor import recv_monitor_message

        if endpoint.monitor is None or endpoint.failed is not None:
            return
        before, events = endpoint.peers, []
        with self._lock, contextlib.suppress(zmq.ZMQError):
            while endpoint.monitor.poll(0):
                events.append(recv_monitor_message(endpoint.monitor, zmq.NOBLOCK)["event"])
        endpoint.peers = count_peers(events, before)
        if before and not endpoint.peers:
            endpoint.failed = (f"its receiver disconnected after frame {endpoint.sent - 1} (receiver gone?); "
                               "stopped sending there")
            LOG.error("endpoint %s: %s", endpoint.address, endpoint.failed)

    def remove(self, address: str) -> int:
        """End the stream there (the receiver gets the end message) and close it; returns frames sent."""
        with self._lock:
            endpoint = self._endpoints.pop(address, None)
        if endpoint is None:
            raise ValueError(f"no endpoint {address}; registered: {', '.join(self._endpoints) or 'none'}")
        if endpoint.failed is None:
            self._send_final(endpoint, end_parts(endpoint.seq, endpoint.sender, endpoint.stream))
        with self._lock:  # never while a sending thread is inside a send on it (libzmq aborts the process)
            if endpoint.monitor is not None:
                with contextlib.suppress(zmq.ZMQError):
                    endpoint.socket.disable_monitor()
                endpoint.monitor.close(0)
            endpoint.socket.close()
        return endpoint.sent

    @property
    def addresses(self) -> list[str]:
        with self._lock:
            return list(self._endpoints)

    def status(self) -> list[str]:
        with self._lock:
            return [f"{e.address} {e.mode}: {e.sent} sent, {e.dropped} dropped"
                    + (f" ({e.unsent})" if e.unsent and e.dropped else "") + (f", FAILED: {e.failed}" if e.failed else "")
                    for e in self._endpoints.values()]

    def send(self, frame: np.ndarray, meta: dict[str, Any], stop: threading.Event | None = None,
             patience: float | None = None) -> list[Any]:
        """Send one frame everywhere without copying; returns trackers to wait on (`wait`) before reusing `frame`.

        `patience`: seconds a reliable endpoint with no receiver connected may keep the frame
        waiting before it is counted dropped (and said in `status`); None waits `timeout` for one,
        as a stream does. A single frame grabbed on a Tango request thread passes a short one: it
        held the device (every command, `state()` too) for the whole timeout where nobody listened."""
        frame = np.ascontiguousarray(frame)
        trackers = []
        with self._lock:
            endpoints = [e for e in self._endpoints.values() if e.failed is None]
        for endpoint in endpoints:
            self._watch(endpoint)
            if endpoint.failed is not None:
                continue
            parts = frame_parts(frame, meta, seq=endpoint.seq, sender=endpoint.sender, stream=endpoint.stream,
                                reliable=endpoint.mode == "push")
            endpoint.seq += 1
            tracker = self._send(endpoint, parts, stop, patience)
            if tracker is not None:
                trackers.append(tracker)
        return trackers

    def wait(self, trackers: list[Any], stop: threading.Event | None = None) -> bool:
        """Hold the frame's buffer until ZMQ sent it everywhere (False: `timeout` passed or `stop` set)."""
        return wait_sent(trackers, self.timeout, stop, self._poke)

    def _poke(self) -> None:
        """Let every endpoint's socket process its commands: frames queued to receivers that have
        gone are freed only then."""
        with self._lock:
            endpoints = list(self._endpoints.values())
            for endpoint in endpoints:
                with contextlib.suppress(zmq.ZMQError):
                    endpoint.socket.getsockopt(zmq.EVENTS)
        for endpoint in endpoints:
            self._watch(endpoint)

    def _send(self, endpoint: Endpoint, parts: list[Any], stop: threading.Event | None,
              patience: float | None = None) -> Any:
        start = time.monotonic()
        deadline = start + self.timeout
        while True:
            try:
                with self._lock:
                    tracker = send_frame(endpoint.socket, parts)
                endpoint.sent += 1
                return tracker
            except zmq.Again:
                if endpoint.mode == "pub" or (stop is not None and stop.is_set()):
                    endpoint.dropped += 1
                    return None
                self._watch(endpoint)
                if endpoint.failed is not None:  # its receiver has gone while this send waited
                    return None
                if patience is not None and not endpoint.peers and time.monotonic() - start > patience:
                    endpoint.dropped += 1
                    endpoint.unsent = f"frame {endpoint.seq - 1} not sent: no receiver connected"
                    LOG.warning("endpoint %s: %s", endpoint.address, endpoint.unsent)
                    return None
                if time.monotonic() > deadline:
                    endpoint.failed = (f"no receiver took frame {endpoint.sent} within {self.timeout:g} s "
                                       "(receiver gone?); stopped sending there")
                    LOG.error("endpoint %s: %s", endpoint.address, endpoint.failed)
                    return None
            except zmq.ZMQError as exc:  # closed under us by remove()
                endpoint.failed = str(exc)
                return None

    def _send_final(self, endpoint: Endpoint, parts: list[bytes]) -> None:
        """The end or error message: up to 5 s for a receiver that is slow to take it, half a
        second where none is connected (nobody would get it; a server's exit waited 5 s an endpoint)."""
        start = time.monotonic()
        while time.monotonic() < start + min(self.timeout, 5.0):
            try:
                with self._lock:
                    endpoint.socket.send_multipart(parts)
                return
            except zmq.Again:
                if endpoint.mode == "pub":
                    return
                self._watch(endpoint)
                if endpoint.monitor is not None and not endpoint.peers and time.monotonic() - start > 0.5:
                    return
            except zmq.ZMQError:
                return

    def error(self, message: str) -> None:
        """Tell every receiver that the source failed."""
        for address in self.addresses:
            endpoint = self._endpoints.get(address)
            if endpoint is not None and endpoint.failed is None:
                self._send_final(endpoint, error_parts(message, endpoint.sender, endpoint.stream))

    def close(self) -> None:
        for address in self.addresses:
            try:
                self.remove(address)
            except ValueError:
                pass
        self._context.term()
