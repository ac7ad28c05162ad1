"""The net camera: a client of `ufo camera serve`, with the same API as a local camera.

Properties are read and set on the server (`get`, `set`); the standard ones are mirrored
locally after each exchange, so `camera.frame_shape` and friends stay right. Every wait has
a timeout with a message that says what to check.

While it records, the client holds the camera on a lease of `timeout` seconds that a
background thread renews: a client that is killed releases the server within `timeout`.
Another client's start is refused by the server with a message naming this one. The stream
is connected after the server accepted the start (PUSH mode: a refused client never takes
frames from the holder's stream), and frames of other recordings (stream ids) are ignored.

No ring buffer runs here: `buffered` and `num_buffers` read (and set) the server camera's ring,
which buffers, drops and counts. A ring here read a push stream as fast as it came and dropped
frames that had crossed the network whole (the server said "sent 163, dropped 0", this ring
dropped 106), kept back-pressure from the server's camera and cost a core copying frames it then
threw away. Frames a pub stream lost on their way here are counted apart (`stream_lost`).

A stream the server ends because it was stopped (shut down, the camera released by `ufo camera
stop`, the lease run out) is an error here, not the end of a finite camera: the recording was cut.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import socket as _socket
import threading
import uuid
from typing import Any, NoReturn

import numpy as np
import zmq

from ..core.errors import PropertyError
from ..net.wire import StreamCheck, WireError, decode, describe_sender, peer_of
from .base import Camera, CameraProperty
from .errors import CameraError, EndOfFrames

LOCAL = {"host", "port", "timeout", "stream_mode"}
STATE = {"is_recording", "is_readout"}  # this client's own state, not the server camera's (another client may record)
SERVER_RING = ("buffered", "num_buffers")  # the server camera's ring: read here, never run here
LOG = logging.getLogger("ufo.camera")


def client_name() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        user = "?"
    return f"{user}@{_socket.gethostname()} pid {os.getpid()} #{uuid.uuid4().hex[:6]}"


class NetCamera(Camera):
    name = "net"

    host = CameraProperty(str, "127.0.0.1", doc="address of the camera server")
    port = CameraProperty(int, 5555, range=(1, 65535), doc="control port of the camera server")
    timeout = CameraProperty(float, 5.0, range=(0.01, None), unit="s", doc="how long to wait for the server")

    def __init__(self, **properties: Any):
        local = {k: v for k, v in properties.items() if k.replace("-", "_") in LOCAL}
        remote = {k: v for k, v in properties.items() if k.replace("-", "_") not in LOCAL}
        super().__init__(**local)
        self._context = zmq.Context.instance()
        self.client = client_name()
        self._stream_id: str | None = None
        self._renewer: threading.Thread | None = None
        self._renew_stop = threading.Event()
        self._lost: str | None = None  # why frames stopped, said when a grab finds none (set by _renew)
        self._silent = False  # a grab found no frame within the timeout (the server may be gone)
        self._lost_cause: BaseException | None = None  # the renewing thread's error, kept as the cause
        self._req: zmq.Socket | None = None
        self._stream: zmq.Socket | None = None
        self._dtype = np.dtype(np.uint16)
        self._shape: tuple[int, int] = (0, 0)
        self._check: StreamCheck | None = None
        self._server_ring: dict[str, Any] = {}
        #: frames of this recording the server sent that never arrived here (sequence gaps up to the
        #: last frame received: a pub stream drops what this client cannot take in time); the rest of
        #: `stats.dropped` the server's camera dropped before sending (its ring was full)
        self.stream_lost = 0
        self._mirror(self._request({"cmd": "info"}))
        if remote:
            self.set(**remote)

    # -- control ------------------------------------------------------------------------
    @property
    def address(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    def _socket(self) -> zmq.Socket:
        if self._req is None:
            self._req = self._context.socket(zmq.REQ)
            self._req.setsockopt(zmq.LINGER, 0)
            self._req.connect(self.address)
        return self._req

    def _request(self, message: dict[str, Any], wait: float | None = None) -> dict[str, Any]:
        socket = self._socket()
        socket.send(json.dumps({**message, "client": self.client}).encode())
        wait = self.timeout if wait is None else wait
        if not socket.poll(int(wait * 1000)):
            socket.close()  # a REQ socket without its reply is stuck: start a new one next time
            self._req = None
            raise CameraError(f"camera server at {self.address} did not answer within {wait:g} s; "
                              "is 'ufo camera serve' running there?")
        reply = json.loads(socket.recv())
        if not reply.get("ok"):
            kind = PropertyError if reply.get("usage") else CameraError  # a refused value exits 2, as a local one
            raise kind(f"camera server at {self.address}: {reply.get('error')}")
        return dict(reply)

    def _mirror(self, info: dict[str, Any]) -> None:
        if "properties" in info:
            self.__dict__.update({p["name"].replace("-", "_"): p["value"] for p in info["properties"]
                                  if p["name"].replace("-", "_") not in LOCAL | STATE})
        if "shape" in info:
            self._shape = tuple(info["shape"])  # type: ignore[assignment]
            self._dtype = np.dtype(info["dtype"])
        if "stream" in info:
            self._stream_info = info["stream"]

    def set(self, **properties: Any) -> Camera:
        local = {k: v for k, v in properties.items() if k.replace("-", "_") in LOCAL}
        remote = {k.replace("-", "_"): v for k, v in properties.items() if k.replace("-", "_") not in LOCAL}
        if local:
            super().set(**local)
        if remote and hasattr(self, "_context"):
            self._mirror(self._request({"cmd": "set", "values": remote}))
        return self

    def get(self, name: str) -> Any:
        if name.replace("-", "_") in LOCAL:
            return super().get(name)
        return self._request({"cmd": "get", "name": name})["value"]

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def sensor_shape(self) -> tuple[int, int]:
        return self._shape

    @property
    def frame_shape(self) -> tuple[int, int]:
        return self._shape  # the server applied mirror and rotate

    def server_stats(self) -> dict[str, Any]:
        """The server's own counts (frames sent, dropped there); `self.stats` counts what arrived here."""
        return self._request({"cmd": "stats"})

    # -- streaming ----------------------------------------------------------------------
    def start_recording(self) -> None:
        """Record with no ring buffer here (see the module's docstring): `_start` gives the base
        class `buffered` false; the server camera's values are back once the recording started."""
        try:
            super().start_recording()
        finally:
            self.__dict__.update(self._server_ring)
            self._server_ring = {}

    def _start(self) -> None:
        self._mirror(self._request({"cmd": "info"}))
        self._server_ring = {key: self.__dict__[key] for key in SERVER_RING if key in self.__dict__}
        self.__dict__["buffered"] = False  # what the base class reads right after `_start`: no ring here
        mode = self._stream_info["mode"]
        self._stream = self._context.socket(zmq.PULL if mode == "push" else zmq.SUB)
        self._stream.setsockopt(zmq.LINGER, 0)
        self._stream.setsockopt(zmq.RCVHWM, 8)
        self._stream.setsockopt(zmq.RCVTIMEO, int(self.timeout * 1000))  # a timeout without a poll per frame
        address = f"tcp://{self.host}:{self._stream_info['port']}"
        if mode == "pub":
            self._stream.setsockopt(zmq.SUBSCRIBE, b"")
            self._stream.connect(address)  # subscribe before the first frame is published
        self._ended = False
        self.stream_lost = 0
        self._lost = self._lost_cause = None
        self._silent = False
        self._check = StreamCheck(f"camera server at {self.address}", LOG.warning)
        try:
            reply = self._request({"cmd": "start", "lease": self.timeout})
        except BaseException:
            self._stream.close()
            self._stream = None
            raise
        if mode == "push":
            self._stream.connect(address)  # PUSH waits for this receiver: nothing is lost meanwhile
        self._stream_id = reply.get("stream")
        if reply.get("lease"):
            self._renew_stop = threading.Event()
            self._renewer = threading.Thread(target=self._renew, args=(float(reply["lease"]), self._renew_stop),
                                             name="ufo:net-camera:lease", daemon=True)
            self._renewer.start()

    def _renew(self, lease: float, stop: threading.Event) -> None:
        """Renew the lease on the camera while recording (own REQ socket: this is another thread)."""
        socket = None
        try:
            while not stop.wait(lease / 4):
                if socket is None:
                    socket = self._context.socket(zmq.REQ)
                    socket.setsockopt(zmq.LINGER, 0)
                    socket.connect(self.address)
                socket.send(json.dumps({"cmd": "renew", "client": self.client}).encode())
                answered = False
                for _ in range(max(1, int(lease * 10))):  # short polls: stopping never waits for a lease
                    if stop.is_set() or answered:
                        break
                    answered = bool(socket.poll(100))
                if not answered:
                    socket.close()
                    socket = None
                    continue
                reply = json.loads(socket.recv())
                if reply.get("ok") and not reply.get("recording"):
                    holder = reply.get("holder") or {}
                    self._lost = ("the camera server stopped this recording (lease ran out or 'ufo camera stop'"
                                  + (f"; now held by {holder.get('client')}" if holder.get("client") else "") + ")")
                    return
        except Exception as exc:  # noqa: BLE001 - in this thread it reaches nobody: the next grab that finds no frame says it
            self._lost_cause = exc
            self._lost = f"renewing the lease failed ({type(exc).__name__}: {exc}); the server ends the recording"
        finally:
            if socket is not None:
                socket.close()

    def _acquire(self, out: np.ndarray, number: int) -> dict[str, Any]:
        if self._ended:
            raise EndOfFrames(f"the camera server at {self.address} ended the stream")
        assert self._stream is not None
        while True:
            try:
                parts = self._stream.recv_multipart(copy=False)
            except zmq.Again as err:
                self._silent = True  # the stop that follows waits a second, not another timeout, for a server gone
                if self._lost:
                    raise CameraError(f"camera server at {self.address}: {self._lost}") from self._lost_cause or err
                raise CameraError(f"no frame from the camera server at {self.address} within {self.timeout:g} s "
                                  "(server gone or restarted? check it and start recording again)") from err
            try:
                header, frame = decode(parts)
            except WireError as exc:
                raise CameraError(f"garbage on the stream of the camera server at {self.address} from "
                                  f"{describe_sender(exc.header, peer_of(parts), self.address)}: {exc}") from exc
            if self._stream_id is not None and header.get("stream") not in (None, self._stream_id):
                continue  # a frame or the end of an earlier recording, still on its way
            break
        if frame is None:
            self._end(header)
        self._check.frame(header)
        self.stream_lost = self._check.missing
        np.copyto(out, frame)
        meta = dict(header.get("meta", {}))
        meta["server_frame_number"] = header.get("frame_number")
        return meta

    def _end(self, header: dict[str, Any]) -> NoReturn:
        """The stream's end: a finite camera ran out (EndOfFrames), or the server stopped it (an
        error: a batch script's `$?` took a shutdown mid-grab for a complete grab)."""
        assert self._check is not None
        self._ended = True
        if header.get("type") == "error":
            raise CameraError(f"camera server at {self.address}: {header.get('message')}")
        self._check.end({**header, "stopped": False})  # frames missing at the end; the stop is said below
        if header.get("stopped"):
            self._silent = True  # a server shutting down may answer the stop no more
            raise CameraError(f"camera server at {self.address}: {header.get('why') or 'the server stopped'}; it "
                              f"ended the stream after {header.get('frames')} frame(s): this recording was cut short")
        raise EndOfFrames(f"the camera server at {self.address} ended the stream after {header.get('frames')} frames")

    def _wait_trigger(self, timeout: float | None = None) -> None:
        self.tags = {}  # the server's camera waits for the trigger and sends the tags with the frame

    def _next(self, out: np.ndarray, timeout: float | None = None) -> dict[str, Any]:
        meta = super()._next(out, timeout)
        meta["frame_number"] = meta.pop("server_frame_number", meta["frame_number"])
        return meta

    def trigger(self, tags: dict[str, Any] | None = None) -> None:
        self._request({"cmd": "trigger", "tags": tags or {}})

    def _stop(self) -> None:
        self._end_lease()
        try:
            #: the server's counts of this recording (sent, dropped there, late: grabbed later than its rate allows)
            self.server_report = self._request({"cmd": "stop"}, wait=min(self.timeout, 1.0) if self._silent else None)
        except CameraError:
            pass  # the server is gone: stopping locally is all there is to do
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _end_lease(self) -> None:
        self._renew_stop.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join(max(self.timeout, 1.0) + 1.0)
        self._renewer = None

    def close(self) -> None:
        super().close()
        if getattr(self, "_renewer", None) is not None:
            self._end_lease()
        if self._req is not None:
            self._req.close()
            self._req = None
