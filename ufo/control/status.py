"""Status: the running action of a device, both awaitable and in Bluesky's Status shape.

ufo devices are asyncio coroutines (`await motor.set_position(...)`); Bluesky plans ask a
device to `set()` and get back an object with `add_callback`, `done`, `success` and
`exception` that the RunEngine watches. Status is both: it runs the coroutine as a task on
the running loop at once (the move starts when `set()` returns, as on hardware) and can be
awaited like the coroutine itself. The model is ophyd-async's AsyncStatus; no bluesky import
is needed, the protocol is structural.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from ..core.errors import UsageError


class Status:
    """An action running as a task of the current event loop.

    `await status` returns the action's result or raises its error; `add_callback(cb)` calls
    `cb(status)` once it finished (at once if it already has); `done`, `success` and
    `exception()` say how it went. Callbacks run in the loop's thread (Bluesky hands them over
    to its own loop thread-safely).
    """

    def __init__(self, action: Coroutine[Any, Any, Any], what: str = "action"):
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            action.close()  # never started: no 'coroutine was never awaited' warning
            raise UsageError(f"{what}: set() starts the action on the running event loop and returns at once; "
                             "call it inside a RunEngine plan or a coroutine, or await the device's "
                             "set_<parameter>() instead") from None
        self.what = what
        self._mutex = threading.Lock()
        self._callbacks: list[Callable[[Status], Any]] = []
        self.task: asyncio.Task[Any] = loop.create_task(action)
        self.task.add_done_callback(self._finished)

    def _finished(self, _task: asyncio.Task[Any]) -> None:
        with self._mutex:
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def add_callback(self, callback: Callable[[Status], Any]) -> None:
        """Call `callback(self)` when the action finished (now, if it has)."""
        with self._mutex:
            if not self.task.done():
                self._callbacks.append(callback)
                return
        callback(self)

    @property
    def done(self) -> bool:
        return self.task.done()

    @property
    def success(self) -> bool:
        """Finished, not cancelled, without an error."""
        return self.task.done() and not self.task.cancelled() and self.task.exception() is None

    def exception(self, timeout: float | None = 0.0) -> BaseException | None:
        """The error the action ended with (a CancelledError if it was cancelled), None while it runs or
        when it succeeded. An asyncio action cannot be waited for from its own loop's thread, so only
        timeout 0 is honoured; await the status to wait."""
        if timeout not in (0, 0.0, None):
            raise UsageError(f"{self.what}: Status.exception() cannot wait (timeout={timeout}); await the status")
        if not self.task.done():
            return None
        if self.task.cancelled():
            return asyncio.CancelledError(f"{self.what} was cancelled")
        return self.task.exception()

    def __await__(self) -> Generator[Any, None, Any]:
        return self.task.__await__()

    def __repr__(self) -> str:
        state = "running" if not self.done else "done" if self.success else f"failed ({self.exception()!r})"
        return f"<Status {self.what}: {state}>"
