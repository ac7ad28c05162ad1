"""Vo's double-wedge metric (ufo.tomo.axis_vo) on the GPU: every candidate axis of a level at once.

Why: on a 1024-pixel sinogram the CPU search takes about 1.8 s of `ufo reco --axis auto` on a
16-core host (one cubic shift and one 2-D FFT per candidate, about 100 candidates); the GPU
does a level in one batched cuFFT. Same steps and precision as the CPU code (cubic B-spline
shift with 'nearest' edges, float32 data, complex64 spectra), so the metric agrees to float
rounding and the chosen candidate is the CPU's unless two candidates tie to that rounding.
CuPy is imported here, so ufo.tomo.axis_vo imports this module only when asked for the GPU.
"""

from __future__ import annotations

import cupy
import cupyx.scipy.ndimage as cundimage
import numpy as np


def vo_metrics_gpu(sino: np.ndarray, centres: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`ufo.tomo.axis_vo._vo_metrics` on the current GPU: the mean masked spectrum of each candidate."""
    data = cupy.asarray(sino, cupy.float32)
    nrow, width = data.shape
    flipped = cundimage.spline_filter1d(data[:, ::-1], order=3, axis=1, mode="nearest")  # float64, as scipy's
    full = cupy.empty((len(centres), 2 * nrow, width), cupy.float32)
    full[:, :nrow] = data
    for i, centre in enumerate(centres):
        shift = 2 * (float(centre) - (width - 1) / 2.0)
        cundimage.shift(flipped, (0, shift), order=3, mode="nearest", prefilter=False, output=full[i, nrow:])
    # mean(fftshift(|F|) * mask) = mean(|F| * ifftshift(mask)): the mask moves once, not every spectrum
    shifted_mask = cupy.asarray(np.fft.ifftshift(np.asarray(mask, np.float32)))
    spectra = cupy.abs(cupy.fft.fft2(full, axes=(-2, -1)))
    metrics = (spectra * shifted_mask).mean(axis=(-2, -1))
    return cupy.asnumpy(metrics).astype(np.float64)  # type: ignore[no-any-return]
