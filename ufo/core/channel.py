"""Bounded channels between node threads.

The hand-off is the runtime's hot path: a consumer takes everything queued in one lock
round-trip and a producer only signals when somebody is actually waiting, so in steady
state a frame costs a lock acquisition and a deque append. Cancellation wakes every waiter;
no blocking call here lacks a way out.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from .errors import Cancelled


def _size(item: Any) -> int:
    return int(getattr(getattr(item, "data", None), "nbytes", 0))


class Channel:
    """A bounded multi-producer multi-consumer FIFO that can be cancelled.

    `capacity` bounds the number of items; `max_bytes`, when given, also bounds the bytes
    of the frames held (for streams whose frame size is not known in advance). One item is
    always admitted, so a single frame larger than `max_bytes` still flows.
    """

    __slots__ = ("_items", "capacity", "max_bytes", "_bytes", "_lock", "_not_empty", "_not_full", "_getters",
                 "_putters", "cancelled")

    def __init__(self, capacity: int, max_bytes: int | None = None):
        if capacity < 1:
            raise ValueError("channel capacity must be >= 1")
        self._items: deque[Any] = deque()
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._bytes = 0
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self._getters = 0
        self._putters = 0
        self.cancelled = False

    def __len__(self) -> int:
        return len(self._items)

    def unread(self) -> bool:
        """Full, and nobody waiting to get from it."""
        with self._lock:
            return not self._getters and len(self._items) >= self.capacity

    def _full(self, size: int) -> bool:
        items = self._items
        if len(items) >= self.capacity:
            return True
        return self.max_bytes is not None and bool(items) and self._bytes + size > self.max_bytes

    def put(self, item: Any) -> None:
        size = _size(item) if self.max_bytes is not None else 0
        with self._lock:
            while self._full(size):
                if self.cancelled:
                    raise Cancelled()
                self._putters += 1
                try:
                    self._not_full.wait()
                finally:
                    self._putters -= 1
            if self.cancelled:
                raise Cancelled()
            self._items.append(item)
            self._bytes += size
            if self._getters:
                self._not_empty.notify()

    def put_force(self, item: Any) -> None:
        """Append even when full (end-of-stream markers must never be refused)."""
        with self._lock:
            self._items.append(item)
            if self._getters:
                self._not_empty.notify()

    def _wait_for_items(self) -> None:
        while not self._items:
            if self.cancelled:
                raise Cancelled()
            self._getters += 1
            try:
                self._not_empty.wait()
            finally:
                self._getters -= 1
        if self.cancelled:
            raise Cancelled()

    def wait(self, timeout: float) -> bool:
        """Whether an item is queued, after waiting up to `timeout` seconds for one (no item taken)."""
        with self._lock:
            if not self._items and not self.cancelled:
                self._getters += 1
                try:
                    self._not_empty.wait(timeout)
                finally:
                    self._getters -= 1
            return bool(self._items)

    def get(self) -> Any:
        with self._lock:
            self._wait_for_items()
            item = self._items.popleft()
            if self.max_bytes is not None:
                self._bytes -= _size(item)
            if self._putters:
                self._not_full.notify()
            return item

    def get_batch(self) -> list[Any]:
        """Everything queued (at least one item), in order, in one lock round-trip."""
        with self._lock:
            self._wait_for_items()
            batch = list(self._items)
            self._items.clear()
            self._bytes = 0
            if self._putters:
                self._not_full.notify_all()
            return batch

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            self._not_empty.notify_all()
            self._not_full.notify_all()
