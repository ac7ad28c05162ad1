"""Flat-field correction in one pass over each projection (numba, GIL released).

The rule for pixels without counts (docs/conventions.md "Values"), with `floor` (the default
`starved=floor` of flat-field-correct): a starved pixel (projection <= dark < flat) gets the
transmission `min(1 / (flat - dark), 1e-3)`, less than one count of its flat; a dead one (flat
<= dark, or not finite) is non-finite and, with `fix`, transparent: 0 after -log, 1 before.
Without `floor` (UFO's numbers): the ratio as is, -log of a ratio <= 0 NaN, non-finite -> 0.
"""

from __future__ import annotations

import math

import numba

#: the highest transmission a starved pixel gets (-log: 6.9), for flats of fewer than 1000 counts
STARVED_CEILING = 1e-3


@numba.njit(nogil=True, cache=True, error_model="numpy")
def flat_correct(proj, dark, flat, absorption, fix, out, floor=True):  # pragma: no cover - compiled
    """out = (proj - dark) / (flat - dark), then -log if `absorption`; starved pixels floored and
    non-finite values filled (0 after -log, 1 in transmission; 0 in both without `floor`) if `fix`."""
    rows, cols = proj.shape
    fill = 1.0 if floor and not absorption else 0.0
    for r in range(rows):
        for c in range(cols):
            d = dark[r, c]
            span = flat[r, c] - d
            v = (proj[r, c] - d) / span
            if floor and not (span > 0 and v > 0):  # rare: one test for the common case
                if span > 0:
                    if v <= 0:  # starved (not NaN)
                        v = min(1.0 / span, STARVED_CEILING)
                elif fix:
                    v = math.nan  # dead: filled below, whatever the ratio
            if absorption:
                v = -math.log(v) if v > 0 else math.nan
            if fix and not math.isfinite(v):
                v = fill
            out[r, c] = v
