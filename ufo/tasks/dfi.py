"""Direct Fourier inversion of parallel-beam sinograms (UFO's `dfi-sinc`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core import Property, Spec, Task
from ..core.errors import GraphError
from ..kernels.wedge import one_weight_problem
from ..tomo.dfi import KERNELS, dfi
from .backproject import SliceGeometry
from .filtering import FilterProperties, _workers


class DfiSinc(SliceGeometry, FilterProperties, Task):
    """Reconstruct slices from sinograms (angles x width) by direct Fourier inversion; stacks too.

    The slices overlay `backproject`'s (same geometry, centre and values; docs/conventions.md)
    at a fraction of its cost: the Fourier slice theorem with gridding onto an oversampled
    Cartesian grid (ufo.tomo.dfi). UFO's `kernel-size`, `number-presampled-values` and
    `roi-size` keep their meaning; unlike UFO's task, it takes raw sinograms and filters them
    itself, unless a `filter` task upstream marked them filtered (or `filter=none`).
    """

    devices = ("cpu", "gpu")  # DfiSincGpu (ufo.gpu.tasks) runs it on CUDA with ufo.tomo.dfi_cuda
    uses_meta = True  # an upstream auto-axis puts the axis into the metadata; 'filtered' skips the filter

    name = "dfi-sinc"
    kernel = Property(str, "kaiser-bessel", choices=KERNELS,
                      doc="gridding kernel: kaiser-bessel (accurate to ~1e-6) or UFO's Hamming-windowed sinc (~1e-3)")
    kernel_size = Property(int, 7, range=(1, 25), doc="support of the gridding kernel in grid points (UFO's L)")
    number_presampled_values = Property(int, 2047, range=(3, 16383),
                                        doc="values of the kernel's lookup table over its support")
    oversampling = Property(float, 2.0, range=(1.5, 8.0),
                            doc="size of the Cartesian Fourier grid over the slice's (more: smaller gridding error)")
    roi_size = Property(int, None, range=(1, None),
                        doc="side of a square region centred in the slice (UFO's roi-size; "
                        "replaces roi-x/y/width/height)")

    def _roi(self, width: int = 0) -> tuple[int, int, int | None, int | None]:  # type: ignore[override]
        if self.roi_size is not None:
            first = (width - self.roi_size) // 2
            return (first, first, self.roi_size, self.roi_size)
        return (self.roi_x, self.roi_y, self.roi_width, self.roi_height)

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        if spec.shape is not None and self.roi_size is not None and self.roi_size > spec.shape[-1]:
            raise GraphError(f"roi-size={self.roi_size} is larger than the {spec.shape[-1]} x {spec.shape[-1]} slice")
        if spec.shape is not None and len(spec.shape) in (2, 3):
            n = spec.shape[-2]
            if (problem := one_weight_problem(n, np.pi / n if self.angle_step is None else self.angle_step)) is not None:
                raise GraphError(f"task '{self.name}': {problem}; use backproject (it weighs each projection)")
        return self.slice_spec(spec, self._roi(spec.shape[-1] if spec.shape else 0))

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        self._workers = _workers(ctx)

    def process(self, sino: np.ndarray, out: np.ndarray | None, meta: dict[str, Any]) -> np.ndarray:  # type: ignore[override]
        filter_name = self.filter_for(meta)  # 'none' for input a 'filter' task marked filtered
        meta.pop("filtered", None)
        result = dfi(sino, self.axis_for(meta), self.angle_step, self.angle_offset, self.oversampling, self.kernel,
                     self.kernel_size, self.number_presampled_values, filter_name, self.filter_cutoff,
                     self.filter_order, self.padding, self._roi(sino.shape[-1]), self.center, self._workers)
        if out is not None and out.shape == result.shape:
            np.copyto(out, result)
            return out
        return result
