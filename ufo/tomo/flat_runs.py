"""Flats taken in runs during a scan: each projection's flat interpolated by its place in time.

Long scans take flats before, during and after the projections (an ESRF scan every 500
projections, a BLISS `flat_n`, tomoscan's refHST files): the beam and the scintillator drift
between them. One median of all flats corrects the projections near none of them; nabu, as
the beamlines' own reconstruction, interpolates linearly between the runs around each
projection by its position in the acquisition. So does this: before the first run the first,
after the last the last. The arithmetic is generic (numpy or CuPy frames).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def split_runs(positions: Sequence[int]) -> list[list[int]]:
    """Indices into `positions` (ascending acquisition positions), split where they are not consecutive."""
    runs: list[list[int]] = []
    for i, position in enumerate(positions):
        if runs and position == positions[runs[-1][-1]] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


class FlatRuns:
    """The reduced flat of each run and the run's centre (mean acquisition position)."""

    def __init__(self, centres: Sequence[float], flats: Sequence[Any]):
        if len(centres) != len(flats) or not flats:
            raise ValueError("one centre per reduced flat, at least one")
        order = np.argsort(centres, kind="stable")
        self.centres = [float(centres[i]) for i in order]
        self.flats = [flats[i] for i in order]
        self.steps = [b - a for a, b in zip(self.flats, self.flats[1:])]  # one multiply-add a projection

    def __len__(self) -> int:
        return len(self.flats)

    def weights(self, position: float) -> tuple[int, float]:
        """(k, w): the flat at `position` is (1 - w) * flats[k] + w * flats[k + 1] (w = 0 at the ends)."""
        centres = self.centres
        if position <= centres[0]:
            return 0, 0.0
        if position >= centres[-1]:
            return len(centres) - 1, 0.0
        k = int(np.searchsorted(centres, position, side="right")) - 1
        return k, (position - centres[k]) / (centres[k + 1] - centres[k])

    def at(self, position: float) -> Any:
        """The flat interpolated at acquisition `position`."""
        k, w = self.weights(position)
        if w == 0.0:
            return self.flats[k]
        flat = self.steps[k] * np.float32(w)  # flats[k] + w (flats[k + 1] - flats[k]): one new frame
        flat += self.flats[k]
        return flat


class StreamPlaces:
    """Where a stream's flats and projections came in the acquisition (their frame numbers): the
    online engine interpolates flats taken in runs during the scan by them, as `ufo reco` of the
    file does by its frames' `file_index`."""

    def __init__(self) -> None:
        self.flats: list[int] = []  # of the engine's flats (before the first projection)
        self.after: list[int] = []  # of the flats after the first projection
        self.projections: list[int] = []
