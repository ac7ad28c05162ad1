"""Addons: writer (never drops), online reconstruction, live view (drops), accumulator, benchmarker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .experiment import Addon, Experiment


class ImageWriter(Addon):
    """Writes every frame through the experiment's walker: one file for all acquisitions
    (`dataset='scan.nx'`, NXtomo with image keys and angles), or one data set per acquisition."""

    def __init__(self, dataset: str | None = "scan.nx", queue_size: int = 64):
        super().__init__(queue_size)
        self.dataset = dataset
        self.frames = 0
        self._writers: dict[str, Any] = {}

    def _writer(self, experiment: Experiment, acquisition: str) -> Any:
        key = self.dataset or acquisition
        if key not in self._writers:
            assert experiment.walker is not None, "ImageWriter needs an experiment with a walker"
            self._writers[key] = experiment.walker.create_writer(key)
        return self._writers[key]

    async def start(self, experiment: Experiment) -> None:
        self._experiment = experiment
        self._writers = {}

    async def consume(self, acquisition: str, frame: Any) -> None:
        writer = self._writer(self._experiment, acquisition)
        await asyncio.to_thread(writer.write, np.asarray(frame), dict(getattr(frame, "meta", {})))
        self.frames += 1

    async def finish(self, experiment: Experiment) -> None:
        for writer in self._writers.values():
            await asyncio.to_thread(writer.close)
        self._writers = {}


class OnlineReconstruction(Addon):
    """Reconstructs while frames arrive: each projection is flat-corrected, filtered and
    back-projected into the slices at once, so slices are ready during the scan and complete
    at its end. With `axis='auto'` the axis is found from the recorded sinogram at the end
    and the slices are made again with it."""

    def __init__(self, axis: float | str | None = None, rows: slice | None = None, filter: str = "ramp",
                 angle_span: float | None = None, queue_size: int = 64):
        super().__init__(queue_size)
        self.axis = axis
        self.rows = rows
        self.filter = filter
        self.slices: np.ndarray | None = None
        self.found_axis: float | None = None
        self.angle_span = angle_span

    async def start(self, experiment: Experiment) -> None:
        self._darks: list[np.ndarray] = []
        self._flats: list[np.ndarray] = []
        self._projections: list[tuple[float, np.ndarray]] = []
        self.slices = None

    def _reference(self) -> tuple[np.ndarray, np.ndarray]:
        dark = np.mean(self._darks, axis=0) if self._darks else 0.0
        flat = np.median(self._flats, axis=0) if self._flats else 1.0
        return np.asarray(dark, np.float32), np.asarray(flat, np.float32)

    def _absorption(self, frame: np.ndarray) -> np.ndarray:
        dark, flat = self._reference()
        with np.errstate(divide="ignore", invalid="ignore"):
            value = -np.log((frame.astype(np.float32) - dark) / (flat - dark))
        value[~np.isfinite(value)] = 0
        rows = self.rows or slice(None)
        return np.ascontiguousarray(value[rows])

    def _add(self, line_integrals: np.ndarray, angle: float, axis: float, weight: float) -> None:
        from ..kernels.backproject import backproject_stack
        from ..tomo.fbp import filter_rows, slice_grid

        rows, width = line_integrals.shape
        filtered = filter_rows(line_integrals, self.filter)  # each row is one slice's detector line
        interleaved = np.ascontiguousarray(filtered.T[None, :, :])  # (1 angle, width, K rows)
        x0, y0, cols, n = slice_grid(width)
        contribution = np.empty((n, cols, rows), np.float32)
        backproject_stack(interleaved, np.array([np.cos(angle)], np.float32), np.array([np.sin(angle)], np.float32),
                          np.float32(axis), np.float32(x0), np.float32(y0), np.float32(weight), contribution)
        if self.slices is None:
            self.slices = np.zeros((rows, n, cols), np.float32)
        self.slices += contribution.transpose(2, 0, 1)

    async def consume(self, acquisition: str, frame: Any) -> None:
        meta = getattr(frame, "meta", {})
        key = meta.get("image_key", 0)
        data = np.array(frame, np.float32)
        if key == 2:
            self._darks.append(data)
            return
        if key == 1:
            self._flats.append(data)
            return
        angle = float(meta.get("angle", 0.0))
        self._projections.append((angle, data))
        if isinstance(self.axis, (int, float)) or self.axis is None:
            axis = data.shape[1] / 2 if self.axis is None else float(self.axis)
            await asyncio.to_thread(self._add, self._absorption(data), angle, axis, 1.0)

    async def acquisition_done(self, acquisition: str) -> None:
        pass

    async def finish(self, experiment: Experiment) -> None:
        if not self._projections:
            return
        n = len(self._projections)
        angles = np.array([a for a, _ in self._projections])
        span = self.angle_span if self.angle_span is not None else (np.pi if np.ptp(angles) < 1.5 * np.pi else 2 * np.pi)
        axis = self.axis
        if axis == "auto":
            from ..tomo.axis import axis_from_sinogram

            middle = self._absorption(self._projections[0][1]).shape[0] // 2
            sino = np.stack([self._absorption(p)[middle] for _, p in self._projections])
            half = sino[: int(round(n * np.pi / span))] if span > 1.5 * np.pi else sino
            axis = axis_from_sinogram(half)
            self.found_axis = float(axis)
        if axis == "auto" or self.axis == "auto" or self.slices is None:
            self.slices = None
            for angle, data in self._projections:
                await asyncio.to_thread(self._add, self._absorption(data), angle, float(axis), 1.0)  # type: ignore[arg-type]
        assert self.slices is not None
        self.slices *= np.float32(0.5 * span / n)  # the FBP integral: sum x |angle step| / 2


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
    """Frames per second and bytes per second of each acquisition."""

    def __init__(self, queue_size: int = 64):
        super().__init__(queue_size)
        self.results: dict[str, dict[str, float]] = {}

    async def consume(self, acquisition: str, frame: Any) -> None:
        entry = self.results.setdefault(acquisition, {"frames": 0, "bytes": 0, "start": time.perf_counter()})
        entry["frames"] += 1
        entry["bytes"] += getattr(frame, "nbytes", 0)
        entry["end"] = time.perf_counter()

    def rate(self, acquisition: str) -> float:
        entry = self.results[acquisition]
        return entry["frames"] / max(entry.get("end", entry["start"]) - entry["start"], 1e-9)
