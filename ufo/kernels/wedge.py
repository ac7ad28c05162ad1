"""Where covered gaps between projections end and a missing wedge begins, and when one weight
for every projection integrates a scan.

Its own module, numpy only: the streaming engine's weights (ufo.tomo.stream_geometry) and the
back-projectors' (ufo.kernels.backproject.angle_weights) apply the same rule, and the GPU path
imports the former without numba.
"""

from __future__ import annotations

import numpy as np

#: the narrowest gap between projections taken for a missing wedge (see `wedge_limit`)
MISSING_WEDGE = np.radians(5.0)


def wedge_limit(typical: float) -> float:
    """The widest gap between neighbouring projections that they still cover: 3 typical gaps,
    and at least 5 degrees. Wider is a missing wedge (a scan shorter than a half turn, a sector
    not measured), whose neighbours take their other gap instead. Without the 5 degrees, one
    gap in eight of randomly spaced angles (exponential gaps: exceeding 3 medians is 12 %) went
    uncovered: slices 0.085 of their maximum off a correctly weighted FBP."""
    return max(3 * typical, float(MISSING_WEDGE))


def one_weight_fits(n_angles: int, step: float, slack: float = 0.0) -> bool:
    """Whether one weight for every projection (`fbp_weight`) integrates a regular scan right: up
    to a half turn, or a whole number of half turns (every line seen equally often). Between
    them (200 or 270 degrees; 600 projections of an 800-projection full turn) the directions of
    the overlap are seen twice and the others once: each projection needs its own weight
    (`angle_weights`); one weight made the slices 13x worse (rms) on a 270-degree scan.
    `slack` (radians): an overlap that small is taken as none, as the jitter of an irregular
    scan of a half turn (its first and last angles a fraction of a step off the ideal ones)."""
    span = n_angles * abs(step)
    if not np.isfinite(span) or span <= np.pi * (1 + 1e-6) + slack:  # angles of no finite number: refused elsewhere
        return True
    return abs(span - round(span / np.pi) * np.pi) <= max(1e-6 * span, slack)


def one_weight_problem(n_angles: int, step: float, slack: float = 0.0) -> str | None:
    """Why one weight for all (DFI's) is wrong for this regular scan, or None (`one_weight_fits`)."""
    if one_weight_fits(n_angles, step, slack):
        return None
    return (f"{n_angles} projections {np.degrees(abs(step)):.6g} degrees apart cover {np.degrees(n_angles * abs(step)):.6g} "
            "degrees, more than a half turn and not a whole number of them: with one weight for every projection "
            "the directions seen twice would count double")
