"""Filtered back-projection of parallel-beam sinograms."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from ..core import Property, Spec, Task
from ..core.errors import GraphError
from ..core.resources import available_cores
from ..core.ufocompat import UfoName, UfoSemantics, declare, only, same, zero_is_default
from ..kernels.backproject import geometry
from ..tomo.fbp import backproject, filter_rows, slice_grid, slices_per_batch
from ..tomo.halftomo import first_half, opposite, slice_centre, stitch_stack, stitched_geometry
from ..tomo.timing import StageTimes
from ..tomo.grid import outside_view
from .filtering import FilterProperties


def _ufo_axis(value: Any) -> dict[str, Any]:
    """UFO's axis-pos (checked against ufo-launch 0.16's backproject kernel: a pixel's centre is at index + 0.5
    and slice pixel axis-pos - 0.5 is on the axis) in ufo's geometry; 0 or -1: automatic."""
    position = float(value)
    return {} if position <= 0 else {"axis": position - 0.5, "center": position - 0.5}


#: radians the angles must span at least (0.06 degrees): less is a unit mistake, not a scan
MIN_SPAN = 1e-3


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
        if getattr(self, "angles", None) is None and self.angle_step is not None \
                and not np.isfinite(self.angle_offset + self.angle_step * (n_angles - 1)):  # 1e308 * 90: inf
            raise GraphError(f"angle-step {self.angle_step:g} rad and angle-offset "
                             f"{self.angle_offset:g} rad give angles beyond any finite number over {n_angles} "
                             "projections; give the step between two projections (e.g. 0.25deg)")
        if getattr(self, "angles", None) is None and self.angle_step is not None \
                and abs(self.angle_step) * (n_angles - 1) < MIN_SPAN:  # 1e-300: every slice 0.0
            raise GraphError(f"angle-step {self.angle_step:g} rad spans {abs(self.angle_step) * (n_angles - 1):.3g} rad "
                             f"over {n_angles} projections, no tomography scan; give the step between two "
                             "projections (e.g. 0.25deg)")
        given = getattr(self, "angles", None)
        step = abs(self.angle_step) if given is None and self.angle_step is not None else \
            float(np.ptp(np.asarray(given, np.float64))) / max(len(given) - 1, 1) if given is not None else np.pi / n_angles
        offset = float(self.angle_offset or 0.0)
        if not np.isfinite(offset) or np.spacing(abs(offset)) > 0.01 * step:  # 1e300: every angle the same, garbage
            raise GraphError(f"angle-offset {offset:g} rad is too large to add steps of {step:.3g} rad to it; give "
                             "the first projection's angle within a few turns (e.g. 90deg)")
        x0, y0, cols, rows = slice_grid(width, roi, self.center)
        if cols < 1 or rows < 1:
            raise GraphError(f"the region x={roi[0]} y={roi[1]} lies outside the {width} x {width} slice")
        if not getattr(self, "half_acquisition", False) and outside_view(width, roi, self.center, self.axis):
            raise GraphError(f"the region x={roi[0]} y={roi[1]} width={cols} height={rows} lies outside the field "
                             f"of view (the circle the {width}-pixel detector sees about the axis): it would be zeros")
        return spec.with_(shape=(*spec.shape[:-2], rows, cols), dtype=np.float32)



class Backproject(SliceGeometry, FilterProperties, Task):
    """Reconstruct slices from sinograms (angles x width) by filtered back-projection; stacks of sinograms too."""

    devices = ("cpu", "gpu")
    uses_meta = True  # an upstream auto-axis puts the axis into the metadata

    name = "backproject"
    #: ufo-filters' backproject: angles in radians, 0 or -1 for 'automatic' as here
    ufo_names = declare({
        "axis-pos": UfoName("axis", "UFO counts from the detector's edge, ufo from the first pixel's centre: "
                            "axis = axis-pos - 0.5, and UFO centres the slice on the axis (center = axis); UFO's -1 "
                            "(automatic) is our default, half a pixel right of UFO's", _ufo_axis),
        "angle-step": zero_is_default("angle-step", "UFO's 0 (pi / projections) is our default; else the same"),
        "angle-offset": same("angle-offset"),
        "num-projections": only({"0": {}}, "ufo back-projects every row of the sinogram; crop it first "
                                "(crop height=N)"),
        "offset": only({"0": {}}, "crop the sinogram first (crop y=OFFSET)"),
        "mode": only({"texture": {}}, "ufo interpolates linearly (UFO's texture); nearest has no equivalent"),
        "roi-x": same("roi-x"), "roi-y": same("roi-y"),
        "roi-width": zero_is_default("roi-width"), "roi-height": zero_is_default("roi-height"),
        "precision-mode": only({"single": {}}, "use precision=fp32|fp16"),
    })
    #: UFO's backproject only back-projects (its users filter with fft ! filter ! ifft first)
    ufo_semantics = UfoSemantics({"filter": "none", "weight": "ufo", "orientation": "ufo"},
                                 "UFO's backproject does not filter (ufo's filters with filter=ramp unless its input "
                                 "was filtered upstream), weighs each projection by pi / projections (ufo by half "
                                 "its step: half as much) and puts y down in t = x cos + y sin (ufo's slices are "
                                 "UFO's mirrored top to bottom, as scikit-image's are)")
    weight = Property(str, "fbp", choices=("fbp", "ufo"),
                      doc="fbp: each angle weighs half its step (slices in attenuation per pixel); ufo: pi / "
                      "projections each, as UFO's backproject (twice as large for a half turn)")
    orientation = Property(str, "scikit-image", choices=("scikit-image", "ufo"),
                           doc="scikit-image: t = x cos - y sin with rows counted down (scikit-image's and ASTRA's "
                           "slices); ufo: t = x cos + y sin, as UFO's backproject (the slice mirrored top to "
                           "bottom about the axis)")
    precision = Property(str, "fp32", choices=("fp32", "fp16"),
                         doc="storage of the filtered sinogram (fp16 halves the bytes the GPU reads; sums stay fp32)")
    angles = Property(float, None, array=True, unit="rad",
                      doc="the true angle of every projection, one per sinogram row, any start, direction or "
                      "spacing (replaces angle-step and angle-offset); each is weighted by the interval it covers")
    half_acquisition = Property(bool, False, doc="a 360-degree scan with the axis near one detector edge: join "
                                "each projection with the mirrored one at +180 degrees into a sinogram about twice "
                                "as wide (needs axis; slices grow to that width)")

    #: where `ufo reco --profile` learns the filter's share of this task's time (shared by replicas)
    stage_times: StageTimes | None = None

    def angle_array(self, n_angles: int) -> np.ndarray | None:
        """The angles of an n-row sinogram when given (or needed for half acquisition), else None."""
        if self.angles is not None:
            if len(self.angles) != n_angles:
                raise GraphError(f"task '{self.name}': {len(self.angles)} angles given for sinograms of {n_angles} "
                                 "projections; give one angle per projection")
            return np.asarray(self.angles, np.float64)
        if self.half_acquisition:  # a 360-degree scan unless a step says otherwise
            step = self.angle_step if self.angle_step is not None else 2 * np.pi / n_angles
            return self.angle_offset + step * np.arange(n_angles)
        return None

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        if self.half_acquisition and self.orientation == "ufo":
            raise GraphError(f"task '{self.name}': orientation=ufo has no half acquisition (UFO's backproject has "
                             "none); use orientation=scikit-image and flip the slices")
        if self.half_acquisition and spec.shape is not None and len(spec.shape) in (2, 3):
            if self.axis is None:
                raise GraphError(f"task '{self.name}': half-acquisition needs the axis (axis=PIXELS)")
            n_angles, width = spec.shape[-2:]
            angles = self.angle_array(n_angles)
            self.slice_spec(spec, self._roi())  # the same checks of the axis and shape
            try:
                opposite(np.zeros((n_angles, 1), np.float32), angles)  # type: ignore[arg-type]
            except ValueError as err:
                raise GraphError(f"task '{self.name}': half-acquisition needs a 360-degree scan: {err}") from err
            total = stitched_geometry(width, self.axis)[0]
            spec = spec.with_(shape=(*spec.shape[:-2], first_half(angles), total))  # type: ignore[arg-type]
        elif spec.shape is not None and len(spec.shape) in (2, 3):
            self.angle_array(spec.shape[-2])
        return self.slice_spec(spec, self._roi())

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        self._workers = max(1, available_cores() // max(1, ctx.replicas))  # FFT and back-projection threads
        self._nonfinite_said = False

    def batch_size(self) -> int:
        """Single sinograms are back-projected K at a time with the stacked kernel (`slices_per_batch`):
        one slice a call runs at a fraction of its speed (one core, 512^3: 0.43 against 1.5-2 GUPS).
        Stacks already are batches; a subclass with its own `process` (the GPU one) keeps per-frame calls."""
        spec, result = self.ctx.input_specs[0] if self.ctx.input_specs else None, self.ctx.output_spec
        if (type(self).process is not Backproject.process or spec is None or spec.shape is None
                or len(spec.shape) != 2 or result is None or result.shape is None):
            return 1
        rows, cols = result.shape[-2:]
        return slices_per_batch(spec.shape[0], spec.shape[1], rows, cols)

    def process_batch(self, frames: list[np.ndarray], metas: list[dict[str, Any]]) -> list[Any]:  # type: ignore[override]
        """Consecutive sinograms of the same axis and filtering are stacked and back-projected together,
        as `process` does for a stack; each slice keeps its own metadata and comes out in order."""
        outputs: list[Any] = []
        start = 0
        while start < len(frames):
            key = (self.axis_for(metas[start]), self.filter_for(metas[start]))
            stop = start + 1
            while stop < len(frames) and (self.axis_for(metas[stop]), self.filter_for(metas[stop])) == key:
                stop += 1
            if stop - start == 1:  # one sinogram alone: the one-slice kernel (faster than a stack of 1)
                out = self.ctx.buffer()
                image = self.process(frames[start], out.data, metas[start])
                if image is not out.data:
                    np.copyto(out.data, image)
                outputs.append(out)
                start = stop
                continue
            slices = self.process(np.stack(frames[start:stop]), None, dict(metas[start]))
            for meta, image in zip(metas[start:stop], slices):
                meta.pop("filtered", None)  # slices are no filtered sinograms
                out = self.ctx.buffer()
                np.copyto(out.data, image)
                outputs.append(out)
            start = stop
        return outputs

    def process(self, sino: np.ndarray, out: np.ndarray | None, meta: dict[str, Any]) -> np.ndarray:  # type: ignore[override]
        axis = self.axis_for(meta)
        if not getattr(self, "_nonfinite_said", True) and not np.isfinite(sino).all():  # one NaN ray: 93 % of a slice NaN
            self._nonfinite_said = True
            self.ctx.warn(f"a sinogram{' (row ' + str(meta['row']) + ')' if 'row' in meta else ''} holds "
                          f"{int(np.count_nonzero(~np.isfinite(sino)))} NaN or infinite values: the filter and the "
                          "back-projection spread them over its slice; correct with flat-field-correct (its "
                          "fix-nan-and-inf is on by default) or replace them upstream")
        if out is not None and out.shape[:-2] != sino.shape[:-2]:
            out = None  # a smaller last stack: the pooled buffer does not fit
        angles = self.angle_array(sino.shape[-2])
        if self.half_acquisition:
            assert axis is not None and angles is not None  # output_spec refuses it otherwise
            if meta.get("filtered"):  # the ramp of half an object's projection is not half of the whole's
                raise GraphError(f"task '{self.name}': half-acquisition joins unfiltered sinograms; remove the "
                                 "filter before it (backproject filters the joined sinograms itself)")
            sino, axis, angles = stitch_stack(sino, axis, angles)
        filter_name = self.filter_for(meta)  # 'none' for input a 'filter' task marked filtered
        meta.pop("filtered", None)  # slices are no filtered sinograms
        if filter_name != "none":
            t0 = time.perf_counter()
            sino = filter_rows(sino, filter_name, self.filter_cutoff, self.filter_order, self.padding, self._workers)
            if self.stage_times is not None:
                self.stage_times.add("filter", time.perf_counter() - t0)
        if self.precision == "fp16":  # the values the GPU would read
            sino = np.asarray(sino, np.float32).astype(np.float16).astype(np.float32)
        step, offset, angles = self.oriented(sino.shape[-2], angles)
        centre = self.center if self.center is not None or not self.half_acquisition else slice_centre(axis)
        result = backproject(sino, axis, step, offset, self._roi(), out=out, centre=centre,
                             angles=angles, threads=self._workers, stop=self._stop())
        if self.weight == "ufo":  # UFO sums pi / n per projection (ufo-filters' backproject.cl)
            n = sino.shape[-2]
            used = geometry(n, step, offset, angles)[2]
            np.multiply(result, np.float32(np.pi / n / used), out=result)
        return result

    def _stop(self) -> threading.Event | None:
        """The run's cancel event, where the task runs in a graph (a Ctrl-C is then seen within a band)."""
        ctx = getattr(self, "ctx", None)
        return getattr(ctx, "cancelled", None)

    def oriented(self, n_angles: int, angles: np.ndarray | None) -> tuple[float | None, float, np.ndarray | None]:
        """(angle step, offset, angles) as the kernels take them: with orientation=ufo all negated, so
        that t = x cos(-a) - y sin(-a) = x cos a + y sin a, UFO's backproject.cl."""
        if self.orientation != "ufo":
            return self.angle_step, self.angle_offset, angles
        step = self.angle_step if self.angle_step is not None else np.pi / n_angles
        return -step, -self.angle_offset, None if angles is None else -angles
