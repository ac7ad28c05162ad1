"""Previews that help set up a reconstruction: the axis view (what the GUI shows), as plain
functions of a `Plan`, so the Python API offers what the GUI offers and the GUI only maps
HTTP onto them.

`axis_preview(plan)` gives the flat-corrected 0 and 180 degree projections (by the flat-field
step of the streaming engine, `ufo.tomo.steps.FlatField`), the automatic axis estimate and one
slice of the middle row at candidate axes with their sharpness scores; `sinogram(plan, row)`
is the corrected sinogram of one row, as `ufo reco` computes it.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..core.errors import UsageError
from .planning import Pass, Plan
from .running import corrected

if TYPE_CHECKING:
    from ..tomo.axis import AxisScan


@dataclass
class Candidate:
    axis: float
    score: float  # lower is sharper
    slice: np.ndarray  # binned to at most `slice_limit` pixels a side


@dataclass
class AxisPreview:
    width: int  # detector width in pixels (the axis is in these pixels)
    factor: int  # binning of p0 and p180
    p0: np.ndarray  # transmission at 0 degrees, binned
    p180: np.ndarray  # transmission at (about) 180 degrees, binned
    estimate: float  # from the 0/180 pair when the scan has a 180 degree frame, else from the sinogram
    best: float  # the sharpest of the scanned axes (a half acquisition's: the estimate, as `--axis auto` finds it)
    row: int  # the detector row of the candidate slices
    candidates: list[Candidate]


def bin_image(image: np.ndarray, limit: int = 512) -> tuple[np.ndarray, int]:
    """`image` averaged over square blocks so no side exceeds `limit`; (binned, block size)."""
    factor = max(1, math.ceil(max(image.shape) / limit))
    if factor > 1:
        h, w = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
        image = image[:h, :w].reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))
    return image, factor


def sinogram(plan: Plan, row: int) -> np.ndarray:
    """The corrected sinogram of detector `row` (-log of flat-corrected when `ufo reco` takes it)."""
    from ..core.registry import create

    o = plan.options
    one = Pass(row, 1, 1, slice(0, 1), 0)
    absorption = o.absorption if o.absorption is not None else o.flats is not None
    stream = corrected(plan, one, bool(absorption))
    return create("transpose-projections", number=plan.projections)(stream).collect()[0]  # type: ignore[no-any-return]


def _frames(path: str, key: int | None, index: int | None = None, run: int | None = None) -> np.ndarray:
    from ..storage.readers import open_source

    source = open_source(path, image_key=key, image_key_run=run)
    try:
        if index is not None:
            return source.read(index, slice(None), None).astype(np.float32)  # type: ignore[no-any-return]
        return np.stack([source.read(i, slice(None), None) for i in range(source.count)]).astype(np.float32)
    finally:
        source.close()


def opposite_projections(plan: Plan) -> tuple[np.ndarray, np.ndarray, bool]:
    """The projections at 0 and 180 degrees, flat-corrected as transmission when darks and flats
    are given; the flag says whether the second is exactly 180 degrees (else the scan's last)."""
    o = plan.options
    if not o.projections:
        raise UsageError("projections: the axis view needs projections (0 and 180 degree frames)")
    keys = plan.image_keys
    from .planning import scan_angles

    angles = scan_angles(plan)  # the file's own (also irregular ones), else the step
    step = float(np.median(np.abs(np.diff(angles))))
    target = angles[0] + math.copysign(math.pi, angles[-1] - angles[0])
    opposite = int(np.argmin(np.abs(angles - target)))
    exact = abs(angles[opposite] - target) < 0.5 * step  # a scan over [0, 180) has no 180 degree frame: its last
    if abs(angles[opposite] - angles[0]) < math.pi - 2.5 * step or opposite < 2:
        raise UsageError(f"angle: the scan has {plan.projections} projections of {step:.5f} rad, none near 180 degrees")
    p0 = _frames(o.projections, keys.get("projections"), 0)
    p180 = _frames(o.projections, keys.get("projections"), opposite)
    if o.flats:  # the flat-field step of `ufo reco` and the online reconstruction (no darks: a dark of 0)
        from ..tomo.steps import FlatField

        ff = FlatField(absorption=False)
        ff.reduce(list(_frames(o.darks, keys.get("darks"))) if o.darks else [],
                  list(_frames(o.flats, keys.get("flats"), run=plan.key_runs.get("flats"))))
        p0, p180 = ff.correct(np.stack([p0, p180]))
    return p0, p180, exact


def axis_preview(plan: Plan, candidates: int = 9, limit: int = 512, slice_limit: int = 192,
                 stop: threading.Event | None = None) -> AxisPreview:
    """The axis view of `plan`: 0/180 projections, the estimate, and `candidates` slices of the
    middle row around it (the best always among them). `stop` (set: Cancelled) is looked at
    between the steps and the candidates: a GUI stopped by Ctrl-C waited minutes for a view at 2048
    px to end."""
    from ..tomo.axis import axis_by_scan, axis_from_projections, axis_from_sinogram

    p0, p180, exact = opposite_projections(plan)
    row = plan.rows[len(plan.rows) // 2]
    _check(stop)
    sino = sinogram(plan, row)
    _check(stop)
    from ..tomo.halftomo import coverage, first_half
    from .planning import scan_angles

    angles = scan_angles(plan)
    estimate = axis_from_projections(p0, p180) if exact else axis_from_sinogram(sino, span=coverage(angles))
    if plan.options.half_acquisition:  # the axis near an edge: opposite projections overlap there only
        from ..tomo.axis import axis_half_acquisition

        estimate = axis_half_acquisition(sino, angles)  # what `ufo reco --axis auto` takes: the best here
        scan = half_acquisition_scan(sino, angles, estimate, stop=stop)
    else:
        half = first_half(angles)  # a 360-degree scan: its first half turn, at its real angles
        scan = axis_by_scan(sino[:half], centre=estimate, search=min(16.0, plan.width / 8), angles=angles[:half],
                            stop=stop)
    order = np.argsort(scan.axes)
    picks = order[np.linspace(0, len(order) - 1, min(candidates, len(order))).astype(int)]
    best = int(np.argmin(np.abs(scan.axes - estimate)) if plan.options.half_acquisition else np.argmin(scan.scores))
    if best not in picks:
        picks = np.sort(np.append(picks[:-1], best))
    r0, factor = bin_image(p0, limit)
    r180, _ = bin_image(p180, limit)
    found = estimate if plan.options.half_acquisition else scan.best
    return AxisPreview(plan.width, factor, r0, r180, float(estimate), float(found), int(row),
                       [Candidate(float(scan.axes[i]), float(scan.scores[i]), bin_image(scan.slices[i], slice_limit)[0])
                        for i in picks])


def half_acquisition_scan(sino: np.ndarray, angles: np.ndarray, estimate: float, search: float = 4.0,
                          step: float = 0.5, stop: threading.Event | None = None) -> AxisScan:
    """Slices of a half acquisition's row at axes every `step` px over +-`search` around `estimate`,
    each of its sinogram stitched at that axis (`ufo reco --half-acquisition`'s slices), with their
    entropy scores: a full-field scan of the first half turn sees half the object and picked axes
    38-56 px off in the GUI. Slices of neighbouring axes differ in width by a few pixels: all are cut
    to the narrowest, about their common centre, and scored together on one value range. (The
    scores guide the eye only: the stitched slices' entropy minimum lay 0.4-0.8 px off on a
    128 px phantom, where the overlap of opposite projections found the axis to 0.02 px.)"""
    from ..tomo.axis import AxisScan, entropy_scores, scan_slices
    from ..tomo.halftomo import stitch

    width = sino.shape[-1]
    axes = estimate + np.arange(-search, search + step / 2, step)
    axes = axes[(axes > 0) & (axes < width - 1)]
    slices = []
    for axis in axes:
        _check(stop)
        joined = stitch(sino, float(axis), angles)
        slices.append(scan_slices(joined.sinogram, np.array([joined.axis]), angles=joined.angles)[0])
    side = min(s.shape[0] for s in slices)
    cut = np.stack([s[(s.shape[0] - side) // 2:][:side, (s.shape[1] - side) // 2:][:, :side] for s in slices])
    return AxisScan(axes, entropy_scores(cut), cut)


def _check(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        from ..core.errors import Cancelled

        raise Cancelled("the axis view was stopped")
