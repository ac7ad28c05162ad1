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

LOG = logging.getLogger("ufo.control")
_END = object()


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

    async def run(self) -> str:
        """One iteration: every acquisition, its frames to every addon. Returns its name."""
        name = self._next_name()
        self.current = name
        if self.walker is not None:
            self.walker.home().descend(name)
            self.walker.log(await self._states(), "start")
        self.state = "running"
        failures: list[tuple[Addon, BaseException]] = []
        queues: list[asyncio.Queue[Any]] = [asyncio.Queue(addon.queue_size) for addon in self.addons]
        consumers = [asyncio.ensure_future(self._drain(addon, queue, failures))
                     for addon, queue in zip(self.addons, queues)]
        error: BaseException | None = None
        self.frame_stats = {}
        expected = [a.expected for a in self.acquisitions]
        self.progress.begin(None if None in expected else sum(e or 0 for e in expected), "preparing")
        try:
            for addon in self.addons:
                await addon.start(self)
            await self.prepare()
            for acquisition in self.acquisitions:
                stats = self.frame_stats.setdefault(acquisition.name, FrameStats(camera=acquisition.name))
                self.progress.stage(acquisition.name)
                async for frame in acquisition.producer():
                    stats.see(getattr(frame, "meta", None), getattr(frame, "nbytes", 0))
                    self.progress.advance()
                    if failures:  # an addon failed (a full disk, a broken graph): stop the scan, say why
                        raise failures[0][1]
                    for addon, queue in zip(self.addons, queues):
                        if addon.lossy and queue.full():
                            addon.dropped += 1
                        else:
                            await queue.put((acquisition.name, frame))
                for queue in queues:
                    await queue.put((acquisition.name, _END))
            self.state = "standby"
        except asyncio.CancelledError:
            self.state = "cancelled"
            await self._stop_devices()
            raise
        except BaseException as exc:
            self.state = "error"
            error = exc
            await self._stop_devices()
            raise
        finally:
            self.progress.stage("finishing")
            for queue, consumer in zip(queues, consumers):
                if not consumer.done():
                    await queue.put(None)  # the consumer drains what is queued, then ends
            await asyncio.gather(*consumers, return_exceptions=True)
            for addon in self.addons:  # every addon finishes (files are closed) even when one fails
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
                                 "frames_dropped": self.frames_dropped,
                                 "frames": {k: v.as_dict() for k, v in self.frame_stats.items()}}, "finish")
            self.iteration += 1
            if failures and error is None and not isinstance(sys.exc_info()[1], asyncio.CancelledError):
                for addon, exc in failures[1:]:
                    LOG.error("addon %s failed too: %s", type(addon).__name__, exc)
                raise failures[0][1]
        return name

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
