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


class Channel:
    """A bounded multi-producer multi-consumer FIFO that can be cancelled."""

    __slots__ = ("_items", "capacity", "_lock", "_not_empty", "_not_full", "_getters", "_putters", "cancelled")

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError("channel capacity must be >= 1")
        self._items: deque[Any] = deque()
        self.capacity = capacity
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self._getters = 0
        self._putters = 0
        self.cancelled = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Any) -> None:
        with self._lock:
            if len(self._items) >= self.capacity:
                while len(self._items) >= self.capacity:
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
            if self._getters:
                self._not_empty.notify()

    def put_force(self, item: Any) -> None:
        """Append even when full (end-of-stream markers must never be refused)."""
        with self._lock:
            self._items.append(item)
            if self._getters:
                self._not_empty.notify()

    def get(self) -> Any:
        with self._lock:
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
            item = self._items.popleft()
            if self._putters:
                self._not_full.notify()
            return item

    def get_batch(self) -> list[Any]:
        """Everything queued (at least one item), in order, in one lock round-trip."""
        with self._lock:
            items = self._items
            while not items:
                if self.cancelled:
                    raise Cancelled()
                self._getters += 1
                try:
                    self._not_empty.wait()
                finally:
                    self._getters -= 1
            if self.cancelled:
                raise Cancelled()
            batch = list(items)
            items.clear()
            if self._putters:
                self._not_full.notify_all()
            return batch

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            self._not_empty.notify_all()
            self._not_full.notify_all()

    def drain(self) -> list[Any]:
        """Remove and return whatever is queued (used to release buffers after a run)."""
        with self._lock:
            batch = list(self._items)
            self._items.clear()
            return batch


class ByteChannel(Channel):
    """A channel also bounded by the bytes it holds, for streams whose frame size is unknown.

    At least one item is always admitted, so a single frame larger than the limit still flows.
    """

    __slots__ = ("max_bytes", "_bytes")

    def __init__(self, capacity: int, max_bytes: int):
        super().__init__(capacity)
        self.max_bytes = max_bytes
        self._bytes = 0

    @staticmethod
    def _size(item: Any) -> int:
        return int(getattr(getattr(item, "data", None), "nbytes", 0))

    def put(self, item: Any) -> None:
        size = self._size(item)
        with self._lock:
            while self._items and (len(self._items) >= self.capacity or self._bytes + size > self.max_bytes):
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
        with self._lock:
            self._items.append(item)
            self._bytes += self._size(item)
            if self._getters:
                self._not_empty.notify()

    def get(self) -> Any:
        item = super().get()
        with self._lock:
            self._bytes -= self._size(item)
        return item

    def get_batch(self) -> list[Any]:
        batch = super().get_batch()
        with self._lock:
            self._bytes -= sum(self._size(item) for item in batch)
            if self._putters:
                self._not_full.notify_all()
        return batch

    def drain(self) -> list[Any]:
        batch = super().drain()
        with self._lock:
            self._bytes = 0
        return batch
