"""Parallel-beam back-projection on the CPU (numba, GIL released, linear interpolation).

Geometry, stated once (see docs/conventions.md): a slice pixel at column c, row r sits at
x = c - cx, y = r - cy from the rotation centre; at angle theta it projects to detector
position t = x cos(theta) - y sin(theta) + axis, where `axis` is the detector position
(in pixels, pixel i centred at i) of the rotation axis.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .wedge import wedge_limit

#: the kernels' compile flags, declared once: no GIL held (threads run kernels side by side),
#: fast math (reassociation only: the sums stay float32), machine code cached on disk
_jit = numba.njit(nogil=True, fastmath=True, cache=True)


@_jit
def _columns(t0: float, step: float, first: float, last: float, n: int) -> tuple[int, int]:
    """Columns c in [lo, hi) with first <= t0 + c * step <= last."""
    if abs(step) < 1e-12:
        return (0, n) if first <= t0 <= last else (0, 0)
    a = (first - t0) / step
    b = (last - t0) / step
    if step < 0:
        a, b = b, a
    lo = max(0, int(math.ceil(a)))
    hi = min(n, int(math.floor(b)) + 1)
    return lo, max(lo, hi)


@_jit
def _ranges(t0: float, step: float, width: int, n: int) -> tuple[int, int, int, int]:
    """The columns whose detector position t = t0 + c * step lies on the detector, [lo, hi)
    (0 <= t <= width - 1: linear interpolation between two pixels), and the wider range
    [outer_lo, outer_hi) of -1 <= t <= width, whose columns outside [lo, hi) see one edge pixel.

    The detector is taken as zero one pixel past each edge, with linear interpolation to it
    (as ASTRA's texture with a zero border does), so a slice is a continuous function of the
    geometry: np.interp's left=0 / right=0 drop a whole edge sample when a position moves
    1e-6 px past the edge, and two devices whose float32 positions differ by one rounding
    gave slices 2e-3 apart at an axis where many rays end on the edge (at 90 degrees a whole
    row does).
    """
    lo, hi = _columns(t0, step, 0.0, width - 1.0, n)
    outer_lo, outer_hi = _columns(t0, step, -1.0, float(width), n)
    return lo, hi, outer_lo, outer_hi


@_jit
def _edge(t: float, width: int) -> tuple[int, float]:
    """The edge pixel a position just off the detector sees, and its weight (1 at the edge, 0 one pixel out).

    The side is the nearer edge, not the sign of t: a column the float64 ranges put off the detector
    can sit exactly on its first pixel in float32 (t == 0), and `t < 0` sent it to the far edge with a
    weight of `width` (40 x the last pixel at 40 px; found by mutation testing, 16 in 200 000 positions)."""
    if t < np.float32(0.5) * np.float32(width - 1):
        return 0, min(np.float32(1.0), max(np.float32(0.0), np.float32(1.0) + t))
    return width - 1, min(np.float32(1.0), max(np.float32(0.0), np.float32(width) - t))


@_jit
def backproject_slice(sino, cos_, sin_, axis, x0, y0, scale, out):  # pragma: no cover - compiled
    """out[r, c] = scale * sum_a interp(sino[a], (x0 + c) cos_a - (y0 + r) sin_a + axis).

    The one-slice case of `backproject_stack`, kept as its own loop because the K = 1 case of
    the stacked kernel is slower (1000 angles x 1024 pixels, 2 cores: 2.66 s against 2.02 s;
    `ufo run 'read ! backproject'` on single sinograms runs here). Tests hold both to the
    same reference (tests/test_tomo.py).
    """
    n_angles, width = sino.shape
    height, cols = out.shape
    for r in range(height):
        acc = out[r]
        acc[:] = 0.0
        y = y0 + np.float32(r)
        for a in range(n_angles):
            ca = cos_[a]
            t0 = x0 * ca - y * sin_[a] + axis
            lo, hi, outer_lo, outer_hi = _ranges(t0, ca, width, cols)
            row = sino[a]
            for c in range(lo, hi):
                t = t0 + np.float32(c) * ca
                i = min(max(int(t), 0), width - 2)
                f = t - np.float32(i)
                acc[c] += row[i] + f * (row[i + 1] - row[i])
            for c in range(outer_lo, min(lo, outer_hi)):  # the columns that see an edge pixel
                j, e = _edge(t0 + np.float32(c) * ca, width)
                acc[c] += e * row[j]
            for c in range(max(hi, outer_lo), outer_hi):
                j, e = _edge(t0 + np.float32(c) * ca, width)
                acc[c] += e * row[j]
        for c in range(cols):
            acc[c] *= scale


#: bytes of partial sums a band of rows keeps while every angle adds into it (about a core's L2)
BAND_BYTES = 1 << 20


@_jit
def _add_edges(plane, acc, t0, ca, w, width, k, c0, c1):  # pragma: no cover - compiled
    """Columns c0..c1 of a row, each seeing one edge pixel (`_edge`), of all K slices."""
    for c in range(c0, c1):
        j, e = _edge(t0 + np.float32(c) * ca, width)
        e *= w
        edge = plane[j]
        dst = acc[c]
        for s in range(k):
            dst[s] += e * edge[s]


@_jit
def band_rows(cols: int, k: int) -> int:
    """Rows of a band of `_stack`: their partial sums (cols x k float32 each) fit in BAND_BYTES; 1 to 16."""
    return max(1, min(16, BAND_BYTES // max(1, cols * k * 4)))


@_jit
def _stack(sino, cos_, sin_, axis, x0, y0, scale, out, accumulate):  # pragma: no cover - compiled
    """Bands of rows, each summed over all angles while its sums stay in cache.

    Looping angles outside rows would stream the whole sinogram stack (angles x width x K floats,
    64 MiB at 1024^2 and K = 16) from memory once per row; a band of rows reads each angle's
    detector row once per band. All arithmetic is float32: a float64 detector position makes
    LLVM widen the slices' loads to float64 and halves the vector width (one core, 512^3, K = 32:
    3.9 GUPS in float64, 5.4 in float32; K = 16 runs in 4-wide epilogue code, which is why
    `slices_per_batch` asks for 32).
    """
    n_angles, width, k = sino.shape
    height, cols, _ = out.shape
    w = scale if accumulate else np.float32(1.0)  # adding: weight each sample; overwriting: scale the sums once
    band = band_rows(cols, k)
    for r0 in range(0, height, band):
        r1 = min(height, r0 + band)
        if not accumulate:
            out[r0:r1] = 0.0
        for a in range(n_angles):
            ca = cos_[a]
            sa = sin_[a]
            plane = sino[a]
            for r in range(r0, r1):
                acc = out[r]
                t0 = x0 * ca - (y0 + np.float32(r)) * sa + axis
                lo, hi, outer_lo, outer_hi = _ranges(t0, ca, width, cols)
                _add_edges(plane, acc, t0, ca, w, width, k, outer_lo, min(lo, outer_hi))
                _add_edges(plane, acc, t0, ca, w, width, k, max(hi, outer_lo), outer_hi)
                for c in range(lo, hi):
                    t = t0 + np.float32(c) * ca
                    i = min(max(int(t), 0), width - 2)
                    f = (t - np.float32(i)) * w
                    g = w - f
                    left = plane[i]
                    right = plane[i + 1]
                    dst = acc[c]
                    for s in range(k):
                        dst[s] += g * left[s] + f * right[s]
        if not accumulate:
            for r in range(r0, r1):
                acc = out[r]
                for c in range(cols):
                    for s in range(k):
                        acc[c, s] *= scale


@_jit
def backproject_stack(sino, cos_, sin_, axis, x0, y0, scale, out):  # pragma: no cover - compiled
    """Several slices at once: sino (angles, width, K) and out (rows, cols, K), K innermost.

    The detector position and weights are computed once per pixel and angle and applied to
    all K slices with contiguous (vectorised) loads.
    """
    _stack(sino, cos_, sin_, axis, x0, y0, scale, out, False)


@_jit
def backproject_stack_add(sino, cos_, sin_, axis, x0, y0, scale, out):  # pragma: no cover - compiled
    """As `backproject_stack`, but adds scale x the back-projection to what `out` holds (streaming)."""
    _stack(sino, cos_, sin_, axis, x0, y0, scale, out, True)


def geometry(n_angles: int, angle_step: float | None, angle_offset: float = 0.0,
             angles: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """cos and sin of every angle (float32) and the integration weight (`fbp_weight`).

    `angles` (radians, one per projection, any start, direction or spacing) replaces step and
    offset; the weight returned is then the mean of `angle_weights(angles)`, and
    `relative_weights(angles)` says how each projection departs from it (None when all are equal).
    """
    if angles is not None:
        theta = np.asarray(angles, np.float64)
        if theta.shape != (n_angles,):
            raise ValueError(f"{theta.size} angles given for a sinogram of {n_angles} projections")
        if not np.all(np.isfinite(theta)):
            raise ValueError("the angles hold NaN or infinity")
        return np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32), float(angle_weights(theta).mean())
    step = np.pi / n_angles if angle_step is None else angle_step
    theta = angle_offset + step * np.arange(n_angles)
    return np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32), fbp_weight(n_angles, abs(step))


def fbp_weight(n_angles: int, step: float) -> float:
    """The weight of each angle in the FBP sum: |step| / 2 up to a half turn.

    Parallel beams see the same line integrals at theta and theta + pi, so a scan covering
    more than a half turn (a 360-degree scan) counts every line more than once: the weight
    is pi / (2 n) there, which integrates a half turn's worth over the whole span.
    """
    return min(abs(step), np.pi / n_angles) / 2


def angle_weights(angles: np.ndarray) -> np.ndarray:
    """The FBP weight of each projection: half the angular interval it covers, modulo pi.

    Parallel beams see the same lines at theta and theta + pi, so every angle is folded into
    [0, pi) and each projection covers half the gap to its neighbours on either side (angles
    falling on the same folded angle, as theta and theta + pi of a 360-degree scan, share
    their interval). So irregular spacing, any start or direction and 360-degree scans (each
    line seen twice, each weighted half) integrate over exactly one half turn; a regular
    180 or 360-degree scan gets `fbp_weight` for every angle. A gap wider than `wedge_limit`
    (a scan shorter than a half turn, a missing wedge) is not covered by its two neighbours:
    they take their other gap instead.
    """
    theta = np.asarray(angles, np.float64).ravel()
    n = theta.size
    if n < 2:
        return np.full(n, np.pi / 2)
    folded = np.mod(theta, np.pi)
    order = np.argsort(folded, kind="stable")
    ordered = folded[order]
    after = np.diff(np.append(ordered, ordered[0] + np.pi))  # circular gap after each folded angle
    start = (int(np.argmax(after)) + 1) % n  # begin after the widest gap: no group spans the wrap
    order = np.roll(order, -start)
    ordered = np.unwrap(np.roll(ordered, -start), period=np.pi)
    gaps = np.diff(ordered)
    tolerance = 1e-3 * (np.pi / n)
    group = np.concatenate([[0], np.cumsum(gaps > tolerance)])  # folded angles closer than that coincide
    members = np.bincount(group)
    position = np.bincount(group, ordered) / members
    edges = np.diff(np.append(position, position[0] + np.pi))  # gap after each group, circular
    if len(edges) == 1:
        edges = np.array([np.pi])
    before = np.roll(edges, 1)
    typical = float(np.median(edges))
    wide = wedge_limit(typical)
    left = np.where(before > wide, np.where(edges > wide, typical, edges), before)
    right = np.where(edges > wide, np.where(before > wide, typical, before), edges)
    covered = 0.5 * (left + right) / members  # each member's share of its group's interval
    weights = np.empty(n)
    weights[order] = 0.5 * covered[group]
    return weights


def relative_weights(angles: np.ndarray) -> np.ndarray | None:
    """`angle_weights` divided by their mean (float32), or None when they are all equal within 1e-6."""
    weights = angle_weights(angles)
    relative = weights / weights.mean()
    return None if np.allclose(relative, 1.0, rtol=0, atol=1e-6) else relative.astype(np.float32)
