"""The camera server: control over ZMQ REQ/REP (JSON), frames over PUSH (reliable) or PUB (lossy).

Bound to 127.0.0.1 unless told otherwise. Several clients may send requests; a client that
dies mid-request or mid-stream never stops the server (sends time out and are retried or,
for PUB, dropped and counted).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np
import zmq

from ..core.errors import UfoError
from ..net.wire import end_parts, error_parts, frame_parts
from .base import Camera
from .errors import EndOfFrames


class CameraServer:
    def __init__(self, camera: Camera, host: str = "127.0.0.1", port: int = 0, stream_port: int = 0,
                 mode: str = "push", buffers: int = 8):
        if mode not in ("push", "pub"):
            raise ValueError(f"stream mode is push (reliable) or pub (lossy), not '{mode}'")
        self.camera = camera
        self.mode = mode
        self._context = zmq.Context()
        self._control = self._context.socket(zmq.REP)
        self._control.setsockopt(zmq.LINGER, 0)
        self.port = self._bind(self._control, host, port)
        self._stream = self._context.socket(zmq.PUSH if mode == "push" else zmq.PUB)
        self._stream.setsockopt(zmq.SNDHWM, buffers)
        self._stream.setsockopt(zmq.SNDTIMEO, 200)
        self._stream.setsockopt(zmq.LINGER, 1000)
        self.stream_port = self._bind(self._stream, host, stream_port)
        self.host = host
        self._buffers = [np.empty(camera.frame_shape, camera.dtype) for _ in range(buffers)]
        self._trackers: list[Any] = [None] * buffers
        self._streaming = threading.Event()
        self._stop = threading.Event()
        self._streamer: threading.Thread | None = None
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.dropped = 0
        self._lock = threading.Lock()

    @staticmethod
    def _bind(socket: zmq.Socket, host: str, port: int) -> int:
        if port:
            socket.bind(f"tcp://{host}:{port}")
            return port
        return socket.bind_to_random_port(f"tcp://{host}")

    @property
    def address(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    # -- control ------------------------------------------------------------------------
    def _info(self) -> dict[str, Any]:
        cam = self.camera
        return {"name": cam.name, "properties": cam.describe(), "shape": list(cam.frame_shape), "dtype": cam.dtype.str,
                "stream": {"port": self.stream_port, "mode": self.mode}}

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        cmd = request.get("cmd")
        cam = self.camera
        with self._lock:
            if cmd == "info":
                return self._info()
            if cmd == "get":
                return {"value": cam.get(request["name"])}
            if cmd == "set":
                cam.set(**request["values"])
                if not cam.is_recording:
                    self._buffers = [np.empty(cam.frame_shape, cam.dtype) for _ in self._buffers]
                return {"properties": cam.describe(), "shape": list(cam.frame_shape), "dtype": cam.dtype.str}
            if cmd == "start":
                cam.start_recording()
                self.sent = self.dropped = 0
                self._streaming.set()
                self._streamer = threading.Thread(target=self._stream_frames, args=(request.get("number"),),
                                                  name="ufo:camera-server:stream", daemon=True)
                self._streamer.start()
                return {"recording": True}
            if cmd == "stop":
                return self._stop_stream()
            if cmd == "trigger":
                cam.trigger(request.get("tags"))
                return {"triggered": True}
            if cmd == "stats":
                return {"sent": self.sent, "dropped": self.dropped + cam.dropped, "recording": cam.is_recording}
        raise ValueError(f"unknown command '{cmd}'; commands: info, get, set, start, stop, trigger, stats")

    def _stop_stream(self) -> dict[str, Any]:
        self._streaming.clear()
        cam = self.camera
        if cam.is_recording:
            cam.stop_recording()  # wakes a grab waiting for a trigger
        if self._streamer is not None:
            self._streamer.join(10)
            self._streamer = None
        return {"recording": False, "sent": self.sent, "dropped": self.dropped}

    def _serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self._control, zmq.POLLIN)
        while not self._stop.is_set():
            if not poller.poll(100):
                continue
            try:
                request = json.loads(self._control.recv())
                reply = {"ok": True, **self.handle(request)}
            except (UfoError, ValueError, KeyError, TypeError) as exc:
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            except Exception as exc:  # noqa: BLE001 - the server outlives any one request
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            try:
                self._control.send(json.dumps(reply).encode())
            except zmq.ZMQError:
                pass

    # -- streaming ----------------------------------------------------------------------
    def _send(self, parts: list[Any], slot: int) -> bool:
        """Send one frame; PUSH waits (retrying while streaming), PUB drops when nobody keeps up."""
        while True:
            try:
                self._trackers[slot] = self._stream.send_multipart(parts, copy=False, track=True)
                return True
            except zmq.Again:
                if self.mode == "pub" or not self._streaming.is_set():
                    return False

    def _stream_frames(self, number: int | None) -> None:
        cam = self.camera
        count = 0
        try:
            while self._streaming.is_set() and (number is None or count < number):
                slot = count % len(self._buffers)
                tracker = self._trackers[slot]
                if tracker is not None and not tracker.done:
                    tracker.wait(5)  # zmq may still be sending from this buffer
                try:
                    frame = cam.grab(out=self._buffers[slot], timeout=0.5)
                except EndOfFrames:
                    break
                except UfoError:
                    if not self._streaming.is_set():
                        break
                    continue
                if self._send(frame_parts(self._buffers[slot], frame.meta), slot):
                    self.sent += 1
                else:
                    self.dropped += 1
                count += 1
        except Exception as exc:  # noqa: BLE001 - tell the clients instead of dying silently
            self._send_control_free(error_parts(f"{type(exc).__name__}: {exc}"))
        self._send_control_free(end_parts(self.sent))

    def _send_control_free(self, parts: list[bytes]) -> None:
        for _ in range(25):
            try:
                self._stream.send_multipart(parts)
                return
            except zmq.Again:
                if self.mode == "pub":
                    return

    # -- lifetime -----------------------------------------------------------------------
    def start(self) -> CameraServer:
        self._thread = threading.Thread(target=self._serve, name="ufo:camera-server", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._serve()

    def close(self) -> None:
        self._stop.set()
        if self._streaming.is_set():
            self._stop_stream()
        if self._thread is not None:
            self._thread.join(5)
        self._control.close()
        self._stream.close()
        self._context.term()

    def __enter__(self) -> CameraServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()
