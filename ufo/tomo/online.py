"""Reconstruction while frames arrive (the engine of the online-reconstruction addon and server).

Darks and flats (image_key 2 and 1) are kept; each projection is flat-corrected, filtered
and back-projected into the slices at once, so slices are ready during the scan and
complete at its end. With `axis='auto'` the axis is found from the recorded sinogram at the
end and the slices are made again with it. Synchronous and thread-confined: the caller
decides where it runs (a thread of an asyncio addon, a Tango server's worker).
"""

from __future__ import annotations

from typing import Any

import numpy as np


class OnlineReconstructor:
    def __init__(self, axis: float | str | None = None, rows: slice | None = None, filter: str = "ramp",
                 angle_span: float | None = None):
        if isinstance(axis, str) and axis != "auto":
            raise ValueError(f"axis is a position in pixels, None (the detector centre) or 'auto', not '{axis}'")
        self.axis = axis
        self.rows = rows
        self.filter = filter
        self.angle_span = angle_span
        self.reset()

    def reset(self) -> None:
        self._darks: list[np.ndarray] = []
        self._flats: list[np.ndarray] = []
        self._projections: list[tuple[float, np.ndarray]] = []
        self._sum: np.ndarray | None = None
        self.slices: np.ndarray | None = None
        self.found_axis: float | None = None
        self.done = False

    @property
    def projections(self) -> int:
        return len(self._projections)

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

    def _add(self, line_integrals: np.ndarray, angle: float, axis: float) -> None:
        from ..kernels.backproject import backproject_stack
        from .fbp import filter_rows, slice_grid

        rows, width = line_integrals.shape
        filtered = filter_rows(line_integrals, self.filter)  # each row is one slice's detector line
        interleaved = np.ascontiguousarray(filtered.T[None, :, :])  # (1 angle, width, K rows)
        x0, y0, cols, n = slice_grid(width)
        contribution = np.empty((n, cols, rows), np.float32)
        backproject_stack(interleaved, np.array([np.cos(angle)], np.float32), np.array([np.sin(angle)], np.float32),
                          np.float32(axis), np.float32(x0), np.float32(y0), np.float32(1.0), contribution)
        if self._sum is None:
            self._sum = np.zeros((rows, n, cols), np.float32)
        self._sum += contribution.transpose(2, 0, 1)

    def add(self, frame: np.ndarray, meta: dict[str, Any]) -> None:
        """One frame with its metadata (image_key, angle in radians)."""
        key = meta.get("image_key", 0)
        data = np.array(frame, np.float32)
        if key == 2:
            self._darks.append(data)
            return
        if key == 1:
            self._flats.append(data)
            return
        angle = float(meta.get("angle", 0.0))
        if not self._projections:
            self._references_at_first_projection = (len(self._darks), len(self._flats))
        self._projections.append((angle, data))
        if not isinstance(self.axis, str):
            axis = data.shape[1] / 2 if self.axis is None else float(self.axis)
            self._add(self._absorption(data), angle, axis)

    def _span(self) -> float:
        angles = np.array([a for a, _ in self._projections])
        if self.angle_span is not None:
            return self.angle_span
        step = np.ptp(angles) / max(len(angles) - 1, 1)
        return np.pi if np.ptp(angles) + step < 1.5 * np.pi else 2 * np.pi

    def current(self) -> np.ndarray | None:
        """The slices so far (scaled as if the projections so far were all), None before the first."""
        if self.done or self._sum is None:
            return self.slices
        return self._sum * np.float32(0.5 * self._span() / len(self._projections))

    def finish(self) -> np.ndarray | None:
        """Complete the slices (find the axis first with axis='auto'); returns them."""
        if not self._projections:
            self.done = True
            return None
        n = len(self._projections)
        span = self._span()
        axis = self.axis
        if axis == "auto":
            from .axis import axis_from_sinogram, half_turn

            middle = self._absorption(self._projections[0][1]).shape[0] // 2
            sino = np.stack([self._absorption(p)[middle] for _, p in self._projections])
            axis = axis_from_sinogram(half_turn(sino, span))
            self.found_axis = float(axis)
        if self.axis == "auto" or self._sum is None or self._late_references():
            self._sum = None
            for angle, data in self._projections:
                self._add(self._absorption(data), angle, float(axis) if axis is not None else data.shape[1] / 2)
        assert self._sum is not None
        self.slices = self._sum * np.float32(0.5 * span / n)  # the FBP integral: sum x |angle step| / 2
        self.done = True
        return self.slices

    def _late_references(self) -> bool:
        """Darks or flats arrived after projections (flats at the end): the early sums used the wrong ones."""
        return self._references_at_first_projection != (len(self._darks), len(self._flats))
