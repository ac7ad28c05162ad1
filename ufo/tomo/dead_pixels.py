"""Dead detector pixels, filled after flat-field correction from the good pixels of their row.

A dead pixel (its flat no brighter than its dark, or not finite) has no transmission to measure.
Filled with a constant (transparent: 0 after -log, 1 before, as nabu does) it is still a column
of wrong values at every angle: on a Shepp-Logan scan a ring of 37 % rms of the slice for one
dead column, and before phase retrieval a bright stripe in a dense object that Paganin's filter
spreads into a wide halo (a 5-column dead cluster: 42 % off the clean scan's slice). Filled by
linear interpolation between the nearest good pixels left and right in its row, in whatever
domain the correction gives, 0.2 % and 0.7 % (tests/test_flat_starved.py).

The pixels are known from the references alone, so the plan (which pixels, which neighbours,
which weights) is made once per set of darks and flats and each frame pays a gather of a few
values: the same code runs on numpy and CuPy arrays, without a device-to-host sync. Rows with no
good pixel keep the constant fill. `flat-field-correct starved=ufo` (UFO's numbers) and
`fix-nan-and-inf=false` (the raw ratio) fill nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class DeadFill:
    """Which pixels to fill and from where, on the array module of the frames it fills."""

    def __init__(self, rows: Any, cols: Any, left: Any, right: Any, weight: Any):
        self.rows, self.cols, self.left, self.right, self.weight = rows, cols, left, right, weight

    @property
    def count(self) -> int:
        return int(self.rows.shape[0])

    @classmethod
    def of(cls, dark: Any, flats: list[Any], xp: Any = np) -> DeadFill | None:
        """The plan for the pixels dead against `dark` in any of `flats` (2-D frames, numpy or `xp`
        arrays); None where none is (or every one is: nothing to fill from)."""
        if getattr(dark, "ndim", 0) != 2:
            return None
        dead = xp.zeros(dark.shape, bool)  # on the references' device: one answer comes back, not the frames
        for flat in flats:
            if flat is not None:
                dead |= ~(xp.asarray(flat, xp.float32) - xp.asarray(dark, xp.float32) > 0)  # NaN counts as dead
        if not bool(dead.any()) or bool(dead.all()):
            return None
        return cls.where(np.asarray(getattr(xp, "asnumpy", np.asarray)(dead)), xp)

    @classmethod
    def where(cls, dead: np.ndarray, xp: Any = np) -> DeadFill:
        """The plan for the pixels `dead` marks (a 2-D boolean array, on the host); its arrays on `xp`."""
        width = dead.shape[1]
        good = np.flatnonzero(~dead)  # sorted: the nearest good pixel either side is a search away
        target = np.flatnonzero(dead)
        place = np.searchsorted(good, target)
        left = good[np.maximum(place - 1, 0)]
        right = good[np.minimum(place, good.size - 1)]
        rows, cols = np.divmod(target, width)
        has_left = (place > 0) & (left // width == rows)
        has_right = (place < good.size) & (right // width == rows)
        left, right = left - rows * width, right - rows * width  # columns
        some = has_left | has_right  # a row without a good pixel keeps the constant fill
        rows, cols, left, right = rows[some], cols[some], left[some], right[some]
        has_left, has_right = has_left[some], has_right[some]
        both = has_left & has_right
        weight = np.where(both, (cols - left) / np.maximum(right - left, 1), np.where(has_right, 1.0, 0.0))
        left, right = np.where(has_left, left, right), np.where(has_right, right, left)
        return cls(*(xp.asarray(a) for a in (rows, cols, left, right)), xp.asarray(weight.astype(np.float32)))

    def apply(self, frames: Any) -> Any:
        """Fill the dead pixels of `frames` (..., rows, columns), in place; returns `frames`."""
        r = self.rows
        frames[..., r, self.cols] = ((1 - self.weight) * frames[..., r, self.left]
                                     + self.weight * frames[..., r, self.right])
        return frames
