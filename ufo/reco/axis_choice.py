"""Which axis `ufo reco --axis auto` takes from the middle row's sinogram, whichever path read it.

The sinogram path reads that row through the graph (`running.find_axis`); the resident path
reads it first of all, before the frames (`resident_reader.Reader`); both decide here, so the two
paths find the same axis for the same scan.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from .planning import Plan, scan_angles


#: pixels the scan searches either side of Vo's estimate (`--axis-method scan`), at most a 16th of the
#: width: far from the axis the object leaves the slice and the entropy falls with it (on the 64-px
#: demo scan, dead columns filled from their rows, the lowest entropy was at 12 px for 34)
SCAN_SEARCH = 16.0


def axis_of(plan: Plan, sino: np.ndarray, device: str | None = None, stop: threading.Event | None = None) -> float:
    """The axis of `plan`'s scan from its middle row's flat-corrected sinogram (angles x width):
    half acquisition by the overlap near one edge, a full turn by each projection against its
    mirror at theta + pi, `--axis-method scan` over the first half turn, else Vo's metric (on
    `device`, by default the GPU where the run uses one). `stop` ends the scan between candidates."""
    # imported here, each where it is used: Vo's search on the GPU needs neither SciPy nor numba
    from ..tomo.axis_vo import axis_from_sinogram, search_device
    from ..tomo.halftomo import coverage, first_half

    o = plan.options
    angles = scan_angles(plan)
    if o.half_acquisition:  # the pairs (theta, theta + pi) overlap only near one edge
        from ..tomo.axis import axis_half_acquisition

        return axis_half_acquisition(sino, angles)
    k = first_half(angles)
    full_turn = coverage(angles) > 1.9 * math.pi
    if o.axis_method == "scan":  # the first half turn at its real angles, around Vo's estimate (as the GUI's axis
        from ..tomo.axis import axis_by_scan  # view): over the detector's middle quarter, an entropy minimum at the

        near = axis_from_sinogram(sino[:k], device=device or search_device(o.gpus),  # range's edge was taken,
                                  span=coverage(angles[:k]))
        from ..tomo.axis_vo import mended  # dead columns' rings in the candidates fooled the scan too

        search = min(SCAN_SEARCH, sino.shape[-1] / 16)
        return axis_by_scan(mended(np.asarray(sino[:k], np.float32)), centre=near, search=search, stop=stop,
                            angles=angles[:k]).best  # 155 px off
    if full_turn:  # every projection with its mirror image at theta + pi
        from ..tomo.axis import axis_360

        return axis_360(sino, angles)
    return axis_from_sinogram(sino, device=device or search_device(o.gpus), span=coverage(angles))
