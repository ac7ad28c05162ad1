"""Hints for the corrections a reconstruction was not asked for: zingers and stripes found in the
middle row's flat-corrected sinogram (ufo.tomo.quality_hints). One copy for `ufo reco` (which
prints them under its result) and the GUI (its run log).

Why hints and no defaults: both corrections alter good data, so they stay the user's choice. A
check that fails costs the hint, never the result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def sinogram_hints(plan: Any, source: Callable[[], Any] | None = None) -> list[str]:
    """The hints for `plan`'s middle row: made by `source` when the run kept the row, else read here."""
    from ..core.errors import UfoError
    from ..core.registry import create
    from ..tomo.quality_hints import check_sinogram
    from .planning import Pass
    from .running import corrected

    o = plan.options
    if o.remove_outliers and o.remove_stripes:
        return []
    row = plan.rows[len(plan.rows) // 2]
    try:
        if source is not None:
            sinos = [source()]
        elif o.sinograms:
            sinos = create("read", path=o.sinograms, start=row, number=1)().collect()
        else:
            absorption = o.absorption if o.absorption is not None else (o.flats is not None and not o.phase)
            frames = corrected(plan, Pass(row, 1, 1, slice(0, 1), 0), absorption)
            sinos = create("transpose-projections", number=plan.projections)(frames).collect()
        if len(sinos) == 0:  # the read was stopped (Ctrl-C stops every graph, this one too): nothing to say
            return []
        report = check_sinogram(sinos[0])
    except UfoError as err:
        return [f"the check for zingers and stripes failed ({err}); none reported"]
    except Exception as err:  # noqa: BLE001 - a hint's failure must not print a traceback over the result
        return [f"the check for zingers and stripes failed ({type(err).__name__}: {err}); none reported"]
    return [h for h in report.hints()
            if not ((o.remove_outliers and "outliers" in h) or (o.remove_stripes and "stripes" in h))]


def geometry_hints(plan: Any, axis: float | None) -> list[str]:
    """A full turn reconstructed as a full field about an axis near the detector's edge: what a half
    acquisition (extended field of view) run without --half-acquisition looks like (DXchange files
    do not record it). Its slices were garbage, exit 0 (correlation 0.59; 0.99 joined)."""
    import math

    from ..tomo.halftomo import coverage
    from .planning import scan_angles

    o = plan.options
    if o.half_acquisition or o.sinograms or axis is None:
        return []
    width = plan.width
    edge = min(axis, width - 1 - axis)
    span = coverage(scan_angles(plan))
    if span < 1.9 * math.pi or edge >= 0.15 * width:
        return []
    return [f"the axis at {axis:.2f} px is {edge:.0f} px from the detector's edge on a {math.degrees(span):.0f}-degree "
            "scan: a half acquisition (extended field of view)? --half-acquisition joins opposite projections into "
            f"sinograms about twice as wide; as a full field only a disc of about {2 * edge:.0f} px about the axis is "
            "reconstructed"]
