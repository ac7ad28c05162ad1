"""Progress as an API: snapshots, a smoothed rate and ETA, and ways to watch them.

Shaped after ophyd-async's `WatcherUpdate` (current, initial, target, name, unit,
time_elapsed, time_remaining) so that the CLI's bar, the GUI's server-sent events, a
Bluesky callback and a user's script all read one stream instead of each polling node
statistics on its own. Anything that runs (a `RunHandle`, a multi-pass reconstruction, an
experiment) is a `Watchable`: `progress()` is a snapshot, `watch(cb)` calls `cb` from a
watcher thread at a bounded rate and once at the end, `updates()` and `watch_async()` are
iterators over the same snapshots.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from .flag import Flag

LOG = logging.getLogger("ufo.progress")
T = TypeVar("T")

#: the stages a run can end in; every other stage ('starting', 'running', 'finishing',
#: 'cancelling', a pass or a step name) means it is still going
FINAL = frozenset({"done", "failed", "cancelled"})
#: the fastest a watcher calls back (seconds between calls); a UI needs no more than 10 Hz
MIN_INTERVAL = 0.1
#: an unchanged count is still reported this often (seconds), so a display's clock moves on
HEARTBEAT = 1.0


@dataclass(frozen=True)
class Progress:
    """One snapshot: `current` of `target` (None: not known yet) `unit`s, counted by `name`.

    `rate` is in units per second, smoothed over the last seconds; `time_remaining` (the ETA,
    seconds) is None until a rate and a target are known. `nodes` has the count of every node
    of a graph (empty for jobs that are not one graph).
    """

    name: str
    current: int
    target: int | None
    stage: str
    time_elapsed: float
    rate: float = 0.0
    time_remaining: float | None = None
    initial: int = 0
    unit: str = "frames"
    nodes: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    @property
    def final(self) -> bool:
        """True for the last update of a run: done, failed or cancelled."""
        return self.stage in FINAL

    @property
    def fraction(self) -> float | None:
        """Done fraction in [0, 1], or None while the target is unknown."""
        if not self.target:
            return None if self.target is None else 1.0
        return min(max((self.current - self.initial) / (self.target - self.initial), 0.0), 1.0)

    @property
    def percent(self) -> float:
        fraction = self.fraction
        return round(100.0 * fraction, 1) if fraction is not None else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (what the GUI's event stream sends), with the derived `percent` and `final`."""
        data = asdict(self)
        data.update(percent=self.percent, final=self.final, time_elapsed=round(self.time_elapsed, 3),
                    rate=round(self.rate, 3),
                    time_remaining=None if self.time_remaining is None else round(self.time_remaining, 3))
        return data


class RateEstimator:
    """Units per second over a sliding window, and the ETA it implies.

    A window (not the average since the start) follows a stream that speeds up or slows
    down; until the window has `min_span` seconds of samples, the average since the first
    sample is used. Samples closer than `spacing` are merged so that many readers polling
    at once do not shrink the window to noise. Thread-safe.
    """

    def __init__(self, window: float = 3.0, min_span: float = 0.2, spacing: float = 0.02):
        self.window = window
        self.min_span = min_span
        self.spacing = spacing
        self._samples: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()
        self.rate = 0.0

    def reset(self) -> None:
        with self._lock:
            self._samples.clear()
            self.rate = 0.0

    def update(self, now: float, count: int) -> float:
        """Add a sample (time in seconds, count so far) and return the smoothed rate."""
        with self._lock:
            samples = self._samples
            if samples and count < samples[-1][1]:  # the count went back (a new job): start over
                samples.clear()
            if samples and now - samples[-1][0] < self.spacing:
                samples[-1] = (samples[-1][0], count)
            else:
                samples.append((now, count))
            while len(samples) > 2 and now - samples[1][0] >= self.window:
                samples.popleft()
            t0, c0 = samples[0]
            span = now - t0
            if span >= self.min_span:
                self.rate = (count - c0) / span
            return self.rate

    def eta(self, current: int, target: int | None) -> float | None:
        """Seconds until `target` at the current rate; None without a target or a rate."""
        if target is None or self.rate <= 0:
            return None if target is None or current < target else 0.0
        return max(target - current, 0) / self.rate


class Watchable:
    """Progress that can be watched: subclasses give `progress()` and the event set at the end."""

    def __init__(self) -> None:
        self._estimator = RateEstimator()
        self._watchers: list[threading.Thread] = []
        self._progress_warnings: list[str] = []
        self._watch_lock = threading.Lock()

    def progress(self) -> Progress:
        raise NotImplementedError

    def _end_event(self) -> Flag:
        raise NotImplementedError

    def _measure(self, current: int, target: int | None, stage: str, elapsed: float) -> tuple[float, float | None]:
        """The smoothed rate and the ETA for a new count; once the run has ended, the average
        rate of the whole run (a window would decay to 0 while nothing moves) and an ETA of 0
        when it is done (None when it failed or was cancelled: it will not get there)."""
        if stage in FINAL:
            return (current / elapsed if elapsed > 0 else 0.0), 0.0 if stage == "done" else None
        rate = self._estimator.update(time.perf_counter(), current)
        return rate, self._estimator.eta(current, target)

    def _report(self, message: str) -> None:
        with self._watch_lock:
            self._progress_warnings.append(message)
        LOG.warning("%s", message)

    def watch(self, callback: Callable[[Progress], Any], interval: float = MIN_INTERVAL) -> threading.Thread:
        """Call `callback(update)` from a watcher thread whenever the progress changed, at most
        every `interval` s (at least 0.1 s), and exactly once with the final update.

        A callback that raises is reported (in the owner's warnings and the log) and called
        again with later updates; it never stops the run. Returns the watcher thread; `wait()`
        of a run handle joins it, so after `wait()` every callback has seen the final update.
        """
        interval = max(interval, MIN_INTERVAL)
        name = getattr(callback, "__qualname__", None) or type(callback).__name__
        failed = [False]

        def call(update: Progress) -> None:
            try:
                callback(update)
            except Exception as exc:  # noqa: BLE001 - reported, the run goes on
                if not failed[0]:
                    failed[0] = True
                    self._report(f"progress callback {name} raised {type(exc).__name__}: {exc}")

        def loop() -> None:
            for update in self.updates(interval):
                call(update)

        thread = threading.Thread(target=loop, name=f"ufo:progress:{name}", daemon=True)
        with self._watch_lock:
            self._watchers.append(thread)
        thread.start()
        return thread

    def updates(self, interval: float = MIN_INTERVAL) -> Iterator[Progress]:
        """Snapshots every `interval` s while something changed (count or stage), else one each
        `HEARTBEAT` s (elapsed time and ETA move on), then the final one; ends after it.
        Blocking; for a loop in a thread or a script."""
        end, last = self._end_event(), [None, 0.0]
        while True:
            update = self._pick(last)
            if update is not None:
                yield update
                if update.final:
                    return
            end.wait(max(interval, 0.01))

    async def watch_async(self, interval: float = MIN_INTERVAL) -> AsyncIterator[Progress]:
        """`updates()` for asyncio: `async for update in handle.watch_async(): ...`; the wait
        between snapshots does not block the event loop."""
        end, last = self._end_event(), [None, 0.0]
        while True:
            update = self._pick(last)
            if update is not None:
                yield update
                if update.final:
                    return
            import asyncio  # imported by the caller's event loop already; not at the top (~30 ms)

            await asyncio.to_thread(end.wait, max(interval, 0.01))

    def _pick(self, last: list[Any]) -> Progress | None:
        """The next update to hand out, or None when nothing changed since `last` (key, time)."""
        update = self.progress()
        key = (update.current, update.target, update.stage)
        now = time.monotonic()
        if update.final or key != last[0] or now - last[1] >= HEARTBEAT:
            last[:] = [key, now]
            return update
        return None

    def _join_watchers(self, timeout: float = 5.0) -> None:
        """Wait for the watcher threads (not the calling one) to deliver their final update."""
        current = threading.current_thread()
        with self._watch_lock:
            watchers = list(self._watchers)
        deadline = time.monotonic() + timeout
        for thread in watchers:
            if thread is not current:
                thread.join(max(0.0, deadline - time.monotonic()))


def count_node(stats: dict[str, Any]) -> tuple[str | None, int | None]:
    """The node whose frames measure a graph's progress and its total: the first sink the user
    put in the graph (not a 'discard-' one), else any sink, else any node.

    A sink's own statistics carry no total (it has no output spec), so the total is that of
    the node feeding it: named in a 'discard-NODE' sink, else the nearest node before it that
    is not a sink (nodes are in topological order, each right after its inputs).
    """
    names = list(stats)
    sinks = [n for n in names if stats[n].kind == "sink"]
    name = next((n for n in sinks if not n.startswith("discard-")), sinks[0] if sinks else None)
    if name is None:
        return (names[0], stats[names[0]].expected) if names else (None, None)
    if stats[name].expected is not None:
        return name, stats[name].expected
    feeder = name.removeprefix("discard-") if name.startswith("discard-") else None
    if feeder is None:
        before = [n for n in names[:names.index(name)] if stats[n].kind != "sink"]
        feeder = before[-1] if before else None
    return name, stats[feeder].expected if feeder in stats else None


def graph_stage(handle: Any) -> str:
    """The stage of a run handle, from its flags and its nodes' statistics."""
    if handle.done:
        if handle.error is not None:
            return "failed"
        return "cancelled" if handle._cancelled.is_set() else "done"
    if handle._cancelled.is_set():
        return "cancelling"
    sources = [s for s in handle.stats.values() if s.kind == "source"]
    if sources and all(s.ended for s in sources):
        return "finishing"  # every frame is produced; the rest of the graph (the writer) is catching up
    return "running"


def run_progress(handle: Any) -> Progress:
    """The snapshot of a run handle (what `RunHandle.progress()` returns)."""
    stage = graph_stage(handle)  # before the counts: a final stage means the counts are final too
    if handle._count_node is None:
        handle._count_node = count_node(handle.stats)
    name, target = handle._count_node
    node = handle.stats.get(name) if name is not None else None
    current = node.frames if node is not None else 0
    if stage == "done":
        target = current if target is None else target
    elapsed = handle.elapsed
    rate, eta = handle._measure(current, target, stage, elapsed)
    error = str(handle.error) if handle.error is not None else None
    nodes = {s.name: s.frames for s in handle.stats.values() if not s.name.startswith("discard-")}
    return Progress(name or "graph", current, target, stage, elapsed, rate, eta, nodes=nodes, error=error)


class JobProgress(Watchable):
    """The progress of a job made of steps and graphs: a multi-pass reconstruction, an experiment.

    The job's code calls `begin(target)`, then `stage(name)` per step, `advance(n)` for counts
    it makes itself or `attach(handle, before)` for a graph whose counting sink adds to
    `before`, and `end(error)` once. Watchers see the same `Progress` as for one graph.
    """

    def __init__(self, name: str = "job", unit: str = "frames", target: int | None = None):
        super().__init__()
        self.name = name
        self.unit = unit
        self._lock = threading.Lock()
        self._ended = Flag()
        self._reset(target)

    def _reset(self, target: int | None) -> None:
        self.target = target
        self.started = time.perf_counter()
        self.ended: float | None = None
        self._current = 0
        self._stage = "starting"
        self._error: str | None = None
        self._handle: Any = None
        self._before = 0
        self._estimator.reset()

    def begin(self, target: int | None = None, stage: str = "running") -> None:
        """(Re)start the job: counts from 0 of `target`; a job object can run again after `end()`."""
        with self._lock:
            self._reset(target)
            self._stage = stage
            self._ended.clear()

    def stage(self, name: str) -> None:
        with self._lock:
            self._stage = name

    def advance(self, count: int = 1) -> None:
        with self._lock:
            self._current += count

    def attach(self, handle: Any, before: int = 0, stage: str | None = None) -> None:
        """Count `before` plus the frames of `handle`'s counting sink, from now on."""
        with self._lock:
            self._current = max(self._current, before)
            self._handle, self._before = handle, before
            if stage is not None:
                self._stage = stage

    def end(self, error: BaseException | None = None) -> None:
        """The job ended: 'done', 'cancelled' (a Cancelled, KeyboardInterrupt or asyncio
        cancellation) or 'failed' with the error's text."""
        from .errors import Cancelled

        with self._lock:
            self._current = self._count()
            self._handle = None
            if error is None:
                self._stage = "done"
                self.target = self._current if self.target is None else self.target
            elif isinstance(error, (Cancelled, KeyboardInterrupt)) or _asyncio_cancelled(error):
                self._stage = "cancelled"
            else:
                self._stage, self._error = "failed", f"{type(error).__name__}: {error}"
            self.ended = time.perf_counter()
        self._ended.set()

    def follow(self, work: Callable[[], T], target: int | None = None, stage: str = "running") -> T:
        """`begin(target, stage)`, run `work()`, then `end()` with its error if it raised."""
        self.begin(target, stage)
        try:
            result = work()
        except BaseException as exc:
            self.end(exc)
            raise
        self.end()
        return result

    def _count(self) -> int:
        if self._handle is None:
            return self._current
        name = count_node(self._handle.stats)[0]
        return max(self._current, self._before + (self._handle.stats[name].frames if name else 0))

    def progress(self) -> Progress:
        with self._lock:
            current, stage, target, error = self._count(), self._stage, self.target, self._error
            elapsed = (self.ended or time.perf_counter()) - self.started
            nodes = {} if self._handle is None else {s.name: s.frames for s in self._handle.stats.values()}
        if target is not None:
            current = min(current, target)
        rate, eta = self._measure(current, target, stage, elapsed)
        return Progress(self.name, current, target, stage, elapsed, rate, eta, unit=self.unit, nodes=nodes,
                        error=error)

    def _end_event(self) -> Flag:
        return self._ended

    @property
    def warnings(self) -> list[str]:
        return list(self._progress_warnings)


def _asyncio_cancelled(error: BaseException) -> bool:
    """Whether `error` is asyncio's cancellation, without importing asyncio (~30 ms at start-up):
    such an error can exist only in a process that imported asyncio already."""
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and isinstance(error, asyncio.CancelledError)
