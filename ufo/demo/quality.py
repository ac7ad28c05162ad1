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


#: what a demo's slices must reach against the phantom (inside the detector's circle), far from what a
#: correct run gives at 128-512 px (correlation 0.90-0.93, least-squares scale 0.81-0.84: FBP's blur
#: of the phantom's edges) and from a wrong one (an axis 27 px off: -0.04, 0.11). The mirror image:
#: the slice must be nearer the phantom than its mirror by MIRROR_SHARE of what tells the two apart
#: (1 - their own correlation): a fixed 0.02 failed a correct 1024 px run (0.982 against 0.962, the
#: phantom 0.96 like its own mirror image there, 0.90 at 512 px); a mirrored slice is nearer the mirror
LEAST_CORRELATION, MIRROR_SHARE, SCALE_RANGE = 0.75, 0.1, (0.6, 1.4)


def verdict(pairs: list[tuple[np.ndarray, np.ndarray]]) -> str:
    """'' where the slices (truth, slice) match the phantom; else why not: a correlation too low, a
    mirror image (the mirrored phantom correlates better) or a scale off. PSNR and SSIM alone gave
    no verdict: an all-zero slice scored an SSIM close to a correct one's."""
    if not pairs:
        return ""
    size = pairs[0][0].shape[-1]
    yy, xx = np.mgrid[:size, :size]
    inside = np.hypot(yy - size / 2, xx - size / 2) < 0.45 * size
    found = []
    for truth, test in pairs:
        a, b = np.asarray(test, np.float64)[inside], np.asarray(truth, np.float64)[inside]
        if not np.isfinite(a).all() or a.std() == 0 or b.std() == 0:
            found.append((0.0, 0.0, 0.0, 0.0))
            continue
        flipped = np.asarray(truth, np.float64)[:, ::-1][inside]
        found.append((float(np.corrcoef(a, b)[0, 1]), float(np.corrcoef(a, flipped)[0, 1]), float(a @ b / (b @ b)),
                      float(np.corrcoef(b, flipped)[0, 1])))
    corr, mirror, scale, alike = (float(np.mean(v)) for v in zip(*found))
    margin = MIRROR_SHARE * (1 - alike)  # none where the phantom is its own mirror image
    why = [f"correlation {corr:.3f} with the phantom, at least {LEAST_CORRELATION} expected"] \
        if corr < LEAST_CORRELATION else []
    if corr - mirror < margin:
        why.append(f"nearer its mirror image than the phantom allows (correlation {corr:.3f} with the phantom, "
                   f"{mirror:.3f} with its mirror image; the two correlate {alike:.3f}, so at least {margin:.3f} apart)")
    if not SCALE_RANGE[0] <= scale <= SCALE_RANGE[1]:
        why.append(f"scale {scale:.2f}, {SCALE_RANGE[0]}-{SCALE_RANGE[1]} expected")
    return "the slices do not match the phantom: " + "; ".join(why) if why else ""
