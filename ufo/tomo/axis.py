"""Finding the rotation axis: from 0/180 degree projections, from a sinogram, or by scanning.

All positions are detector pixel coordinates (pixel i centred at i), as `backproject` uses.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import scipy.fft

from ..core.errors import Cancelled
from ..kernels.backproject import backproject_stack, geometry, relative_weights
from .axis_vo import axis_from_sinogram, search_device, unstriped  # noqa: F401 - re-exported: the searches live together
from .fbp import slice_grid
from .filters import fbp_filter, padded_size
from .halftomo import opposite


def _refine_peak(spectrum: np.ndarray, n: int, guess: int, half_width: float = 1.0, step: float = 0.005) -> float:
    """Sub-pixel maximum of the correlation whose rfft is `spectrum`, evaluated directly near `guess`."""
    k = np.arange(spectrum.shape[-1])
    weights = np.full(k.shape, 2.0)
    weights[0] = 1.0
    if n % 2 == 0:
        weights[-1] = 1.0
    shifts = guess + np.arange(-half_width, half_width + step / 2, step)
    phase = np.exp(2j * np.pi * np.outer(shifts, k) / n)
    values = (phase * (weights * spectrum)).real.sum(axis=1)
    return float(shifts[int(np.argmax(values))])


def axis_from_projections(p0: np.ndarray, p180: np.ndarray, window: tuple[float, float] | None = None) -> float:
    """Axis from projections 180 degrees apart: the mirrored second one matches the first shifted.

    With the axis at a, p180(t) = p0(2a - t); mirrored, p180 becomes p0 shifted by 2a - (w - 1).
    Rows are summed into one correlation, so the pairs (theta, theta + pi) of a whole 360-degree
    sinogram may be given at once. `window` (lowest, highest axis) limits the search: with half
    acquisition the two overlap only near one edge and a wider search may find a false match.
    """
    a = np.asarray(p0, np.float64)
    b = np.asarray(p180, np.float64)[..., ::-1]
    if a.shape != b.shape:
        raise ValueError(f"projections at 0 and 180 degrees differ in shape: {a.shape} and {b.shape}")
    width = a.shape[-1]
    # Correlate derivatives: a flat background (0 after -log, 1 before) correlates best at
    # zero shift and would pull the estimate towards the detector centre.
    a = np.diff(np.atleast_2d(a), axis=-1)
    b = np.diff(np.atleast_2d(b), axis=-1)
    n = scipy.fft.next_fast_len(2 * width)
    # correlation c(s) = sum_j b(j) a(j + s): its rfft is conj(B) * A, summed over rows
    spectrum = (np.conj(scipy.fft.rfft(b, n=n, axis=-1)) * scipy.fft.rfft(a, n=n, axis=-1)).sum(axis=0)
    # A smooth low-pass keeps the peak where it is but damps the aliased high frequencies
    # that would bias its sub-pixel position (towards whole pixels).
    spectrum *= 0.5 + 0.5 * np.cos(np.pi * np.arange(spectrum.shape[-1]) / (spectrum.shape[-1] - 1))
    corr = scipy.fft.irfft(spectrum, n=n)
    shifts = np.fft.fftfreq(n, 1 / n).astype(int)  # the shift each correlation sample stands for
    if window is not None:
        lo, hi = (2 * window[0] - (width - 1), 2 * window[1] - (width - 1))
        corr = np.where((shifts >= lo) & (shifts <= hi), corr, -np.inf)
    guess = int(shifts[int(np.argmax(corr))])
    shift = _refine_peak(spectrum, n, guess)
    return (shift + width - 1) / 2


def half_turn(sino: np.ndarray, span: float) -> np.ndarray:
    """The 0..180 degree part of a sinogram covering `span` radians (a 360-degree scan's first half)."""
    return sino[: int(round(len(sino) * np.pi / span))] if span > 1.5 * np.pi else sino


def axis_360(sino: np.ndarray, angles: np.ndarray) -> float:
    """Axis of a 360-degree sinogram from every pair of opposite rows (theta, theta + pi).

    Each pair is one projection and its mirror image about the axis, so the correlation of all
    of them (`axis_from_projections`) measures the axis directly, from every projection of the
    scan (on the 256-pixel phantom, 5 px off centre: within 0.01 px, where Vo's metric on the
    first half turn was 0.025 to 0.05 px off). The sinogram is `unstriped` first: a stripe at
    column x is its own mirror image about an axis at x, and a cluster of 5 dead or 3 hot
    columns drew the axis to itself (78.0 for 134.8; single columns did not, and the 5-pixel
    median of Vo's search moved a noisy 96-px scan's axis 0.07 px, so it is not applied here).
    """
    first, second = opposite(unstriped(np.asarray(sino, np.float32)), angles)
    return axis_from_projections(first, second)


def axis_half_acquisition(sino: np.ndarray, angles: np.ndarray, side: str | None = None) -> float:
    """The axis of a 360-degree half-acquisition scan from its opposite projections (theta, theta + pi).

    The mirrored projection at theta + pi matches the one at theta only over their overlap near
    one edge, so the correlation is searched for axes in the outer quarter of the detector on
    `side` ('left' or 'right'; None: both, the better match wins). Uses every pair of the sinogram,
    `unstriped` as in `axis_360`.
    """
    first, second = opposite(unstriped(np.asarray(sino, np.float32)), angles)
    width = first.shape[-1]
    sides = [side] if side else ["left", "right"]
    windows = {"left": (2.0, width / 4), "right": (width - 1 - width / 4, width - 3.0)}
    found = [axis_from_projections(first, second, window=windows[s]) for s in sides]
    if len(found) == 1:
        return found[0]
    return min(found, key=lambda a: _mismatch(first, second, a))


def _mismatch(first: np.ndarray, second: np.ndarray, axis: float) -> float:
    """Mean squared difference of the pairs over their overlap at this axis, relative to the
    pairs' mean square there (lower is better; infinite where the overlap holds nothing).

    Relative, because an overlap in the empty air beside a small object matches perfectly (0
    against 0) and would otherwise beat the true axis on the object's side."""
    width = first.shape[-1]
    t = np.arange(width, dtype=np.float64)
    mirror = 2 * axis - t
    inside = (mirror >= 0) & (mirror <= width - 1)
    if inside.sum() < 4:
        return np.inf
    shifted = np.array([np.interp(mirror[inside], t, row) for row in second])
    here = np.asarray(first[:, inside], np.float64)
    energy = float(np.mean(here**2) + np.mean(shifted**2))
    if not energy > 0:
        return np.inf
    return float(np.mean((here - shifted) ** 2)) / energy


@dataclass
class AxisScan:
    """Slices reconstructed at candidate axes and their scores (lower is better)."""

    axes: np.ndarray
    scores: np.ndarray
    slices: np.ndarray

    @property
    def best(self) -> float:
        i = int(np.argmin(self.scores))
        if 0 < i < len(self.scores) - 1:  # parabola through the minimum and its neighbours
            s0, s1, s2 = self.scores[i - 1: i + 2]
            denom = s0 - 2 * s1 + s2
            if denom > 0:
                step = self.axes[i + 1] - self.axes[i]
                return float(self.axes[i] + step * 0.5 * (s0 - s2) / denom)
        return float(self.axes[i])


def scan_slices(sino: np.ndarray, axes: np.ndarray, filter: str = "hann", angle_step: float | None = None,
                angle_offset: float = 0.0, roi: tuple[int, int, int | None, int | None] = (0, 0, None, None),
                angles: np.ndarray | None = None) -> np.ndarray:
    """One slice per candidate axis, all in one stacked back-projection.

    The default filter is smooth (hann): with a sharp ramp, the sub-pixel shifts of an
    aliased sinogram ring, and every score then prefers whole-pixel axes.

    Moving the axis by d equals shifting the filtered sinogram by d, which the Fourier domain
    does exactly; so every candidate shares one geometry and one pass of the stack kernel.
    """
    data = np.asarray(sino, np.float32)
    n_angles, width = data.shape
    size = padded_size(width)
    spectrum = scipy.fft.rfft(np.pad(data, ((0, 0), (0, size - width))), axis=-1)
    spectrum *= fbp_filter(size, filter).astype(np.float32)
    reference = width / 2
    k = np.fft.rfftfreq(size)
    shifts = np.exp(2j * np.pi * np.outer(np.asarray(axes) - reference, k)).astype(np.complex64)  # (K, freq)
    stacked = scipy.fft.irfft(spectrum[None, :, :] * shifts[:, None, :], n=size, axis=-1)[..., :width]
    interleaved = np.ascontiguousarray(stacked.transpose(1, 2, 0), dtype=np.float32)
    cos_, sin_, scale = geometry(n_angles, angle_step, angle_offset, angles)
    relative = relative_weights(angles) if angles is not None else None
    if relative is not None:  # unequal intervals weigh their rows (see fbp.backproject)
        interleaved *= relative[:, None, None]
    x0, y0, cols, rows = slice_grid(width, roi)
    out = np.empty((rows, cols, len(axes)), np.float32)
    backproject_stack(interleaved, cos_, sin_, np.float32(reference), np.float32(x0), np.float32(y0),
                      np.float32(scale), out)
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def entropy_scores(slices: np.ndarray, bins: int = 256) -> np.ndarray:
    """Histogram entropy of each slice inside the reconstruction circle, on one common value range.

    A wrong axis smears edges into arcs, which spreads the histogram (Donath et al., JOSA A 23 (2006) 1048).
    """
    k, rows, cols = slices.shape
    yy, xx = np.mgrid[:rows, :cols]
    inside = np.hypot(yy - (rows - 1) / 2, xx - (cols - 1) / 2) < 0.45 * min(rows, cols)
    values = slices[:, inside]
    lo, hi = np.percentile(values[k // 2], [0.5, 99.5])
    span = (hi - lo) or 1.0
    lo, hi = lo - 0.5 * span, hi + 0.5 * span
    scores = np.empty(k)
    for i in range(k):
        hist, _ = np.histogram(values[i], bins=bins, range=(lo, hi))
        p = hist[hist > 0] / values.shape[1]
        scores[i] = -np.sum(p * np.log2(p))
    return scores


#: candidates back-projected in one call of the stacked kernel: `stop` is looked at between such calls
SCAN_CHUNK = 8
#: axis_by_scan: a search wider than BINNED_SEARCH px scans first on columns averaged to at least
#: BINNED_WIDTH columns (by 2 to 4)
BINNED_SEARCH, BINNED_WIDTH = 16, 128


def scan(sino: np.ndarray, axes: np.ndarray, stop: threading.Event | None = None, **kwargs: object) -> AxisScan:
    """A slice and its entropy score per candidate axis. `stop` (set: Cancelled) is seen between
    chunks of SCAN_CHUNK candidates: at 2048 pixels a candidate is seconds of work, and a Ctrl-C
    or the GUI's Cancel waited for all 33 of a search."""
    axes = np.asarray(axes, float)
    parts = []
    for first in range(0, len(axes), SCAN_CHUNK):
        if stop is not None and stop.is_set():
            raise Cancelled(f"the axis search was stopped after {first} of {len(axes)} candidate axes")
        parts.append(scan_slices(sino, axes[first: first + SCAN_CHUNK], **kwargs))  # type: ignore[arg-type]
    slices = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return AxisScan(axes, entropy_scores(slices), slices)


def axis_by_scan(sino: np.ndarray, centre: float | None = None, search: float | None = None,
                 stop: threading.Event | None = None, fine: bool = True, **kwargs: object) -> AxisScan:
    """Coarse scan (1 px steps over +-search) and a fine one (0.1 px over +-1.5 px) around its best
    (`fine` False: the coarse scan alone).

    A wide search on a wide detector scans first at a coarser pixel (columns averaged by 2-4), then
    at whole pixels over that pixel's span, then finely: every candidate of the coarse scan is a whole
    slice, and at 1024 columns its 257 slices took 60 s and 3 GB (now 17 slices of full size)."""
    width = sino.shape[1]
    centre = width / 2 if centre is None else centre
    half = search if search is not None else width / 8
    factor = min(4, width // BINNED_WIDTH) if half > BINNED_SEARCH and "roi" not in kwargs else 1
    if factor >= 2:
        kept = width // factor * factor
        binned = np.asarray(sino, np.float32)[:, :kept].reshape(len(sino), -1, factor).mean(axis=2)
        shift = (factor - 1) / 2  # column i of the detector is column (i - shift) / factor of the binned one
        near = axis_by_scan(binned, (centre - shift) / factor, half / factor, stop, fine=False, **kwargs).best
        centre, half = near * factor + shift, float(factor)
    inside = np.arange(centre - half, centre + half + 0.5, 1.0)
    inside = inside[(inside >= 0) & (inside <= width - 1)]  # an axis off the detector is none (-0.93 was taken)
    if inside.size == 0:
        inside = np.array([min(max(centre, 0.0), width - 1.0)])
    coarse = scan(sino, inside, stop, **kwargs)
    if not fine:
        return coarse
    around = coarse.best + np.arange(-1.5, 1.51, 0.1)
    return scan(sino, around[(around >= 0) & (around <= width - 1)], stop, **kwargs)
