"""Reconstruction filters for filtered back-projection.

The ramp is built from its band-limited spatial-domain form (Kak & Slaney, ch. 3, eq. 61),
as scikit-image does: that removes the DC bias a sampled |w| ramp has. Windows are given as
functions of the frequency as a fraction of Nyquist, so `cutoff` means the same for all.
"""

from __future__ import annotations

import numpy as np

FILTERS = ("ramp", "shepp-logan", "cosine", "hamming", "hann", "parzen", "butterworth", "none")


def padded_size(width: int) -> int:
    """FFT length for a detector row: a power of two, at least twice the width (no wrap-around)."""
    return max(64, int(2 ** np.ceil(np.log2(2 * width))))


def ramp(size: int) -> np.ndarray:
    """The band-limited ramp on the `rfft` frequencies of a length-`size` signal."""
    n = np.concatenate((np.arange(1, size / 2 + 1, 2, dtype=int), np.arange(size / 2 - 1, 0, -2, dtype=int)))
    f = np.zeros(size)
    f[0] = 0.25
    f[1::2] = -1 / (np.pi * n) ** 2
    return 2 * np.real(np.fft.rfft(f))


def window(name: str, nu: np.ndarray, cutoff: float = 1.0, order: int = 4) -> np.ndarray:
    """Window at `nu` (frequency / Nyquist, 0..1); zero above `cutoff` except for butterworth."""
    if name == "butterworth":
        return 1.0 / (1.0 + (nu / cutoff) ** (2 * order))
    v = nu / cutoff
    if name == "ramp":
        w = np.ones_like(v)
    elif name == "shepp-logan":
        x = np.pi * v / 2
        w = np.where(x == 0, 1.0, np.sin(x) / np.where(x == 0, 1.0, x))
    elif name == "cosine":
        w = np.cos(np.pi * v / 2)
    elif name == "hamming":
        w = 0.54 + 0.46 * np.cos(np.pi * v)
    elif name == "hann":
        w = 0.5 + 0.5 * np.cos(np.pi * v)
    elif name == "parzen":
        w = np.where(v <= 0.5, 1 - 6 * v**2 + 6 * v**3, 2 * (1 - v) ** 3)
    else:
        raise ValueError(f"unknown filter '{name}'; choose one of {', '.join(FILTERS)}")
    return np.where(v <= 1.0, w, 0.0)


def fbp_filter(size: int, name: str = "ramp", cutoff: float = 1.0, order: int = 4) -> np.ndarray:
    """Filter on the `rfft` frequencies (size // 2 + 1 values) for rows padded to `size`."""
    if name == "none":
        return np.ones(size // 2 + 1)
    if not 0 < cutoff <= 1 and name != "butterworth":
        raise ValueError(f"filter cutoff must be in (0, 1] (a fraction of Nyquist), got {cutoff}")
    nu = np.fft.rfftfreq(size) / 0.5
    return ramp(size) * window(name, nu, cutoff, order)


UFO_RESPONSES = ("ramp", "butterworth", "hamming")


def ufo_response(size: int, name: str = "ramp", cutoff: float = 0.5, order: int = 4) -> np.ndarray:
    """UFO's `filter` task (ufo-filters 0.16) on the `rfft` frequencies of a length-`size` row.

    Measured against ufo-launch (benchmarks/ufo_launch.py): the sampled ramp |k| / size with
    1 / (4 size) at DC; butterworth ramp / (1 + (f / cutoff)^(2 order)) with f = k / size in
    cycles per pixel and 0 at DC; hamming ramp x (0.54 + 0.46 cos(2 pi f)), 0 at DC and Nyquist.
    """
    f = np.arange(size // 2 + 1) / size
    if name == "ramp":
        h = f.copy()
        h[0] = 1.0 / (4 * size)
    elif name == "butterworth":
        h = f / (1.0 + (f / cutoff) ** (2 * order))
    elif name == "hamming":
        h = f * (0.54 + 0.46 * np.cos(2 * np.pi * f))
        h[-1] = 0.0 if size % 2 == 0 else h[-1]
    else:
        raise ValueError(f"UFO's filter '{name}' is not provided; UFO's filters here: {', '.join(UFO_RESPONSES)} "
                         "(or response=fbp for ufo's own)")
    return h
