"""How close a reconstruction is to the truth: PSNR and SSIM against the phantom.

Written here (scipy only) because scikit-image is a test extra, not a dependency; the
tests check both against scikit-image's `peak_signal_noise_ratio` and
`structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage


def psnr(truth: np.ndarray, test: np.ndarray, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB; `data_range` defaults to the truth's max - min."""
    truth = np.asarray(truth, np.float64)
    test = np.asarray(test, np.float64)
    if truth.shape != test.shape:
        raise ValueError(f"psnr: shapes differ, {truth.shape} and {test.shape}")
    span = float(np.ptp(truth)) if data_range is None else float(data_range)
    mse = float(np.mean((truth - test) ** 2))
    if mse == 0:
        return math.inf
    return 10 * math.log10(span * span / mse)


def ssim(truth: np.ndarray, test: np.ndarray, data_range: float | None = None, sigma: float = 1.5) -> float:
    """Mean structural similarity (Wang et al. 2004) with a Gaussian window, as scikit-image computes it."""
    x = np.asarray(truth, np.float64)
    y = np.asarray(test, np.float64)
    if x.shape != y.shape:
        raise ValueError(f"ssim: shapes differ, {x.shape} and {y.shape}")
    span = float(np.ptp(x)) if data_range is None else float(data_range)
    c1, c2 = (0.01 * span) ** 2, (0.03 * span) ** 2

    def blur(a: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(a, sigma, truncate=3.5, mode="reflect")

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    pad = int(3.5 * sigma + 0.5)  # scikit-image leaves out the border the window does not cover
    return float(s[(slice(pad, -pad),) * s.ndim].mean())
