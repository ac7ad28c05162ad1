"""GPU variants of the heavy per-pixel image filters: median-filter, blur and non-local-means.

Same properties and numbers as the CPU tasks (ufo/tasks/filters2d.py, denoise.py): the median
and the blur are cupyx.scipy.ndimage's with scipy's 'reflect' border, as the CPU tasks use;
non-local means runs the CPU task's own function with CuPy as its array module.
"""

from __future__ import annotations

import threading
from typing import Any

import cupy
import cupyx.scipy.ndimage as cundimage
import numpy as np

from ..tasks.denoise import NonLocalMeans, non_local_means
from ..tasks.filters2d import Blur, MedianFilter, estimate_noise_sigma


class MedianFilterGpu(MedianFilter):
    def process(self, frame: Any, out: Any = None) -> Any:  # type: ignore[override]
        data = frame.astype(cupy.float32, copy=False)
        if bool(cupy.isnan(data).any()):  # NaN left out of the windows, as on the CPU (rare: done there)
            from ..kernels.median import median_2d

            host = cupy.asnumpy(data)
            return cupy.asarray(median_2d(host, self.size, np.empty_like(host), True))
        return cundimage.median_filter(data, size=self.size, mode="reflect")


class BlurGpu(Blur):
    def process(self, frame: Any, out: Any = None) -> Any:  # type: ignore[override]
        weights = cupy.asarray(self._weights)
        rows = cundimage.correlate1d(frame.astype(cupy.float32, copy=False), weights, axis=1, mode="reflect")
        return cundimage.correlate1d(rows, weights, axis=0, mode="reflect")


class NonLocalMeansGpu(NonLocalMeans):
    """h=0 or estimate-sigma: one noise estimate for the whole stream, as the CPU task keeps it.

    The segment runs several replicas (streams, GPUs); each would otherwise estimate from its
    own first frame and frames 1, 2, ... would get other h. The estimate lives in the dict the
    segment shares between the replicas of this step (`shared`), made from the first frame to
    reach it: frame 0 with one replica, in practice also with several (frames are taken in order).
    """

    shared: dict[str, Any]

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        if "shared" not in self.__dict__:  # run alone, outside a segment: its own estimate
            self.shared = {"lock": threading.Lock()}

    def process(self, frame: Any, out: Any = None) -> Any:  # type: ignore[override]
        if self._h is None or self._sigma is None:
            with self.shared["lock"]:
                if "sigma" not in self.shared:
                    self.shared["sigma"] = estimate_noise_sigma(cupy.asnumpy(frame), self.addressing_mode)
            estimated = self.shared["sigma"]
            self._h = self._h or estimated or 1e-6
            self._sigma = estimated if self._sigma is None else self._sigma
        return non_local_means(frame, self.search_radius, self.patch_radius, self._h, self._sigma,
                               self.window and not self.fast, self.addressing_mode, xp=cupy, ndimage=cundimage)


FILTER_TASKS = (MedianFilterGpu, BlurGpu, NonLocalMeansGpu)
