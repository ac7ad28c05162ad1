"""An Event that a Ctrl-C in its wait cannot leave locked.

Why: `threading.Event.wait` holds its lock through a `Condition`, whose `__enter__` and
`__exit__` are Python functions; a SIGINT handled at the start of `__exit__` raises there and
the lock stays held by the main thread. Every later `set()` (the graph's last thread ending the
run) then blocks for ever, and so does the main thread's next `wait()` (a script or the session
that waits again after Ctrl-C): 3 of 3 runs of 1000 SIGINTs from another process into a loop of
waits left it so. Here the lock is taken with `with lock` (C methods: a signal cannot cut them)
and the Condition only waits; a Ctrl-C in the wait comes out as the KeyboardInterrupt
(`errors.ctrl_c_kept`).
"""

from __future__ import annotations

import threading

from .errors import ctrl_c_kept


class Flag:
    """`threading.Event`'s is_set / set / clear / wait."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._set = False

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        with self._lock:
            self._set = True
            self._changed.notify_all()

    def clear(self) -> None:
        with self._lock:
            self._set = False

    def wait(self, timeout: float | None = None) -> bool:
        """True once set (at once where it is; also where it was cleared again before this woke, as
        `threading.Event`); False after `timeout` seconds."""
        with ctrl_c_kept(), self._lock:
            return self._set or self._changed.wait(timeout) or self._set
