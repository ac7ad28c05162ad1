"""Direct Fourier inversion on a CUDA GPU with CuPy: the same `Plan` as ufo.tomo.dfi, on the device.

Why a separate module: CuPy is optional (the `gpu` extra); only who asks for the GPU imports
it. The row FFTs, the inverse 2-D FFT and the crop are CuPy's; the gridding is one small
kernel, one thread per Fourier sample, adding its kernel-weighted value to the grid with
atomics (a sample touches L x L points; collisions are rare enough that atomics beat sorting).
The values equal the CPU version's to float32 rounding (tests/test_dfi.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .dfi import Roi, plan

_SOURCE = r"""
extern "C" __global__ void spread(const float2* values, const float* cos_, const float* sin_, const float radial,
                                  const float* table, const float table_scale, const int size, const int n_angles,
                                  const int n_k, const int g, float* grid) {
    const long idx = (long)blockDim.x * blockIdx.x + threadIdx.x;
    if (idx >= (long)n_angles * n_k) return;
    const int a = idx / n_k, k = idx % n_k;
    const float2 v = values[idx];
    if (v.x == 0.0f && v.y == 0.0f) return;
    const float gx = k * (cos_[a] * radial), gy = k * (-sin_[a] * radial);
    const float half = 0.5f * size;
    const int px = (int)floorf(gx - half) + 1, py = (int)floorf(gy - half) + 1;
    for (int jy = 0; jy < size; ++jy) {
        float d = fabsf(gy - (py + jy)) * table_scale;
        int i = (int)d;
        const float wy = table[i] + (d - i) * (table[i + 1] - table[i]);
        const int row = (((py + jy) % g) + g) % g;
        for (int jx = 0; jx < size; ++jx) {
            d = fabsf(gx - (px + jx)) * table_scale;
            i = (int)d;
            const float w = wy * (table[i] + (d - i) * (table[i + 1] - table[i]));
            const long at = 2L * ((long)row * g + ((((px + jx) % g) + g) % g));
            atomicAdd(grid + at, v.x * w);
            atomicAdd(grid + at + 1, v.y * w);
        }
    }
}
"""
_kernels: dict[int, Any] = {}


def _spread_kernel(cp: Any) -> Any:
    """The gridding kernel, compiled once per device."""
    device = cp.cuda.runtime.getDevice()
    if device not in _kernels:
        _kernels[device] = cp.RawKernel(_SOURCE, "spread")
    return _kernels[device]


def dfi_gpu(sino: Any, axis: float | None = None, angle_step: float | None = None, angle_offset: float = 0.0,
            oversampling: float = 2.0, kernel: str = "kaiser-bessel", kernel_size: int = 7, table_size: int = 2047,
            filter: str = "ramp", cutoff: float = 1.0, order: int = 4, padding: str = "zero",
            roi: Roi = (0, 0, None, None), centre: float | None = None) -> Any:
    """`ufo.tomo.dfi.dfi` on the current CUDA device: numpy in, numpy out; CuPy in, CuPy out."""
    import cupy as cp

    on_device = isinstance(sino, cp.ndarray)
    data = cp.asarray(sino, dtype=cp.float32)
    if data.ndim not in (2, 3):
        raise ValueError(f"dfi needs a sinogram (angles, width) or a stack of them, got shape {data.shape}")
    stack = data if data.ndim == 3 else data[None]
    p = plan(tuple(stack.shape[-2:]), axis, angle_step, angle_offset, oversampling, kernel, kernel_size, table_size,
             filter, cutoff, order, padding, tuple(roi), centre)
    spectra = cp.fft.rfft(p.padded(stack, cp), n=p.pad, axis=-1).astype(cp.complex64, copy=False)
    spectra *= cp.asarray(p.phase)
    cos_, sin_, table = cp.asarray(p.cos), cp.asarray(p.sin), cp.asarray(p.table)
    rows, cols = cp.asarray(p.ys % p.size), cp.asarray(p.xs % p.size)
    apod = cp.asarray(p.apod)
    n_slices, n_angles, n_k = spectra.shape
    grid = cp.empty((p.size, p.size), cp.complex64)
    out = cp.empty((n_slices, len(p.ys), len(p.xs)), cp.float32)
    spread = _spread_kernel(cp)
    threads = 256
    blocks = (n_angles * n_k + threads - 1) // threads
    for s in range(n_slices):
        grid.fill(0)
        spread((blocks,), (threads,), (spectra[s], cos_, sin_, np.float32(p.radial), table, np.float32(p.table_scale),
                                       np.int32(p.kernel_size), np.int32(n_angles), np.int32(n_k), np.int32(p.size),
                                       grid.view(cp.float32)))
        image = cp.fft.ifft2(grid, norm="forward")
        out[s] = image[rows[:, None], cols[None, :]].real / apod
    result = out if data.ndim == 3 else out[0]
    return result if on_device else cp.asnumpy(result)
