"""Filtered back-projection of parallel-beam sinograms."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core import Property, Spec, Task
from ..core.errors import GraphError
from ..tomo.fbp import backproject, filter_rows, slice_grid
from .filtering import FilterProperties, _workers


class SliceGeometry:
    """The parallel-beam geometry every slice-reconstructing task shares (backproject, dfi-sinc):
    declared once, so both tasks take the same axis, angles and region and refuse the same input."""

    name: str
    axis = Property(float, None, doc="rotation axis position on the detector in pixels (default: the frame's "
                    "'axis' metadata, set by auto-axis, else width / 2)")
    angle_step = Property(float, None, unit="rad",
                          doc="angle between projections (default: pi / number of projections)")
    angle_offset = Property(float, 0.0, unit="rad", doc="angle of the first projection")
    center = Property(float, None, doc="slice pixel (column and row) the axis passes through (default: width / 2)")
    roi_x = Property(int, 0, range=(0, None), doc="first column of the reconstructed region")
    roi_y = Property(int, 0, range=(0, None), doc="first row of the reconstructed region")
    roi_width = Property(int, None, range=(1, None), doc="columns of the region (default: to the edge)")
    roi_height = Property(int, None, range=(1, None), doc="rows of the region (default: to the edge)")

    def axis_for(self, meta: dict[str, Any]) -> float | None:
        """The axis property wins; else the axis an upstream task found (meta 'axis'); else None (centre)."""
        if self.axis is not None:
            return self.axis
        value = meta.get("axis")
        return float(value) if value is not None else None

    def _roi(self) -> tuple[int, int, int | None, int | None]:
        return (self.roi_x, self.roi_y, self.roi_width, self.roi_height)

    def slice_spec(self, spec: Spec, roi: tuple[int, int, int | None, int | None]) -> Spec:
        """Slices of the region `roi` from sinograms (angles x width) or stacks of them; GraphError
        naming what is wrong (projections instead of sinograms, axis or region off the detector)."""
        if spec.shape is None or len(spec.shape) not in (2, 3):
            raise GraphError(f"task '{self.name}' needs sinograms (angles x width) or stacks of them, "
                             f"got shape {spec.shape}")
        n_angles, width = spec.shape[-2:]
        if n_angles < 2:
            raise GraphError(f"a sinogram needs at least 2 angles, got shape {spec.shape}; were projections passed "
                             "instead of sinograms? (use transpose-projections)")
        if self.axis is not None and not 0 <= self.axis <= width:
            raise GraphError(f"axis={self.axis} lies outside the detector (0 .. {width} pixels)")
        x0, y0, cols, rows = slice_grid(width, roi, self.center)
        if cols < 1 or rows < 1:
            raise GraphError(f"the region x={roi[0]} y={roi[1]} lies outside the {width} x {width} slice")
        return spec.with_(shape=(*spec.shape[:-2], rows, cols), dtype=np.float32)


class Backproject(SliceGeometry, FilterProperties, Task):
    """Reconstruct slices from sinograms (angles x width) by filtered back-projection; stacks of sinograms too."""

    devices = ("cpu", "gpu")
    uses_meta = True  # an upstream auto-axis puts the axis into the metadata

    name = "backproject"
    precision = Property(str, "fp32", choices=("fp32", "fp16"),
                         doc="storage of the filtered sinogram (fp16 halves the bytes the GPU reads; sums stay fp32)")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        return self.slice_spec(spec, self._roi())

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        self._workers = _workers(ctx)

    def process(self, sino: np.ndarray, out: np.ndarray | None, meta: dict[str, Any]) -> np.ndarray:  # type: ignore[override]
        axis = self.axis_for(meta)
        if out is not None and out.shape[:-2] != sino.shape[:-2]:
            out = None  # a smaller last stack: the pooled buffer does not fit
        if self.filter != "none":
            sino = filter_rows(sino, self.filter, self.filter_cutoff, self.filter_order, self.padding, self._workers)
        if self.precision == "fp16":  # the values the GPU would read
            sino = np.asarray(sino, np.float32).astype(np.float16).astype(np.float32)
        return backproject(sino, axis, self.angle_step, self.angle_offset, self._roi(), out=out, centre=self.center)
