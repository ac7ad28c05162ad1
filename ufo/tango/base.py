"""What every ufo Tango device shares: a background job with its state, errors as Tango errors.

Long work (streaming, writing, reconstructing) runs in one worker thread per device, never
in a Tango request: requests stay fast, and the device's state says what the job does
(ON idle, RUNNING busy, FAULT failed, with the reason as the device's status).
"""

from __future__ import annotations

import json
import logging
import math
import signal
import threading
from collections.abc import Callable
from typing import Any

from tango import AttrWriteType, DevState
from tango.server import Device, attribute

LOG = logging.getLogger("ufo.tango")


class Signals:
    """Ctrl-C to a server that `ufo tango` runs: Tango takes SIGINT itself (it shuts the server
    down and `run` returns normally), so its devices note it here and the command exits 130."""

    watch = False  # set by `serve`: devices then register for SIGINT and SIGTERM (not in tests' in-process servers)
    interrupted = False
    terminated = False  # the signal was SIGTERM: `ufo tango` exits 143 (it exited 0 as if it had run to its end)


class Job:
    """One background thread at a time; remembers how the last one ended."""

    def __init__(self, name: str):
        self.name = name
        self.thread: threading.Thread | None = None
        self.error: str | None = None
        self.stop = threading.Event()
        self.summary = "idle"

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self, target: Callable[[], str | None], what: str) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is busy ({self.summary}); wait for it or cancel it first")
        self.error = None
        self.stop.clear()
        self.summary = what

        def run() -> None:
            try:
                self.summary = target() or f"{what}: done"
            except Exception as exc:  # noqa: BLE001 - the reason becomes the device's status
                self.error = f"{what} failed: {exc}"
                self.summary = self.error
                LOG.error("%s: %s", self.name, self.error)

        self.thread = threading.Thread(target=run, name=f"ufo:tango:{self.name}", daemon=True)
        self.thread.start()

    def cancel(self, timeout: float = 10.0) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def state(self) -> DevState:
        if self.running:
            return DevState.RUNNING
        return DevState.FAULT if self.error else DevState.ON


class JobDevice(Device):
    """A device whose state and status come from its job (and `_extra_state` for subclasses)."""

    def init_device(self) -> None:
        super().init_device()
        self.job = Job(self.get_name())
        if Signals.watch:
            self.register_signal(signal.SIGINT)
            self.register_signal(signal.SIGTERM)

    def signal_handler(self, signo: int) -> None:
        if signo in (signal.SIGINT, signal.SIGTERM):
            Signals.interrupted = True
            Signals.terminated = Signals.terminated or signo == signal.SIGTERM

    def dev_state(self) -> DevState:
        return self.job.state()

    def dev_status(self) -> str:
        return self.job.summary

    def delete_device(self) -> None:
        if hasattr(self, "job"):
            self.job.cancel(5)


class StreamDevice(JobDevice):
    """A device that consumes a camera's stream: where it comes from, how, how long to wait."""

    def delete_device(self) -> None:
        """The server shuts down (Ctrl-C, SIGTERM): the stream's receive is stopped first, so the job ends
        at its next frame and closes its file (the walker hung in h5py at exit, its file open for write)."""
        receiver = getattr(self, "_receiver", None)
        if receiver is not None:
            receiver.stop()
        super().delete_device()

    def init_device(self) -> None:
        super().init_device()
        self._endpoint = ""
        self._mode = "pull"
        self._timeout = 10.0

    @attribute(dtype=str, access=AttrWriteType.READ_WRITE, doc="stream to consume: tcp://host:port of a camera endpoint")
    def endpoint(self) -> str:
        return self._endpoint

    @endpoint.write
    def endpoint(self, value: str) -> None:
        self._endpoint = value

    @attribute(dtype=str, access=AttrWriteType.READ_WRITE, doc="pull (from a push endpoint) or sub (from pub)")
    def mode(self) -> str:
        return self._mode

    @mode.write
    def mode(self, value: str) -> None:
        if value not in ("pull", "sub"):
            raise ValueError(f"mode is pull or sub, not '{value}'")
        self._mode = value

    @attribute(dtype=float, unit="s", min_value="0.01", access=AttrWriteType.READ_WRITE,
               doc="longest wait for the next frame before the job fails")
    def timeout(self) -> float:
        return self._timeout

    @timeout.write
    def timeout(self, value: float) -> None:
        self._timeout = value


def parse_json(text: str, what: str) -> dict[str, Any]:
    if not text:
        return {}
    def no_constant(name: str) -> Any:  # Python's json reads NaN and Infinity: a frame's angle NaN went on
        raise ValueError(f"{what} must hold finite numbers, got {name}")

    def finite(number: str) -> float:  # 1e999 reads as inf
        if not math.isfinite(value := float(number)):
            no_constant(number)
        return value

    try:
        value = json.loads(text, parse_constant=no_constant, parse_float=finite)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} must be a JSON object such as {{\"image_key\": 0}}: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value
