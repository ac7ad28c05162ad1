"""GPU implementations of tasks: one subclass per CPU task, same properties, CuPy arrays.

Each `process` receives device arrays and returns a device array; `out` is not used (the
segment that runs them keeps frames on the device and allocates from CuPy's pool).
"""

from __future__ import annotations

from typing import Any

import cupy
import cupyx.scipy.ndimage as cundimage
import numpy as np

from ..kernels.backproject import geometry
from ..kernels.wedge import one_weight_fits
from ..kernels.cuda_backproject import backproject_interleaved
from ..tasks.backproject import Backproject
from ..tasks.correction import FlatFieldCorrect, RemoveOutliers
from ..tasks.dfi import DfiSinc
from ..tasks.filtering import Filter, mark_filtered
from ..tasks.geometry import ORDERS, Bin, Crop, Pad, Rescale
from ..tasks.jit import Map
from ..tasks.phase import RetrievePhase
from ..tasks.rings import RemoveStripes
from ..tomo.dfi_cuda import dfi_gpu
from ..tomo.fbp import slice_grid
from ..tomo.outliers import limit_of, outliers
from ..tomo.phase import paganin_filter
from ..tomo.steps_cuda import filter_rows_gpu, flat_kernel
from .filters2d import FILTER_TASKS
from .projection import ForwardprojectGpu


class FlatFieldCorrectGpu(FlatFieldCorrect):
    def to_device(self, frame: np.ndarray) -> Any:
        return cupy.asarray(frame)

    def process(self, proj: Any, *rest: Any, out: Any = None, meta: dict[str, Any]) -> Any:  # type: ignore[override]
        index = int(meta.get("index", 0))
        flat = self.flat_for(index, meta.get("file_index"), meta.get("scan_fraction"))
        out = flat_kernel(proj, self.dark_for(index), flat, self.absorption, self.fix_nan_and_inf, self.starved == "floor")
        dead = self.dead_fill(cupy)
        return out if dead is None else dead.apply(out)


class FilterGpu(Filter):
    def process(self, frame: Any, out: Any = None, meta: dict[str, Any] | None = None) -> Any:  # type: ignore[override]
        mark_filtered(self, meta if meta is not None else {})
        if frame.dtype.kind == "c":
            return frame * cupy.asarray(self._kernel)
        filtered = filter_rows_gpu(frame, self.filter, self.filter_cutoff, self.filter_order, self.padding)
        return filtered * np.float32(self.scale) if self.scale != 1.0 else filtered


class BackprojectGpu(Backproject):
    """Filtering by cuFFT, back-projection by the K-slices-per-thread kernel."""

    def process(self, sino: Any, out: Any = None, meta: dict[str, Any] | None = None) -> Any:  # type: ignore[override]
        n_step = sino.shape[-2], self.angle_step if self.angle_step is not None else np.pi / sino.shape[-2]
        if self.angles is not None or self.half_acquisition or not one_weight_fits(*n_step):  # per-angle weights,
            # stitching: the CPU task's code
            return cupy.asarray(Backproject.process(self, cupy.asnumpy(sino), None, meta if meta is not None else {}))
        stack = sino[None] if sino.ndim == 2 else sino
        filter_name = self.filter_for(meta or {})  # 'none' for input a 'filter' task marked filtered
        if meta is not None:
            meta.pop("filtered", None)
        if filter_name != "none":
            stack = filter_rows_gpu(stack, filter_name, self.filter_cutoff, self.filter_order, self.padding)
        count, n_angles, width = stack.shape
        half = self.precision == "fp16"
        step, offset, _ = self.oriented(n_angles, None)
        cos_, sin_, scale = geometry(n_angles, step, offset)
        scale = np.pi / n_angles if self.weight == "ufo" else scale  # UFO's backproject: pi / n per projection
        cs = np.stack([cos_, sin_], 1)
        x0, y0, cols, rows = slice_grid(width, self._roi(), self.center)
        axis = self.axis_for(meta or {})
        axis = width / 2 if axis is None else axis
        k = 8 if half else 4
        result = cupy.empty((count, rows, cols), cupy.float32)
        for first in range(0, count, k):
            chunk = stack[first: first + k]
            n = chunk.shape[0]
            if n < k:
                chunk = cupy.concatenate([chunk, cupy.zeros((k - n, n_angles, width), chunk.dtype)])
            interleaved = cupy.ascontiguousarray(chunk.transpose(1, 2, 0)).astype(cupy.float16 if half else cupy.float32)
            slices = backproject_interleaved(interleaved, cs, axis, x0, y0, scale, rows, cols, 4)
            result[first: first + n] = slices.transpose(2, 0, 1)[:n]
        return result[0] if sino.ndim == 2 else result


class DfiSincGpu(DfiSinc):
    """Direct Fourier inversion on the device (ufo.tomo.dfi_cuda): cuFFT and an atomic gridding kernel."""

    def process(self, sino: Any, out: Any = None, meta: dict[str, Any] | None = None) -> Any:  # type: ignore[override]
        meta = meta if meta is not None else {}
        filter_name = self.filter_for(meta)  # 'none' for input a 'filter' task marked filtered
        meta.pop("filtered", None)
        return dfi_gpu(sino, self.axis_for(meta), self.angle_step, self.angle_offset, self.oversampling, self.kernel,
                       self.kernel_size, self.number_presampled_values, filter_name, self.filter_cutoff,
                       self.filter_order, self.padding, self._roi(sino.shape[-1]), self.center)


class RetrievePhaseGpu(RetrievePhase):
    def process(self, frame: Any, out: Any = None) -> Any:  # type: ignore[override]
        import scipy.fft

        rows, cols = frame.shape
        pad_r = scipy.fft.next_fast_len(2 * rows, real=True)
        pad_c = scipy.fft.next_fast_len(2 * cols, real=True)
        top, left = (pad_r - rows) // 2, (pad_c - cols) // 2
        padded = cupy.pad(frame.astype(cupy.float32, copy=False),
                          ((top, pad_r - rows - top), (left, pad_c - cols - left)), mode="edge")
        kernel = cupy.asarray(paganin_filter(padded.shape, self.pixel_size, self.distance, self.energy,
                                             self.delta_beta).astype(np.float32))
        filtered = cupy.fft.irfft2(cupy.fft.rfft2(padded) * kernel, s=padded.shape)[top: top + rows, left: left + cols]
        if self.output == "transmission":
            return filtered.astype(cupy.float32)
        return (-cupy.log(cupy.clip(filtered, 1e-12, None))).astype(cupy.float32)


class RemoveOutliersGpu(RemoveOutliers):
    def process(self, frame: Any, out: Any = None) -> Any:  # type: ignore[override]
        data = frame.astype(cupy.float32, copy=False)
        median = cundimage.median_filter(data, size=self.size, mode="reflect")
        diff = data - median
        bad = outliers(diff, limit_of(diff, self.threshold, self.unit, cupy), self.sign, cupy)
        return cupy.where(bad, median, data)


class RemoveStripesGpu(RemoveStripes):
    def process(self, sino: Any, out: Any = None) -> Any:  # type: ignore[override]
        data = sino.astype(cupy.float32, copy=False)
        if bool(cupy.isnan(data).any()):  # NaN left out of the medians, as on the CPU (rare: done there)
            from ..tomo.rings import remove_stripes_sorting

            return cupy.asarray(remove_stripes_sorting(cupy.asnumpy(data), self.size))
        order = cupy.argsort(data, axis=0)
        ranked = cupy.take_along_axis(data, order, axis=0)
        smoothed = cundimage.median_filter(ranked, size=(1, self.size), mode="reflect")
        result = cupy.empty_like(data)
        cols = cupy.broadcast_to(cupy.arange(data.shape[1])[None, :], data.shape)
        result[order, cols] = smoothed
        return result


class CropGpu(Crop):
    def process(self, frame: Any, out: Any = None) -> Any:  # type: ignore[override]
        return cupy.ascontiguousarray(frame[self._sel])


class PadGpu(Pad):
    def process(self, frame: Any, out: Any = None) -> Any:  # type: ignore[override]
        if self._mode is None:
            result = cupy.full((self.height, self.width), self.value, dtype=self.fill_type(frame.dtype))
            result[self._inner] = frame
            return result
        return cupy.pad(frame, self._widths, mode=self._mode)


class BinGpu(Bin):
    def process(self, frame: Any, out: Any = None) -> Any:  # type: ignore[override]
        s = self.size
        h, w = frame.shape[0] // s, frame.shape[1] // s
        blocks = frame[: h * s, : w * s].reshape(h, s, w, s)
        if self.mode == "sum":
            return blocks.sum(axis=(1, 3), dtype=cupy.float32)
        return blocks.mean(axis=(1, 3), dtype=cupy.float32)


class RescaleGpu(Rescale):
    def process(self, frame: Any, out: Any = None) -> Any:  # type: ignore[override]
        shape = self.ctx.output_spec.shape
        zoom = (shape[0] / frame.shape[0], shape[1] / frame.shape[1])
        return cundimage.zoom(frame.astype(cupy.float32, copy=False), zoom, order=ORDERS[self.interpolation],
                              mode="nearest", grid_mode=True)  # pixel centres, as the CPU task


# CPU task name -> GPU class; the planner looks tasks up here
class MapGpu(Map):
    """A user kernel on the device: the same @jit kernel compiled with numba-cuda."""

    def process(self, frame: Any, out: Any = None) -> Any:  # type: ignore[override]
        return self.kernel(*self._arguments((frame,)))


GPU_TASKS = {
    cls.name: cls
    for cls in (MapGpu, FlatFieldCorrectGpu, FilterGpu, BackprojectGpu, DfiSincGpu, RetrievePhaseGpu, RemoveOutliersGpu, RemoveStripesGpu,
                CropGpu, PadGpu, BinGpu, RescaleGpu, ForwardprojectGpu, *FILTER_TASKS)
}
