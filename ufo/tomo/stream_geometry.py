"""Scan geometry for the streaming reconstructor (ufo.tomo.streaming): true-angle weights, the
automatic axis and half acquisition, each worked out while the projections still arrive.

`ufo reco` sees the whole scan and weights each projection by the angular interval it covers
(`ufo.kernels.backproject.angle_weights`), finds a 360-degree scan's axis from its opposite
projections (`ufo.tomo.axis.axis_360`, `axis_half_acquisition`) and joins a half-acquisition
scan's opposite projections into a wide sinogram (`ufo.tomo.halftomo.stitch`). Online, a
projection's interval needs the angle after it and the pairs need the second half turn, so
these classes hold back just what is needed until it is known, and call the same functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..kernels.wedge import wedge_limit

Kept = tuple[int, float, np.ndarray]  # (projection number, angle, raw row band)


class StreamWeights:
    """Per-projection FBP weights of a stream: each projection is let go once its weight is known.

    The weight `angle_weights` gives a projection is half the angular interval it covers, a
    quarter of the gaps to its neighbours on either side, so it is known once the next angle
    arrives: `push` holds the latest projection back until then. The first projection's left
    gap and the last one's right gap are the wrap-around gap (pi minus the span) of a scan of
    up to a half turn, which only the end of the scan tells: the first projection goes out with
    its right gap taken for both, and its band is kept (one band) for `finish` to add the
    difference, the back-projection being linear (nothing on a regular scan). Weights are
    relative to the scan's first gap, so a regular scan multiplies every row by exactly 1.0, in
    the order and batches of before; `scale` is the absolute weight of relative weight 1 (then
    the step from the span, as before: the same bits).

    Exact (as angle_weights) for scans of up to a half turn and for regular 360-degree scans.
    Over more than a half turn the unfolded intervals are used and scaled by pi / coverage;
    angle_weights folds theta + pi onto theta instead, which for irregular 360-degree scans
    weighs interleaved angles differently (both are quadratures of one half turn; folding
    online would need the first half turn kept until the second arrives). A gap wider than
    `wedge_limit` of the median so far (a missing wedge) gives way to the other gap, as in
    angle_weights, with the median of the gaps seen so far.
    """

    def __init__(self) -> None:
        self.first: tuple[float, Any] | None = None
        self.held: tuple[float, Any] | None = None
        self.left = 0.0  # the held projection's gap before it
        self.gaps: list[float] = []
        self.first_angle: float | None = None
        self.last_angle: float | None = None
        self.count = 0
        self.regular = True  # every weight so far exactly 1.0 in float32
        self.direction = 0.0  # the sign of the scan's steps (its first nonzero step)
        self.out_of_order: tuple[int, float, float] | None = None  # (projection, its angle, the one before)
        self.low = self.high = 0.0  # the angles' range (arrival order aside)

    @property
    def reference(self) -> float:
        return self.gaps[0] if self.gaps and self.gaps[0] > 0 else np.pi

    def _typical(self) -> float:
        return float(np.median(self.gaps)) if self.gaps else np.pi

    def _relative(self, left: float, right: float) -> float:
        if self.out_of_order is not None:  # gaps in arrival order say nothing of a projection's interval
            return 1.0
        wide = wedge_limit(self._typical())
        if left > wide:
            left = right if right <= wide else self._typical()
        if right > wide:
            right = left if left <= wide else self._typical()
        return 0.5 * (left + right) / self.reference

    def push(self, angle: float, item: Any) -> list[tuple[float, Any, float]]:
        """Take one projection; returns those whose weight is now known: (angle, item, relative weight)."""
        released: list[tuple[float, Any, float]] = []
        if self.first_angle is None:
            self.first_angle = angle
            self.first = (angle, item)
            self.low = self.high = angle
        else:
            assert self.last_angle is not None
            step = angle - self.last_angle
            if step and not self.direction:
                self.direction = np.sign(step)
            elif step * self.direction < 0 and self.out_of_order is None:  # interlaced, swapped, golden angle
                self.out_of_order = (self.count, angle, self.last_angle)
            self.low, self.high = min(self.low, angle), max(self.high, angle)
            gap = abs(step)
            self.gaps.append(gap)
            if self.held is not None:
                released.append((self.held[0], self.held[1], self._relative(self.left, gap)))
            elif self.first is not None:  # its left gap for now: its right one (see the class docstring)
                released.append((self.first[0], self.first[1], self._relative(gap, gap)))
            self.held, self.left = (angle, item), gap
        self.last_angle = angle
        self.count += 1
        self.regular = self.regular and all(np.float32(r) == 1 for *_, r in released)
        return released

    def span(self) -> float:
        if self.first_angle is None or self.last_angle is None:
            return 0.0
        if self.out_of_order is not None:
            return self.high - self.low
        return abs(self.last_angle - self.first_angle)

    def order_problem(self) -> str | None:
        """What weighing a stream out of angle order does, or None. Gaps in arrival order were taken for
        each projection's interval: interlaced scans came out 2 or 4 times too bright, a golden-angle
        stream 85 times; now each projection is weighed alike (exact for a regular scan in any order)."""
        if self.out_of_order is None:
            return None
        index, angle, before = self.out_of_order
        return (f"projections arrived out of angle order (projection {index} at {np.degrees(angle):.4g} degrees after "
                f"{np.degrees(before):.4g}): each is weighed alike, exact for a regular scan in any order (interlaced), "
                "an approximation for irregular angles")

    def coverage_problem(self) -> str | None:
        """Why this stream's weights double some directions (more than a half turn, not a whole
        number of them: online, the overlap is weighted before the end tells it), or None."""
        from ..kernels.wedge import one_weight_problem

        if self.count < 2 or self.out_of_order is not None:  # said by order_problem
            return None
        jitter = 0.0 if self.regular else self._typical()  # an irregular half turn's ends: a step's fraction off
        return one_weight_problem(self.count, (self.span() + self._typical()) / self.count, jitter)

    def finish(self) -> list[tuple[float, Any, float]]:
        """The first and the last projection, now that the wrap-around gap is known."""
        out: list[tuple[float, Any, float]] = []
        if self.first is None:
            return out
        if not self.gaps:  # one projection: angle_weights gives it pi / 2
            out.append((self.first[0], self.first[1], 0.5 * np.pi / self.reference))
        elif self.out_of_order is not None:  # every projection weighed alike: the last one too
            if self.held is not None:
                out.append((self.held[0], self.held[1], 1.0))
        else:
            wrap = np.pi - self.span()  # the gap from the last angle round to the first + pi
            wrap_ok = -1e-9 <= wrap <= 3 * self._typical()
            first_right = self.gaps[0]
            change = self._relative(max(wrap, 0.0) if wrap_ok else first_right, first_right) - \
                self._relative(first_right, first_right)
            if abs(change) > 1e-7:  # the first projection's left gap differs from the one it went out with
                out.append((self.first[0], self.first[1], change))
            if self.held is not None:
                out.append((self.held[0], self.held[1],
                            self._relative(self.left, max(wrap, 0.0) if wrap_ok else self.left)))
        self.regular = self.regular and all(np.float32(r) == 1 for *_, r in out)
        self.first = self.held = None
        return out

    def scale(self, angle_span: float | None = None) -> float:
        """The absolute weight of relative weight 1: half the reference gap, times pi / coverage
        beyond a half turn (so a 360-degree scan, every line seen twice, is not doubled)."""
        if self.out_of_order is not None and self.count > 1:  # alike: the coverage over the count
            n = self.count
            coverage = abs(angle_span) if angle_span is not None else self.span() * n / (n - 1)
            return 0.5 * min(coverage, np.pi) / n
        if self.regular and self.count > 1:  # one step: the engine's weight of before, from the span
            n = self.count
            coverage = abs(angle_span) if angle_span is not None else n * self.span() / (n - 1)
            return 0.5 * min(coverage, np.pi) / n
        if angle_span is not None:
            coverage = abs(angle_span)
        else:
            span = self.span()
            coverage = span + self._typical() if span > np.pi + 1e-9 else np.pi
        return 0.5 * self.reference * min(1.0, np.pi / coverage) if coverage > 0 else 0.5 * self.reference

    @property
    def held_items(self) -> list[Any]:
        return [x[1] for x in (self.first, self.held) if x is not None]


def _past_half_turn(angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(relative angle from the first, mask of those past the half turn), as `halftomo.first_half` splits."""
    theta = np.asarray(angles, np.float64)
    direction = 1.0 if theta[-1] >= theta[0] else -1.0
    relative = direction * (theta - theta[0])
    step = float(np.median(np.abs(np.diff(theta)))) if theta.size > 1 else np.pi
    return relative, relative >= np.pi - 0.5 * step


def paired(angles: np.ndarray) -> np.ndarray | None:
    """Indices of the projections that form complete pairs (theta, theta + pi) so far: the first
    half turn's ones whose opposite is bracketed by those past it, then those past it; None when
    fewer than two are past the half turn (`halftomo.opposite` needs two)."""
    if len(angles) < 3:
        return None
    relative, past = _past_half_turn(angles)
    if past.sum() < 2:
        return None
    reach = relative[past].max()
    first = np.flatnonzero(~past & (relative + np.pi <= reach + 1e-9))
    if first.size == 0:
        return None
    return np.concatenate([first, np.flatnonzero(past)])


def middle_sinogram(kept: list[Kept], darks: list[np.ndarray], flats: list[np.ndarray],
                    device: str = "cpu") -> np.ndarray:
    """The flat-corrected sinogram of the middle kept row (what `ufo reco --axis auto` searches), on the
    host. Corrected by `device`'s FlatField ('gpu': CuPy's current device, where a GPU run has CuPy up
    and numba's import from a cold disk would cost a second)."""
    from .backends import backend

    middle = kept[0][2].shape[0] // 2
    ff = backend(device)[0]()
    ff.reduce([d[middle: middle + 1] for d in darks], [f[middle: middle + 1] for f in flats])
    stack = np.stack([band[middle: middle + 1] for _, _, band in kept])
    corrected = ff.correct(stack)
    return (corrected.get() if device == "gpu" else np.asarray(corrected))[:, 0, :]


def auto_axis(kept: list[Kept], darks: list[np.ndarray], flats: list[np.ndarray], *, half_acquisition: bool,
              full_turn: bool | None, pairs: int, final: bool, device: str = "cpu") -> float | None:
    """The axis from the kept projections, or None while too few arrived.

    Half acquisition: pairs (theta, theta + pi) as `ufo reco --half-acquisition` finds it
    (`axis_half_acquisition`), once `pairs` of them exist. Else Vo's method on the first half
    turn, once it is complete: a known scan of up to a half turn at its end, a full turn (or a
    scan whose angles went past the half turn) as soon as its first half turn is in. A full
    turn's first `pairs` pairs (`axis_360`, as `ufo reco` correlates all of a file's pairs) were
    38-68 px off where the sample reaches past the field of view: a few degrees of pairs see
    nearly one pair; a half turn is a whole scan's worth of directions.
    """
    if not flats:
        raise ValueError("axis='auto' needs flats (image_key 1) to correct the projections; none arrived")
    angles = np.array([a for _, a, _ in kept])
    relative, past = _past_half_turn(angles) if len(angles) > 1 else (np.zeros(1), np.zeros(1, bool))
    if half_acquisition:
        chosen = paired(angles)
        count = 0 if chosen is None else int(np.count_nonzero(~past[chosen]))
        if count >= pairs or (final and count):
            assert chosen is not None
            sino = middle_sinogram([kept[i] for i in chosen], darks, flats)
            from .axis import axis_half_acquisition  # SciPy and numba: only when an axis is searched

            return float(axis_half_acquisition(sino, angles[chosen]))
        if not final:
            return None
        raise ValueError("half acquisition needs a 360-degree scan: no projection 180 degrees after the first "
                         f"arrived (the scan covers {np.degrees(relative.max()):.1f} degrees)")
    if not final and not past.any() and (full_turn is None or len(angles) < 2):  # may still go past the half turn
        return None
    step = float(np.median(np.abs(np.diff(angles)))) if len(angles) > 1 else np.pi
    if not final and len(angles) * step < np.pi - 1e-3 * step:  # the half turn is not complete yet
        return None
    first = [k for k in kept if abs(k[1] - kept[0][1]) < np.pi - 1e-9] or kept
    from .axis_vo import axis_from_sinogram, range_problem

    covered = abs(first[-1][1] - first[0][1]) + step
    if (problem := range_problem(covered, len(first), first[0][2].shape[-1])) is not None:  # stopped early
        raise ValueError(f"axis='auto': {problem}")

    return float(axis_from_sinogram(middle_sinogram(first, darks, flats, device), device=device, span=covered))


class HalfTurnPairs:
    """Half acquisition online: each first-half-turn row band waits for the one at theta + pi.

    Bands come flat-corrected (float32). A band of the first half turn is kept until the band
    after its theta + pi arrived; then the waiting bands and the bands past the half turn that
    bracket their opposites go through `halftomo.stitch_stack` (the same linear interpolation
    in angle, mirror, sub-pixel shift and blend as `ufo reco --half-acquisition`) and come out
    as stitched bands of `width` columns at their first-half angles: a 180-degree scan about
    twice as wide, about `stitched_axis`. Kept at most: the bands of a half turn (rows x width x
    projections in 180 degrees x 4 bytes) and the two latest bands past it.
    """

    def __init__(self, width: int, axis: float):
        if not 0 < axis < width - 1:
            raise ValueError(f"half acquisition: axis {axis} lies outside the detector (0 .. {width - 1})")
        self.axis = axis
        from .halftomo import stitched_geometry  # SciPy: only for half acquisition

        self.width, _, self.stitched_axis = stitched_geometry(width, axis)
        self.origin: float | None = None
        self.direction = 0.0
        self.gaps: list[float] = []
        self.last: float | None = None
        self.waiting: list[tuple[float, np.ndarray]] = []  # first half turn, no pair yet
        self.later: list[tuple[float, np.ndarray]] = []  # past the half turn, may still bracket a pair
        self._refs: tuple[int, int] | None = None  # (darks, flats) the host's FlatField was reduced from
        self._ff: Any = None

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for _, b in self.waiting) + sum(b.nbytes for _, b in self.later)

    def corrected(self, band: np.ndarray, darks: list[np.ndarray], flats: list[np.ndarray]) -> np.ndarray:
        """`band` flat-corrected on the host (stitching needs corrected rows), by the darks and flats
        so far (reduced again when more came)."""
        refs = (len(darks), len(flats))
        if self._refs != refs:
            from .steps import FlatField

            self._ff = FlatField()
            self._ff.reduce(darks, flats)
            self._refs = refs
        return np.asarray(self._ff.correct(band[None]))[0]

    def add(self, angle: float, band: np.ndarray) -> list[tuple[float, np.ndarray]]:
        """One corrected band (rows, width); returns the stitched bands now complete (angle, (rows, wide))."""
        if self.origin is None:
            self.origin = angle
        elif self.last is not None:
            self.gaps.append(abs(angle - self.last))
            if not self.direction:
                self.direction = 1.0 if angle >= self.origin else -1.0
        self.last = angle
        step = float(np.median(self.gaps)) if self.gaps else np.pi
        relative = (self.direction or 1.0) * (angle - self.origin)
        if relative < np.pi - 0.5 * step:
            self.waiting.append((angle, band))
            return []
        self.later.append((angle, band))
        return self._pairs()

    def _pairs(self) -> list[tuple[float, np.ndarray]]:
        if len(self.later) < 2 or not self.waiting:
            return []
        assert self.origin is not None
        sign = self.direction or 1.0
        reach = sign * (self.later[-1][0] - self.origin)
        ready = [w for w in self.waiting if sign * (w[0] - self.origin) + np.pi <= reach + 1e-9]
        if not ready:
            return []
        start = sign * (ready[0][0] - self.origin) + np.pi  # the later bands before the first bracket are not needed
        later = [b for i, b in enumerate(self.later)
                 if i + 1 >= len(self.later) or sign * (self.later[i + 1][0] - self.origin) >= start - 1e-9]
        bands = [b for _, b in ready] + [b for _, b in later]
        angles = np.array([a for a, _ in ready] + [a for a, _ in later])
        stack = np.stack(bands, axis=1)  # (rows, angles, width): one sinogram per row
        from .halftomo import stitch_stack

        stitched, _, _ = stitch_stack(stack, self.axis, angles)
        self.waiting = self.waiting[len(ready):]
        keep_from = sign * (self.waiting[0][0] - self.origin) + np.pi if self.waiting else reach
        self.later = [b for i, b in enumerate(self.later)
                      if i + 2 >= len(self.later) or sign * (self.later[i + 1][0] - self.origin) >= keep_from - 1e-9]
        return [(a, np.ascontiguousarray(stitched[:, i])) for i, (a, _) in enumerate(ready)]
