"""The parts of an experiment's run besides its loop: acquisitions, addons and the run's record.

Kept apart from experiment.py so the run loop reads as a loop. The record says how a run ended
(`outcome`): its state, why it stopped, how many frames each acquisition expected and received,
and the frames that were acquired but never reached a lossless addon (a writer that failed at
its 127th frame, or the frame in hand when the run stopped): a reader of the finish record or of
the NXtomo file must not take the frames acquired for the frames stored.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from ..core.framestats import describe_runs
from .errors import ControlError, LimitError

if TYPE_CHECKING:
    from .experiment import Experiment

LOG = logging.getLogger("ufo.control")
INVALID = 3  # NXtomo image_key of a frame that is not part of the data (taken while a suspender was tripped)
#: experiment states a run ends in, as the file and the record say them: complete or stopped (and how)
ENDED = {"standby": "complete", "error": "stopped (error)", "cancelled": "stopped (cancelled)",
         "aborted": "stopped (aborted)"}


class AddonFailedWarning(RuntimeWarning):
    """A lossy addon (a live view) failed; the scan went on without it for that frame."""


class Acquisition:
    """A named producer of frames: `producer()` returns an async iterator of frames; `expected`,
    when known, is how many (the target of the experiment's progress)."""

    def __init__(self, name: str, producer: Callable[[], AsyncIterator[Any]], expected: int | None = None):
        self.name = name
        self.producer = producer
        self.expected = expected


class Addon:
    """Consumes an experiment's frames through a bounded queue of its own.

    A lossy addon (`lossy = True`: a display) may lose frames; its failures lose frames too
    rather than the scan (`errors` counts them). A lossless one (a writer) stops the scan when
    it fails: its record would be wrong otherwise."""

    lossy = False
    takes_invalid = False  # whether frames a suspender spoiled (image_key 3) reach this addon (a file's record)
    #: finishes after the others, with the run's state already set by their failures (a record of the run:
    #: the Bluesky stop document said 'success' when a writer failed at its last frame or at close)
    reports = False
    #: its finish closes files and records the run in them: a cancellation that comes meanwhile waits for it
    #: (cut between closing and recording, an NXtomo file of a stopped scan passed for a whole one)
    closes_files = False

    def __init__(self, queue_size: int = 32):
        self.queue_size = queue_size
        self.dropped = 0
        self.errors = 0  # failures of a lossy addon, each a frame it did not take
        self.meant = 0  # frames of the run meant for this addon (the run counts them)
        self.taken = 0  # of those, frames it consumed without failing

    async def start(self, experiment: Experiment) -> None:
        """Called once per run, before the first acquisition."""

    async def consume(self, acquisition: str, frame: Any) -> None:
        raise NotImplementedError

    async def acquisition_done(self, acquisition: str) -> None:
        """After the last frame of one acquisition."""

    async def finish(self, experiment: Experiment) -> None:
        """After the run, also after errors and cancellation."""

    def leave_out(self, frame: Any) -> bool:
        """A lossy addon's queue is full: leave `frame` out for it (True: counted in `dropped`) or wait
        for room (False)."""
        return True

    def stop(self) -> None:
        """The run was cancelled (Ctrl-C, SIGTERM) while this addon works on a frame or finishes, and
        it closes no files: work of its own that would go on in a thread (an online reconstruction's
        back-projection of the kept projections: 21 s at 512^2) ends early. Called in the event loop."""


def frames_lost(addons: list[Addon]) -> dict[str, int]:
    """Frames acquired for each lossless addon that it never took (it failed, or the run stopped
    with the frame in hand): by the addon's class name, only those that lost any."""
    lost: dict[str, int] = {}
    for addon in addons:
        missing = addon.meant - addon.taken - addon.dropped + getattr(addon, "missing", 0)  # a server's stream's too
        if not addon.lossy and missing > 0:
            name = type(addon).__name__
            lost[name] = lost.get(name, 0) + missing
    return lost


def counts(experiment: Experiment) -> str:
    """'darks 5, flats 5, projections 91 of 180': what each acquisition received (of how many)."""
    expected = {a.name: a.expected for a in experiment.acquisitions}
    parts = []
    for name, stats in experiment.frame_stats.items():
        wanted = expected.get(name)
        parts.append(f"{name} {stats.received}" + (f" of {wanted}" if wanted is not None else ""))
    return ", ".join(parts) or "no frames"


def outcome(experiment: Experiment) -> dict[str, Any]:
    """How the run ended, for the finish record and the data file: `run_state` (complete, or
    stopped and how), `run_reason` (the error's message), frames expected and received per
    acquisition, and frames acquired but not stored (`frames_lost`)."""
    reason = experiment.stop_reason or ""
    return {"run_state": ENDED.get(experiment.state, experiment.state), "run_reason": reason,
            "frames_expected": {a.name: a.expected for a in experiment.acquisitions if a.expected is not None},
            "frames_received": {name: stats.received for name, stats in experiment.frame_stats.items()},
            "frames_lost": frames_lost(experiment.addons)}


def stopped_error(experiment: Experiment, name: str, exc: BaseException, place: str | None) -> BaseException:
    """A LimitError (a usage error) after frames were taken is no usage error but a scan that
    stopped: a ControlError (exit 1, not 2) saying after how many frames and where they are. One
    raised before the first frame (nothing taken) stays what it is; so do other usage errors (a
    graph an addon could not build fails as itself)."""
    if not isinstance(exc, LimitError) or not any(s.received for s in experiment.frame_stats.values()):
        return exc
    where = f"; the frames taken are in {place}" if place else ""
    return ControlError(f"{name}: the scan stopped after {counts(experiment)}: {exc}{where}")


def lossy_failed(experiment: Experiment, addon: Addon, exc: BaseException) -> None:
    """A lossy addon failed at a frame: count it, warn at its first failure; the scan goes on."""
    addon.errors += 1
    if addon.errors == 1:
        message = (f"{experiment.current}: {type(addon).__name__} failed ({type(exc).__name__}: {exc}); "
                   "it is lossy, so the scan goes on (the finish record counts its failures: addon_errors)")
        LOG.warning("%s", message)
        warnings.warn(message, AddonFailedWarning, stacklevel=1)


def drop_report(experiment: Experiment) -> str | None:
    """What the camera dropped in this run, by acquisition, or None."""
    parts = [f"{name}: {stats.dropped} (frame numbers {describe_runs(stats.dropped_frames)})"
             for name, stats in experiment.frame_stats.items() if stats.dropped]
    if not parts:
        return None
    return (f"{experiment.current}: the camera dropped {experiment.frames_dropped} frame(s), the consumers did not "
            "keep up or the camera or host stalled - " + "; ".join(parts) + ". Lower the frame rate, give the "
            "camera more buffers (num_buffers) or make the addons faster")
