"""The rotation axis of a 0..180 degree sinogram by Vo's Fourier double-wedge metric.

A module of its own, apart from ufo.tomo.axis, so that `ufo reco --axis auto` on the GPU
imports only numpy and CuPy: SciPy's FFT and ndimage and numba (the other searches' kernels)
cost about a second to import from a cold disk, while the scan is read from the same disk.
The CPU metric imports SciPy where it runs.
"""

from __future__ import annotations

import math

import numpy as np

#: the least angular range Vo's metric finds the axis on: a 256 px Shepp-Logan with the axis 7.3 px
#: off centre, 0.5-degree steps, came out 0.03 px off over 180 and 170 degrees, 1.9 px over 160,
#: 3.6 px over 150 and 11 px over 120 (the double wedge needs each ray's mirror 180 degrees on)
LEAST_RANGE = math.radians(170.0)


#: the fewest projections over the half turn Vo's metric finds the axis from: on that phantom 3 gave
#: 29 px off, 5 0.7 px, 8 0.33 px, 16 0.17 px, 64 0.05 px
LEAST_PROJECTIONS = 8

#: rows of the half turn Vo's metric is computed on at most (as Vo's own code bins). More rows pull
#: less to the centre without noise (13 disks, axis 7.5 px off, 2560 px: 0.24 px off on 360 rows,
#: 0.09 on 640) and weigh photon noise more (`half_turn_rows`): kept as Vo's code has it
MOST_ROWS = 360


#: pixels the axis moves per degree a scan falls short of a half turn, per pixel of width: the mirror
#: image joins early (13 disks, 2048 px, axis 7.5 px off centre: 0.3 px at 0.1 degree short, 4 at 1, 26 at 5)
OFF_PER_DEGREE = 2.5e-3
#: the largest axis error a scan short of a half turn may cost (pixels) before the search refuses it
SHORT_OFF = 0.5


def range_problem(covered: float, count: int | None = None, width: int | None = None) -> str | None:
    """Why Vo's metric cannot find the axis of a scan covering `covered` radians with `count`
    projections over its first half turn and `width` pixels (a scan short of the half turn by more
    than costs SHORT_OFF px at that width: 175 degrees at 2048 px put it 26 px off), or None."""
    if count is not None and count < LEAST_PROJECTIONS:
        return (f"the axis search needs {LEAST_PROJECTIONS} projections or more over a half turn, and this scan has "
                f"{count} (3 gave an axis 29 px off): give the axis in pixels")
    short = math.degrees(math.pi - covered)
    if width and covered >= LEAST_RANGE - 1e-9 and short * OFF_PER_DEGREE * width > SHORT_OFF:
        return (f"the axis search needs projections over a whole half turn, and this scan covers "
                f"{math.degrees(covered):.2f} degrees: {short:.2f} short, which puts the axis about "
                f"{short * OFF_PER_DEGREE * width:.1f} px off at its width ({width} px; the mirror image joins early): "
                "give the axis in pixels")
    if covered >= LEAST_RANGE - 1e-9:
        return None
    return (f"the axis search needs projections over a half turn, and this scan covers {math.degrees(covered):.1f} "
            f"degrees (from {math.degrees(LEAST_RANGE):.0f} degrees on it finds the axis; over 150 it was 3.6 px off, "
            "over 120 11 px): give the axis in pixels")


def _vo_mask(nrow: int, ncol: int, radius: float, drop: int) -> np.ndarray:
    """The double-wedge mask of Vo et al. (Opt. Express 22 (2014) 19078)."""
    du = 1.0 / ncol
    dv = (nrow - 1.0) / (nrow * 2.0 * np.pi)
    cen_row, cen_col = nrow // 2, ncol // 2
    drop = min(drop, int(np.ceil(0.05 * nrow)))
    mask = np.zeros((nrow, ncol), np.float32)
    for i in range(nrow):
        pos = int(np.ceil(((i - cen_row) * dv / radius) / du))
        lo, hi = sorted((-pos + cen_col, pos + cen_col))
        lo, hi = max(lo, 0), min(hi, ncol - 1)
        mask[i, lo: hi + 1] = 1.0
    mask[cen_row - drop: cen_row + drop + 1, :] = 0.0
    mask[:, cen_col - 1: cen_col + 2] = 0.0
    return mask


def _vo_metrics(sino: np.ndarray, centres: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The mean masked spectrum of each candidate on the CPU (SciPy: imported where it runs)."""
    import scipy.fft
    from scipy import ndimage

    width = sino.shape[1]
    flipped = ndimage.spline_filter1d(sino[:, ::-1], order=3, axis=1, mode="nearest")  # once for every shift
    full = np.empty((2 * sino.shape[0], width), np.float32)
    full[: sino.shape[0]] = sino
    metrics = np.empty(len(centres))
    for i, centre in enumerate(centres):
        shift = 2 * (centre - (width - 1) / 2.0)
        ndimage.shift(flipped, (0, shift), order=3, mode="nearest", prefilter=False, output=full[sino.shape[0]:])
        spectrum = np.abs(scipy.fft.fftshift(scipy.fft.fft2(full, workers=-1)))
        metrics[i] = np.mean(spectrum * mask)
    return metrics


def _vo_search(data: np.ndarray, centres: np.ndarray, ratio: float, device: str = "cpu") -> float:
    nrow, ncol = data.shape
    mask = _vo_mask(2 * nrow, ncol, 0.5 * ratio * ncol, drop=20)
    if device == "gpu":
        from .axis_cuda import vo_metrics_gpu

        return float(centres[int(np.argmin(vo_metrics_gpu(data, centres, mask)))])
    return float(centres[int(np.argmin(_vo_metrics(data, centres, mask)))])


def search_device(gpus: str | None) -> str:
    """'gpu' where `--gpus`/UFO_DEVICES (`gpus`) selects a GPU that CuPy sees, else 'cpu': where
    `axis_from_sinogram` runs for `ufo reco --axis auto`."""
    from ..core.resources import select

    return "gpu" if select(gpus) else "cpu"


#: the widest cluster of bad detector columns side by side that `mended` takes for a stripe
WIDEST_STRIPE = 5


def stripe_columns(sino: np.ndarray, widest: int = WIDEST_STRIPE) -> np.ndarray:
    """Which columns of `sino` (angles x columns) are stripes: bad at every angle, in runs of 3 or
    more side by side (narrower ones are the 5-pixel median's in `mended`); `widest` is the widest
    cluster found whole, the neighbours' median being 4 `widest` + 3 columns wide.

    Why the median over the angles: a dead, starved or hot column keeps its value as the object
    turns, while the object's details move across the detector, so the column stands out of the
    angle-median profile as a narrow step that a median of its neighbours does not follow. A
    column counts when it is off that median by more than 8 robust deviations of the profile's
    residual and a tenth of the profile's span (so that the edges of the object's own shadow do
    not count); the neighbours' median is taken twice, the second time with the first flags
    interpolated over, so that a cluster does not drag its good neighbours in. Where more than a
    quarter of the columns stand out the profile is the object's, and none is taken."""
    from scipy.ndimage import median_filter

    ncol = sino.shape[-1]
    size = 4 * widest + 3
    if ncol < 3 * size:
        return np.zeros(ncol, bool)
    profile = np.median(sino, axis=0)
    residual = profile - median_filter(profile, size=size, mode="nearest")
    deviation = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
    span = float(np.percentile(profile, 99) - np.percentile(profile, 1))
    limit = max(8.0 * deviation, 0.1 * span, 1e-12)
    bad = np.abs(residual) > limit
    if bad.any() and not bad.all():
        x = np.arange(ncol)
        fixed = profile.copy()
        fixed[bad] = np.interp(x[bad], x[~bad], profile[~bad])
        bad = np.abs(profile - median_filter(fixed, size=size, mode="nearest")) > limit
    if bad.mean() >= 0.25:  # not stripes: a profile this rough is the object's
        return np.zeros(ncol, bool)
    return _runs_of_three_or_more(bad)


def _runs_of_three_or_more(bad: np.ndarray) -> np.ndarray:
    """`bad` without its runs of one or two columns (the 5-pixel median replaces those)."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], bad.astype(np.int8), [0]))))
    kept = np.zeros_like(bad)
    for start, stop in zip(edges[::2], edges[1::2]):
        if stop - start >= 3:
            kept[start:stop] = True
    return kept


def unstriped(sino: np.ndarray) -> np.ndarray:
    """The sinogram with its stripes of three or more columns (`stripe_columns`) interpolated over,
    row by row, from the good columns on either side (as dead pixels are: `DeadFill`); the
    sinogram itself where it has none."""
    from .dead_pixels import DeadFill

    bad = stripe_columns(sino)
    if not bad.any():
        return sino
    return DeadFill.where(np.broadcast_to(bad, sino.shape)).apply(np.array(sino, np.float32))


def mended(sino: np.ndarray) -> np.ndarray:
    """The sinogram `unstriped`, then each row's one- and two-pixel defects replaced by their
    5-pixel median.

    Why: a dead detector column (0 after the flat field: flats not brighter than the darks), a
    starved or a hot one is a stripe at every angle, and the double-wedge metric took its
    symmetry for the object's: `ufo reco --axis auto` on the demo's own scans (dead columns, as
    real detectors have) found 16.2 px for 34.0, 86.7 for 67.6, 60.3 for 134.8; clusters of 3-5
    bad columns side by side, which the 5-pixel median alone does not remove, 62.0 for 134.8
    and 174.7. Narrower stripes are left to the median: interpolating over the single dead columns
    of the 64-px demo scan moved `--axis-method scan`'s entropy minimum 17 px. The median leaves
    the low frequencies the metric weighs alone (a symmetric filter: no shift), and a 3-pixel one
    missed a pair of neighbouring dead columns."""
    from scipy.ndimage import median_filter

    if sino.shape[-1] < 16:
        return sino
    return median_filter(unstriped(sino), size=(1, 5), mode="nearest")


def half_turn_rows(data: np.ndarray, span: float = math.pi, most: int | None = None) -> np.ndarray:
    """The rows of a sinogram whose `len(data)` rows cover `span` radians at one step, averaged onto
    at most `most` rows that cover exactly its first half turn (each the mean over its share of the
    half turn, rows cut at their fractions). Default: as Vo's code bins, k = rows // MOST_ROWS + 1
    rows a share (720 rows: 240; more rows weigh the noise more: 360 of them made the mean error
    at 10000 counts 0.077 px for 0.031, `benchmarks/axis_vo_noise.py`).

    Why: the metric joins the sinogram with its mirror image at pi, so its rows must end exactly a
    half turn after they begin. Binning 1000 rows in threes dropped the last row, and the mirror
    joined 0.18 degrees early: the axis came out 1 px off at 2560 px (2000 and 3000 rows too); the
    rows of a scan over more than a half turn (200 degrees) were all taken as 180 degrees."""
    n = data.shape[0]
    per = min(n, n * math.pi / abs(span)) if span else n  # input rows in a half turn (fewer cover less: all)
    rows = int(per + 1e-6)
    if most:
        count = max(1, min(most, rows))
    else:  # k = rows // MOST_ROWS + 1 rows a share, as Vo's code bins
        count = max(1, rows // (rows // MOST_ROWS + 1) if rows > MOST_ROWS else rows)
    if count == n and abs(per - n) < 1e-6:
        return data
    edges = np.arange(count + 1) * (per / count)
    whole = np.minimum(np.floor(edges + 1e-9).astype(np.int64), n)  # each share's first whole row, and its fraction
    fraction = np.where(whole < n, edges - whole, 0.0).astype(np.float32)[:, None]  # before it, in the share before
    at = np.minimum(whole, n - 1)
    sums = np.add.reduceat(data[:whole[-1]], whole[:-1], axis=0) if whole[-1] > whole[-2] else data[whole[:-1]]
    sums = sums + fraction[1:] * data[at[1:]] - fraction[:-1] * data[at[:-1]]  # shares of at least one row each
    return (sums / np.float32(per / count)).astype(np.float32)


def axis_from_sinogram(sino: np.ndarray, search: float | None = None, ratio: float = 0.5,
                       device: str = "cpu", span: float = math.pi) -> float:
    """Axis of a sinogram whose rows cover `span` radians at one step (its first half turn is used)
    by Vo's Fourier double-wedge metric, coarse to fine.

    `search` is the half-width (pixels) of the range searched around the detector centre.
    As in Vo's own code, the coarse search runs on a sinogram binned to about 128 columns
    and the later ones on at most 360 angles (`half_turn_rows`), so a 2048-pixel sinogram takes
    about a second on the CPU. `device="gpu"` computes the metric with CuPy (ufo.tomo.axis_cuda),
    each level's candidates in one batch: the same candidates and metric, to float rounding.
    """
    data = np.asarray(sino, np.float32)
    data = data / max(float(np.abs(data).mean()), 1e-12)
    data = half_turn_rows(data, span)  # the metric needs the wedge's shape, not every angle
    nrow, ncol = data.shape
    data = mended(data)  # after the angles are binned: a dead column stays one
    half = search if search is not None else ncol / 4
    middle = (ncol - 1) / 2.0
    factor = max(1, ncol // 128)
    if factor > 1:
        binned = data[:, : ncol // factor * factor].reshape(data.shape[0], -1, factor).mean(axis=2)
        b_mid, b_half = (middle - (factor - 1) / 2) / factor, half / factor
        coarse = np.arange(np.floor(b_mid - b_half), np.ceil(b_mid + b_half) + 1)
        best = _vo_search(binned, coarse, ratio, device) * factor + (factor - 1) / 2  # binned pixel centre -> detector
    else:
        best = _vo_search(data, np.arange(np.floor(middle - half), np.ceil(middle + half) + 1), ratio, device)
    step = float(factor)
    while step > 0.05:  # zoom in: 9 candidates a level around the best, 4x finer each time
        finer = max(step / 4, 0.05)
        best = _vo_search(data, best + np.arange(-step, step + finer / 2, finer), ratio, device)
        step = finer
    return best
