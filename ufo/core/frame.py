"""What flows between tasks: an array plus metadata, recycled through buffer pools.

Internally a `Frame` is a tiny slotted record, cheap to create and hand over. Users never
see it: iteration yields `Image`, a numpy array subclass that carries the same metadata.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

_REF_LOCK = threading.Lock()


def scalar_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """The metadata entries that files and the wire can carry: plain scalars (numpy ones unwrapped)."""
    out = {}
    for key, value in meta.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, (str, int, float, bool)) or value is None:
            out[key] = value
    return out


class EndOfStream:
    """The end-of-stream sentinel: streams end explicitly, never by a timeout."""

    _instance: EndOfStream | None = None

    def __new__(cls) -> EndOfStream:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "EOS"


EOS = EndOfStream()


class Frame:
    """An array and its metadata in flight.

    `refs` counts the consumers that still hold the frame; the last `release()` returns
    the buffer to its pool (if it came from one) and releases the frames it views into.
    """

    __slots__ = ("data", "meta", "_pool", "_refs", "_parents")

    def __init__(self, data: Any, meta: dict[str, Any] | None = None, pool: BufferPool | None = None):
        self.data = data
        self.meta = meta if meta is not None else {}
        self._pool = pool
        self._refs = 1
        self._parents: tuple[Frame, ...] = ()

    def share(self, consumers: int) -> None:
        """Prepare for `consumers` independent releases (fan-out)."""
        self._refs = consumers

    def release(self) -> None:
        if self._refs != 1:
            with _REF_LOCK:
                self._refs -= 1
                if self._refs > 0:
                    return
        parents = self._parents
        if parents:
            self._parents = ()
            for parent in parents:
                parent.release()
        pool = self._pool
        if pool is not None:
            self._refs = 1
            pool.put(self)

    def detach(self) -> Any:
        """Give the array away for good (the pool allocates a replacement when needed)."""
        self._pool = None
        return self.data


class BufferPool:
    """Preallocated output buffers of one node: no allocation once the stream is flowing.

    The pool grows on demand; bounded queues bound how many buffers can be in flight, so
    its size stays bounded too.
    """

    def __init__(self, shape: tuple[int, ...], dtype: Any, allocator: Any = None):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self._free: list[Frame] = []
        self._allocate = allocator or np.empty
        self.allocated = 0

    def acquire(self) -> Frame:
        try:
            frame = self._free.pop()
        except IndexError:
            self.allocated += 1
            return Frame(self._allocate(self.shape, self.dtype), {}, self)
        frame.meta = {}
        return frame

    def put(self, frame: Frame) -> None:
        self._free.append(frame)


class Image(np.ndarray):
    """A numpy array with the frame's metadata in `.meta` (index, angle, image_key, ...)."""

    meta: dict[str, Any]

    def __new__(cls, data: np.ndarray, meta: dict[str, Any] | None = None) -> Image:
        obj = np.asarray(data).view(cls)
        obj.meta = dict(meta) if meta else {}
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        self.meta = getattr(obj, "meta", {})

    def __reduce__(self) -> Any:
        # pickle as a plain array plus metadata
        return (Image, (np.asarray(self), self.meta))
