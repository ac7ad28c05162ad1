"""The standard tomography graph, planned from options (what `ufo reco` and the GUI run).

Planning is pure: `plan()` turns options into row passes that fit in memory and `graph()`
builds one pass's graph. `run()` executes the passes one after another into one output.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core import Graph, RunHandle, Stream, Task
from ..core.errors import UsageError
from ..core.registry import create
from ..storage import open_source
from ..core.resources import available_memory
from .axis import axis_from_sinogram
from .filters import FILTERS
from .options import RecoOptions


@dataclass(frozen=True)
class Pass:
    """One band of detector rows reconstructed in one graph."""

    first_row: int  # first detector row read
    rows: int  # rows read (with margin)
    step: int
    keep: slice  # rows of the band kept as slices (margins for phase retrieval cut off)
    first_slice: int  # index of the first slice written


@dataclass
class Plan:
    options: RecoOptions
    width: int
    height: int
    projections: int
    rows: list[int]  # detector rows to reconstruct
    passes: list[Pass]
    axis: float | None
    memory_per_pass: int
    warnings: list[str] = field(default_factory=list)
    image_keys: dict[str, int | None] = field(default_factory=dict)  # for NXtomo/DXchange inputs

    @property
    def slices(self) -> int:
        return len(self.rows)

    def describe(self) -> str:
        o = self.options
        src = f"projections {o.projections}" if o.projections else f"sinograms {o.sinograms}"
        step = o.angle if o.angle is not None else math.pi / self.projections
        lines = [
            f"input: {src} ({self.projections} x {self.height} x {self.width})",
            f"slices: {self.slices} (rows {self.rows[0]}..{self.rows[-1]} step {self._step()}) -> {o.output}",
            f"axis: {'auto (' + o.axis_method + ')' if o.axis == 'auto' else self.axis if self.axis is not None else self.width / 2}",
            f"angles: step {step:.6g} rad, offset {o.offset:g} rad; filter {o.filter} (cutoff {o.filter_cutoff:g})",
            f"passes: {len(self.passes)} of up to {max(p.keep.stop - p.keep.start for p in self.passes)} rows, "
            f"~{self.memory_per_pass / 2**20:.0f} MiB each",
        ]
        return "\n".join(lines)

    def _step(self) -> int:
        return self.rows[1] - self.rows[0] if len(self.rows) > 1 else 1


def parse_region(text: str | None, height: int) -> list[int]:
    """'from:to:step' (Python slice rules, 'to' excluded) into detector rows."""
    if not text:
        return list(range(height))
    parts = text.split(":")
    if len(parts) > 3:
        raise UsageError(f"region '{text}' must be from:to:step")
    try:
        values = [int(p) if p.strip() else None for p in parts] + [None] * (3 - len(parts))
    except ValueError:
        raise UsageError(f"region '{text}' must be integers from:to:step") from None
    if len(parts) == 1 and values[0] is not None:
        values[1] = values[0] + 1
    rows = list(range(height))[slice(*values)]
    if not rows:
        raise UsageError(f"region '{text}' selects no rows of the {height} detector rows")
    return rows


def phase_margin(options: RecoOptions) -> int:
    """Rows read above and below a band so the phase filter sees the neighbourhood."""
    if not options.phase:
        return 0
    from .phase import wavelength

    energy = options.energy or 20.0
    length = math.sqrt(math.pi * wavelength(energy) * (options.distance or 0.1) * options.delta_beta)
    return int(min(256, max(16, 4 * length / (options.pixel_size or 1e-6))))


def plan(options: RecoOptions, available: int | None = None, outputs: bool = True) -> Plan:
    """Check the inputs and split the rows into passes that fit in memory.

    `outputs`: also check the output before any work (see `check_outputs`); False for plans
    that write nothing (the GUI's axis view)."""
    o = options
    if o.angle is not None and o.angle == 0:
        raise UsageError("--angle (the angle step) must not be 0")
    if bool(o.projections) == bool(o.sinograms):
        raise UsageError("give either --projections or --sinograms (exactly one)")
    if o.filter not in FILTERS:
        raise UsageError(f"unknown filter '{o.filter}'; choose one of {', '.join(FILTERS)}")
    if o.phase and not (o.energy and o.distance and o.pixel_size):
        raise UsageError("phase retrieval needs --energy, --distance and --pixel-size together")
    if o.phase and o.sinograms:
        raise UsageError("phase retrieval works on projections, not sinograms")
    if (o.darks is None) != (o.flats is None):
        raise UsageError("flat-field correction needs both --darks and --flats")
    if outputs:
        check_outputs(o)
    source = open_source(o.projections or o.sinograms)  # type: ignore[arg-type]
    layout = getattr(source, "layout", None)
    source.close()
    keys: dict[str, int | None] = {}
    if layout is not None and o.projections:
        o, keys = _from_layout(o)
        source = open_source(o.projections, image_key=0)  # type: ignore[arg-type]
    else:
        source = open_source(o.projections or o.sinograms)  # type: ignore[arg-type]
    try:
        count, shape = source.count, source.shape
    finally:
        source.close()
    if len(shape) != 2:
        raise UsageError(f"'{o.projections or o.sinograms}' holds frames of shape {shape}; 2-D images expected")
    axis = _axis_value(o)
    if o.sinograms:
        n_angles, width = shape
        if n_angles < 2:
            raise UsageError(f"sinograms in '{o.sinograms}' have {n_angles} angle(s): are these projections? (use --projections)")
        rows = parse_region(o.region, count)
        _check_axis(axis, width)
        one = Pass(0, len(rows), 1, slice(0, len(rows)), 0)
        result = Plan(o, width, count, n_angles, rows, [one], axis, len(rows) * n_angles * width * 4, image_keys=keys)
        if n_angles * 4 < width:
            result.warnings.append(f"the sinograms have only {n_angles} angles for {width} pixels: if these are "
                                   "projections (rows x width), use --projections")
        return result
    height, width = shape
    if o.number and o.number > count:
        raise UsageError(f"--number {o.number} asks for more projections than the {count} in '{o.projections}'")
    projections = min(count, o.number) if o.number else count
    if projections < 2:
        raise UsageError(f"'{o.projections}' holds {count} projection(s); a reconstruction needs many")
    _check_axis(axis, width)
    rows = parse_region(o.region, height)
    step = rows[1] - rows[0] if len(rows) > 1 else 1
    budget = int((available if available is not None else available_memory()) * o.memory_fraction)
    per_row = projections * width * 4 * 3  # projections band, sinogram stack and in-flight copies
    band = o.pass_height or max(1, budget // per_row)
    margin = phase_margin(o)
    passes = []
    for first in range(0, len(rows), band):
        chunk = rows[first: first + band]
        lo = max(0, chunk[0] - margin * step)
        hi = min(height - 1, chunk[-1] + margin * step)
        lo = chunk[0] - ((chunk[0] - lo) // step) * step
        read_rows = list(range(lo, hi + 1, step))
        keep_start = read_rows.index(chunk[0])
        passes.append(Pass(lo, len(read_rows), step, slice(keep_start, keep_start + len(chunk)), first))
    need = max(p.rows for p in passes) * per_row
    if need > (available if available is not None else available_memory()):
        raise UsageError(f"even one row of {projections} projections x {width} pixels needs more memory than is available")
    result = Plan(o, width, height, projections, rows, passes, axis, need, image_keys=keys)
    if projections * 4 < width:
        result.warnings.append(f"only {projections} projections for {width} pixels: if these are sinograms "
                               "(angles x width), use --sinograms")
    return result


def check_outputs(o: RecoOptions) -> None:
    """Before any work (progress bar, axis search, a GUI run): the output is none of the inputs,
    does not contain or lie inside one (links followed), and can be written (UsageError)."""
    from ..storage.guard import check_output, refuse_conflict

    refuse_conflict(o.output, [p for p in (o.projections, o.sinograms, o.darks, o.flats, o.flats2) if p])
    check_output(o.output, o.overwrite)


def _from_layout(o: RecoOptions) -> tuple[RecoOptions, dict[str, int | None]]:
    """An NXtomo or DXchange file holds darks, flats and angles too: use them unless given."""
    from dataclasses import replace

    keys: dict[str, int | None] = {"projections": 0}
    changes: dict[str, Any] = {}
    with_key = {name: open_source(o.projections, image_key=key) for name, key in (("darks", 2), ("flats", 1))}  # type: ignore[arg-type]
    for name, src in with_key.items():
        if getattr(o, name) is None and src.count:
            changes[name] = o.projections
            keys[name] = 2 if name == "darks" else 1
        src.close()
    if o.angle is None:
        proj = open_source(o.projections, image_key=0)  # type: ignore[arg-type]
        angles = [a for a in getattr(proj, "angles", []) if a is not None]
        proj.close()
        if len(angles) >= 2:
            steps = np.diff(angles)
            step = float(np.median(steps))
            if np.max(np.abs(steps - step)) > 1e-3 * max(abs(step), 1e-9) + 1e-6:
                raise UsageError(f"the projections in '{o.projections}' are not equally spaced in angle; "
                                 "give --angle and --offset to override")
            changes.update(angle=step, offset=float(angles[0]) if o.offset == 0.0 else o.offset)
    return replace(o, **changes), keys


def _axis_value(o: RecoOptions) -> float | None:
    if o.axis is None or o.axis == "auto":
        return None
    try:
        return float(o.axis)
    except (TypeError, ValueError):
        raise UsageError(f"--axis takes a number (pixels) or 'auto', got '{o.axis}'") from None


def _check_axis(axis: float | None, width: int) -> None:
    if axis is not None and not 0 <= axis <= width:
        raise UsageError(f"axis {axis} lies outside the detector (0 .. {width} pixels)")


# -- graphs -------------------------------------------------------------------------------
def _read(path: str, p: Pass | None = None, number: int | None = None, image_key: int | None = None) -> Stream:
    props: dict[str, Any] = {"path": path}
    if image_key is not None:
        props["image_key"] = image_key
    if p is not None:
        props.update(y=p.first_row, height=(p.rows - 1) * p.step + 1, y_step=p.step)
    if number:
        props["number"] = number
    return create("read", **props)()


def _corrected(plan: Plan, p: Pass, absorption: bool) -> Stream:
    o = plan.options
    keys = plan.image_keys
    projections = _read(o.projections, p, plan.projections, keys.get("projections"))  # type: ignore[arg-type]
    if o.darks is None:
        return projections
    inputs = [projections, _read(o.darks, p, image_key=keys.get("darks")),  # type: ignore[arg-type]
              _read(o.flats, p, image_key=keys.get("flats"))]  # type: ignore[arg-type]
    if o.flats2:
        inputs.append(_read(o.flats2, p))
    return create("flat-field-correct", absorption=absorption, replicas=o.replicas)(*inputs)


def _backprojected(plan: Plan, sinograms: Stream, axis: float | None) -> Stream:
    o = plan.options
    if o.remove_stripes:
        sinograms = create("remove-stripes", size=o.remove_stripes, replicas=o.replicas)(sinograms)
    stacked = create("stack", number=o.slices_per_pass, partial=True)(sinograms)
    props: dict[str, Any] = dict(filter=o.filter, filter_cutoff=o.filter_cutoff, angle_offset=o.offset)
    if axis is not None:
        props["axis"] = axis
    if o.angle is not None:
        props["angle_step"] = o.angle
    if o.roi is not None:
        props.update(roi_x=o.roi[0], roi_y=o.roi[1], roi_width=o.roi[2], roi_height=o.roi[3])
    slices = create("backproject", replicas=o.replicas, **props)(stacked)
    return create("unstack")(slices)


def writer(plan: Plan, p: Pass, first_slice: int = 0) -> Task:
    """The write task of one pass; `first_slice` numbers the output when it is written in parts."""
    o = plan.options
    return create("write", path=o.output, bits=o.output_bits, minimum=o.output_min, maximum=o.output_max,
                  overwrite=o.overwrite and p.first_slice == 0, append=p.first_slice > 0,
                  start=first_slice + p.first_slice)


def graph(plan: Plan, p: Pass, axis: float | None, sink: Task | None = None) -> tuple[Graph, Task]:
    """The graph of one pass and its sink (the writer unless another is given)."""
    o = plan.options
    if o.sinograms:
        sinograms = create("read", path=o.sinograms, start=plan.rows[0], number=len(plan.rows),
                           step=plan.rows[1] - plan.rows[0] if len(plan.rows) > 1 else 1)()
    else:
        absorption = o.absorption if o.absorption is not None else (o.darks is not None and not o.phase)
        frames = _corrected(plan, p, absorption)
        if o.remove_outliers:
            frames = create("remove-outliers", threshold=o.remove_outliers, replicas=o.replicas)(frames)
        if o.phase:
            frames = create("retrieve-phase", energy=o.energy, distance=o.distance, pixel_size=o.pixel_size,
                            delta_beta=o.delta_beta, replicas=o.replicas)(frames)
        if p.keep != slice(0, p.rows):
            frames = create("crop", y=p.keep.start, height=p.keep.stop - p.keep.start)(frames)
        sinograms = create("transpose-projections", number=plan.projections)(frames)
    out = sink if sink is not None else writer(plan, p)
    return Graph([out(_backprojected(plan, sinograms, axis))]), out


def find_axis(plan: Plan) -> float:
    """The axis from the sinogram of the middle row to reconstruct."""
    o = plan.options
    row = plan.rows[len(plan.rows) // 2]
    if o.sinograms:
        sino = create("read", path=o.sinograms, start=row, number=1)().collect()[0]
    else:
        middle = Pass(row, 1, 1, slice(0, 1), 0)
        absorption = o.darks is not None
        sino = create("transpose-projections", number=plan.projections)(_corrected(plan, middle, absorption)).collect()[0]
    from .axis import half_turn

    step = abs(o.angle) if o.angle is not None else math.pi / plan.projections
    half = half_turn(sino, step * plan.projections)  # a 360-degree scan: its first half turn, as online
    if o.axis_method == "scan":
        from .axis import axis_by_scan

        return axis_by_scan(half, angle_step=step).best
    return axis_from_sinogram(half)


@dataclass
class RecoResult:
    plan: Plan
    axis: float
    seconds: float
    handles: list[RunHandle]

    @property
    def slices_per_second(self) -> float:
        return self.plan.slices / self.seconds if self.seconds else 0.0

    @property
    def gups(self) -> float:
        """Giga voxel updates per second: angles x slice pixels x slices / time."""
        o = self.plan.options
        cols, rows = (o.roi[2], o.roi[3]) if o.roi else (self.plan.width, self.plan.width)
        return self.plan.projections * cols * rows * self.plan.slices / self.seconds / 1e9 if self.seconds else 0.0


def run(plan: Plan, on_start: Callable[[RunHandle, int], None] | None = None,
        sink: Callable[[Plan, Pass], Task] | None = None) -> RecoResult:
    """Reconstruct every pass into the output; `on_start(handle, slices_before)` lets callers watch;
    `sink(plan, pass)` replaces the writer (a region of a shared volume, say)."""
    t0 = time.perf_counter()
    axis = plan.axis
    if plan.options.axis == "auto":
        axis = find_axis(plan)
    handles = []
    for p in plan.passes:
        g, _ = graph(plan, p, axis, sink(plan, p) if sink is not None else None)
        handle = g.run(device=plan.options.gpus)
        if on_start is not None:
            on_start(handle, p.first_slice)
        handles.append(handle)
        handle.wait()
    return RecoResult(plan, axis if axis is not None else plan.width / 2, time.perf_counter() - t0, handles)
