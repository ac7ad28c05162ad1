"""Seeing a scan: progress of every acquisition, the latest angle and drops, a live frame.

An experiment already counts its frames in `experiment.progress` (ufo.core.progress); what a
beamline user wants to see besides is which acquisition runs, how far each is, at what
rate and angle, whether the camera drops frames, and the picture. `ScanProgress` is an addon
that adds exactly that without slowing the scan: it is lossy (a slow display loses frames,
the scan never waits), its counts come from the experiment's own frame statistics, and its
updates ride on the experiment's progress watchers (at most 10 a second and always the
final one). The session's rich bar (`bar=True`), the GUI's experiment view and a user's
callback all read the same `ScanUpdate`.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import ctrl_c_kept
from ..core.progress import FINAL, Progress, RateEstimator
from .experiment import Addon, Experiment


@dataclass(frozen=True)
class ScanUpdate:
    """One snapshot of a run: `overall` is the experiment's own Progress (frames of all
    acquisitions, stage = the acquisition running, rate, ETA); `acquisitions` has one Progress
    per acquisition (stage 'waiting', 'running', 'done', 'cancelled' or 'failed'); `angle` is
    the rotation angle of the latest frame seen (degrees, None before any projection);
    `dropped` the frames the camera dropped so far; `frames_seen` counts the frames this
    addon looked at (a live view asks for a new picture when it moves)."""

    overall: Progress
    acquisitions: dict[str, Progress] = field(default_factory=dict)
    acquisition: str | None = None
    run_id: str | None = None
    scan: str | None = None
    angle: float | None = None
    dropped: int = 0
    frames_seen: int = 0

    @property
    def final(self) -> bool:
        return self.overall.final

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: what the GUI's event stream sends."""
        return {"run_id": self.run_id, "scan": self.scan, "acquisition": self.acquisition,
                "angle": None if self.angle is None else round(self.angle, 4), "dropped": self.dropped,
                "frames_seen": self.frames_seen, "final": self.final, "overall": self.overall.as_dict(),
                "acquisitions": {name: p.as_dict() for name, p in self.acquisitions.items()}}


def thumbnail(frame: np.ndarray, size: int = 256) -> np.ndarray:
    """`frame` as float32, averaged down by an integer factor until its longer side is at most
    `size` (a live view needs no more, and a 2k frame would be 16 MB of JSON)."""
    data = np.asarray(frame, dtype=np.float32)
    if data.ndim != 2:
        data = data.reshape(data.shape[0], -1) if data.ndim > 2 else data.reshape(1, -1)
    factor = max(1, math.ceil(max(data.shape) / size))
    if factor == 1:
        return data.copy()
    rows, cols = data.shape[0] // factor * factor, data.shape[1] // factor * factor
    if rows == 0 or cols == 0:
        return data[::factor, ::factor].copy()
    return data[:rows, :cols].reshape(rows // factor, factor, cols // factor, factor).mean(axis=(1, 3))


class ScanProgress(Addon):
    """The visible side of an experiment: attach it (`experiment.attach(ScanProgress(...))`).

    `callback(update)` and `subscribe(callback)`: called with a ScanUpdate from a watcher thread
    during every run; `bar=True` draws a rich bar per acquisition in the terminal (sessions).
    `update()` is a snapshot at any time, `live_frame()` the latest frame (thumbnail, at most
    every `frame_interval` s), `slices()` the latest slices of an OnlineReconstruction attached
    to the same experiment, `watch_async()` the updates of the current or next run.
    """

    lossy = True

    def __init__(self, callback: Callable[[ScanUpdate], Any] | None = None, bar: bool = False,
                 interval: float = 0.1, frame_interval: float = 0.2, frame_size: int = 256, queue_size: int = 4):
        super().__init__(queue_size)
        self.callbacks: list[Callable[[ScanUpdate], Any]] = [] if callback is None else [callback]
        self.bar = bar
        self.interval = interval
        self.frame_interval = frame_interval
        self.frame_size = frame_size
        self.experiment: Experiment | None = None
        self.runs = 0  # runs started; a view waits for this to move
        self._changed = threading.Condition()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._reset()

    def _reset(self) -> None:
        self._estimators: dict[str, RateEstimator] = {}
        self._ended: dict[str, str] = {}  # acquisition -> final stage
        self._current: str | None = None
        self._angle: float | None = None
        self._seen = 0
        self._frame: tuple[np.ndarray, dict[str, Any]] | None = None
        self._frame_time = 0.0

    def subscribe(self, callback: Callable[[ScanUpdate], Any]) -> None:
        """Call `callback` with every update of the following runs (from a watcher thread)."""
        self.callbacks.append(callback)

    # -- the addon ----------------------------------------------------------------------
    async def start(self, experiment: Experiment) -> None:
        with self._lock:
            self.experiment = experiment
            self._reset()
        self._threads = [experiment.progress.watch(self._relay(callback), self.interval)
                         for callback in self.callbacks]
        if self.bar:  # not a daemon: a script that ends with the scan still prints the final bars
            self._threads.append(threading.Thread(target=self._draw, args=(experiment,), name="ufo:scan-bar"))
            self._threads[-1].start()
        with self._changed:
            self.runs += 1
            self._changed.notify_all()

    def join(self, timeout: float = 10.0) -> bool:
        """Wait until the callbacks and the bar have had the final update of the last run (they
        get updates from watcher threads, so `await experiment.run()` may return first); True
        when they all had it within `timeout` s."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def _draw(self, experiment: Experiment) -> None:
        from .scanbar import ScanBar

        bar = ScanBar(experiment.current or "scan")
        try:
            for overall in experiment.progress.updates(self.interval):
                bar(self.update(overall))
        except Exception as exc:  # noqa: BLE001 - a broken terminal must not look like a failed scan
            experiment.progress._report(f"the progress bar failed: {type(exc).__name__}: {exc}")

    def _relay(self, callback: Callable[[ScanUpdate], Any]) -> Callable[[Progress], None]:
        def relay(overall: Progress) -> None:
            callback(self.update(overall))

        relay.__qualname__ = getattr(callback, "__qualname__", type(callback).__name__)
        return relay

    async def consume(self, acquisition: str, frame: Any) -> None:
        meta = dict(getattr(frame, "meta", {}) or {})
        now = time.monotonic()
        with self._lock:
            self._current = acquisition
            self._seen += 1
            if meta.get("angle") is not None:
                self._angle = math.degrees(float(meta["angle"]))
            keep = self._frame is None or now - self._frame_time >= self.frame_interval
        if keep:  # in a thread, outside the lock: averaging a 2k frame takes ~10 ms the event loop should not wait
            picture = await asyncio.to_thread(thumbnail, np.asarray(frame), self.frame_size)
            with self._lock:
                self._frame = (picture, {"acquisition": acquisition, "index": self._seen - 1,
                                         **{k: v for k, v in meta.items() if isinstance(v, (int, float, str))}})
                self._frame_time = now

    async def acquisition_done(self, acquisition: str) -> None:
        with self._lock:
            self._ended[acquisition] = "done"

    async def finish(self, experiment: Experiment) -> None:
        stage = {"cancelled": "cancelled", "aborted": "cancelled", "error": "failed"}.get(experiment.state)
        with self._lock:
            for name in experiment.frame_stats:
                self._ended.setdefault(name, stage or "done")

    # -- what displays read -------------------------------------------------------------
    def update(self, overall: Progress | None = None) -> ScanUpdate:
        """The snapshot now (`overall`: the experiment's progress, if the caller has it)."""
        experiment = self.experiment
        if experiment is None:
            return ScanUpdate(Progress("experiment", 0, None, "waiting", 0.0))
        overall = overall or experiment.progress.progress()
        stats = dict(experiment.frame_stats)
        with self._lock:
            ended, current, angle, seen = dict(self._ended), self._current, self._angle, self._seen
            parts = {a.name: self._acquisition(a.name, a.expected, stats.get(a.name), ended.get(a.name), overall)
                     for a in experiment.acquisitions}
        metadata = getattr(experiment, "metadata", None)
        run_id = metadata.get("run_id") if isinstance(metadata, dict) else None
        return ScanUpdate(overall, parts, current if current is not None else (overall.stage if overall.stage
                                                                                in parts else None),
                          run_id, experiment.current, angle, sum(s.dropped for s in stats.values()), seen)

    def _acquisition(self, name: str, target: int | None, stats: Any, ended: str | None,
                     overall: Progress) -> Progress:
        """One acquisition's Progress from the experiment's frame statistics of it."""
        if stats is None:
            stage = ("done" if overall.stage == "done" else "cancelled") if overall.final else "waiting"
            return Progress(name, 0, target, stage, 0.0, unit=overall.unit)
        current = stats.received
        elapsed = (stats.last or time.monotonic()) - stats.first if stats.first is not None else 0.0
        stage = ended or ("failed" if overall.stage == "failed" else "cancelled" if overall.final and
                          overall.stage != "done" else "running")
        if stage in FINAL:
            rate = current / elapsed if elapsed > 0 else 0.0
            eta = 0.0 if stage == "done" else None
        else:
            estimator = self._estimators.setdefault(name, RateEstimator())
            rate = estimator.update(time.perf_counter(), current)
            eta = estimator.eta(current, target)
        return Progress(name, current, target, stage, elapsed, rate, eta, unit=overall.unit)

    def live_frame(self) -> tuple[np.ndarray, dict[str, Any]] | None:
        """The latest frame kept (a thumbnail) and its metadata (acquisition, index, angle, ...)."""
        with self._lock:
            return self._frame

    def slices(self) -> np.ndarray | None:
        """The latest slices of an online reconstruction attached to the same experiment (None
        without one, or before its first batch); a preview read while it may still add to them."""
        for addon in getattr(self.experiment, "addons", ()):
            engine = getattr(addon, "engine", None)
            if engine is not None and hasattr(engine, "current"):
                return engine.current()
        return None

    def wait_for_run(self, after: int, timeout: float) -> bool:
        """Block until more than `after` runs started (True) or `timeout` s passed (False)."""
        with ctrl_c_kept(), self._changed:
            return self._changed.wait_for(lambda: self.runs > after, timeout)

    async def watch_async(self, interval: float = 0.1) -> AsyncIterator[ScanUpdate]:
        """Updates of the current run (or, before any, the next one) until its final update."""
        if self.experiment is None:
            while not await asyncio.to_thread(self.wait_for_run, 0, 1.0):
                pass
        assert self.experiment is not None
        async for overall in self.experiment.progress.watch_async(interval):
            yield self.update(overall)


def visible(experiment: Experiment, bar: bool = True, record: bool = True) -> Experiment:
    """Make `experiment` seen: a rich bar per run (`bar`) and a run id with the user's sample,
    proposal and operator in its files (`record`: a RunRecord); what an attached addon already
    gives is not added twice. Returns the experiment, so `tomo = visible(Tomography(...))`."""
    from .runinfo import RunRecord

    if record and not any(isinstance(a, RunRecord) for a in experiment.addons):
        experiment.addons.insert(0, RunRecord())  # first: its start() sets the run id before writers open files
    if not any(isinstance(a, ScanProgress) for a in experiment.addons):
        experiment.attach(ScanProgress(bar=bar))
    else:
        for addon in experiment.addons:
            if isinstance(addon, ScanProgress):
                addon.bar = addon.bar or bar
    return experiment
