"""The reconstruction steps, one class each, with a CPU backend here and a CUDA subclass in ufo.tomo.steps_cuda.

ufo.tomo.backends chooses between them by device (it sits above both modules).

`FlatField` (reduce darks and flats once, correct batches of frames), `RowFilter` (the FBP
filter along detector rows) and `Backprojector` (add batches of filtered projections into
slices kept in memory) are what the streaming reconstructor (ufo.tomo.streaming) is made
of; the graph tasks (flat-field-correct, filter, backproject) call the same kernels, so a
number computed online and by `ufo reco` comes from the same code. As in nabu, the GPU
class only swaps the array module and the kernels; planning and bookkeeping are shared.

Arrays are batches: (B frames, R rows, W columns). The CPU backends run on `threads`
threads (numba kernels release the GIL); the GPU backends on CuPy's current device.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..core.errors import Cancelled
from ..core.resources import available_cores
from .grid import slice_grid


def reduce_frames(frames: list[Any] | Any, how: str, xp: Any = np) -> Any:
    """Mean (float64 sums) or median of a set of darks or flats, as float32."""
    stack = xp.stack([xp.asarray(f, dtype=xp.float32) for f in frames]) if isinstance(frames, list) else frames
    if how == "median":
        return xp.median(stack, axis=0).astype(xp.float32)
    if how == "mean":
        return stack.mean(axis=0, dtype=xp.float64).astype(xp.float32)
    raise ValueError(f"darks and flats are reduced by 'mean' or 'median', not '{how}'")


#: the share of pixels whose flat is not above its dark (or not finite) from which the references
#: are refused (every slice would be made of zeros and noise), and from which a warning is due
BAD_REFERENCES_REFUSED = 0.5
BAD_REFERENCES_WARNED = 0.01


def check_references(dark: Any, flat: Any, xp: Any = np) -> str | None:
    """InputError when the reduced flat is not above the dark (or either is NaN/inf) at half the
    pixels or more: a flat of zeros, a dark and flat swapped or a closed shutter during the flats
    made every corrected value NaN, which the fix turned into slices of zeros without a word.
    Returns a warning where more than 1 % of the pixels are so (dead pixels, detector gaps), else None."""
    from ..core.errors import InputError

    span = xp.asarray(flat, dtype=xp.float32) - xp.asarray(dark, dtype=xp.float32)
    bad = int((~(span > 0)).sum())  # NaN compares false: counted
    share = bad / max(1, span.size)
    if share >= BAD_REFERENCES_REFUSED:
        nonfinite = int((~xp.isfinite(span)).sum())
        what = f"{nonfinite} of them NaN or infinite" if nonfinite else "darks and flats swapped, or no beam?"
        raise InputError(f"the flats are not brighter than the darks at {bad} of {span.size} pixels ({what}); "
                         "flat-field correction would give zeros: check the --flats and --darks files")
    if share > BAD_REFERENCES_WARNED:
        return (f"the flats are not brighter than the darks at {bad} of {span.size} pixels ({100 * share:.1f} %); "
                "those pixels are filled from the good pixels beside them in their rows")
    return None


class FlatField:
    """(frame - dark) / (flat - dark), -log of it with `absorption`; darks and flats reduced once per set.
    Pixels without counts as flat-field-correct's `starved` says (ufo.kernels.flat: 'floor' or 'ufo')."""

    xp: Any = np

    def __init__(self, dark_reduction: str = "mean", flat_reduction: str = "median", absorption: bool = True,
                 fix_nan_and_inf: bool = True, starved: str = "floor"):
        if starved not in ("floor", "ufo"):
            raise ValueError(f"starved is 'floor' or 'ufo', not {starved!r}")
        self.dark_reduction = dark_reduction
        self.flat_reduction = flat_reduction
        self.absorption = absorption
        self.fix = fix_nan_and_inf
        self.floor = starved == "floor"
        self.dark: Any = None
        self.flat: Any = None
        self.dead: Any = None  # ufo.tomo.dead_pixels.DeadFill of the references, once reduced
        self.runs: Any = None  # ufo.tomo.flat_runs.FlatRuns where flats came in runs (`reduce_runs`)

    def reduce(self, darks: list[Any], flats: list[Any], flats_after: list[Any] | None = None) -> None:
        """Reduce the references; no darks means a dark of 0. Called again only when new ones arrive."""
        xp = self.xp
        if not flats:
            raise ValueError("flat-field correction needs flats (image_key 1)")
        self.flat = reduce_frames(flats, self.flat_reduction, xp)
        self.dark = self._dark(darks)
        self.flat_after = reduce_frames(flats_after, self.flat_reduction, xp) if flats_after else None
        self.runs = None
        self._checked([self.flat, self.flat_after])

    def reduce_runs(self, darks: list[Any], places: list[int], flats: list[Any]) -> None:
        """`reduce` for flats taken in runs (`places`: each flat's position in the acquisition):
        each frame's flat is interpolated between the runs around it (ufo.tomo.flat_runs, as `ufo
        reco` of the file), and `correct`'s weights are the frames' positions in the acquisition."""
        from .flat_runs import FlatRuns, split_runs

        if not flats:
            raise ValueError("flat-field correction needs flats (image_key 1)")
        runs = split_runs(places)
        reduced = [reduce_frames([flats[i] for i in run], self.flat_reduction, self.xp) for run in runs]
        self.runs = FlatRuns([float(np.mean([places[i] for i in run])) for run in runs], reduced)
        self.flat, self.flat_after = self.runs.flats[0], None
        self.dark = self._dark(darks)
        self._checked(self.runs.flats)

    def _dark(self, darks: list[Any]) -> Any:
        """The darks reduced; none: a dark of 0 (after the flat, whose shape it takes)."""
        return reduce_frames(darks, self.dark_reduction, self.xp) if darks else self.xp.zeros_like(self.flat)

    def _checked(self, flats: list[Any]) -> None:
        """Each flat against the darks (a warning where many pixels have no counts); the dead
        pixels' fill made of them all."""
        for flat in flats:
            if flat is not None and (warning := check_references(self.dark, flat, self.xp)) is not None:
                import warnings

                warnings.warn(warning, RuntimeWarning, stacklevel=3)
        self.dead = None
        if self.fix and self.floor:
            from .dead_pixels import DeadFill

            self.dead = DeadFill.of(self.dark, flats, self.xp)

    def flat_for(self, weight: float) -> Any:
        """The flat at `weight` between the flats before (0) and after (1) the scan; with runs, the
        flat at position `weight` of the acquisition."""
        if self.runs is not None:
            return self.runs.at(weight)
        if self.flat_after is None or weight <= 0:
            return self.flat
        w = np.float32(min(weight, 1.0))
        return (1 - w) * self.flat + w * self.flat_after

    def correct(self, frames: Any, weights: Any = None) -> Any:
        """A batch (B, R, W) of raw frames -> float32; `weights` interpolate flats per frame. Dead
        pixels (flat <= dark) are filled from their rows' good pixels (ufo.tomo.dead_pixels)."""
        out = self._corrected(frames, weights)
        return out if self.dead is None else self.dead.apply(out)

    def _corrected(self, frames: Any, weights: Any) -> Any:
        from ..kernels.flat import flat_correct  # numba: imported where the CPU works, not by the GPU path

        out = np.empty(frames.shape, np.float32)
        for b in range(frames.shape[0]):
            flat = self.flat if weights is None else self.flat_for(float(weights[b]))
            flat_correct(frames[b], self.dark, flat, self.absorption, self.fix, out[b], self.floor)
        return out


class RowFilter:
    """The FBP filter along the last axis (ramp with a window, zero-padded to a power of two)."""

    xp: Any = np

    def __init__(self, name: str = "ramp", cutoff: float = 1.0, order: int = 4, padding: str = "zero",
                 threads: int | None = None):
        from .filters import fbp_filter

        fbp_filter(64, name, cutoff, order)  # checks the name and cutoff now, not at the first frame
        self.name, self.cutoff, self.order, self.padding = name, cutoff, order, padding
        self.threads = threads or available_cores()

    def apply(self, data: Any) -> Any:
        if self.name == "none":
            return data
        from .fbp import filter_rows  # SciPy's FFT: see FlatField.correct

        return filter_rows(data, self.name, self.cutoff, self.order, self.padding, workers=self.threads)


def _lower_priority() -> None:
    """Back-projection threads yield the cores to the threads that move frames (camera, writer).

    Those hold Python's GIL for short moments; when a back-projection thread preempts the
    GIL's holder, every other Python thread waits, and a camera at full rate drops frames.
    At a lower priority the kernels use what the frame movers leave (Linux; elsewhere a no-op).
    """
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass


class Backprojector:
    """Slices kept in memory that batches of filtered projections are added into, as they come.

    The slices are stored in groups of `group` (the kernel's K: one detector position and
    weight per pixel and angle serve K slices), as (groups, rows, cols, K). Sums are kept
    unscaled; `slices(weight)` applies the FBP weight, which depends on the whole scan.
    """

    xp: Any = np
    group = 32
    stop: threading.Event | None = None  # set: add() ends within a group's band and raises Cancelled

    def __init__(self, width: int, count: int, roi: tuple[int, int, int | None, int | None] = (0, 0, None, None),
                 threads: int | None = None, precision: str = "fp32", centre: float | None = None):
        self.width, self.count = width, count
        self.precision = precision
        self.group = self.group_size(count)  # fewer slices than a full group: no zero-padded sums
        self.x0, self.y0, self.cols, self.rows = slice_grid(width, roi, centre)
        self.groups = -(-count // self.group)
        self.threads = threads or available_cores()
        self.sums = self.xp.zeros((self.groups, self.rows, self.cols, self.group), self.xp.float32)
        self.angles_added = 0
        self._pool: ThreadPoolExecutor | None = None

    def group_size(self, count: int) -> int:
        """Slices per group (the kernel's K) for `count` slices."""
        return max(1, min(type(self).group, count))

    def close(self) -> None:
        """Stop the worker threads (the sums stay readable)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    @property
    def nbytes(self) -> int:
        return int(self.sums.nbytes)

    def interleave(self, filtered: Any) -> Any:
        """(B, R, W) -> (groups, B, W, K), the slices of a group next to each other."""
        xp = self.xp
        b, r, w = filtered.shape
        padded = filtered
        if r < self.groups * self.group:
            padded = xp.zeros((b, self.groups * self.group, w), xp.float32)
            padded[:, :r] = filtered
        return xp.ascontiguousarray(padded.reshape(b, self.groups, self.group, w).transpose(1, 0, 3, 2))

    def add(self, filtered: Any, angles: np.ndarray, axis: float) -> None:
        """Add a batch of filtered rows (B, R, W) seen at `angles` (radians) with the axis at `axis` px."""
        from ..kernels.backproject import backproject_stack_add  # numba: see FlatField.correct

        sino = self.interleave(filtered)
        cos_ = np.cos(angles).astype(np.float32)
        sin_ = np.sin(angles).astype(np.float32)
        bands = max(1, min(self.rows, 4 * self.threads // self.groups + 1))
        edges = np.linspace(0, self.rows, bands + 1).astype(int)
        jobs = [(g, int(lo), int(hi)) for g in range(self.groups) for lo, hi in zip(edges[:-1], edges[1:]) if hi > lo]

        def one(job: tuple[int, int, int]) -> None:
            if self.stop is not None and self.stop.is_set():
                return
            g, lo, hi = job
            backproject_stack_add(sino[g], cos_, sin_, np.float32(axis), np.float32(self.x0), np.float32(self.y0 + lo),
                                  np.float32(1.0), self.sums[g, lo:hi])

        if self.threads == 1 or len(jobs) == 1:
            for job in jobs:
                one(job)
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="ufo-backproject",
                                                initializer=_lower_priority)
            list(self._pool.map(one, jobs))
        if self.stop is not None and self.stop.is_set():
            raise Cancelled("the back-projection was stopped")
        self.angles_added += len(angles)

    def slice(self, index: int, weight: float) -> np.ndarray:
        """One slice (host, float32), weighted."""
        g, k = divmod(index, self.group)
        return np.asarray(self.sums[g, :, :, k]) * np.float32(weight)

    def group_slices(self, group: int, weight: float, out: Callable[[int], np.ndarray] | None = None,
                     transform: Callable[[Any], Any] | None = None) -> np.ndarray:
        """The slices of one group (host, (K or fewer, rows, cols)), weighted, float32 or what
        `transform` makes of them (integers, say); into `out(K)`'s array if given."""
        n = min(self.group, self.count - group * self.group)
        part = self.sums[group].transpose(2, 0, 1)[:n] * np.float32(weight)
        return self.to_host(transform(part) if transform is not None else part, out)

    def to_host(self, part: Any, out: Callable[[int], np.ndarray] | None) -> np.ndarray:
        """`part` on the host: as it is here, or copied into `out(len(part))`'s array."""
        if out is None:
            return part  # type: ignore[no-any-return]
        target = out(len(part))
        np.copyto(target, part)
        return target

    def slices(self, weight: float) -> np.ndarray:
        """All slices (count, rows, cols) on the host, weighted."""
        data = self.sums.transpose(0, 3, 1, 2).reshape(-1, self.rows, self.cols)[: self.count]
        return np.ascontiguousarray(data) * np.float32(weight)

    def synchronize(self) -> None:
        """Wait for queued work (the GPU backend queues; the CPU one is done on return)."""

    def clear(self) -> None:
        self.sums[...] = 0
        self.angles_added = 0


class Staging:
    """Where raw frame bands wait until a batch is full, then run through the steps.

    The CPU version is one buffer used in place; the CUDA one (ufo.tomo.steps_cuda) uploads each
    band as it arrives, on a stream of its own, into one of two device buffers, so that one
    batch is uploaded while the previous one is processed.
    """

    def __init__(self, batch: int, shape: tuple[int, int], dtype: Any):
        self.batch = batch
        self.buffer = np.empty((batch, *shape), dtype)
        self.count = 0
        self.busy = 0.0

    def put(self, band: np.ndarray, release: Any = None) -> bool:
        """Copy one band in (then `release()`, where given: the band is the caller's again); True
        when the batch is full."""
        self.buffer[self.count] = band
        if release is not None:
            release()
        self.count += 1
        return self.count == self.batch

    def run(self, work: Any) -> None:
        """`work(frames)` on the gathered bands, then start a new batch."""
        if self.count:
            t0 = time.perf_counter()
            work(self.buffer[: self.count])
            self.busy += time.perf_counter() - t0
        self.count = 0

    def synchronize(self) -> None:
        """Wait for queued work (nothing is queued on the CPU)."""

    def busy_seconds(self) -> float:
        """Time the device spent on the batches (call after synchronize())."""
        return self.busy
