"""Frames to and from Python memory: numpy arrays and iterables in, lists and arrays out.

These live in core (not tasks) because the Python API itself needs them: passing an array
where a stream is expected, and iterating over a stream.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .channel import Channel
from .errors import Cancelled, GraphError
from .frame import EOS, Image
from .spec import Spec
from .task import Kind, Task

if TYPE_CHECKING:
    from .graph import Graph, Stream


class MemoryIn(Task):
    """Stream frames from a numpy array (one frame per first-axis entry) or an iterable."""

    name = "memory-in"
    kind = Kind.SOURCE
    inputs = ()

    def __init__(self, data: Any = None, **properties: Any):
        super().__init__(**properties)
        if data is None:
            raise GraphError("task 'memory-in' needs data: MemoryIn(data=array_or_iterable) (Python API only)")
        self._peeked: list[Any] = []
        if isinstance(data, np.ndarray):
            if data.ndim < 2:
                raise GraphError(f"task 'memory-in': an array source needs 2 or more dimensions, got shape {data.shape}")
            self._data: Any = data[np.newaxis] if data.ndim == 2 else data
        elif isinstance(data, (list, tuple)):
            self._data = [np.asarray(d) for d in data]
        elif isinstance(data, Iterable):
            self._data = data
        else:
            raise GraphError(f"task 'memory-in' needs an array or an iterable of arrays, got {type(data).__name__}")

    def output_spec(self) -> Spec:  # type: ignore[override]
        data = self._data
        if isinstance(data, np.ndarray):
            return Spec(data.shape[1:], data.dtype, len(data))
        if isinstance(data, list):
            if not data:
                return Spec(None, None, 0)
            shapes = {d.shape for d in data}
            dtypes = {d.dtype for d in data}
            return Spec(
                data[0].shape if len(shapes) == 1 else None,
                data[0].dtype if len(dtypes) == 1 else None,
                len(data),
            )
        if not self._peeked:
            iterator = iter(data)
            self._peeked = list(itertools.islice(iterator, 1))
            self._data = iterator
        if not self._peeked:
            return Spec(None, None, 0)
        first = np.asarray(self._peeked[0])
        return Spec(None, first.dtype, None)

    def generate(self) -> Iterator[Any]:
        if isinstance(self._data, np.ndarray):
            yield from self._data
            return
        peeked, self._peeked = self._peeked, []
        for item in itertools.chain(peeked, self._data):
            yield np.asarray(item)


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
            except queue.Empty:
                if cancelled.is_set():
                    raise Cancelled() from None
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

    def consume(self, *frames: np.ndarray) -> None:  # type: ignore[override]
        pass


class _Collector(Task):
    """Hands frames to the thread that iterates over a stream."""

    name = "iterate"
    kind = Kind.SINK
    uses_meta = True
    keeps_input = True

    def __init__(self, channel: Channel):
        super().__init__()
        self.channel = channel

    def consume(self, frame: np.ndarray, meta: dict[str, Any]) -> None:  # type: ignore[override]
        self.channel.put((frame, meta))

    def finish(self) -> Iterable[Any]:
        self.channel.put_force(EOS)
        return ()


def iterate(graph: Graph, stream: Stream, capacity: int = 16, **options: Any) -> Iterator[np.ndarray]:
    """Run `graph` and yield the frames of `stream` as `Image` arrays, in order.

    Leaving the loop early cancels the run; an error in any node is raised here.
    """
    from .graph import Graph as _Graph
    from .graph import Stream as _Stream

    channel = Channel(capacity)
    collector = _Collector(channel)
    collector._upstreams = (stream,)
    handle = _Graph([*[_Stream(t) for t in graph.leaves() if t is not stream.task], _Stream(collector)]).run(**options)
    handle._cancel_hooks.append(channel.cancel)
    if handle._cancelled.is_set():
        channel.cancel()
    finished = False
    try:
        while True:
            try:
                item = channel.get()
            except Cancelled:
                break
            if item is EOS:
                finished = True
                break
            data, meta = item
            yield Image(data, meta)
    finally:
        if not finished:
            handle.cancel()
        try:
            handle.wait()
        except Cancelled:
            if finished or handle.error is not None:
                raise
            # the consumer stopped early: a cancelled run is what was asked for
