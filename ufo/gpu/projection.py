"""The GPU variant of `forwardproject` (ufo.tasks.projection): one CUDA thread per detector pixel and angle.

Why on the GPU: every output pixel integrates a whole ray (about 2.8 x the slice's diagonal
samples, each a bilinear read), the per-pixel heavy kind of task that issue 22 puts on a GPU.
Same geometry, sampling and border as the CPU kernel (`_project`): rays sampled every
RAY_STEP pixels over the part inside the slice, pixels outside it count as zero; positions
and the sum in float64 as the CPU kernel's, so the two agree to float32 rounding.
"""

from __future__ import annotations

from typing import Any

import cupy
import numpy as np

from ..tasks.projection import RAY_STEP, Forwardproject

_SOURCE = r"""
extern "C" __global__ void ufo_forwardproject(
        const float* image, const double* cos_, const double* sin_, double axis, double cx, double cy,
        double step, int rows, int cols, int n_angles, int width, float* out) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    int a = blockIdx.y;
    if (k >= width || a >= n_angles) return;
    double c = cos_[a], s = sin_[a];
    double half = 0.5 * sqrt((double)rows * rows + (double)cols * cols) + 1.0;
    int n = (int)(2.0 * half / step) + 1;
    double t = k - axis;
    double lo = -half, hi = half;
    double starts[2] = {t * c + cx, -t * s + cy}, slopes[2] = {s, c}, sizes[2] = {(double)cols, (double)rows};
    for (int d = 0; d < 2; ++d) {  /* the part of the ray inside the slice, with a one-pixel border */
        if (fabs(slopes[d]) < 1e-12) {
            if (!(-1.0 < starts[d] && starts[d] < sizes[d])) hi = lo - 1.0;
            continue;
        }
        double u1 = (-1.0 - starts[d]) / slopes[d], u2 = (sizes[d] - starts[d]) / slopes[d];
        lo = fmax(lo, fmin(u1, u2));
        hi = fmin(hi, fmax(u1, u2));
    }
    int first = max(0, (int)ceil((lo + half) / step));
    int last = min(n - 1, (int)floor((hi + half) / step));
    double acc = 0.0;
    for (int i = first; i <= last; ++i) {
        double u = -half + i * step;
        double col = t * c + u * s + cx, row = -t * s + u * c + cy;
        double j0 = floor(col), i0 = floor(row);
        if (j0 < -1 || j0 >= cols || i0 < -1 || i0 >= rows) continue;
        double fx = col - j0, fy = row - i0;
        int j = (int)j0, r = (int)i0;
        double v00 = (r >= 0 && j >= 0) ? image[r * cols + j] : 0.0;
        double v01 = (r >= 0 && j + 1 < cols) ? image[r * cols + j + 1] : 0.0;
        double v10 = (r + 1 < rows && j >= 0) ? image[(r + 1) * cols + j] : 0.0;
        double v11 = (r + 1 < rows && j + 1 < cols) ? image[(r + 1) * cols + j + 1] : 0.0;
        acc += (1.0 - fy) * ((1.0 - fx) * v00 + fx * v01) + fy * ((1.0 - fx) * v10 + fx * v11);
    }
    out[(long long)a * width + k] = (float)(acc * step);
}
"""
_KERNEL = cupy.RawKernel(_SOURCE, "ufo_forwardproject")
_THREADS = 128


def forwardproject_gpu(image: Any, angles: np.ndarray, axis: float | None = None, shift: float = 0.0) -> Any:
    """`ufo.tasks.projection.forwardproject` of a device (or host) slice: a (len(angles), columns) float32 device sinogram."""
    data = cupy.ascontiguousarray(cupy.asarray(image), cupy.float32)
    rows, cols = data.shape
    axis = cols / 2 if axis is None else axis
    theta = np.asarray(angles, np.float64)
    cos_, sin_ = cupy.asarray(np.cos(theta)), cupy.asarray(np.sin(theta))
    out = cupy.empty((len(theta), cols), cupy.float32)
    grid = ((cols + _THREADS - 1) // _THREADS, len(theta))
    _KERNEL(grid, (_THREADS,), (data, cos_, sin_, np.float64(axis), np.float64(cols / 2 + shift), np.float64(rows / 2 + shift),
                                np.float64(RAY_STEP), np.int32(rows), np.int32(cols), np.int32(len(theta)),
                                np.int32(cols), out))
    return out


class ForwardprojectGpu(Forwardproject):
    def process(self, image: Any, out: Any = None) -> Any:  # type: ignore[override]
        return forwardproject_gpu(image, self._angles, self.axis, self.centre_shift())
