"""Experiments: named acquisitions whose frames fan out to addons, one iteration per run.

Each acquisition is an async generator of frames. While it runs, every frame goes to every
addon through the addon's own bounded queue: a lossless addon (the writer) makes the
acquisition wait when it falls behind, a lossy one (a live view) loses frames and counts
them. Device states are logged at start and finish through the walker; cancellation
(Ctrl-C, task cancel) stops the devices, and the addons still finish their files.

Every frame is counted per acquisition (`experiment.frame_stats`): received, dropped by the
camera (gaps in `frame_number`: a `DroppedFramesWarning`), frames/s, MB/s; the walker's finish
record has them, how the run ended and the frames acquired but not stored (runparts.outcome).

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
from collections.abc import Callable, Iterable
from typing import Any

from ..core.framestats import FrameStats
from ..core.progress import JobProgress
from ..storage.walker import Walker
from .device import Device
from .errors import ControlError
from .hold import AbortedError, Hold
from .interrupts import ask_on_interrupt, cancel_on_terminate
from .runparts import INVALID, Acquisition, Addon, counts, lossy_failed, stopped_error
from .suspenders import Suspender
from .windup import CANCELLED, wind_up

LOG = logging.getLogger("ufo.control")
_END = object()


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
        self.in_hand: list[tuple[asyncio.Queue[Any], Any]] = []  # see _forward; queued by the wind-up
        self._failures: list[tuple[Addon, BaseException]] = []
        self._running = False  # a second run() at once shares the walker, queues and writers: refused
        self.stop_reason: str | None = None  # of the last run: why it stopped (None: it completed)

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

    def attach(self, addon: Addon) -> Addon:
        self.addons.append(addon)
        return addon

    async def prepare(self) -> None:
        """Hook: before the acquisitions of a run."""

    async def finish(self) -> None:
        """Hook: after the acquisitions of a run (also after errors)."""

    async def device_states(self) -> dict[str, Any]:
        """Every device's states, for the walker's start and finish records."""
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

    async def on_pause(self) -> None:
        """Hook: the run holds after pause() (Tomography makes the beamline safe as on a suspension)."""

    async def on_unpause(self) -> None:
        """Hook: resume() after pause(), before the next frame (Tomography undoes on_pause)."""

    async def run(self) -> str:
        """One iteration: every acquisition, its frames to every addon. Returns its name.

        One run at a time: a second run() while one is in progress is refused before it touches
        anything (both shared the walker, the queues and the writers: a file of mixed frames).
        SIGTERM to a plain script cancels the run as Ctrl-C does (files closed, devices stopped)
        and then ends the process with 143 (SystemExit), where it would have died with the file
        open for write."""
        if self._running:
            raise ControlError(f"{self.current}: this experiment is running; a second run() of it is refused "
                               "(await the first, or make another experiment)")
        self._claim_devices()
        self._running = True
        try:
            with cancel_on_terminate() as terminated:
                try:
                    return await self._run()
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if not terminated or task is None:
                        raise
                    task.uncancel()
                    raise SystemExit(128 + terminated[0]) from None
        finally:
            self._running = False
            for device in self.devices:
                if device.used_by is self._holding:
                    device.used_by = None

    def _claim_devices(self) -> None:
        """Two experiments at once on one beamline (a Tomography and a Radiography gathered) took
        each other's frames and stopped each other's stages, and both failed with misleading errors
        after writing files of mixed frames: the second is refused before it touches anything."""
        taken = [(d.name, d.used_by) for d in self.devices if d.used_by is not None]
        if taken:
            names = ", ".join(name for name, _ in taken)
            raise ControlError(f"{type(self).__name__}: {names} {'is' if len(taken) == 1 else 'are'} in use by "
                               f"another experiment running now ({taken[0][1]}); await it (or stop it) first")
        self._holding = f"a {type(self).__name__}" + (f" in {self.walker.current}" if self.walker is not None else "")
        for device in self.devices:
            device.used_by = self._holding

    async def _run(self) -> str:
        name = self._next_name()
        self.current = name
        if self.walker is not None:
            self.walker.home().descend(name)
            self.walker.log(await self.device_states(), "start")
        place = self.walker.current if self.walker is not None else None
        self.state = "running"
        self.stop_reason = None
        for addon in self.addons:
            addon.meant = addon.taken = addon.errors = 0
        self._abort_reason = None
        self._loop = asyncio.get_running_loop()
        self.hold.resume()  # a pause asked for after the last run ended does not hold this one
        failures: list[tuple[Addon, BaseException]] = []
        queues: list[asyncio.Queue[Any]] = [asyncio.Queue(addon.queue_size) for addon in self.addons]
        consumers = [asyncio.ensure_future(self._drain(addon, queue, failures))
                     for addon, queue in zip(self.addons, queues)]
        self._queues, self._failures = queues, failures
        self.in_hand = []
        error: BaseException | None = None
        stopped = False  # the acquisitions ended by an exception (not sys.exc_info(): asyncio.run's shutdown
        # after a KeyboardInterrupt runs this inside the handling of that interrupt)
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
            stopped = True
            self.state, self.stop_reason = "cancelled", CANCELLED
            await self._stop_devices()
            raise
        except BaseException as exc:
            stopped = True
            self.state = "aborted" if isinstance(exc, AbortedError) else "error"
            error = stopped_error(self, name, exc, place)
            self.stop_reason = str(error)
            await self._stop_devices()
            if error is not exc:
                raise error from exc
            raise
        finally:
            cut = await wind_up(self, name, queues, consumers, failures, error)
            self.iteration += 1
            if stopped and self.state == "cancelled":  # Ctrl-C: said where the frames went, and how many
                LOG.warning("%s: stopped (cancelled) after %s%s", name, counts(self),
                            f"; the frames taken are in {place}" if place else "")
            if cut and not stopped:  # cancelled while winding up: recorded so, now it stops
                raise asyncio.CancelledError
            if failures and not stopped:
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
        targets = [(addon, queue) for addon, queue in zip(self.addons, self._queues) if valid or addon.takes_invalid]
        for addon, _ in targets:
            addon.meant += 1  # a frame in hand that no addon gets is lost for all: counted as such
        if self._failures:  # an addon failed (a full disk, a broken graph): stop the scan, say why
            raise self._failures[0][1]
        for place, (addon, queue) in enumerate(targets):
            if addon.lossy and queue.full() and addon.leave_out(frame):
                addon.dropped += 1
                continue
            try:
                await queue.put((acquisition, frame))
            except asyncio.CancelledError:  # Ctrl-C while a full queue waited: the files still get the
                self.in_hand = [(q, (acquisition, frame)) for a, q in targets[place:] if a.closes_files]  # frame
                raise

    async def _hold_here(self, before_frame: bool = False, read: bool = False) -> None:
        """Wait while paused; before a frame, also while a suspender is bad (nothing to retake then):
        as the background poll saw it since the last frame, or read now (`read`, an acquisition's first)."""
        if self.hold.paused:
            await self.on_pause()
            self.state = "paused"  # made safe (a tomography's shutter closed, its stage stopped)
            LOG.info("%s: paused", self.current)
            await self.hold.wait_resumed()
            await self.on_unpause()
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
                    addon.taken += 1
            except Exception as exc:  # noqa: BLE001 - the scan stops at its next frame and raises this
                if not addon.lossy:
                    failures.append((addon, exc))
                    continue
                lossy_failed(self, addon, exc)  # a display that failed loses a frame, as a slow one does

    async def _stop_devices(self) -> None:
        for device in self.devices:
            try:
                await device.emergency_stop()
            except Exception as exc:  # noqa: BLE001 - stop the others anyway
                LOG.error("emergency stop of %s failed: %s", device.name, exc)
