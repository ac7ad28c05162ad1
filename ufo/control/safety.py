"""Device safety: a move while moving is refused (BusyError), and a per-device lock.

Two coroutines that both set a motor's position used to both "succeed", the second one
silently overriding the first. Now the first move holds the device's `Busy` claim until it
ended; a second move meanwhile is refused at once with a BusyError that says what the device
is doing and how to go on (wait for it, or stop() it). Refusing, not queueing: a queued move
would run at a time nobody chose.

`async with motor.lock:` gives one user the device for a sequence of actions: another holder
waits for it, and a set from anywhere else (another task, a RunEngine thread, a session) is
refused with a LockError naming the holder. Tasks started inside the block (gather, a
Status) hold it too: holding is a context variable, which they inherit. Both are safe across
threads and event loops, since a RunEngine runs its own loop in a thread of its own.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import LockError, TransitionError

# the device locks the current context holds (tokens, not the locks: nothing kept alive)
_HELD: contextvars.ContextVar[frozenset[object]] = contextvars.ContextVar("ufo_control_locks_held",
                                                                         default=frozenset())


class BusyError(TransitionError):
    """An action refused because the device is still doing another one."""


class Busy:
    """What a device is doing now, claimed by one action at a time (thread-safe)."""

    def __init__(self, device: str):
        self.device = device
        self._mutex = threading.Lock()
        self.doing: str | None = None

    @contextmanager
    def claim(self, action: str) -> Iterator[None]:
        """Hold the device for `action`, or raise a BusyError if another action holds it."""
        with self._mutex:
            if self.doing is not None:
                raise BusyError(f"{self.device}: cannot {action} while it is busy with '{self.doing}'; "
                                f"await that first, or stop() it")
            self.doing = action
        try:
            yield
        finally:
            with self._mutex:
                self.doing = None


class DeviceLock:
    """`async with device.lock:` - exclusive use of one device by one context (see the module doc)."""

    def __init__(self, device: str):
        self.device = device
        self._mutex = threading.Lock()
        self._token = object()
        self.holder: str | None = None  # who holds it, for messages
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._restore: list[contextvars.Token[frozenset[object]]] = []

    @property
    def locked(self) -> bool:
        return self.holder is not None

    def held_here(self) -> bool:
        """Whether the current context (task, or a task it started) holds this lock."""
        return self._token in _HELD.get()

    def check(self, action: str) -> None:
        """Refuse `action` unless the lock is free or held by the current context."""
        holder = self.holder
        if holder is not None and not self.held_here():
            raise LockError(f"{self.device}: cannot {action}, the device is locked by {holder}; "
                            f"wait for it with 'async with {self.device}.lock:'")

    async def acquire(self) -> None:
        if self.held_here():
            raise LockError(f"{self.device}: this task already holds the lock; do not take it twice")
        task = asyncio.current_task()
        me = f"task '{task.get_name()}'" if task is not None else "a callback"
        loop = asyncio.get_running_loop()
        while True:
            with self._mutex:
                if self.holder is None:
                    self.holder = me
                    break
                waiter: asyncio.Future[None] = loop.create_future()
                self._waiters.append((loop, waiter))
            try:
                await waiter
            finally:
                with self._mutex:
                    if (loop, waiter) in self._waiters:
                        self._waiters.remove((loop, waiter))
        self._restore.append(_HELD.set(_HELD.get() | {self._token}))

    def release(self) -> None:
        if not self.held_here():
            raise LockError(f"{self.device}: release() of a lock this task does not hold")
        _HELD.reset(self._restore.pop())
        with self._mutex:
            self.holder = None
            waiters, self._waiters = self._waiters, []
        for loop, waiter in waiters:  # all try again; one wins, the others wait anew
            loop.call_soon_threadsafe(_wake, waiter)

    async def __aenter__(self) -> DeviceLock:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<DeviceLock {self.device}: {'held by ' + self.holder if self.holder else 'free'}>"


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
