"""360-degree scans: their half turns, opposite projections and half acquisition (plain functions on arrays).

A parallel beam sees the same line integrals at theta and theta + pi, mirrored about the axis:
p(theta + pi, a + s) = p(theta, a - s) for the axis at detector position `a`. A 360-degree scan
thus holds every line twice. With the axis near one edge of the detector (half acquisition,
"extended field of view", nabu's half-tomography) each half turn sees one half of the object;
the projection at theta and the mirrored one at theta + pi together see all of it, and
`stitch` joins them into one sinogram of 180 degrees, about twice as wide, which ordinary FBP
reconstructs. Positions are detector pixels, pixel i centred at i (docs/conventions.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def regular_angles(count: int, span: float = np.pi, offset: float = 0.0) -> np.ndarray:
    """`count` angles over `span` radians without the end point (what a step of span / count gives)."""
    return offset + span / count * np.arange(count)


def coverage(angles: np.ndarray) -> float:
    """The angular range a scan covers: its extent plus one typical step (pi for 180 regular projections)."""
    theta = np.asarray(angles, np.float64)
    if theta.size < 2:
        return np.pi
    steps = np.abs(np.diff(theta))
    return float(np.ptp(theta) + np.median(steps))


def first_half(angles: np.ndarray) -> int:
    """How many projections from the first lie within a half turn of it (all of a 180-degree scan)."""
    theta = np.asarray(angles, np.float64)
    if theta.size < 2:
        return int(theta.size)
    step = float(np.median(np.abs(np.diff(theta))))
    return int(np.count_nonzero(np.abs(theta - theta[0]) < np.pi - 0.5 * step))


def opposite(sino: np.ndarray, angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first half turn (k, width) and the rows at theta + pi of each of its angles (k, width).

    The rows at theta + pi are interpolated linearly in angle between the measured ones of the
    second half turn (exact for the usual regular 360-degree scan with an even count); an angle
    beyond the scan takes its last row. Raises ValueError for scans shorter than about 360 degrees.
    """
    theta = np.asarray(angles, np.float64)
    data = np.asarray(sino)
    k = first_half(theta)
    if k >= len(theta) - 1:
        raise ValueError(f"the scan covers {np.degrees(coverage(theta)):.1f} degrees: no opposite projections "
                         "(a 360-degree scan is needed)")
    direction = 1.0 if theta[-1] >= theta[0] else -1.0
    later = direction * (theta[k:] - theta[0])
    order = np.argsort(later)
    later = later[order]
    rows = data[k:][order]
    wanted = direction * (theta[:k] - theta[0]) + np.pi
    position = np.interp(wanted, later, np.arange(len(later), dtype=np.float64))
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(later) - 1)
    frac = (position - low)[:, None]
    return data[:k], (1 - frac) * rows[low] + frac * rows[high]


def stitched_geometry(width: int, axis: float) -> tuple[int, int, float]:
    """(stitched width, column offset of the projection at theta, stitched axis) for half acquisition.

    The projection at theta keeps its pixels, moved right by the offset; the mirrored one at
    theta + pi puts its pixel t at 2 axis + offset - t. Together they span twice the larger
    distance from the axis to a detector edge; they overlap over twice the smaller one.
    """
    offset = max(0, int(np.floor(width - 1 - 2 * axis)))
    total = max(offset + width, int(np.floor(2 * axis + offset)) + 1)
    return total, offset, axis + offset


def slice_centre(stitched_axis: float) -> float:
    """The slice pixel the axis passes through for stitched sinograms: the pixel nearest their axis,
    so a slice's pixels lie where a full-field scan's of the same object do (a detector of twice
    the axis's distance from the far edge, the axis through its pixel width / 2). At the stitched
    width / 2, the default of other sinograms, the slices of an odd stitched width were sampled
    half a pixel off in x and y (rel. rms 0.04-0.12 against the full-field reference, --roi too)."""
    return float(np.floor(stitched_axis + 0.5))


@dataclass
class HalfAcquisition:
    """A stitched sinogram over the first half turn, its axis and its angles (radians)."""

    sinogram: np.ndarray
    axis: float
    angles: np.ndarray


def stitch(sino: np.ndarray, axis: float, angles: np.ndarray) -> HalfAcquisition:
    """A 360-degree half-acquisition sinogram (angles, width) as a 180-degree one about twice as wide.

    Each projection of the first half turn is joined with the mirror image of the projection
    at theta + pi (moved by the sub-pixel part of 2 x axis with a cubic spline); over their
    overlap, 2 x the axis's distance from the nearer edge, a linear blend goes from one to the
    other, so the seam neither doubles nor drops a value and noise at the detector edges fades
    out (as nabu's `convert_halftomo`, which blends over the overlap linearly).
    """
    data = np.asarray(sino, np.float32)
    theta = np.asarray(angles, np.float64)
    if data.ndim != 2 or data.shape[0] != theta.size:
        raise ValueError(f"stitch needs a sinogram (angles, width) with one angle per row: got shape {data.shape} "
                         f"and {theta.size} angles")
    width = data.shape[1]
    if not 0 < axis < width - 1:
        raise ValueError(f"axis {axis} lies outside the detector (0 .. {width - 1})")
    first, second = opposite(data, theta)
    total, offset, new_axis = stitched_geometry(width, axis)
    u = np.arange(total, dtype=np.float64)
    t1 = u - offset
    t2 = 2 * axis + offset - u
    in1 = (t1 >= 0) & (t1 <= width - 1)
    in2 = (t2 >= -1e-6) & (t2 <= width - 1 + 1e-6)
    both = in1 & in2
    lo, hi = (u[both].min(), u[both].max()) if both.any() else (0.0, 1.0)
    ramp = (u - lo) / max(hi - lo, 1.0)
    if axis > (width - 1) / 2:  # the projection at theta lies left: it fades out to the right
        ramp = 1 - ramp
    w1 = np.where(both, np.clip(ramp, 0, 1), in1).astype(np.float32)
    w2 = np.where(both, 1 - w1, in2).astype(np.float32)
    out = np.zeros((first.shape[0], total), np.float32)
    out[:, offset: offset + width] = first
    out *= w1
    cols = np.clip(t2, 0, width - 1)
    grid = np.meshgrid(np.arange(first.shape[0], dtype=np.float64), cols, indexing="ij")
    from scipy import ndimage  # here: the angle helpers above serve `ufo reco --axis auto` without SciPy

    mirrored = ndimage.map_coordinates(np.asarray(second, np.float64), grid, order=3, mode="nearest")
    out += w2 * mirrored.astype(np.float32)
    return HalfAcquisition(out, new_axis, theta[: first.shape[0]].copy())


def stitch_stack(sinos: np.ndarray, axis: float, angles: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """`stitch` for one sinogram (angles, width) or a stack (K, angles, width): (stitched, axis, angles)."""
    data = np.asarray(sinos, np.float32)
    if data.ndim == 2:
        one = stitch(data, axis, angles)
        return one.sinogram, one.axis, one.angles
    parts = [stitch(s, axis, angles) for s in data]
    return np.stack([p.sinogram for p in parts]), parts[0].axis, parts[0].angles
