"""Experiments: named acquisitions whose frames fan out to addons, one iteration per run.

Each acquisition is an async generator of frames. While it runs, every frame goes to every
addon through the addon's own bounded queue: a lossless addon (the writer) makes the
acquisition wait when it falls behind, a lossy one (a live view) loses frames and counts
them. Device states are logged at start and finish through the walker; cancellation
(Ctrl-C, task cancel) stops the devices, and the addons still finish their files.

Every frame is counted per acquisition (`experiment.frame_stats`): frames received, frames
the camera dropped (gaps in the frames' `frame_number`), frames/s and MB/s. A run whose
camera dropped frames ends with a `DroppedFramesWarning` (and a log message) that says how
many and where; the walker's finish record has the counts, and HDF5/NXtomo files written
through the walker record them too (`frames_dropped`).

A run can be held between frames: `pause()`/`resume()` by hand (another task, a GUI, the
Ctrl-C prompt of an interactive session), or by `suspenders` (ufo.control.suspenders) when
the beam is lost; `abort()` stops it. A frame a suspender spoiled reaches only the addons
that keep a record (`takes_invalid`: the NXtomo writer stores it with image_key 3) and is
taken again once the suspenders are good: a producer that is an async generator learns it
from its `yield`, which answers True (Tomography's do; a producer that ignores it loses that
frame, which stays marked invalid).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import warnings
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from ..core.framestats import DroppedFramesWarning, FrameStats, describe_runs
from ..core.progress import JobProgress
from ..storage.walker import Walker
from .device import Device
from .hold import AbortedError, Hold
from .interrupts import ask_on_interrupt
from .suspenders import Suspender

LOG = logging.getLogger("ufo.control")
_END = object()
INVALID = 3  # NXtomo image_key of a frame that is not part of the data (taken while a suspender was tripped)


class Acquisition:
    """A named producer of frames: `producer()` returns an async iterator of frames; `expected`,
    when known, is how many (the target of the experiment's progress)."""

    def __init__(self, name: str, producer: Callable[[], AsyncIterator[Any]], expected: int | None = None):
        self.name = name
        self.producer = producer
        self.expected = expected


class Addon:
    """Consumes an experiment's frames through a bounded queue of its own."""

    lossy = False
    takes_invalid = False  # whether frames a suspender spoiled (image_key 3) reach this addon (a file's record)
    #: finishes after the others, with the run's state already set by their failures (a record of the run:
    #: the Bluesky stop document said 'success' when a writer failed at its last frame or at close)
    reports = False

    def __init__(self, queue_size: int = 32):
        self.queue_size = queue_size
        self.dropped = 0

    async def start(self, experiment: Experiment) -> None:
        """Called once per run, before the first acquisition."""

    async def consume(self, acquisition: str, frame: Any) -> None:
        raise NotImplementedError

    async def acquisition_done(self, acquisition: str) -> None:
        """After the last frame of one acquisition."""

    async def finish(self, experiment: Experiment) -> None:
        """After the run, also after errors and cancellation."""


class Experiment:
    """Runs acquisitions in order; `run()` makes iteration N in scan_NNNN below the walker's home."""

    def __init__(self, acquisitions: Iterable[Acquisition], walker: Walker | None = None,
                 devices: Iterable[Device] = (), name_format: str = "scan_{:04d}"):
        self.acquisitions = list(acquisitions)
        self.walker = walker
        self.devices = list(devices)
        self.name_format = name_format
        self.addons: list[Addon] = []
        self.state = "standby"
        self.iteration = 0
        self.current: str | None = None
        self.frame_stats: dict[str, FrameStats] = {}  # of the last run, per acquisition
        # frames acquired of expected, stage = the acquisition running; watch() it as a graph's
        self.progress = JobProgress("experiment", unit="frames")
        self.hold = Hold()  # pause flag and suspenders
        self.suspensions: list[dict[str, Any]] = []  # of the last run: why and after how many frames
        self._body: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # of the run in progress
        self._abort_reason: str | None = None
        self._queues: list[asyncio.Queue[Any]] = []
        self._failures: list[tuple[Addon, BaseException]] = []

    @property
    def suspenders(self) -> list[Suspender]:
        """Conditions that hold the run (ufo.control.suspenders); append to this list."""
        return self.hold.suspenders

    @property
    def paused(self) -> bool:
        return self.hold.paused

    @property
    def frames_dropped(self) -> int:
        """Frames the camera dropped in the last run (all acquisitions)."""
        return sum(stats.dropped for stats in self.frame_stats.values())

    def asked_rate(self, acquisition: str) -> float:
        """Hook: the frame rate an acquisition asked its camera for (0: not rate-driven)."""
        return 0.0

    def _drop_report(self) -> str | None:
        """What the camera dropped in this run, by acquisition, or None."""
        parts = [f"{name}: {stats.dropped} (frame numbers {describe_runs(stats.dropped_frames)})"
                 for name, stats in self.frame_stats.items() if stats.dropped]
        if not parts:
            return None
        return (f"{self.current}: the camera dropped {self.frames_dropped} frame(s), the consumers did not keep up - "
                + "; ".join(parts) + ". Lower the frame rate, give the camera more buffers (num_buffers) "
                "or make the addons faster")

    def attach(self, addon: Addon) -> Addon:
        self.addons.append(addon)
        return addon

    async def prepare(self) -> None:
        """Hook: before the acquisitions of a run."""

    async def finish(self) -> None:
        """Hook: after the acquisitions of a run (also after errors)."""

    async def _states(self) -> dict[str, Any]:
        return {device.name: await device.states() for device in self.devices}

    def _next_name(self) -> str:
        while True:
            name = self.name_format.format(self.iteration)
            if self.walker is None or not self.walker.home().exists(name):
                return name
            self.iteration += 1

    # -- pause, resume, abort (from another task or thread: a GUI, a Ctrl-C prompt) ---------
    def pause(self) -> None:
        """Hold the run after the frame being taken (it stays valid); resume() goes on."""
        self._on_loop(self.hold.pause)

    def resume(self) -> None:
        self._on_loop(self.hold.resume)

    def abort(self, reason: str = "aborted") -> None:
        """Stop the run now: devices stopped, addons finish their files, run() raises AbortedError."""
        def stop() -> None:
            self._abort_reason = reason
            self.hold.resume()
            if self._body is not None and not self._body.done():
                self._body.cancel()

        self._on_loop(stop)

    def _on_loop(self, action: Callable[[], None]) -> None:
        """Run `action` on the run's event loop: at once from its own thread, else handed over
        (asyncio's events and tasks are not thread-safe; a GUI calls from its server's thread)."""
        loop = self._loop
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if loop is None or loop is here or loop.is_closed():
            action()
        else:
            loop.call_soon_threadsafe(action)

    async def on_suspend(self) -> None:
        """Hook: a suspender tripped (Tomography closes its shutter)."""

    async def on_resume(self) -> None:
        """Hook: the suspenders are good again, after their post actions (Tomography reopens the shutter)."""

    async def run(self) -> str:
        """One iteration: every acquisition, its frames to every addon. Returns its name."""
        name = self._next_name()
        self.current = name
        if self.walker is not None:
            self.walker.home().descend(name)
            self.walker.log(await self._states(), "start")
        self.state = "running"
        self._abort_reason = None
        self._loop = asyncio.get_running_loop()
        self.hold.resume()  # a pause asked for after the last run ended does not hold this one
        failures: list[tuple[Addon, BaseException]] = []
        queues: list[asyncio.Queue[Any]] = [asyncio.Queue(addon.queue_size) for addon in self.addons]
        consumers = [asyncio.ensure_future(self._drain(addon, queue, failures))
                     for addon, queue in zip(self.addons, queues)]
        self._queues, self._failures = queues, failures
        error: BaseException | None = None
        self.frame_stats = {}
        self.suspensions = []
        expected = [a.expected for a in self.acquisitions]
        self.progress.begin(None if None in expected else sum(e or 0 for e in expected), "preparing")
        try:
            with ask_on_interrupt(self):
                self._body = asyncio.ensure_future(self._acquire_all())
                try:
                    await self._body
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if self._abort_reason is None or (task is not None and task.cancelling()):
                        raise
                    raise AbortedError(f"{name}: {self._abort_reason}; devices stopped, files closed") from None
                finally:
                    self._body = None
                    await self.hold.stop()
            self.state = "standby"
        except asyncio.CancelledError:
            self.state = "cancelled"
            await self._stop_devices()
            raise
        except BaseException as exc:
            self.state = "aborted" if isinstance(exc, AbortedError) else "error"
            error = exc
            await self._stop_devices()
            raise
        finally:
            self.progress.stage("finishing")
            for queue, consumer in zip(queues, consumers):
                if not consumer.done():
                    await queue.put(None)  # the consumer drains what is queued, then ends
            await asyncio.gather(*consumers, return_exceptions=True)
            # every addon finishes (files are closed) even when one fails; records of the run last
            for addon in sorted(self.addons, key=lambda a: a.reports):
                if failures and self.state == "standby":
                    self.state = "error"
                try:
                    await addon.finish(self)
                except Exception as exc:  # noqa: BLE001 - reported below, after the others finished
                    failures.append((addon, exc))
            await self.finish()
            if failures and self.state == "standby":
                self.state = "error"
            self.progress.end(asyncio.CancelledError() if self.state == "cancelled"
                              else error or (failures[0][1] if failures else None))
            for acquisition_name, stats in self.frame_stats.items():
                stats.fps_asked = self.asked_rate(acquisition_name)
            report = self._drop_report()
            if report is not None:
                LOG.warning("%s", report)
                warnings.warn(report, DroppedFramesWarning, stacklevel=2)
            if self.walker is not None:
                self.walker.log({**(await self._states()), "experiment_state": self.state,
                                 "frames_dropped": self.frames_dropped, "suspensions": self.suspensions,
                                 "frames": {k: v.as_dict() for k, v in self.frame_stats.items()}}, "finish")
            self.iteration += 1
            if failures and error is None and not isinstance(sys.exc_info()[1], asyncio.CancelledError):
                for addon, exc in failures[1:]:
                    LOG.error("addon %s failed too: %s", type(addon).__name__, exc)
                raise failures[0][1]
        return name

    async def _acquire_all(self) -> None:
        """The run's work, in a task of its own so that abort() can cancel it and run() still finishes."""
        for addon in self.addons:
            await addon.start(self)
        await self.prepare()
        await self.hold.start()
        for acquisition in self.acquisitions:
            await self._acquire(acquisition)

    async def _acquire(self, acquisition: Acquisition, counted: bool = True) -> None:
        """Pull the acquisition's frames one by one; between frames the run holds when paused or
        suspended. A frame a suspender spoiled goes out marked invalid (image_key 3) and the
        producer is asked for it again: `yield` answers True (see Tomography)."""
        stats = self.frame_stats.setdefault(acquisition.name, FrameStats(camera=acquisition.name))
        if counted:
            self.progress.stage(acquisition.name)
        producer = acquisition.producer()
        retake: bool | None = None
        first = True
        try:
            while True:
                await self._hold_here(before_frame=True, read=first)
                first = False
                self.hold.mark()
                try:
                    frame = await (producer.asend(retake) if hasattr(producer, "asend") else producer.__anext__())
                except StopAsyncIteration:
                    break
                stats.see(getattr(frame, "meta", None), getattr(frame, "nbytes", 0))
                tripped = await self.hold.tripped()
                if tripped is not None:
                    meta = getattr(frame, "meta", None)
                    if isinstance(meta, dict):  # a frame that cannot carry the mark goes nowhere
                        meta["image_key"] = INVALID
                        await self._forward(acquisition.name, frame, valid=False)
                    await self._suspend(*tripped)
                    retake = True
                    continue
                retake = None
                if counted:
                    self.progress.advance()
                await self._forward(acquisition.name, frame)
        finally:
            if hasattr(producer, "aclose"):
                await producer.aclose()
        for queue in self._queues:
            await queue.put((acquisition.name, _END))

    async def _forward(self, acquisition: str, frame: Any, valid: bool = True) -> None:
        if self._failures:  # an addon failed (a full disk, a broken graph): stop the scan, say why
            raise self._failures[0][1]
        for addon, queue in zip(self.addons, self._queues):
            if not valid and not addon.takes_invalid:
                continue
            if addon.lossy and queue.full():
                addon.dropped += 1
            else:
                await queue.put((acquisition, frame))

    async def _hold_here(self, before_frame: bool = False, read: bool = False) -> None:
        """Wait while paused; before a frame, also while a suspender is bad (nothing to retake then):
        as the background poll saw it since the last frame, or read now (`read`, an acquisition's first)."""
        if self.hold.paused:
            self.state = "paused"
            LOG.info("%s: paused", self.current)
            await self.hold.wait_resumed()
            self.state = "running"
            LOG.info("%s: resumed", self.current)
        if before_frame and self.hold.suspenders:
            tripped = await self.hold.tripped(read=read)
            if tripped is not None:
                await self._suspend(*tripped)

    async def _suspend(self, suspender: Suspender, reason: str) -> None:
        """Hold until the suspenders are good: pre actions, wait (+ delay), post actions, on_resume."""
        LOG.warning("%s: suspended: %s", self.current, reason)
        record: dict[str, Any] = {"reason": reason, "frames": sum(s.received for s in self.frame_stats.values())}
        self.suspensions.append(record)
        await self.on_suspend()
        for action in suspender.pre:
            await self._run_action(action)
        self.state = "suspended"  # made safe (shutter closed, pre actions done), waiting for the suspenders
        await self.hold.wait_good(suspender)
        if not suspender.auto_resume:
            LOG.warning("%s: %s is good again; paused until resume()", self.current, suspender.name)
            self.pause()
            await self._hold_here()
        for action in suspender.post:
            await self._run_action(action)
        await self.on_resume()
        self.state = "running"
        LOG.warning("%s: resumed after: %s", self.current, reason)
        await self._hold_here()

    async def _run_action(self, action: Any) -> None:
        if isinstance(action, Acquisition):  # frames (fresh flats) that join the scan under their own name
            await self._acquire(action, counted=False)
        else:
            result = action()
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                await result

    async def _drain(self, addon: Addon, queue: asyncio.Queue[Any], failures: list[tuple[Addon, BaseException]]) -> None:
        """Hand queued frames to the addon; after it failed, keep emptying the queue so the scan never blocks."""
        while True:
            item = await queue.get()
            if item is None:
                return
            if any(a is addon for a, _ in failures):
                continue
            acquisition, frame = item
            try:
                if frame is _END:
                    await addon.acquisition_done(acquisition)
                else:
                    await addon.consume(acquisition, frame)
            except Exception as exc:  # noqa: BLE001 - the scan stops at its next frame and raises this
                failures.append((addon, exc))

    async def _stop_devices(self) -> None:
        for device in self.devices:
            try:
                await device.emergency_stop()
            except Exception as exc:  # noqa: BLE001 - stop the others anyway
                LOG.error("emergency stop of %s failed: %s", device.name, exc)
