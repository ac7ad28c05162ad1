"""Where covered gaps between projections end and a missing wedge begins.

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
