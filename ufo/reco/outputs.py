"""What `ufo reco` stores with its output: how it was made, and one integer scale for the volume.

`output_metadata` is the configuration record (as nabu stores its configuration): the options
with their units, the inputs, the axis, an angles summary, ufo's version and the date; the write
task hands it down to the writer as a plain dict (storage stays below reco).

`with_output_scale` fixes one [min, max] for 8/16-bit output before anything is written. The
scale comes from a sample of slices reconstructed first: up to `SAMPLE_SLICES` rows spread
evenly over the whole region (top, middle and bottom of a sample often differ: air above,
dense parts below), in one pass whose read step skips the rows in between; with phase
retrieval each sample row is read with its margin. The first pass's slices would cost nothing
extra but see only the top of the volume, and the write task's own fallback (the first frames)
sees even less. The cost is one more read of the projections for a handful of rows.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..storage.nexus import scan_pixel_size
from .bands import band, read_margin
from .planning import Pass, Plan, needs_scale

SAMPLE_SLICES = 8


def output_metadata(plan: Plan, axis: float | None) -> dict[str, Any]:
    """The record of how the output is made, as plain JSON values (the writer stores it)."""
    from .. import __version__

    o = plan.options
    given = getattr(plan, "angles", None)  # irregular angles from the file
    span = 2 * math.pi if getattr(o, "half_acquisition", False) else math.pi
    step = o.angle if o.angle is not None else span / plan.projections
    if given is not None and len(given) > 1:
        step = (float(given[-1]) - float(given[0])) / (len(given) - 1)  # the mean step of irregular angles
    rows = plan.rows
    return {
        "program": "ufo reco",
        "version": __version__,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "configuration": _configuration(o),
        "input": {name: getattr(o, name) for name in ("projections", "sinograms", "darks", "flats", "flats2")
                  if getattr(o, name)},
        "axis": float(axis) if axis is not None else plan.width / 2,
        "angles": {"count": plan.projections, "step": step, "offset": float(given[0]) if given is not None and len(given)
                   else o.offset, "span": step * plan.projections, "regular": given is None, "units": "rad"},
        "rows": {"first": rows[0], "last": rows[-1], "step": rows[1] - rows[0] if len(rows) > 1 else 1},
        # -log of flat-corrected projections back-projected: attenuation per pixel (docs/conventions.md, Values)
        "units": "1/pixel" if o.absorption or o.flats is not None and o.absorption is not False else "",
        **({"pixel_size": pixel} if (pixel := o.pixel_size or scan_pixel_size(o.projections)) else {}),
    }


def _configuration(o: Any) -> dict[str, Any]:
    """The options as stored; the delta/beta phase retrieval used where it was the default (the
    file said null, the NeXus ufo_config nothing)."""
    configuration = o.metadata()
    if o.phase and isinstance(configuration.get("values"), dict):
        configuration["values"]["delta_beta"] = o.ratio
    return configuration  # type: ignore[no-any-return]


def with_volume_scale(plan: Plan, slice_at: Callable[[int], Any]) -> Plan:
    """with_output_scale for a volume that exists already (slices kept on the GPU): the same sample
    rows (`sample_passes`), taken from it by `slice_at(index into plan.rows)`, no second read."""
    if not needs_scale(plan):
        return plan
    every = max(1, math.ceil(len(plan.rows) / SAMPLE_SLICES))
    return with_sample_scale(plan, [slice_at(i) for i in range(every // 2, len(plan.rows), every)])


def with_sample_scale(plan: Plan, slices: list[Any]) -> Plan:
    """The plan with --output-min/--output-max, where not given, from the sample's slices
    (`storage.convert.find_scale`: percentiles, widened)."""
    from ..storage.convert import find_scale

    lo, hi = find_scale(slices)
    o = plan.options
    scaled = replace(o, output_min=o.output_min if o.output_min is not None else lo,
                     output_max=o.output_max if o.output_max is not None else hi)
    return replace(plan, options=scaled)


def sample_passes(plan: Plan) -> list[Pass]:
    """Passes reconstructing up to SAMPLE_SLICES rows spread evenly over the region."""
    rows = plan.rows
    every = max(1, math.ceil(len(rows) / SAMPLE_SLICES))
    chosen = rows[every // 2::every]
    region_step = rows[1] - rows[0] if len(rows) > 1 else 1
    margin = read_margin(plan.options)
    if not margin:
        step = region_step * every
        return [Pass(chosen[0], len(chosen), step, slice(0, len(chosen)), 0)]
    return [band([row], 1, margin, plan.height, 0) for row in chosen]  # each row with its neighbours


def with_output_scale(plan: Plan, axis: float | None, build: Callable[..., tuple[Any, Any]],
                      stop: threading.Event | None = None) -> Plan:
    """The plan with --output-min/--output-max set from a sample of slices when 8/16-bit output
    was asked for without them (one scale for the whole volume); other plans unchanged.
    `build(plan, pass, axis, sink)` is running.graph, passed in so this module needs no import of it.
    `stop` (set: the sample's run cancelled, `Cancelled` raised): a Ctrl-C during the sample took
    effect only once it was done (5.6 s late at 2048 px on 2 cores)."""
    o = plan.options
    if not needs_scale(plan):
        return plan
    from ..core.memory import MemoryOut

    slices: list[Any] = []
    for p in sample_passes(plan):
        g, _ = build(plan, p, axis, MemoryOut(out=slices))
        handle = g.run(device=o.gpus)
        while stop is not None and not handle.done:
            if stop.wait(0.05):
                handle.cancel()
                break
        handle.wait()
    return with_sample_scale(plan, slices)
