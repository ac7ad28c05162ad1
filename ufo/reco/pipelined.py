"""Passes pipelined: the sinograms of every pass flow into one back-projection and one writer.

Why: a pass's sinograms exist only once every projection of its rows has been read
(`transpose-projections`), so passes run one after another leave the GPU idle while the file
is read and the disk idle while slices are back-projected. Here each pass's front graph
(read, flat-field correction, ..., transpose) runs ahead of the pass being back-projected,
and one back graph (stripes, stack, back-projection, write) takes the sinograms of all passes
in row order from a `feed`: reading pass k+1 overlaps back-projecting and writing pass k, the
GPU is set up once and the output is opened once. The axis search and the 8/16-bit scale
sample (`prelude`) run beside the first passes' reading; the back graph starts when they end.

Memory: a front graph holds its pass's sinograms (the plan sizes passes so that `AHEAD + 1`
fit beside the back graph's stacks), plus `QUEUE` sinograms waiting for the back graph.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core import Graph, RunHandle, Stream, Task
from ..core.api import iterate
from ..core.errors import Cancelled
from ..core.memory import Feed
from ..tomo.timing import StageTimes
from .bands import kept
from .planning import PASSES_IN_FLIGHT, Pass, Plan

AHEAD = PASSES_IN_FLIGHT - 1  # passes read beyond the one being back-projected
QUEUE = 16  # sinograms a front graph hands over ahead of the back graph
_END = object()
#: (sinograms(plan, pass), backprojected(plan, sinograms, axis, slices, times), writer(plan, pass, axis=, every_pass=))
Builders = tuple[Callable[[Plan, Pass], Stream], Callable[..., Stream], Callable[..., Task]]


class _Front:
    """One pass's front graph, run in its own thread into a bounded queue."""

    def __init__(self, plan: Plan, index: int, stop: threading.Event, on_read: Callable[[], None],
                 sinograms: Callable[[Plan, Pass], Stream]):
        self.plan, self.index, self.stop = plan, index, stop
        self._sinograms = sinograms
        self.queue: queue.Queue[Any] = queue.Queue(QUEUE)
        self.handles: list[RunHandle] = []
        self.error: BaseException | None = None
        self._on_read = on_read
        self.read = threading.Event()  # its first sinogram exists: every projection of its rows was read
        self.thread = threading.Thread(target=self._run, name=f"ufo:reco-pass-{index + 1}", daemon=True)

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            stream = self._sinograms(self.plan, self.plan.passes[self.index])
            for image in iterate(Graph([stream]), stream, on_start=self.handles.append, device=self.plan.options.gpus):
                if not self.read.is_set():
                    self.read.set()
                    self._on_read()
                if not self._put(image):
                    break
            if any(handle.cancelled for handle in self.handles):  # stopped from outside (Ctrl-C): not a whole pass
                self.error = Cancelled(f"pass {self.index + 1} was cancelled")
        except BaseException as exc:  # noqa: BLE001 - handed to the feeder, which raises it in run()
            self.error = exc
        finally:
            self.read.set()
            self._on_read()
            self._put(_END)

    def cancel(self) -> None:
        for handle in self.handles:
            handle.cancel()


class Feeder:
    """Runs the front graphs, AHEAD passes ahead, and feeds their sinograms in row order."""

    def __init__(self, plan: Plan, sinograms: Callable[[Plan, Pass], Stream]):
        self.plan = plan
        self._sinograms = sinograms
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.fronts: list[_Front] = []
        self._drained = -1
        self._lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        """Start reading the first pass (before the axis is known: the fronts do not need it)."""
        self._start_more()

    def _start_more(self) -> None:
        with self._lock:
            n = len(self.plan.passes)
            while (not self.stop.is_set() and len(self.fronts) < n and len(self.fronts) <= self._drained + 1 + AHEAD
                   and (not self.fronts or self.fronts[-1].read.is_set())):
                front = _Front(self.plan, len(self.fronts), self.stop, self._start_more, self._sinograms)
                self.fronts.append(front)
                front.thread.start()

    def feed_into(self, feed: Feed, back: RunHandle) -> None:
        """Hand every pass's sinograms to `feed` in order, in a thread, and close it at the end; on
        an error stop the fronts and the back graph and keep the error (run_pipelined raises it)."""
        self.thread = threading.Thread(target=self._feed, args=(feed, back), name="ufo:reco-feeder", daemon=True)
        self.thread.start()

    def _feed(self, feed: Feed, back: RunHandle) -> None:
        try:
            for index in range(len(self.plan.passes)):
                self._start_more()
                if index >= len(self.fronts):  # a stop came before this pass could start
                    raise Cancelled("the reconstruction was stopped")
                front = self.fronts[index]
                while True:
                    item = self._next(front, back)
                    if item is _END:
                        break
                    feed.put(np.asarray(item), getattr(item, "meta", None))
                if front.error is not None:
                    raise front.error
                with self._lock:
                    self._drained = index
            feed.close()
        except BaseException as exc:  # noqa: BLE001 - raised by run() in the caller's thread
            self.error = exc
            self.cancel()
            back.cancel()

    def _next(self, front: _Front, back: RunHandle) -> Any:
        """The front's next sinogram or _END; Cancelled once the back graph has ended or a stop
        was asked for (a Ctrl-C while a pass is still being read must not wait for its end)."""
        while True:
            try:
                return front.queue.get(timeout=0.1)
            except queue.Empty:
                if back.done or self.stop.is_set():
                    raise Cancelled("the reconstruction was stopped") from None

    def cancel(self) -> None:
        self.stop.set()
        with self._lock:
            fronts = list(self.fronts)
        for front in fronts:
            front.cancel()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()
        for front in self.fronts:
            front.thread.join()

    def handles(self) -> list[RunHandle]:
        return [h for front in self.fronts for h in front.handles]


def run_pipelined(plan: Plan, prelude: Callable[[], tuple[Plan, float | None]], times: StageTimes,
                  on_start: Callable[[RunHandle, int], None] | None,
                  build: Builders) -> tuple[Plan, float | None, list[RunHandle]]:
    """Reconstruct every pass of `plan` (projections in, the writer out); `prelude()` gives the
    plan to write with (the 8/16-bit scale) and the axis, and runs while the first passes are read;
    `build` holds ufo.reco.running's graph builders (passed in: that module calls this one).
    Returns that plan, the axis and the handles (the back graph's first)."""
    sinograms, backprojected, writer = build
    feeder = Feeder(plan, sinograms)
    feeder.start()
    back: RunHandle | None = None
    try:
        plan, axis = prelude()
        feed = Feed(shape=(plan.projections, plan.width), dtype=np.float32, count=plan.slices, capacity=QUEUE)
        out = writer(plan, plan.passes[0], axis=axis, every_pass=True)
        per_pass = max(kept(p) for p in plan.passes)  # no stack waits for the next pass
        graph = Graph([out(backprojected(plan, feed(), axis, plan.slices, times, most=per_pass))])
        back = graph.run(device=plan.options.gpus)
        feeder.feed_into(feed, back)
        if on_start is not None:
            on_start(back, 0)
        try:
            back.wait()
        except Cancelled:
            feeder.join()
            if feeder.error is not None and not isinstance(feeder.error, Cancelled):
                raise feeder.error from None
            raise
    except BaseException:
        feeder.cancel()
        if back is not None:
            back.cancel()
        raise
    finally:
        feeder.join()
    if feeder.error is not None:
        raise feeder.error
    return plan, axis, [back, *feeder.handles()]
