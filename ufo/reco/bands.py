"""Which detector rows a pass of `ufo reco` reads and which of them it keeps as slices."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .options import RecoOptions


@dataclass(frozen=True)
class Pass:
    """One band of detector rows reconstructed in one graph."""

    first_row: int  # first detector row read
    rows: int  # rows read (with margin)
    step: int
    keep: slice  # rows of the band kept as slices (margins cut off; a step where every row was read)
    first_slice: int  # index of the first slice written


def phase_margin(options: RecoOptions) -> int:
    """Rows read above and below a band so the phase filter sees the neighbourhood."""
    if not options.phase:
        return 0
    from ..tomo.phase import wavelength

    energy = options.energy or 20.0
    length = math.sqrt(math.pi * wavelength(energy) * (options.distance or 0.1) * options.ratio)
    return int(min(256, max(16, 4 * length / (options.pixel_size or 1e-6))))


def read_margin(options: RecoOptions) -> int:
    """Rows read above and below those reconstructed: phase retrieval's neighbourhood, the outlier
    median's 3 x 3. These steps filter rows as neighbours, so every row is read whatever the
    region's step: filtering every step-th row as if it were the next one is wrong."""
    return max(phase_margin(options), 1 if options.remove_outliers else 0)


def band(chunk: list[int], step: int, margin: int, height: int, first_slice: int) -> Pass:
    """The pass reconstructing the detector rows `chunk` (`step` apart): read with that step, or
    with a margin every row from `margin` above the first to `margin` below the last, of which it
    keeps `chunk` (`keep` then has the step)."""
    if not margin:
        return Pass(chunk[0], len(chunk), step, slice(0, len(chunk)), first_slice)
    lo, hi = max(0, chunk[0] - margin), min(height - 1, chunk[-1] + margin)
    return Pass(lo, hi - lo + 1, 1, slice(chunk[0] - lo, chunk[-1] - lo + 1, step), first_slice)


def kept(p: Pass) -> int:
    """How many slices pass `p` reconstructs."""
    return len(range(p.keep.start, p.keep.stop, p.keep.step or 1))
