"""Frames to and from Python memory: numpy arrays and iterables in, lists and arrays out.

These live in core (not tasks) because the Python API itself needs them: passing an array
where a stream is expected (`MemoryIn`) and feeding frames from another thread (`Feed`);
iterating over a stream is `ufo.core.api.iterate`. They are registered tasks users call
(`ufo.Null()(stream).run()`), so they subclass the runnable `ufo.core.api.Task`; the scheduler
has its own discard sink and connecting its own array source (`ufo.core.task.MemoryIn`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import task as _task
from .api import Task
from .errors import Cancelled, GraphError
from .frame import EOS
from .spec import Spec
from .task import Kind
from .ufocompat import declare, ignored

__all__ = ["Feed", "MemoryIn", "MemoryOut", "Null"]


class MemoryIn(_task.MemoryIn, Task):
    """Stream frames from a numpy array (one frame per first-axis entry) or an iterable.

    The array source of ufo.core.task (which connecting uses to wrap arrays) as a registered
    task whose stream runs: ``MemoryIn(data=array)().collect()``.
    """


class Feed(Task):
    """A source that another thread pushes frames into: an experiment's acquisitions, a socket.

    Unlike an iterable, a feed knows its frames' shape, dtype and count before the first
    frame exists, so the graph behind it is checked and started before acquisition begins.
    `put` blocks while the graph is `capacity` frames behind (no frame is dropped) and
    raises `Cancelled` once the graph has stopped, so the producer never hangs.
    """

    name = "feed"
    kind = Kind.SOURCE
    inputs = ()

    def __init__(self, shape: tuple[int, ...] | None = None, dtype: Any = np.float32, count: int | None = None,
                 capacity: int = 64, **properties: Any):
        super().__init__(**properties)
        if shape is None:
            raise GraphError("task 'feed' needs the frames' shape: Feed(shape=(rows, columns), dtype=..., count=...) "
                             "(Python API only)")
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self.count = count
        self._queue: queue.Queue[Any] = queue.Queue(capacity)
        self._stopped = threading.Event()
        self._closed = False
        self.frames = 0

    def put(self, frame: Any, meta: dict[str, Any] | None = None) -> None:
        data = np.asarray(frame)
        if data.shape != self.shape:
            raise GraphError(f"task 'feed' was declared for frames of shape {self.shape}, got {data.shape}")
        self._put((data, dict(meta or getattr(frame, "meta", {}) or {})))
        self.frames += 1

    def _put(self, item: Any) -> None:
        while True:
            if self._stopped.is_set():
                raise Cancelled("the graph behind this feed has stopped")
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """The end of the stream: the graph finishes what it has. Closing twice does nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            self._put(EOS)
        except Cancelled:
            pass

    def output_spec(self) -> Spec:  # type: ignore[override]
        return Spec(self.shape, self.dtype, self.count)

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        self._stopped.clear()

    def generate(self) -> Iterator[Any]:
        cancelled = self.ctx.cancelled
        while True:
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty as err:
                if cancelled.is_set():
                    raise Cancelled() from err
                continue
            if item is EOS:
                return
            yield item

    def teardown(self) -> None:
        self._stopped.set()  # a producer still putting learns that the graph is gone


class MemoryOut(Task):
    """Store every frame in a Python list or a preallocated array (Python API only)."""

    name = "memory-out"
    kind = Kind.SINK
    keeps_input = True

    def __init__(self, out: Any = None, **properties: Any):
        super().__init__(**properties)
        if out is None:
            out = []
        if not isinstance(out, (list, np.ndarray)):
            raise GraphError(f"task 'memory-out' stores into a list or numpy array, got {type(out).__name__}")
        self.out = out
        self._index = 0

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        self._index = 0
        spec = ctx.input_specs[0]
        if isinstance(self.out, np.ndarray) and spec.shape is not None:
            if self.out.shape[1:] != spec.shape:
                raise GraphError(f"task 'memory-out': frames of shape {spec.shape} do not fit an array of shape {self.out.shape}")

    def consume(self, frame: np.ndarray) -> None:  # type: ignore[override]
        if isinstance(self.out, list):
            self.out.append(frame)
        else:
            if self._index >= len(self.out):
                raise GraphError(f"task 'memory-out': more than {len(self.out)} frames for the output array")
            self.out[self._index] = frame
        self._index += 1


class Null(Task):
    """Discard every frame (for benchmarks and for streams nobody reads)."""

    name = "null"
    kind = Kind.SINK
    #: UFO's null options change timing or GPU transfers, never a result: accepted, no effect here
    ufo_names = declare({
        "download": ignored("frames are host arrays here; nothing to download"),
        "finish": ignored("no OpenCL queue to finish"),
        "durations": ignored("use ufo run --trace for per-task timing"),
    })

    def consume(self, *frames: np.ndarray) -> None:  # type: ignore[override]
        pass
