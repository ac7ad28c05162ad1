"""Fourier stripe filters: UFO's `filter-stripes` (2-D) and `filter-stripes1d` (along rows).

Stripes in sinograms (rings in slices) are columns that are off by a constant: in the 2-D
spectrum they sit on the row of zero vertical frequency, ky = 0. UFO damps that row (and,
with a vertical sigma, a band around it) with Gaussian profiles; `remove-stripes` (Vo's
sorting method, ufo/tomo/rings.py) is a different filter that works in real space.

UFO's filters take the output of `fft dimensions=2` (resp. 1) and are followed by `ifft`.
Ours take either real frames, which they transform and return as real frames (float32), or the
complex row spectra of our `fft` (complex64 in, complex64 out, for `fft ! filter-stripes !
ifft`). Frequencies are FFT indices of the transformed size, as in UFO, so the same sigma means
the same filter on frames of the same (padded) size; UFO's `fft` pads to a power of two.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft

from ..core import Property, Spec, Task
from ..core.errors import GraphError


def _indices(n: int) -> np.ndarray:
    """|frequency index| of the n entries of a full FFT axis, by UFO's rule (i >= n/2: n - i)."""
    i = np.arange(n)
    return np.where(i >= n >> 1, n - i, i).astype(np.float64)


def stripe_weights(height: int, columns: int, horizontal_sigma: float, vertical_sigma: float) -> np.ndarray:
    """UFO's 2-D stripe filter for a (height, columns) half spectrum (columns: kx = 0, 1, ...).

    x = exp(-kx^2 / 2 sh^2) (0 when sh = 0). Without a vertical sigma only the ky = 0 row is
    multiplied by x; with one, every entry by 1 - exp(-ky^2 / 2 sv^2) (1 - x).
    """
    kx = np.arange(columns, dtype=np.float64)
    x = np.exp(-kx**2 / (2 * horizontal_sigma**2)) if horizontal_sigma != 0 else np.zeros(columns)
    if vertical_sigma == 0:
        weights = np.ones((height, columns))
        weights[0] = x
        return weights
    y = np.exp(-_indices(height) ** 2 / (2 * vertical_sigma**2))
    return 1 - y[:, None] * (1 - x[None, :])


def stripe_weights_1d(columns: int, strength: float) -> np.ndarray:
    """UFO's 1-D filter 1 - exp(-k^2 / 2 s^2) with s = strength / (2 sqrt(2 ln 2)) (strength: the FWHM)."""
    sigma = strength / (2 * math.sqrt(2 * math.log(2)))
    k = np.arange(columns, dtype=np.float64)
    return 1 - np.exp(-k**2 / (2 * sigma**2))


def _check(task: Task, spec: Spec) -> Spec:
    if spec.shape is None or len(spec.shape) != 2:
        raise GraphError(f"task '{task.name}' works on 2-D frames (sinograms) of a fixed shape, got shape {spec.shape}")
    if spec.dtype is not None and spec.dtype.kind == "c":
        return spec.with_(dtype=np.complex64)
    return spec.with_(dtype=np.float32)


class FilterStripes(Task):
    """Damp vertical stripes in the 2-D Fourier domain with UFO's Gaussian profiles (UFO's `filter-stripes`).

    Only the ky = 0 row is filtered unless vertical-sigma is set, which widens the damped band
    to frequencies near ky = 0 (stripes that are not quite straight). horizontal-sigma keeps the
    low horizontal frequencies of that band: tiny values (UFO's default 1e-7) keep only kx = 0;
    0 cuts the whole band (horizontal DMM stripes, after a transpose).
    """

    name = "filter-stripes"
    horizontal_sigma = Property(float, 1e-7, range=(0.0, None),
                                doc="sigma of the Gaussian kept along kx, in frequency indices (0: cut the whole band)")
    vertical_sigma = Property(float, 0.0, range=(0.0, None),
                              doc="sigma of the damped band along ky, in frequency indices (0: only ky = 0)")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        return _check(self, spec)

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        assert out is not None
        if np.iscomplexobj(frame):  # row spectra from `fft`: transform the columns here
            spectrum = scipy.fft.fft(frame, axis=0)
            spectrum *= stripe_weights(frame.shape[0], frame.shape[1], self.horizontal_sigma, self.vertical_sigma)
            np.copyto(out, scipy.fft.ifft(spectrum, axis=0), casting="same_kind")
            return out
        spectrum = scipy.fft.rfft2(np.asarray(frame, np.float32))
        spectrum *= stripe_weights(spectrum.shape[0], spectrum.shape[1], self.horizontal_sigma, self.vertical_sigma)
        np.copyto(out, scipy.fft.irfft2(spectrum, s=frame.shape), casting="same_kind")
        return out


class FilterStripes1d(Task):
    """Suppress the low horizontal frequencies of every row by 1 - Gaussian (UFO's `filter-stripes1d`).

    Each row's spectrum is multiplied by 1 - exp(-k^2 / 2 sigma^2), `strength` being the
    Gaussian's full width at half maximum in frequency indices; k = 0 (the row mean) goes.
    """

    name = "filter-stripes1d"
    strength = Property(float, 1.0, range=(1e-3, None),
                        doc="full width at half maximum of the Gaussian, in frequency indices")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        return _check(self, spec)

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        assert out is not None
        if np.iscomplexobj(frame):
            np.multiply(frame, stripe_weights_1d(frame.shape[1], self.strength).astype(np.float32), out=out)
            return out
        spectrum = scipy.fft.rfft(np.asarray(frame, np.float32), axis=1)
        spectrum *= stripe_weights_1d(spectrum.shape[1], self.strength)
        np.copyto(out, scipy.fft.irfft(spectrum, n=frame.shape[1], axis=1), casting="same_kind")
        return out
