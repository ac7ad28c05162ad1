"""Finding the rotation axis as tasks: one value from a stream, or a scan of candidate slices."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..core import Kind, Property, Spec, Task
from ..core.errors import GraphError
from ..core.ufocompat import declare, missing, zero_is_default
from ..tomo.axis import axis_by_scan, axis_from_projections, axis_from_sinogram, half_turn, scan


class CenterOfRotation(Task):
    """Find the rotation axis: from the first and last projections (0 and 180 degrees) or from sinograms."""

    name = "center-of-rotation"
    kind = Kind.REDUCE
    method = Property(str, "correlate", choices=("correlate", "sinogram", "scan"),
                      doc="correlate: 0/180 degree projections; sinogram: Vo's metric; scan: reconstruct and score")
    search = Property(float, None, range=(1, None), doc="half-width of the search around the detector centre (pixels)")
    angle_step = Property(float, None, unit="rad", doc="sinogram and scan: angle between projections (default: pi / "
                          "number); a 360-degree sinogram is searched on its first half turn")
    ufo_names = declare({"angle-step": zero_is_default("angle-step"),
                 "center": missing("ufo searches around the detector centre; give search= (half-width)")})

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        if spec.shape is None or len(spec.shape) != 2:
            raise GraphError(f"center-of-rotation takes 2-D frames, got shape {spec.shape}")
        return Spec((1,), np.float64, 1)

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        self._first: np.ndarray | None = None
        self._last: np.ndarray | None = None
        self._axes: list[float] = []
        self.axis: float | None = None

    def consume(self, frame: np.ndarray) -> None:  # type: ignore[override]
        if self.method == "correlate":
            if self._first is None:
                self._first = np.array(frame, np.float32)
            else:
                self._last = np.array(frame, np.float32)
        elif self.method == "sinogram":  # a full turn's sinogram: its first half (it took all: 11 px off)
            step = self.angle_step if self.angle_step is not None else np.pi / len(frame)
            half = half_turn(frame, len(frame) * step)
            self._axes.append(axis_from_sinogram(half, self.search, span=len(half) * step))
        else:
            self._axes.append(axis_by_scan(frame, search=self.search, angle_step=self.angle_step).best)

    def finish(self) -> Iterator[Any]:
        if self.method == "correlate":
            if self._first is None or self._last is None:
                raise GraphError("center-of-rotation method=correlate needs two projections, 0 and 180 degrees apart "
                                 "(the first and the last frame of its input)")
            self.axis = axis_from_projections(self._first, self._last)
        else:
            if not self._axes:
                raise GraphError("center-of-rotation received no sinogram")
            self.axis = float(np.median(self._axes))
        yield np.array([self.axis]), {"axis": self.axis, "method": self.method}


class AxisScan(Task):
    """Reconstruct one sinogram at a range of axis positions and score each slice (the axis view's engine)."""

    name = "axis-scan"
    start = Property(float, doc="first axis position (pixels)")
    stop = Property(float, doc="last axis position (pixels, included)")
    step = Property(float, 1.0, range=(1e-3, None), doc="distance between axis positions")
    filter = Property(str, "hann", choices=("ramp", "shepp-logan", "cosine", "hamming", "hann", "parzen"),
                      doc="reconstruction filter (smooth filters make the scores robust)")
    angle_step = Property(float, None, unit="rad", doc="angle between projections (default: pi / number)")
    uses_meta = True

    def _axes(self) -> np.ndarray:
        if self.stop < self.start:
            raise GraphError(f"axis-scan stop={self.stop} is below start={self.start}")
        return np.arange(self.start, self.stop + self.step / 2, self.step)

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        if spec.shape is None or len(spec.shape) != 2:
            raise GraphError(f"axis-scan takes sinograms (angles x width), got shape {spec.shape}")
        width = spec.shape[1]
        axes = self._axes()
        if axes.min() < 0 or axes.max() > width:
            raise GraphError(f"axis positions {axes.min()} .. {axes.max()} leave the detector (0 .. {width})")
        return spec.with_(shape=(len(axes), width, width), dtype=np.float32)

    def process(self, sino: np.ndarray, out: np.ndarray | None, meta: dict[str, Any]) -> np.ndarray:  # type: ignore[override]
        result = scan(sino, self._axes(), filter=self.filter, angle_step=self.angle_step)
        meta.update(axes=result.axes.tolist(), scores=result.scores.tolist(), axis=result.best)
        np.copyto(out, result.slices)  # type: ignore[arg-type]
        return out  # type: ignore[return-value]


class AutoAxis(Task):
    """Find the rotation axis from the sinograms passing through and tag every one with it.

    Sinograms (or stacks of them) pass unchanged with meta 'axis' set, which `backproject`
    uses when its own axis is not given: `transpose-projections ! auto-axis ! backproject`
    reconstructs a stream whose axis nobody knew. The axis comes from one sinogram (by
    default the middle one, where the sample is); the frames before it wait in memory.
    """

    name = "auto-axis"
    kind = Kind.REDUCE
    uses_meta = True
    keeps_input = True
    method = Property(str, "sinogram", choices=("sinogram", "scan"),
                      doc="sinogram: Vo's Fourier metric; scan: reconstruct at candidate axes and score")
    row = Property(int, None, range=(0, None), doc="index of the sinogram to use (default: the middle of the stream)")
    search = Property(float, None, range=(1, None), doc="half-width of the search around the detector centre (pixels)")
    angle_step = Property(float, None, unit="rad",
                          doc="angle between projections (default pi / number); scans over 360 degrees use the first half")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        if spec.shape is None or len(spec.shape) not in (2, 3):
            raise GraphError(f"auto-axis takes sinograms (angles x width) or stacks of them, got shape {spec.shape}")
        if self.row is not None and spec.count is not None and self.row >= spec.count:
            raise GraphError(f"auto-axis row={self.row} is beyond the {spec.count} sinograms of the stream")
        return spec

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        count = ctx.input_specs[0].count
        self._target = self.row if self.row is not None else (count // 2 if count else 0)
        self._waiting: list[tuple[np.ndarray, dict[str, Any]]] = []
        self.axis: float | None = None

    def _estimate(self, frame: np.ndarray) -> float:
        sino = np.asarray(frame[len(frame) // 2] if frame.ndim == 3 else frame, np.float32)
        step = self.angle_step if self.angle_step is not None else np.pi / len(sino)
        sino = half_turn(sino, len(sino) * step)  # a 360-degree scan: its first half
        if self.method == "scan":
            return axis_by_scan(sino, search=self.search, angle_step=step).best
        return axis_from_sinogram(sino, self.search, span=len(sino) * step)

    def consume(self, frame: np.ndarray, meta: dict[str, Any]) -> Iterator[Any]:  # type: ignore[override]
        if self.axis is None:
            self._waiting.append((frame, meta))
            if len(self._waiting) <= self._target:
                return
            self.axis = self._estimate(frame)
            waiting, self._waiting = self._waiting, []
            for data, data_meta in waiting:
                yield data, {**data_meta, "axis": self.axis}
            return
        yield frame, {**meta, "axis": self.axis}

    def finish(self) -> Iterator[Any]:
        if self._waiting:  # the stream was shorter than expected: use the last sinogram
            self.axis = self._estimate(self._waiting[-1][0])
            for data, meta in self._waiting:
                yield data, {**meta, "axis": self.axis}
            self._waiting = []
