"""Flat-field correction in one pass over each projection (numba, GIL released)."""

from __future__ import annotations

import math

import numba


@numba.njit(nogil=True, cache=True, error_model="numpy")
def flat_correct(proj, dark, flat, absorption, fix, out):  # pragma: no cover - compiled
    """out = (proj - dark) / (flat - dark), then -log if `absorption`; non-finite values -> 0 if `fix`."""
    rows, cols = proj.shape
    for r in range(rows):
        for c in range(cols):
            d = dark[r, c]
            v = (proj[r, c] - d) / (flat[r, c] - d)
            if absorption:
                v = -math.log(v) if v > 0 else math.nan
            if fix and not math.isfinite(v):
                v = 0.0
            out[r, c] = v
