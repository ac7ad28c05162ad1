"""The output side of `ufo reco`'s resident path: a finished pass's slices downloaded into pinned
buffers and handed to the write task, which writes them while the next pass is read.

`Output` starts the write task's graph (a Feed of slices, one writer for every pass) and the
pinned ring once the slices' shape, type and scale are known: while the first of several passes
is read (`Starting`: the axis and the scale are known before it; the task registry, read from a
cold disk, is then off the engine's path), after the pass when there is one (its scale may come
from its slices). The ring reuses a buffer once the write task has written its slices.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import numpy as np

from ..core import Graph, RunHandle, Task
from ..core.errors import Cancelled
from ..core.memory import Feed
from ..core.progress import count_node
from ..tomo.streaming import StreamingReconstructor
from ..tomo.timing import StageTimes
from .planning import Plan

T = TypeVar("T")
QUEUE = 16  # slices handed to the writer ahead of it


def on_device(device: str, index: int) -> None:
    """GPU `index` for this thread's CuPy calls (nothing for the CPU)."""
    if device == "gpu":
        import cupy

        cupy.cuda.Device(index).use()


class Ring:
    """Pinned host buffers the slices are downloaded into (at the bus's speed: 1024^3 on the H200
    host took 0.10 s pinned against 1.79 s into fresh pageable arrays, benchmarks/resident_parts.py),
    written from there; a buffer is reused once the writer has written the slices it held
    (`written()`, the writer's count)."""

    BYTES = 128 * 2**20  # the ring's size when a buffer is smaller (its pinning took 0.11 s at 256 MiB)

    def __init__(self, shape: tuple[int, int], dtype: Any, written: Callable[[], int], ended: Callable[[], bool]):
        self.shape, self.dtype = shape, np.dtype(dtype)  # of a slice
        self.buffers: list[np.ndarray] = []  # made at the first take: the first group is the largest
        self.ends: list[int] = []  # slices written (all passes) once a buffer's slices are out
        self.turn = 0
        self.written, self.ended = written, ended

    def _make(self, n: int) -> None:
        import cupy

        size = n * self.shape[0] * self.shape[1]
        nbytes = size * self.dtype.itemsize
        count = max(2, min(4, self.BYTES // nbytes))  # 4 x 8 slices: more than the writer's queue (QUEUE)
        self.buffers = [np.frombuffer(cupy.cuda.alloc_pinned_memory(nbytes), self.dtype, size).reshape(n, *self.shape)
                        for _ in range(count)]
        self.ends = [0] * count

    def take(self, n: int, end: int) -> np.ndarray:
        """A buffer for `n` slices that end at slice `end` (counted over the whole volume)."""
        if not self.buffers:
            self._make(n)
        i = self.turn % len(self.buffers)
        while self.written() < self.ends[i]:
            if self.ended():
                raise Cancelled("the writer has stopped")
            time.sleep(0.0005)
        self.ends[i] = end
        self.turn += 1
        return self.buffers[i][:n]


class Drain:
    """A finished pass's slices downloaded a group at a time into the writer's feed, in a thread,
    so that the next pass is read meanwhile."""

    def __init__(self, engine: StreamingReconstructor, feed: Feed, first: int, ring: Ring | None, device: str,
                 index: int, times: StageTimes, transform: Callable[[Any], Any] | None = None):
        self.engine, self.feed, self.first, self.ring, self.times = engine, feed, first, ring, times
        self.transform = transform
        self.device, self.index = device, index
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="ufo:reco-download", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            on_device(self.device, self.index)
            fed = self.first
            ring = self.ring

            def out(n: int) -> np.ndarray:
                assert ring is not None
                return ring.take(n, fed + n)

            blocks = self.engine.blocks(out if ring is not None else None, self.transform)
            while True:
                t0 = time.perf_counter()
                block = next(blocks, None)
                self.times.add("download", time.perf_counter() - t0)
                if block is None:
                    break
                for image in block:
                    self.feed.put(image)
                if fed == self.first:
                    self.times.mark("first slices to the writer")
                fed += len(block)
        except BaseException as exc:  # noqa: BLE001 - raised by join()
            self.error = exc
        finally:
            self.engine = None  # type: ignore[assignment]  # the pass's slices may go

    def join(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error


def _counter(handle: RunHandle) -> Callable[[], int]:
    """The frames the writer graph's sink has written so far."""
    name = count_node(handle.stats)[0]
    assert name is not None
    return lambda: handle.stats[name].frames


def integers(plan: Plan) -> Callable[[Any], Any] | None:
    """8/16-bit output with its scale known: converted on the GPU (ufo/kernels/cuda_convert.py)."""
    o = plan.options
    if o.output_bits not in (8, 16) or o.output_min is None or o.output_max is None:
        return None
    from ..kernels.cuda_convert import scale_to_integers_gpu

    bits, lo, hi = o.output_bits, float(o.output_min), float(o.output_max)
    return lambda part: scale_to_integers_gpu(part, bits, lo, hi)


class Output:
    """The write task's graph, fed the slices of every pass, and (on the GPU) the pinned ring they
    are downloaded into; `drain(engine, first_slice)` hands a finished pass over."""

    def __init__(self, plan: Plan, shape: tuple[int, int], axis: Any, writer: Callable[..., Task], device: str,
                 index: int, times: StageTimes, stop: threading.Event):
        self.device, self.index, self.times = device, index, times
        self.plan = plan  # written with (its 8/16-bit scale)
        self.transform = integers(plan) if device == "gpu" else None
        o = plan.options
        dtype = np.float32 if self.transform is None else np.uint8 if o.output_bits == 8 else np.uint16
        self.feed = Feed(shape=shape, dtype=dtype, count=plan.slices, capacity=QUEUE)
        task = writer(plan, plan.passes[0], axis=axis, every_pass=True, prescaled=self.transform is not None)
        self.handle: RunHandle = Graph([task(self.feed())]).run(device="cpu")
        self.handle.add_done_callback(lambda h: stop.set() if h.cancelled or h.error else None)
        self.ring = Ring(shape, dtype, _counter(self.handle), lambda: self.handle.done) if device == "gpu" else None
        self._drain: Drain | None = None
        times.mark("writer ready")

    def drain(self, engine: StreamingReconstructor, first_slice: int) -> None:
        """The pass's slices downloaded and handed to the writer in a thread (after the pass before's)."""
        self.join()
        self._drain = Drain(engine, self.feed, first_slice, self.ring, self.device, self.index, self.times,
                            self.transform)

    def join(self) -> None:
        """Until the last pass handed over is downloaded (its error raised)."""
        if self._drain is not None:
            self._drain.join()

    def finish(self) -> None:
        """Every pass handed over: the feed closed, the slices written."""
        self.join()
        self.times.mark("last slices to the writer")
        self.feed.close()
        self.handle.wait()
        self.times.mark("slices written")

    def abort(self) -> None:
        """Stop writing (a failure or a stop): the graph cancelled, the download ended."""
        self.handle.cancel()
        if self._drain is not None:
            self._drain.thread.join()
        self.handle.stop()


class Starting(Generic[T]):
    """Something made in a thread of its own while the run goes on (the `Output`, its graph
    started and its file opened, while the first of several passes is read; the later passes'
    read-ahead child); `get()` waits for it (its error raised)."""

    def __init__(self, make: Callable[[], T], name: str = "ufo:reco-output"):
        self._made: list[T] = []
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._made.append(make())
            except BaseException as exc:  # noqa: BLE001 - raised by get()
                self._error = exc

        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._thread.start()

    def join(self) -> None:
        """Until it is made or failed (`get` raises its error)."""
        self._thread.join()

    def get(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._made[0]
