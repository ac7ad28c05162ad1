"""The user-facing task, stream and graph: the ones that run.

`ufo.core.task` and `ufo.core.graph` sit below the scheduler and hold structure only (a task's
protocol, the stream it outputs, the validated graph). This module sits above the scheduler and
adds running to them by subclassing, so no module below imports upwards:

- `Task` (what `ufo.core.Task` is, the base of every task outside the core) returns `Stream`s;
- `Stream` runs (`stream.run()`), iterates (`for frame in stream`) and collects (`stream.collect()`);
- `Graph` runs (`Graph(streams).run()`) and iterates (`iterate`: a collector sink hands the
  frames to the caller's thread).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar, cast

import numpy as np

from . import graph as _graph
from . import task as _task
from .channel import Channel
from .errors import Cancelled, GraphError, ctrl_c_kept
from .frame import EOS, Image
from .handle import RunHandle
from .scheduler import start

__all__ = ["Graph", "Stream", "Task", "iterate", "run"]


class Graph(_graph.Graph):
    """A graph that runs: `run()` starts it in the background, `iterate` and `collect` read a stream of it."""

    def run(self, **options: Any) -> RunHandle:
        """Start the graph (options of `ufo.core.scheduler.start`) and return its handle."""
        return start(self, **options)

    def iterate(self, stream: _task.Stream, **options: Any) -> Iterator[np.ndarray]:
        """Run the graph and yield the frames of `stream`; leaving the loop early cancels the run."""
        return iterate(self, stream, **options)

    def collect(self, stream: _task.Stream, **options: Any) -> np.ndarray:
        """Run the graph and stack every frame of `stream` into one numpy array."""
        frames = list(self.iterate(stream, **options))
        if not frames:  # (0, *frame shape) of the stream's type, where the graph knows them
            spec = self.validate().get(id(stream.task))
            shape = tuple(spec.shape) if spec is not None and spec.shape is not None else ()
            dtype = spec.dtype if spec is not None and spec.dtype is not None else np.float32
            return np.empty((0, *shape), dtype)
        try:
            return np.stack([np.asarray(f) for f in frames])
        except ValueError as err:
            raise GraphError(f"cannot stack frames of different shapes: {err}") from err


class Stream(_task.Stream):
    """The output of one task: call another task on it, run it, iterate over it."""

    __slots__ = ()

    def graph(self) -> Graph:
        return Graph([self])

    def run(self, **options: Any) -> RunHandle:
        """Start the graph behind this stream in the background and return its handle."""
        return self.graph().run(**options)

    def __iter__(self) -> Iterator[np.ndarray]:
        """Run the graph and yield each output frame (a numpy array with `.meta`)."""
        return self.graph().iterate(self)

    def collect(self, **options: Any) -> np.ndarray:
        """Run the graph and stack every output frame into one numpy array."""
        return self.graph().collect(self, **options)


class Task(_task.Task):
    """Base class of all tasks outside the core: calling one returns a `Stream` that runs."""

    stream_type: ClassVar[type[_task.Stream]] = Stream

    def __call__(self, *upstreams: Any, replicas: int | None = None) -> Stream:
        # connect returns stream_type (or a subclass of it coming from an upstream): a runnable Stream
        return cast(Stream, super().__call__(*upstreams, replicas=replicas))


def run(*streams: _task.Stream, **options: Any) -> RunHandle:
    """Run several output streams as one graph (e.g. two sinks fed by one source)."""
    return Graph(streams).run(**options)


class _Collector(_task.Task):
    """Hands frames to the thread that iterates over a stream."""

    name = "iterate"
    kind = _task.Kind.SINK
    uses_meta = True
    keeps_input = True
    empty_is_fine = True  # no frames to hand over is no file left unwritten: the caller sees an empty loop

    def __init__(self, channel: Channel):
        super().__init__()
        self.channel = channel

    def consume(self, frame: np.ndarray, meta: dict[str, Any]) -> None:  # type: ignore[override]
        self.channel.put((frame, meta))

    def finish(self) -> Iterable[Any]:
        self.channel.put_force(EOS)
        return ()


#: seconds the nodes of a run whose loop was left early are waited for (each ends within
#: milliseconds of the cancel unless it is in a long call of its own)
LEFT_EARLY_GRACE = 5.0


def iterate(graph: _graph.Graph, stream: _task.Stream, capacity: int = 16,
            on_start: Callable[[RunHandle], None] | None = None, **options: Any) -> Iterator[np.ndarray]:
    """Run `graph` and yield the frames of `stream` as `Image` arrays, in order.

    A collector sink replaces what reads `stream` in the caller's thread; the graph's other
    leaves keep running. Leaving the loop early cancels the run; an error in any node is raised here.
    `on_start(handle)` gets the run's handle as it starts (its statistics; a cancel from another thread).
    """
    channel = Channel(capacity)
    collector = _Collector(channel)
    collector._upstreams = (stream,)
    outputs = [*[_task.Stream(t) for t in graph.leaves() if t is not stream.task], _task.Stream(collector)]
    handle = start(_graph.Graph(outputs), **options)
    handle._cancel_hooks.append(channel.cancel)
    handle._unread = channel.unread
    if on_start is not None:
        on_start(handle)
    if handle._cancelled.is_set():
        channel.cancel()
    finished = interrupted = False
    try:
        while True:
            try:
                with ctrl_c_kept():
                    item = channel.get()
            except Cancelled:
                break
            except KeyboardInterrupt:  # Ctrl-C while waiting for a frame: as wait() does, the nodes get
                interrupted = True  # NODE_GRACE, not LEFT_EARLY_GRACE
                raise
            if item is EOS:
                finished = True
                break
            data, meta = item
            yield Image(data, meta)
    finally:
        if finished:
            handle.wait()  # tells the run's warnings (frames dropped, ...) at the loop's line
        else:  # left early (a break, an error of the loop's body, Ctrl-C): the nodes are waited for, but
            handle.cancel()  # one stuck in a long call does not keep the script (it waited for a second Ctrl-C)
            handle.stop(node_timeout=None if interrupted else LEFT_EARLY_GRACE)
            if handle.error is not None:
                raise handle.error
            # the consumer stopped early: a cancelled run is what was asked for
