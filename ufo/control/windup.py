"""Winding up an experiment's run: its addons take what is queued for them and finish, then the run is recorded.

This runs after the acquisitions however they ended, and it can take long: an online
reconstruction completes its slices here, after the last frame. A cancellation (Ctrl-C, SIGTERM)
that came meanwhile went straight through it: the writer never closed the NXtomo with the run's
state (`/entry` had no `run_state`, no expected counts), and the walker's finish record was never
written, so a scan stopped there looked like one whose process died. Here a cancellation cuts
only the step under way (the reconstruction's finish): the run counts as cancelled, the steps
after it still run (the writer closes its file and records the state, the finish record is
written), and `run()` raises the cancellation after them.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from ..core.framestats import DroppedFramesWarning
from .runparts import Addon, drop_report, frames_lost, outcome

if TYPE_CHECKING:
    from .experiment import Experiment

LOG = logging.getLogger("ufo.control")
CANCELLED = "cancelled (Ctrl-C, SIGTERM or a cancelled task)"
STOPPED = ("cancelled", "aborted")  # by the user: the addons' own work in threads is not waited for


class WindUp:
    """The end of one run of `experiment`; `cut` says a cancellation came while it wound up."""

    def __init__(self, experiment: Experiment, failures: list[tuple[Addon, BaseException]]):
        self.experiment = experiment
        self.failures = failures
        self.cut = False

    def cancelled(self) -> None:
        """A cancellation came: a run that had not stopped otherwise is a cancelled one from now on
        (the addons that finish after this, the writer among them, record it so)."""
        self.cut = True
        experiment = self.experiment
        if experiment.state in ("standby", "running"):
            experiment.state, experiment.stop_reason = "cancelled", CANCELLED

    async def step(self, work: Awaitable[Any]) -> None:
        """Await one step; a cancellation ends this step only (see the module's docstring)."""
        try:
            await work
        except asyncio.CancelledError:
            self.cancelled()

    def stop_addons(self) -> None:
        """The run is cancelled: the addons that close no files stop work of their own in threads."""
        for addon in self.experiment.addons:
            if not addon.closes_files:
                addon.stop()

    async def drain(self, queues: list[asyncio.Queue[Any]], consumers: list[asyncio.Future[None]]) -> None:
        """Each addon takes the frames queued for it and ends. Cut meanwhile, the addons drop what
        is still queued (counted as lost: meant for them, never taken) and end after the frame in
        hand, which is never torn (a writer's frame half written); the writers (`closes_files`) take
        theirs, the scan's data; cut again, they are all cancelled."""
        ended = asyncio.gather(*consumers, return_exceptions=True)
        if self.experiment.state in STOPPED:  # Ctrl-C or abort() mid-scan: work in threads stops (Addon.stop)
            self.stop_addons()
        try:
            for queue, item in self.experiment.in_hand:  # the frame in hand when the run was cancelled,
                if not consumers[queues.index(queue)].done():  # for the addons that store it (it was lost,
                    await queue.put(item)  # 'not stored', before)
            for queue, consumer in zip(queues, consumers):
                if not consumer.done():
                    await queue.put(None)  # the consumer takes what is queued, then ends
            await asyncio.shield(ended)
            return
        except asyncio.CancelledError:
            self.cancelled()
        self.stop_addons()
        ends = []
        for addon, queue in zip(self.experiment.addons, queues):
            if not addon.closes_files:
                while not queue.empty():
                    queue.get_nowait()
            ends.append(asyncio.ensure_future(queue.put(None)))  # the end, where the cut came before it was queued
        try:
            await asyncio.shield(ended)
        except asyncio.CancelledError:
            self.cancelled()
            for work in (ended, *ends):
                work.cancel()

    async def finish_addons(self) -> None:
        """Every addon finishes (files are closed) even when one fails or is cut; records of the run last."""
        experiment = self.experiment
        for addon in sorted(experiment.addons, key=lambda a: a.reports):
            if self.failures and experiment.state == "standby":
                experiment.state, experiment.stop_reason = "error", str(self.failures[0][1])
            try:
                await self.finish(addon)
            except Exception as exc:  # noqa: BLE001 - reported by run(), after the others finished
                self.failures.append((addon, exc))
        await self.step(experiment.finish())
        if self.failures and experiment.state == "standby":
            experiment.state = "error"

    async def finish(self, addon: Addon) -> None:
        """One addon's finish; cut, it is cancelled, unless it closes files (`closes_files`): that one
        is waited for, with the run's state already 'cancelled' for its record; cut again, cancelled."""
        work = asyncio.ensure_future(addon.finish(self.experiment))
        try:
            await asyncio.shield(work)
            return
        except asyncio.CancelledError:
            self.cancelled()
        if not addon.closes_files:
            work.cancel()
            addon.stop()
        try:
            await asyncio.wait({work})
        except asyncio.CancelledError:
            work.cancel()
            return
        if not work.cancelled() and work.exception() is not None:
            raise work.exception()  # type: ignore[misc]

    async def record(self, name: str, error: BaseException | None) -> None:
        """Progress ended, dropped and lost frames said, the walker's finish record written."""
        experiment, failures = self.experiment, self.failures
        experiment.progress.end(asyncio.CancelledError() if experiment.state == "cancelled"
                                else error or (failures[0][1] if failures else None))
        for acquisition_name, stats in experiment.frame_stats.items():
            stats.fps_asked = experiment.asked_rate(acquisition_name)
        report = drop_report(experiment)
        if report is not None:
            LOG.warning("%s", report)
            warnings.warn(report, DroppedFramesWarning, stacklevel=4)  # run()'s
        lost = frames_lost(experiment.addons)
        storing = {type(addon).__name__ for addon in experiment.addons if addon.closes_files}
        for stored, what in ((True, "not stored"), (False, "not processed")):  # a reconstruction stopped by
            part = {addon: n for addon, n in lost.items() if (addon in storing) == stored}  # Ctrl-C is no data
            if part:  # lost: "not stored ... DemoReconstruction 1" read as if the raw file lacked a frame
                LOG.warning("%s: frames acquired but %s (the run stopped): %s", name, what,
                            ", ".join(f"{addon} {n}" for addon, n in part.items()))
        if experiment.walker is None:
            return
        states: dict[str, Any] = {}
        try:
            states = await experiment.device_states()
        except asyncio.CancelledError:  # the record is written without the devices' states
            self.cancelled()
        experiment.walker.log({**states, **outcome(experiment), "experiment_state": experiment.state,
                               "addon_errors": {type(a).__name__: a.errors for a in experiment.addons if a.errors},
                               "frames_dropped": experiment.frames_dropped, "suspensions": experiment.suspensions,
                               "frames": {k: v.as_dict() for k, v in experiment.frame_stats.items()}}, "finish")


async def wind_up(experiment: Experiment, name: str, queues: list[asyncio.Queue[Any]],
                  consumers: list[asyncio.Future[None]], failures: list[tuple[Addon, BaseException]],
                  error: BaseException | None) -> bool:
    """The addons drained and finished, the run recorded; True when a cancellation came meanwhile
    (the run's state then says 'cancelled' unless it had stopped otherwise)."""
    end = WindUp(experiment, failures)
    experiment.progress.stage("finishing")
    await end.drain(queues, consumers)
    await end.finish_addons()
    await end.record(name, error)
    return end.cut
