"""The run handle: how a caller waits for, cancels and inspects a running graph."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import Cancelled, TaskError


@dataclass
class NodeStats:
    """What one node did: frames in and out, time spent in its own code, bytes emitted."""

    name: str
    kind: str
    replicas: int = 1
    frames_in: int = 0
    frames_out: int = 0
    busy: float = 0.0
    bytes: int = 0
    started: float = 0.0
    ended: float = 0.0
    expected: int | None = None
    buffers: int = 0  # output buffers the node's pool allocated (bounded: they are recycled)
    warnings: list[str] = field(default_factory=list)

    @property
    def wall(self) -> float:
        end = self.ended or time.perf_counter()
        return max(end - self.started, 0.0) if self.started else 0.0

    @property
    def mb_per_s(self) -> float:
        wall = self.wall
        return self.bytes / wall / 1e6 if wall > 0 else 0.0

    @property
    def frames(self) -> int:
        return self.frames_in if self.kind == "sink" else self.frames_out


class RunHandle:
    """A graph running in its own threads.

    `wait()` blocks until it ends and re-raises the first error (a `TaskError` naming the
    node), `cancel()` stops it, `done` tells whether it ended, `stats` has one `NodeStats`
    per node, and `await handle` waits inside asyncio without blocking the loop.
    """

    def __init__(self, stats: dict[str, NodeStats]):
        self.stats = stats
        self.started = time.perf_counter()
        self.ended: float | None = None
        self.error: TaskError | None = None
        self._cancelled = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[RunHandle], None]] = []
        self._threads: list[threading.Thread] = []
        self._cancel_hooks: list[Callable[[], None]] = []
        self.trace_events: list[dict[str, Any]] | None = None

    # -- state ------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set() and self.error is None

    @property
    def elapsed(self) -> float:
        return (self.ended or time.perf_counter()) - self.started

    @property
    def warnings(self) -> list[str]:
        return [f"{s.name}: {w}" for s in self.stats.values() for w in s.warnings]

    # -- control ----------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop every node; sinks still close their files. Safe to call at any time."""
        if self._cancelled.is_set():
            return
        self._cancelled.set()
        for hook in self._cancel_hooks:
            hook()

    def fail(self, node: str, exc: BaseException) -> None:
        """Record the first error and cancel the graph (called by worker threads)."""
        with self._lock:
            if self.error is None and not isinstance(exc, Cancelled):
                self.error = TaskError(node, exc)
                self.error.__cause__ = exc
        self.cancel()

    def wait(self, timeout: float | None = None) -> RunHandle:
        """Block until the run ends; raise its error, `Cancelled`, or `TimeoutError`."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"the graph is still running after {timeout} s")
        for thread in self._threads:
            thread.join()
        self._raise()
        return self

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error
        if self._cancelled.is_set():
            raise Cancelled("the run was cancelled")

    def add_done_callback(self, callback: Callable[[RunHandle], None]) -> None:
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(callback)
                return
        callback(self)

    def _finish(self) -> None:
        self.ended = time.perf_counter()
        with self._lock:
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def __await__(self) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def wake(_: RunHandle) -> None:
            loop.call_soon_threadsafe(lambda: future.done() or future.set_result(None))

        self.add_done_callback(wake)
        try:
            yield from future.__await__()
        except asyncio.CancelledError:
            self.cancel()
            raise
        for thread in self._threads:
            thread.join()
        self._raise()
        return self

    def __repr__(self) -> str:
        state = "done" if self.done else "running"
        if self.error is not None:
            state = f"failed in '{self.error.node}'"
        elif self.done and self._cancelled.is_set():
            state = "cancelled"
        return f"<RunHandle {state}, {len(self.stats)} nodes, {self.elapsed:.2f} s>"
