"""The run handle: how a caller waits for, cancels and inspects a running graph."""

from __future__ import annotations

import atexit
import concurrent.futures.thread  # noqa: F401 - see _at_exit: imported here, never first at exit
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import Cancelled, TaskError
from .flag import Flag
from .progress import Progress, Watchable, run_progress

#: how long an interrupted `wait()` waits for the sinks to close their files, and for the other nodes
SINK_GRACE = 10.0
#: seconds without a frame moving anywhere after a source failed before the rest is cancelled
#: (`fail_draining`: a source blocked in a receive of its own would otherwise keep the run)
DRAIN_STALL = 10.0
NODE_GRACE = 0.2
#: seconds the frames of a loop's run may wait unread at exit before the run is stopped (`_at_exit`)
UNREAD_AT_EXIT = 1.0

_live: weakref.WeakSet[RunHandle] = weakref.WeakSet()
_live_lock = threading.Lock()


@dataclass
class NodeStats:
    """What one node did: frames in and out, time spent in its own code, bytes emitted."""

    name: str
    kind: str
    replicas: int = 1
    frames_in: int = 0
    frames_out: int = 0
    busy: float = 0.0
    bytes: int = 0
    started: float = 0.0
    ended: float = 0.0
    expected: int | None = None
    buffers: int = 0  # output buffers the node's pool allocated (bounded: they are recycled)
    warnings: list[str] = field(default_factory=list)

    @property
    def wall(self) -> float:
        end = self.ended or time.perf_counter()
        return max(end - self.started, 0.0) if self.started else 0.0

    @property
    def mb_per_s(self) -> float:
        wall = self.wall
        return self.bytes / wall / 1e6 if wall > 0 else 0.0

    @property
    def frames(self) -> int:
        return self.frames_in if self.kind == "sink" else self.frames_out


class RunHandle(Watchable):
    """A graph running in its own threads.

    `wait()` blocks until it ends and re-raises the first error (a `TaskError` naming the
    node), `cancel()` stops it, `done` tells whether it ended, `stats` has one `NodeStats`
    per node, and `await handle` waits inside asyncio without blocking the loop.

    Progress (see `ufo.core.progress`): `progress()` is a snapshot (frames of the counting
    sink of its total, rate, ETA, stage); `watch(cb)` calls `cb(update)` from a watcher
    thread, `updates()` and `watch_async()` iterate over the updates until the final one.
    """

    def __init__(self, stats: dict[str, NodeStats]):
        super().__init__()
        self.stats = stats
        self._count_node: tuple[str | None, int | None] | None = None  # what progress counts (node, total)
        self.started = time.perf_counter()
        self.ended: float | None = None
        self.error: TaskError | None = None
        self._cancelled = threading.Event()
        #: a source failed: the other sources end at their next frame, the rest drains (`fail_draining`)
        self._draining = threading.Event()
        self._done = Flag()  # waited on by the main thread: a Ctrl-C there must not leave it locked
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[RunHandle], None]] = []
        self._threads: list[threading.Thread] = []
        self._sink_threads: list[threading.Thread] = []  # sinks and reductions: they close the outputs
        self._cancel_hooks: list[Callable[[], None]] = []
        #: runs read by a loop (`api.iterate`): True while its frames wait with nobody reading them
        self._unread: Callable[[], bool] | None = None
        self.trace_events: list[dict[str, Any]] | None = None
        self._told = 0  # warnings told to the caller (`tell_warnings`)

    # -- state ------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set() and self.error is None

    @property
    def elapsed(self) -> float:
        return (self.ended or time.perf_counter()) - self.started

    @property
    def warnings(self) -> list[str]:
        """The nodes' warnings, then those of progress callbacks that raised."""
        return [f"{s.name}: {w}" for s in self.stats.values() for w in s.warnings] + list(self._progress_warnings)

    def progress(self) -> Progress:
        """What the run has done so far: see `ufo.core.progress.Progress`."""
        return run_progress(self)

    def _end_event(self) -> Flag:
        return self._done

    # -- control ----------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop every node; sinks still close their files. Safe to call at any time: a run that has
        ended stays as it ended (a late Cancel click made a finished run 'cancelled')."""
        if self._cancelled.is_set() or self._done.is_set():
            return
        self._cancelled.set()
        for hook in self._cancel_hooks:
            hook()

    def fail(self, node: str, exc: BaseException) -> None:
        """Record the first error and cancel the graph (called by worker threads)."""
        with self._lock:
            if self.error is None and not isinstance(exc, Cancelled):
                self.error = TaskError(node, exc)
                self.error.__cause__ = exc
        self.cancel()

    def fail_draining(self, node: str, exc: BaseException) -> None:
        """A source failed: record its error and let what it gave reach the sinks (the frames
        already queued to a writer are written, not dropped), while the other sources end at
        their next frame (`drain`). Cancelled after DRAIN_STALL s without a frame moving anywhere."""
        with self._lock:
            if self.error is None:
                self.error = TaskError(node, exc)
                self.error.__cause__ = exc
        self.drain()

    def drain(self, stall: float = DRAIN_STALL) -> None:
        """Stop the sources at their next frame and let the frames on their way reach the sinks
        (Ctrl-C on `ufo run`: cancelling dropped a camera's frames already grabbed, 7 of 312,
        without a word); a reduction of part of the frames gives nothing. Cancelled after `stall`
        s without a frame moving; `cancel()` ends it at once."""
        with self._lock:
            first = not self._draining.is_set() and not self._done.is_set()
            self._draining.set()
        if first:
            watch = threading.Thread(target=self._watch_drain, args=(stall,), name="ufo:drain-watch", daemon=True)
            self._threads = [*self._threads, watch]  # joined by wait() as the nodes are (a new list: the
            # scheduler may still be starting the threads of the one it gave)
            watch.start()

    def ended_early(self) -> str | None:
        """Why the frames stopped before the sources' end (`Context.ended_early`): None, 'stopped'
        (drained after Ctrl-C or SIGTERM) or the error of the source that failed."""
        if not self._draining.is_set() and not self._cancelled.is_set():
            return None
        return str(self.error) if self.error is not None else "stopped"

    def _watch_drain(self, stall: float = DRAIN_STALL) -> None:
        moved, still, step = -1, 0.0, min(0.5, stall / 4)
        while not self._done.wait(step):
            now = sum(s.frames_in + s.frames_out for s in self.stats.values())
            still = still + step if now == moved else 0.0
            moved = now
            if still >= stall:
                self.cancel()
                return

    def wait(self, timeout: float | None = None) -> RunHandle:
        """Block until the run ends; raise its error, `Cancelled`, or `TimeoutError`.

        Ctrl-C (KeyboardInterrupt) while waiting cancels the graph, lets the sinks close their
        files (up to `SINK_GRACE` s) and raises the KeyboardInterrupt again: a script stops at
        once and no node thread keeps the process alive (they are daemon threads).
        """
        try:
            if not self._done.wait(timeout):
                raise TimeoutError(f"the graph is still running after {timeout} s")
            for thread in self._threads:
                thread.join()
            self._join_watchers()  # every progress callback has seen the final update
        except KeyboardInterrupt:
            self.stop()
            raise
        self._raise()
        self.tell_warnings()
        return self

    def tell_warnings(self) -> None:
        """Each of `warnings` as a Python warning (`ufo.core.tell.RunWarning`, at the caller's line),
        once per run: what a script sees of them (the commands print them and ignore these)."""
        said = self.warnings
        told, self._told = self._told, len(said)
        if told < self._told:
            from .tell import tell

            for warning in said[told:]:
                tell(warning)

    def stop(self, sink_timeout: float | None = None, node_timeout: float | None = None) -> bool:
        """Cancel the run and wait for its sinks to close their outputs (up to `sink_timeout` s)
        and briefly (`node_timeout` s) for the other nodes; True when every thread has ended.

        Never raises the run's error; a node stuck in a call that does not poll cancellation
        (a blocking receive, say) is left behind: node threads are daemon threads.
        """
        self.cancel()
        sink_timeout = SINK_GRACE if sink_timeout is None else sink_timeout
        node_timeout = NODE_GRACE if node_timeout is None else node_timeout
        current = threading.current_thread()
        deadline = time.monotonic() + sink_timeout
        for thread in self._sink_threads:
            if thread is not current and thread.ident is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
        deadline = time.monotonic() + node_timeout
        for thread in self._threads:
            if thread is not current and thread.ident is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error
        if self._cancelled.is_set():
            raise Cancelled("the run was cancelled")

    def add_done_callback(self, callback: Callable[[RunHandle], None]) -> None:
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(callback)
                return
        self._call_back(callback)

    def _call_back(self, callback: Callable[[RunHandle], None]) -> None:
        """One done callback; one that raises is said (`warnings`, the log) and the others still run:
        the first that raised stopped the rest, and `await handle` never returned."""
        try:
            callback(self)
        except Exception as exc:  # noqa: BLE001 - a user's callback: said, not raised into the node's thread
            self._report(f"done callback {getattr(callback, '__qualname__', callback)} raised "
                         f"{type(exc).__name__}: {exc}")

    def _register(self) -> None:
        with _live_lock:
            _live.add(self)

    def _finish(self) -> None:
        self.ended = time.perf_counter()
        with self._lock:
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
            # a finished run cancels nothing (cancel() returns at once), and the hooks held its
            # graph: nodes, channels and buffer pools, 105 MB a kept handle of a 2048^2 graph
            self._cancel_hooks = []
        with _live_lock:
            _live.discard(self)
        for callback in callbacks:
            self._call_back(callback)

    def __await__(self) -> Any:
        import asyncio  # here, not at the top: asyncio costs ~30 ms and only `await handle` needs it

        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def wake(_: RunHandle) -> None:
            loop.call_soon_threadsafe(lambda: future.done() or future.set_result(None))

        self.add_done_callback(wake)
        try:
            yield from future.__await__()
        except asyncio.CancelledError:
            self.cancel()
            raise
        for thread in self._threads:
            thread.join()
        self._raise()
        return self

    def __repr__(self) -> str:
        state = "done" if self.done else "running"
        if self.error is not None:
            state = f"failed in '{self.error.node}'"
        elif self.done and self._cancelled.is_set():
            state = "cancelled"
        return f"<RunHandle {state}, {len(self.stats)} nodes, {self.elapsed:.2f} s>"


class WorkHandle(RunHandle):
    """The handle of work that is not a graph (ufo.reco.resident's loop that reads frames into the
    GPU), so that callers stop it as they stop a graph: `cancel()` calls `on_cancel`, `stop_all()`
    finds it until `end()`. It has no nodes, so its progress counts nothing; `wait()` waits for `end()`."""

    def __init__(self, on_cancel: Callable[[], None]):
        super().__init__({})
        self._cancel_hooks.append(on_cancel)
        self._register()

    def end(self) -> None:
        """The work is over (done, failed or stopped)."""
        if not self.done:
            self._finish()


def running() -> list[RunHandle]:
    """The graphs of this process that have not ended yet."""
    with _live_lock:
        return [h for h in _live if not h.done]


def stop_all(sink_timeout: float | None = None, node_timeout: float | None = None) -> int:
    """Cancel every running graph of this process and wait for its sinks to close their files
    (what a command does on Ctrl-C); returns how many graphs were stopped."""
    handles = running()
    for handle in handles:
        handle.cancel()
    for handle in handles:
        handle.stop(sink_timeout, node_timeout)
    return len(handles)


def _at_exit() -> None:
    """Node threads are daemon threads, so the interpreter does not wait for them by itself: a
    graph still running at exit is waited for (as before), and Ctrl-C then cancels it and
    closes its files. A graph already cancelled only gets its sinks' grace time.

    Registered with `threading`'s exit hooks where there are (they run before `atexit`'s, so
    before h5py's own clean-up), else with `atexit`.

    By then Python refuses new exit hooks, so a node's first import of a module that registers
    one (`concurrent.futures.thread`, which tifffile imports) failed the run: a script ending
    without `wait()` wrote no file and exited 0 without a word. That module is imported with
    this one, and a run that fails here is said on stderr (the exit status can no longer change)."""
    try:
        for handle in running():
            if handle._cancelled.is_set():
                handle.stop(node_timeout=0.0)
            else:
                unread = 0.0
                while not handle._done.wait(0.1):  # a loop's run whose frames nobody reads: an
                    unread = unread + 0.1 if handle._unread is not None and handle._unread() else 0.0
                    if unread >= UNREAD_AT_EXIT:  # iterator left after next(), say, kept the script
                        handle.stop(node_timeout=0.0)
                        break
                else:
                    if handle.error is not None:
                        print(f"ufo: a run still going at exit (no wait() for it) failed: {handle.error}",
                              file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        stop_all(node_timeout=0.0)


_register = getattr(threading, "_register_atexit", None)
try:
    if _register is None:
        raise RuntimeError
    _register(_at_exit)
except RuntimeError:
    atexit.register(_at_exit)
