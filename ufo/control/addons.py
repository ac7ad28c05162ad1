"""Addons: writer (never drops), online reconstruction, live view (drops), accumulator, benchmarker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.errors import Cancelled
from ..core.framestats import FrameStats
from .experiment import INVALID, Addon, Experiment
from .runparts import outcome

LOG = logging.getLogger("ufo.control")


class ImageWriter(Addon):
    """Writes every frame through the experiment's walker: one file for all acquisitions
    (`dataset='scan.nx'`, NXtomo with image keys and angles), or one data set per acquisition.

    Frames a suspender spoiled are kept in an NXtomo file with image_key 3 (NXtomo's "invalid"),
    where they are a record and no reader takes them for data; formats without image keys
    (TIFF, plain HDF5, DXchange) never get them (`invalid_skipped` counts them), so the
    retaken frame is the only one at its place."""

    takes_invalid = True
    closes_files = True

    def __init__(self, dataset: str | None = "scan.nx", queue_size: int = 64, metadata: dict[str, Any] | None = None):
        super().__init__(queue_size)
        self.dataset = dataset
        self.metadata = dict(metadata or {})  # stored with the data, over the experiment's scan_metadata()
        self.frames = 0
        self.invalid_skipped = 0
        self._writers: dict[str, Any] = {}

    def _writer(self, experiment: Experiment, acquisition: str) -> Any:
        key = self.dataset or acquisition
        if key not in self._writers:
            assert experiment.walker is not None, "ImageWriter needs an experiment with a walker"
            known = getattr(experiment, "scan_metadata", None)  # pixel size, distance, energy, ... (Tomography)
            metadata = {**(known() if callable(known) else {}), **self.metadata}
            self._writers[key] = experiment.walker.create_writer(key, metadata=metadata)
        return self._writers[key]

    async def start(self, experiment: Experiment) -> None:
        self._experiment = experiment
        self._writers = {}

    async def consume(self, acquisition: str, frame: Any) -> None:
        writer = self._writer(self._experiment, acquisition)
        if getattr(frame, "meta", {}).get("image_key") == INVALID and getattr(writer, "layout", None) != "nxtomo":
            self.invalid_skipped += 1
            return
        await asyncio.to_thread(writer.write, np.asarray(frame), dict(getattr(frame, "meta", {})))
        self.frames += 1

    async def finish(self, experiment: Experiment) -> None:
        """Close the files; an NXtomo file then records how the run ended (see record_outcome)."""
        writers, self._writers = list(self._writers.values()), {}
        for writer in writers:
            await asyncio.to_thread(writer.close)
        record = {**outcome(experiment), "frames_lost": {"ImageWriter": max(self.meant - self.taken, 0)}}  # its own
        for writer in writers:
            if getattr(writer, "layout", None) == "nxtomo":
                await asyncio.to_thread(record_outcome, str(writer.path), record)


def record_outcome(path: str, record: dict[str, Any]) -> None:
    """Attributes on the NXtomo's /entry that a reader sees: `run_state` ('complete' or 'stopped
    (error)', ...), `run_reason`, `<acquisition>_expected` and `frames_lost` (acquired, not
    stored in this file). A stopped scan's file looked complete: 91 of 180 projections reconstructed without
    a word. Written after closing, as the writer records its dropped frames (SWMR files take no
    new attributes while open)."""
    import h5py

    try:
        with h5py.File(path, "a", locking=False) as f:
            if "entry" not in f:
                return
            attrs = f["entry"].attrs
            attrs["run_state"] = record["run_state"]
            attrs["run_reason"] = record["run_reason"]
            for name, count in record["frames_expected"].items():
                attrs[f"{name}_expected"] = int(count)
            attrs["frames_lost"] = int(sum(record["frames_lost"].values()))
    except Exception as exc:  # noqa: BLE001 - the frames are safe; say that the record is missing
        warnings.warn(f"'{path}': could not record the run's state ({record['run_state']}): {exc}",
                      RuntimeWarning, stacklevel=2)


class OnlineReconstruction(Addon):
    """Reconstructs while frames arrive (ufo.tomo.streaming): slices are ready during the scan
    and complete one batch after its last frame; with `axis='auto'` the axis is found once the
    projections cover a half turn (on a full turn: once pairs theta, theta + pi exist). Keyword
    options go to `StreamingReconstructor` (roi, device, batch, precision, interpolate_flats,
    angle_step, threads, half_acquisition: a 360-degree scan with the axis near an edge).
    Frames a suspender spoiled never reach it, so it sees each angle once: the retaken frame.

    keep_up: with a camera at a fixed rate (a continuous scan), a reconstruction slower than the
    camera held the acquisition up until the camera dropped frames of the raw data. With keep_up
    it leaves out the projections it cannot take in time instead (its queue full; never a dark or
    a flat): the slices are coarser (each projection weighted by the interval it covers), said in
    `stats.warnings` and the log; the file keeps every frame."""

    tells = True  # the engine's warnings logged at the run's end (`ufo demo` prints them in its summary)

    def __init__(self, axis: float | str | None = None, rows: Any = None, filter: str = "ramp",
                 angle_span: float | None = None, queue_size: int = 64, keep_up: bool = False, **options: Any):
        super().__init__(queue_size)
        from ..tomo.streaming import StreamingReconstructor

        self.engine = StreamingReconstructor(axis=axis, rows=rows, filter=filter, angle_span=angle_span, **options)
        self.lossy = keep_up  # and its failures then leave the scan going, as a display's do
        self.left_out: list[int] = []  # keep_up: the frames it left out, by place among those meant for it
        # (the file's order, less any frame a suspender spoiled: those never reach it)

    async def start(self, experiment: Experiment) -> None:
        self.engine.reset()
        self.left_out = []

    def leave_out(self, frame: Any) -> bool:
        if int(getattr(frame, "meta", {}).get("image_key", 0)) != 0:
            return False  # the darks and flats are waited for
        self.left_out.append(self.meant - 1)
        return True

    @property
    def slices(self) -> np.ndarray | None:
        return self.engine.current()

    @property
    def found_axis(self) -> float | None:
        return self.engine.found_axis

    @property
    def stats(self) -> Any:
        """Frames received, back-projected, busy time and the lag from the last frame to the slices."""
        return self.engine.stats

    async def consume(self, acquisition: str, frame: Any) -> None:
        await self._in_thread(self.engine.add, np.asarray(frame), dict(getattr(frame, "meta", {})))

    async def finish(self, experiment: Experiment) -> None:
        said: list[str] = []
        if self.dropped:
            said = [f"the online reconstruction kept up with the camera by leaving out {self.dropped} of "
                    f"{self.meant} frame(s): its slices are coarser than a reconstruction of the file"]
            self.engine.stats.warnings.append(said[0])
            LOG.warning("%s: %s", experiment.current, said[0])
        try:
            await self._in_thread(self.engine.finish)
        except Cancelled:  # stopped (Ctrl-C): no slices, nothing else to say
            return
        for note in self.engine.stats.warnings if self.tells else []:  # the engine's own (flats after the scan
            if note not in said:  # not used, darks late) sat in its stats alone: nobody saw them
                LOG.warning("%s: %s", experiment.current, note)

    def stop(self) -> None:
        self.engine.stop()

    async def _in_thread(self, work: Callable[..., Any], *args: Any) -> None:
        """`work` in a thread, stopped when this task is cancelled: a cancelled await leaves its thread
        running, and the program's exit waits for it (Ctrl-C on `ufo demo` at 512^2: 21 s)."""
        try:
            await asyncio.to_thread(work, *args)
        except asyncio.CancelledError:
            self.engine.stop()
            raise


class LiveView(Addon):
    """Hands the latest frame to a callback; frames are dropped when the callback is slow."""

    lossy = True

    def __init__(self, callback: Callable[[Any], Any], queue_size: int = 1):
        super().__init__(queue_size)
        self.callback = callback
        self.shown = 0

    async def consume(self, acquisition: str, frame: Any) -> None:
        result = self.callback(frame)
        if asyncio.iscoroutine(result):
            await result
        self.shown += 1


class Accumulator(Addon):
    """Keeps every frame of each acquisition in memory (for small scans and tests)."""

    def __init__(self, queue_size: int = 64):
        super().__init__(queue_size)
        self.frames: dict[str, list[Any]] = {}

    async def start(self, experiment: Experiment) -> None:
        self.frames = {}

    async def consume(self, acquisition: str, frame: Any) -> None:
        self.frames.setdefault(acquisition, []).append(frame)


class Benchmarker(Addon):
    """Frames received and dropped, frames/s and MB/s of each acquisition, as this addon saw them
    (`stats[acquisition]`: ufo.camera.stats.FrameStats; drops are gaps in the frame numbers)."""

    takes_invalid = True  # every frame the camera delivered counts

    def __init__(self, queue_size: int = 64):
        super().__init__(queue_size)
        self.results: dict[str, dict[str, float]] = {}
        self.stats: dict[str, Any] = {}

    async def start(self, experiment: Experiment) -> None:
        self.results, self.stats = {}, {}

    async def consume(self, acquisition: str, frame: Any) -> None:
        entry = self.results.setdefault(acquisition, {"frames": 0, "bytes": 0, "start": time.perf_counter()})
        entry["frames"] += 1
        entry["bytes"] += getattr(frame, "nbytes", 0)
        entry["end"] = time.perf_counter()
        self.stats.setdefault(acquisition, FrameStats(camera=acquisition)).see(dict(getattr(frame, "meta", {})),
                                                                               getattr(frame, "nbytes", 0))
        entry["dropped"] = self.stats[acquisition].dropped

    def rate(self, acquisition: str) -> float:
        entry = self.results[acquisition]
        return entry["frames"] / max(entry.get("end", entry["start"]) - entry["start"], 1e-9)


class GraphAddon(Addon):
    """Streams acquisitions into a ufo graph that runs beside the experiment.

    Each named acquisition becomes a `Feed` source; `build(feeds, experiment)` connects the
    graph to them (say flat-field-correct(projections, darks, flats) ! ... ! write) and
    returns its output streams. The graph starts at the first frame (whose shape every
    feed takes) and runs in its own threads while frames arrive; `finish` waits for it and
    re-raises its error. An experiment that fails or is cancelled cancels the graph too.
    """

    def __init__(self, build: Callable[[dict[str, Any], Experiment], Any], acquisitions: tuple[str, ...],
                 counts: dict[str, int] | None = None, device: str | None = None, queue_size: int = 64):
        super().__init__(queue_size)
        self.build = build
        self.acquisitions = acquisitions
        self.counts = counts or {}
        self.device = device
        self.handle: Any = None
        self.feeds: dict[str, Any] = {}

    async def start(self, experiment: Experiment) -> None:
        self._experiment = experiment
        self.handle = None
        self.feeds = {}

    def _start_graph(self, frame: np.ndarray) -> None:
        from ..core import Graph
        from ..core.task import Stream  # the base: runnable or not, one stream
        from ..core.memory import Feed

        self.feeds = {name: Feed(shape=frame.shape, dtype=frame.dtype, count=self.counts.get(name),
                                 capacity=self.queue_size) for name in self.acquisitions}
        outputs = self.build({name: feed() for name, feed in self.feeds.items()}, self._experiment)
        graph = outputs if isinstance(outputs, Graph) else Graph([outputs] if isinstance(outputs, Stream) else outputs)
        self.handle = graph.run(device=self.device)

    async def consume(self, acquisition: str, frame: Any) -> None:
        if acquisition not in self.acquisitions:
            return
        data = np.asarray(frame)
        if self.handle is None:
            self._start_graph(data)
        try:
            await asyncio.to_thread(self.feeds[acquisition].put, data, dict(getattr(frame, "meta", {})))
        except Cancelled:
            await asyncio.to_thread(self.handle.wait)  # the graph stopped: raise its own error, not "cancelled"
            raise

    async def acquisition_done(self, acquisition: str) -> None:
        if acquisition in self.feeds:
            self.feeds[acquisition].close()

    async def finish(self, experiment: Experiment) -> None:
        if self.handle is None:
            return
        if experiment.state not in ("running", "standby"):
            self.handle.cancel()
        for feed in self.feeds.values():
            feed.close()  # feeds of acquisitions that never ran end empty
        try:
            await asyncio.to_thread(self.handle.wait)
        except Cancelled:
            if experiment.state in ("running", "standby"):
                raise
        except asyncio.CancelledError:  # the run stopped while its graph finished: the graph stops too,
            stopping = asyncio.ensure_future(asyncio.to_thread(self.handle.stop))  # its sinks closing their
            with contextlib.suppress(asyncio.CancelledError):  # files (it ran on in its threads, writing
                await asyncio.shield(stopping)  # after the run had ended)
            raise
