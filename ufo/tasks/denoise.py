"""Non-local means denoising (Buades et al.), as ufo-filters' non-local-means task.

Why here and not scikit-image: scikit-image is only a test extra, and UFO's variant (its
noise-variance correction, window and edge rules) is a few lines of numpy over shifts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core import Property, Spec, Task
from ..core.ufocompat import UfoSemantics
from .filters2d import ADDRESSING, estimate_noise_sigma, frame2d


def non_local_means(frame: np.ndarray, search_radius: int, patch_radius: int, h: float, sigma: float,
                    window: bool, addressing_mode: str = "mirrored_repeat", out: np.ndarray | None = None,
                    xp: Any = np, ndimage: Any = None) -> np.ndarray:
    """UFO's non-local means of one frame (float32), one shift of the search window at a time.

    For every shift d with |dx|, |dy| <= search_radius the patch distance of pixel x is
    D = sum_k w_k ((f(x + k) - f(x + d + k))**2 - 2 sigma**2) over the patch offsets k, with
    w_k uniform (1 / patch pixels) or, with `window`, a Gaussian of sigma patch_radius / 2
    normalised to 1; the weight is exp(-max(D, 0) / h**2) and the result the weighted mean of
    f(x + d). Pixels outside the frame follow the OpenCL addressing mode. Work: one pass
    over the frame per shift (Darbon et al.'s scheme, without its integral images).

    `xp`/`ndimage` are the array module and its ndimage (numpy and scipy; cupy and cupyx on a
    GPU): one implementation for both devices.
    """
    if ndimage is None:
        from scipy import ndimage

    s, p = search_radius, patch_radius
    data = xp.asarray(frame, xp.float32)
    rows, cols = data.shape
    pad = s + p
    padded = xp.pad(data, pad, mode=ADDRESSING[addressing_mode])
    size = 2 * p + 1
    if window:
        x = np.arange(size, dtype=np.float64) - p
        taps = np.exp(-(x * x) / (2.0 * (p / 2.0) ** 2))
        taps = (taps / taps.sum()).astype(np.float32)  # the 2-D window is the outer product: sum 1
    else:
        taps = np.full(size, 1.0 / size, np.float32)
    taps = xp.asarray(taps)
    inv_h2 = np.float32(1.0 / (h * h))
    two_var = np.float32(2.0 * sigma * sigma)
    centre = padded[s:s + rows + 2 * p, s:s + cols + 2 * p]
    total = xp.zeros((rows, cols), xp.float32)
    weights = xp.zeros((rows, cols), xp.float32)
    for dy in range(-s, s + 1):
        for dx in range(-s, s + 1):
            other = padded[s + dy:s + dy + rows + 2 * p, s + dx:s + dx + cols + 2 * p]
            diff = xp.square(centre - other) - two_var
            diff = ndimage.correlate1d(diff, taps, axis=0, mode="constant")
            diff = ndimage.correlate1d(diff, taps, axis=1, mode="constant")[p:p + rows, p:p + cols]
            weight = xp.exp(-xp.maximum(diff, 0) * inv_h2)
            weights += weight
            total += weight * padded[pad + dy:pad + dy + rows, pad + dx:pad + dx + cols]
    return xp.divide(total, weights, out=out)  # type: ignore[no-any-return]


class NonLocalMeans(Task):
    """Reduce noise with Buades' non-local means (float32), as UFO's non-local-means.

    Each pixel becomes the mean of the pixels within `search-radius`, weighted by how
    similar the patches around them are (see `non_local_means`). As UFO: h=0 takes the
    noise sigma estimated from the first frame (Immerkaer), `estimate-sigma` does the same
    for `sigma`, and both are kept for the later frames. UFO's default `fast` uses uniform
    patch weights and ignores `window`; with fast=false the Gaussian `window` (default on)
    applies. Ours gives the same numbers either way up to float32 rounding; `fast` only
    chooses the weighting, not a different algorithm. About search pixels x 15
    operations per pixel ((2 x 10 + 1)**2 = 441 shifts with the defaults: seconds per
    megapixel frame on a CPU core; the GPU variant runs the same code with CuPy).
    """

    name = "non-local-means"
    first_frame_state = ("_h", "_sigma")  # estimated from the stream's first frame, shared by replicas
    devices = ("cpu", "gpu")
    search_radius = Property(int, 10, unit="pixel", range=(1, 8192), doc="radius of the similarity search")
    patch_radius = Property(int, 3, unit="pixel", range=(1, 100), doc="radius of the compared patches")
    h = Property(float, 0.0, range=(0, None), doc="smoothing, about the noise sigma (0: estimate it from the first frame)")
    sigma = Property(float, 0.0, range=(0, None), doc="noise sigma subtracted from the patch distances (0: none)")
    window = Property(bool, True, doc="Gaussian patch weights (sigma = patch-radius / 2); only with fast=false")
    fast = Property(bool, True, doc="uniform patch weights, as UFO's fast algorithm")
    estimate_sigma = Property(bool, False, doc="estimate sigma from the first frame (overrides sigma)")
    addressing_mode = Property(str, "mirrored_repeat", choices=tuple(ADDRESSING),
                               doc="pixels outside the frame: 0 (clamp, none), edge, wrapped or mirrored")
    #: UFO's h defaults to 0.1 (ufo-non-local-means-task.c); it estimates the noise only for h <= 0
    ufo_semantics = UfoSemantics({"h": 0.1}, "UFO's h defaults to 0.1; ufo's 0 estimates it from the first "
                                 "frame (far stronger smoothing of noisy frames)")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        frame2d(self, spec)
        return spec.with_(dtype=np.float32)

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        self._h = self.h or None
        self._sigma = None if self.estimate_sigma else self.sigma

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        if self._h is None or self._sigma is None:
            estimated = estimate_noise_sigma(frame, self.addressing_mode)
            self._h = self._h or estimated or 1e-6  # a noise-free frame: any small h
            self._sigma = estimated if self._sigma is None else self._sigma
        return non_local_means(frame, self.search_radius, self.patch_radius, self._h, self._sigma,
                               self.window and not self.fast, self.addressing_mode, out=out)
