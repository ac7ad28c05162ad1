"""The streaming reconstructor: slices built while projections arrive ("burst" back-projection).

Each frame is handed over with its metadata (image_key 2 dark, 1 flat, 0 projection; the angle
in radians); only the rows to reconstruct are kept. Darks and flats are reduced when the first
projection after them is processed (again only when new ones came); projections are gathered
into batches, flat-corrected, filtered and back-projected into slices that stay on the device
(GPU when present, else CPU), complete one batch after the last frame. The steps are
ufo.tomo.steps (CPU) and ufo.tomo.steps_cuda (CUDA), the kernels `ufo reco` runs. A caller
that lends frames (`add(..., release=...)`) calls `idle()` before it waits for more.

Weights (ufo.tomo.stream_geometry.StreamWeights): each projection's rows times the interval it
covers (as `angle_weights`; 200 or 270-degree scans are warned of), once the next angle came.

Memory: with a given axis and references first, the slices, one batch, the references and two
bands (the first projection, the latest until the next angle); row bands are kept only while
work cannot start (`pending_bytes`):
- `axis='auto'`: until the first half turn is complete (or the end), then Vo's method on its
  middle row. Bound: rows x width x projections in 180 degrees x bytes.
- `half_acquisition=True`: each corrected band of the first half turn until its pair past
  theta + pi arrived, then stitched (`halftomo.stitch_stack`) into a double-width band
  back-projected over 180 degrees. Bound: rows x width x projections in 180 degrees x 4 bytes.
- no flats yet (flats only at the end of the scan): until the first flats arrive.
- `interpolate_flats=True`: the whole scan (flats interpolated between those before and after
  each projection, as `ufo reco --flats2`; flats in runs during the scan between the runs around
  it, by place, as `ufo reco` of the file). Other late darks or flats are recorded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.errors import Cancelled
from .backends import backend, staging
from .flat_runs import StreamPlaces
from .grid import slice_grid
from .halftomo import slice_centre
from .stream_geometry import HalfTurnPairs, StreamWeights, auto_axis
from .stream_input import (FrameCheck, StreamStats, check_axis, check_memory, check_options, frame_angle, nothing,
                           rows_index)
from .stream_output import StreamOutput

__all__ = ["StreamStats", "StreamingReconstructor"]


class StreamingReconstructor(StreamOutput):
    """Online FBP of a stream of frames; see the module docstring for what is kept and when.

    axis: detector column of the rotation axis (px), None for width / 2, or 'auto'.
    rows: detector rows to reconstruct (slice, range or list; all by default).
    roi: (x, y, width, height) of the slice grid, as `ufo reco --roi`.
    angle_span: the scan's total angle (radians) when known; else taken from the angles.
    angle_step: angle of projection i is i x step when frames carry no 'angle'.
    device: 'auto' (GPU when CuPy sees one), 'gpu' or 'cpu'. precision: 'fp16' stores the
    projections read by the GPU kernel in half precision (sums stay fp32).
    half_acquisition: a 360-degree scan with the axis near one detector edge (needs the axis or
    'auto'); slices are as wide as the stitched sinogram (`ufo reco --half-acquisition`).
    axis_pairs: with 'auto' and half acquisition, the pairs (theta, theta + pi) to wait for
    before the axis is searched. axis_device: where Vo's metric runs ('cpu' or 'gpu').
    """

    def __init__(self, axis: float | str | None = None, rows: Any = None, filter: str = "ramp",
                 filter_cutoff: float = 1.0, angle_span: float | None = None, angle_step: float | None = None,
                 roi: tuple[int, int, int | None, int | None] | None = None, device: str = "auto",
                 batch: int | None = None, precision: str = "fp32", interpolate_flats: bool = False,
                 threads: int | None = None, half_acquisition: bool = False, axis_pairs: int = 8,
                 axis_device: str = "cpu"):
        check_options(axis, precision, half_acquisition, interpolate_flats)
        if device == "auto":
            from ..core.resources import available

            device = "gpu" if available() else "cpu"
        self.device = device
        self.steps = backend(device)
        self.axis, self.rows, self.roi = axis, rows, roi or (0, 0, None, None)
        self.filter_name, self.filter_cutoff = filter, filter_cutoff
        self.steps[1](filter, filter_cutoff)  # a bad filter fails here, not at the first projection
        self.angle_span, self.angle_step = angle_span, angle_step
        self.batch = batch or (32 if device == "gpu" else 16)
        self.precision, self.interpolate_flats, self.threads = precision, interpolate_flats, threads
        self.half_acquisition = half_acquisition
        self.axis_pairs, self.axis_device = max(1, int(axis_pairs)), axis_device
        self.reset()

    # -- state ----------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything: ready for a new scan."""
        self._shape: tuple[int, ...] | None = None
        self._frames = FrameCheck()  # one shape and one type a scan
        self._index: np.ndarray | None = None
        self._darks, self._flats, self._flats_after = [], [], []  # type: list[np.ndarray], list[np.ndarray], list[np.ndarray]
        self._flats_at_first_projection = 0
        self._late_flat_runs: set[int] = set()  # projections seen when each late flat came
        self._places = StreamPlaces()  # of the flats and projections: flats in runs are interpolated by them
        self._refs_changed = True
        self._pending: list[tuple[int, float, np.ndarray]] = []
        self._slice_bytes = 0
        self._angles, self._indices = [], []  # type: list[float], list[int]  # of the projections in the current batch
        self._weights_batch: list[float] = []  # their weights relative to StreamWeights.reference
        self._weights = StreamWeights()
        self._pairs: HalfTurnPairs | None = None
        self._first_angle = self._last_angle = None  # type: float | None
        self._used_axis: float | None = None if self.axis == "auto" else self.axis  # type: ignore[assignment]
        self._flatfield = self._filter = self._bp = self._staging = None  # type: Any
        self.found_axis: float | None = None
        self.stats, self.done, self._result = StreamStats(), False, None  # type: StreamStats, bool, np.ndarray | None
        self._stop = threading.Event()

    def stop(self) -> None:
        """From another thread (a cancelled experiment's): the work under way ends within a band of
        a batch (about a second of a core), then add() and finish() raise Cancelled. Before, Ctrl-C
        on `ufo demo` at 512^2 waited 21 s for the back-projection of the kept projections."""
        self._stop.set()

    @property
    def projections(self) -> int:
        return self.stats.projections

    @property
    def pending_bytes(self) -> int:
        """Bytes of row bands kept while work cannot start, or half-acquisition bands awaiting their pair."""
        pairs = self._pairs.nbytes if self._pairs is not None else 0
        return sum(band.nbytes for _, _, band in self._pending) + pairs

    # -- input ----------------------------------------------------------------------------
    def add(self, frame: Any, meta: dict[str, Any] | None = None, release: Callable[[], None] | None = None,
            pinned: bool = False) -> None:
        """One frame with its metadata (image_key: 2 dark, 1 flat, 0 projection; angle in radians).

        `release`: the frame is lent until the engine calls `release()` (once it took what it keeps),
        not copied: that copy took 0.21 of the 0.6 ms per 2 MiB frame on the H200 host. `pinned`:
        a lent frame in page-locked memory, uploaded from there (no copy into the engine's pinned
        chunks) and released once its upload is done (ufo.tomo.steps_cuda.StagingCuda)."""
        done = release or nothing
        if self._stop.is_set():
            raise Cancelled("the reconstruction was stopped")
        if self.done:
            raise RuntimeError("this scan's slices are complete; call reset() before streaming another scan")
        meta = meta or {}
        frame = np.asarray(frame)
        now = time.monotonic()
        number = (self.stats.darks + self.stats.flats + self.stats.late_references + self.stats.projections
                  + self.stats.alignment)
        self._check_shape(frame, number)
        self.stats.first_frame = self.stats.first_frame or now
        self.stats.last_frame = now
        key = int(meta.get("image_key", 0))
        band = frame[self._index]
        self._frames.values(band, number, self._warn_once)
        if key in (1, 2):
            self._reference(key, band, number)
            done()
            return
        if key == -1:  # an alignment projection (NXtomo image_key_control -1): not part of the scan
            self.stats.alignment += 1
            done()
            return
        if key != 0:
            raise ValueError(f"frame {number} has image_key {key}; 0 (projection), 1 (flat) and 2 (dark) are known")
        angle = frame_angle(meta, number, self.stats.projections, self.angle_step)
        index = self.stats.projections
        self._places.projections.append(number)
        if index == 0:
            self._flats_at_first_projection = len(self._flats)
        self.stats.projections += 1
        self._first_angle = angle if self._first_angle is None else self._first_angle
        self._last_angle = angle
        if self._must_wait():
            later = self._slice_bytes if self._bp is None and self.device == "cpu" else 0  # the slices, yet to come
            check_memory(f"projection {index} kept until the work can start (with the slices to come and 1 GB to "
                         "spare)", band.nbytes + later + (1 << 30),
                         "give the axis, record flats first, or reconstruct fewer rows (rows=)", 1.0)
            self._pending.append((index, angle, np.array(band)))  # a copy: the caller's buffer may be reused
            done()
            self._progress()
            return
        if self._pending:  # kept until flats came mid-scan: back-projected now, before this one (they waited for
            self._progress()  # finish: slices without the scan's first part, angles taken as out of order)
        self._stage(index, angle, band, release, pinned)

    def idle(self) -> None:
        """The caller is about to wait for frames: every lent frame uploaded is handed back first."""
        getattr(self._staging, "release_lent", nothing)()

    def _progress(self) -> None:
        """Start the kept work as soon as it can start: flats are there and the axis is known."""
        if not self._pending or not self._flats or self.interpolate_flats:
            return
        if self.axis == "auto" and self._used_axis is None and not self._locate(final=False):
            return
        self._drain()

    def _check_shape(self, frame: np.ndarray, number: int) -> None:
        if self._frames.first(frame, number):
            try:
                self._first_frame(frame)
            except Exception:  # the next frame is checked as a first again, not taken unchecked (keep_up
                self._frames = FrameCheck()  # goes on after a failed frame)
                raise

    def _first_frame(self, frame: np.ndarray) -> None:  # the axis within it, the rows, the slices' memory
        check_axis(self.axis, frame.shape[1], self.half_acquisition)
        self._shape = frame.shape
        self._index = rows_index(self.rows, frame.shape[0])
        count = len(self._index)
        if np.all(np.diff(self._index) == 1):
            self._index = slice(int(self._index[0]), int(self._index[-1]) + 1)  # a view, not a gather
        _, _, cols, rows = slice_grid(frame.shape[1] * (2 if self.half_acquisition else 1), self.roi)
        self._slice_bytes = count * cols * rows * 4
        if self.device == "cpu":
            check_memory(f"{count} slices of {cols} x {rows} float32", self._slice_bytes,
                         "reconstruct fewer rows (rows=) or a region (roi=)")

    def _reference(self, key: int, band: np.ndarray, number: int) -> None:
        late = self.stats.backprojected > 0 or self._angles
        name = "darks" if key == 2 else "flats"
        if key == 1 and self.stats.projections and self._flats_at_first_projection:
            self._flats_after.append(band.astype(np.float32))
            self._places.after.append(number)
            self.stats.late_references += 1
            self._late_flat_runs.add(self.stats.projections)  # flats during the scan and after it: 2 runs or more
            if not self.interpolate_flats:
                self._warn_once("flats after the projections were recorded, not used (interpolate_flats=True uses them)")
            return
        if late:
            self.stats.late_references += 1
            self._warn_once(f"{name} arrived after projections were back-projected; those keep the earlier {name}")
        target = self._darks if key == 2 else self._flats
        target.append(band.astype(np.float32))
        if key == 1:
            self._places.flats.append(number)
        setattr(self.stats, name, getattr(self.stats, name) + 1)
        self._refs_changed = True  # kept work starts at the next projection or at finish: the set may go on

    def _warn_once(self, text: str) -> None:
        if text not in self.stats.warnings:
            self.stats.warnings.append(text)

    # -- planning -------------------------------------------------------------------------
    def _must_wait(self) -> bool:
        return (not self._flats) or self.interpolate_flats or (self.axis == "auto" and self._used_axis is None)

    def _locate(self, final: bool) -> bool:
        """Find the axis from the kept bands once enough arrived (ufo.tomo.stream_geometry.auto_axis)."""
        full_turn = None if self.angle_span is None else abs(self.angle_span) > 1.9 * np.pi
        found = auto_axis(self._pending, self._darks, self._flats, half_acquisition=self.half_acquisition,
                          full_turn=full_turn, pairs=self.axis_pairs, final=final,
                            device=self.axis_device)
        if found is None:
            return False
        self._used_axis = self.found_axis = found
        return True

    def weight(self) -> float:
        """The FBP weight of relative weight 1 (StreamWeights.scale; rows were scaled by their interval)."""
        return self._weights.scale(None if self.half_acquisition else self.angle_span)

    # -- work -----------------------------------------------------------------------------
    def _setup(self, width: int, dtype: Any) -> None:
        flatfield, row_filter, backprojector = self.steps
        assert self._shape is not None
        count = len(np.arange(self._shape[0])[self._index])
        self._flatfield = flatfield()
        self._filter = row_filter(self.filter_name, self.filter_cutoff, threads=self.threads)
        centre = slice_centre(self._pairs.stitched_axis) if self._pairs is not None else None  # stitched bands
        self._bp = backprojector(width, count, self.roi, threads=self.threads, precision=self.precision, centre=centre)
        self._bp.stop = self._stop
        self._count = count
        self._staging = staging(self.device)(self.batch, (count, width), dtype)

    def _stage(self, index: int, angle: float, band: np.ndarray, release: Callable[[], None] | None = None,
               pinned: bool = False) -> None:
        """A projection whose references and axis are known, weighted (half acquisition: paired) into a batch."""
        if not self.half_acquisition:
            self._weigh(index, angle, band, release, pinned)
            return
        if self._pairs is None:
            self._pairs = HalfTurnPairs(band.shape[1], self._axis_px())
        corrected = self._pairs.corrected(band, self._darks, self._flats)
        (release or nothing)()  # what is kept from here on is the corrected copy
        for pair_angle, wide in self._pairs.add(angle, corrected):
            self._weigh(index, pair_angle, wide)

    def _weigh(self, index: int, angle: float, band: np.ndarray, release: Callable[[], None] | None = None,
               pinned: bool = False) -> None:
        """Into the weights' hold: a lent band itself (not the first: kept to the end), else a copy."""
        held = band if self.half_acquisition or (release is not None and index > 0) else np.array(band)
        if held is not band and release is not None:
            release()
            release, pinned = None, False
        for a, (i, b, r, p), relative in self._weights.push(angle, (index, held, release, pinned)):
            self._put(i, a, b, relative, r, p)

    def _put(self, index: int, angle: float, band: np.ndarray, relative: float,
             release: Callable[[], None] | None = None, pinned: bool = False) -> None:
        """Into the batch; a lent band is released once the staging copied it (or, pinned, uploaded it)."""
        if self._bp is None:
            self._setup(band.shape[1], band.dtype)
        self._angles.append(angle)
        self._indices.append(index)
        self._weights_batch.append(relative)
        full = self._staging.put(band, release if pinned else None)
        if release is not None and not pinned:
            release()  # copied into the batch (CPU) or a pinned chunk (CUDA): the caller may reuse it
        if full:
            self._flush()

    def _flush(self) -> None:
        if self._stop.is_set():
            raise Cancelled("the reconstruction was stopped")
        if not self._angles:
            return
        t0 = time.monotonic()
        angles = np.asarray(self._angles, np.float64)
        relative = np.asarray(self._weights_batch, np.float32)
        weights = None
        runs = self.interpolate_flats and len(self._late_flat_runs) > 1  # during the scan: by place
        if runs:
            weights = np.asarray([self._places.projections[i] for i in self._indices], np.float64)
        elif self.interpolate_flats and self._flats_after:
            weights = np.asarray(self._indices, np.float64) / max(self.stats.projections - 1, 1)
        axis = self._axis_px()
        xp = self._bp.xp

        def work(frames: Any) -> None:
            if self.half_acquisition:  # stitched bands were corrected on the host
                corrected = xp.asarray(frames, dtype=xp.float32)
            else:
                if self._refs_changed and runs:
                    self._flatfield.reduce_runs(self._darks, self._places.flats + self._places.after,
                                                self._flats + self._flats_after)
                elif self._refs_changed:
                    self._flatfield.reduce(self._darks, self._flats,
                                           self._flats_after if self.interpolate_flats else None)
                self._refs_changed = False
                corrected = self._flatfield.correct(frames, weights)
            filtered = self._filter.apply(corrected)
            if not np.all(relative == 1):  # irregular angles: each row times its interval (both backends)
                filtered = filtered * xp.asarray(relative)[:, None, None]
            self._bp.add(filtered, angles, axis)

        self._staging.run(work)
        self.stats.backprojected += len(angles)
        self._angles, self._indices, self._weights_batch = [], [], []
        self.stats.busy_seconds += time.monotonic() - t0

    def _axis_px(self) -> float:
        assert self._shape is not None
        if self._pairs is not None:
            return self._pairs.stitched_axis
        return self._shape[1] / 2 if self._used_axis is None else float(self._used_axis)

    def _drain(self) -> None:
        """Process the kept bands now that work can start."""
        pending, self._pending = self._pending, []
        for index, angle, band in pending:
            self._stage(index, angle, band)

    def finish(self, copy: bool = True) -> np.ndarray | None:
        """Complete the slices (find the axis first where it is still unknown); returns them on the host
        (`copy=False`: leave them on the device; read them with `slice(i)` or `slices`)."""
        if self.done:
            return self._result if copy else None
        if self.stats.projections:
            if not self._flats:
                raise ValueError(f"{self.stats.projections} projection(s) but no flats (image_key 1) arrived: "
                                 "flat-field correction is not possible; record flats before or after the scan")
            if self.axis == "auto" and self._used_axis is None:
                self._locate(final=True)
            self._drain()
            if (problem := self._weights.order_problem()) is not None:
                self._warn_once(f"{problem}; `ufo reco` of the file weighs each projection by the interval it covers")
            if not self.half_acquisition and (problem := self._weights.coverage_problem()) is not None:
                self._warn_once(f"{problem} in these slices (the weights are given as projections arrive); "
                                "`ufo reco` of the file weighs each projection by the interval it covers")
            corrections = 0  # the first projection's weight corrected, back-projected before: not counted twice
            first = self._weights.first[1] if self._weights.first is not None and self._weights.gaps else None
            for a, payload, relative in self._weights.finish():
                self._put(payload[0], a, payload[1], relative, payload[2], payload[3])
                corrections += payload is first  # (601 of 600 back-projected)
            if self._pairs is not None and self._pairs.waiting:
                self._warn_once(f"half acquisition: {len(self._pairs.waiting)} projection(s) of the first half turn "
                                "had no projection 180 degrees later and were left out")
            if self._bp is None:
                raise ValueError("half acquisition needs a 360-degree scan: no projection had a pair 180 degrees later")
            self._flush()
            self.stats.backprojected -= corrections
            self._staging.synchronize()
            self._bp.synchronize()
            self.stats.device_seconds = self._staging.busy_seconds()
            self._bp.close()
        self.stats.finished = time.monotonic()
        self.done = True
        if copy and self._bp is not None:
            self._result = self._bp.slices(self.weight())
        return self._result if copy else None
