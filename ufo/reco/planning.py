"""Planning a reconstruction: options in, row passes that fit in memory out (pure functions).

`plan()` reads only the inputs' headers (shape, count, angles, the NXtomo/DXchange keys) and
turns RecoOptions into a `Plan`: the rows to reconstruct, in passes sized by the memory
available, with the margins phase retrieval needs. Nothing here runs a graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..core.errors import UsageError
from ..core.resources import available_memory
from ..storage import open_source
from ..storage.convert import scale_problem
from ..tomo.filters import FILTERS
from ..tomo.grid import outside_view
from .bands import Pass, band, kept, phase_margin, read_margin  # noqa: F401 - Pass, phase_margin: re-exported
from .options import RecoOptions
from .region import parse_region, region_note, select_rows  # noqa: F401 - parse_region: re-exported
from .output_checks import check_numbered, check_outputs, check_room, note_stale  # noqa: F401 - check_outputs: re-exported
from .references import check_references
from .scan_folder import flat_runs, from_scan_folder
from .angles_file import given_angles
from .series import input_notes
from .scan_layout import cut_scan, from_descriptions, from_layout, from_record, not_images

PASSES_IN_FLIGHT = 2  # passes whose sinograms are in memory at once (ufo.reco.pipelined)


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
    key_runs: dict[str, int] = field(default_factory=dict)  # with image_keys: one run of those frames (flats before/after)
    angles: list[float] | None = None  # the true angle of every projection (radians) where they are irregular
    taken: list[str] = field(default_factory=list)  # what a scan folder gave (ufo.reco.scan_folder)
    flat_runs: int = 0  # flats in this many runs of the projections' file: interpolated by place

    @property
    def slices(self) -> int:
        return len(self.rows)

    def describe(self) -> str:
        o = self.options
        src = f"projections {o.projections}" if o.projections else f"sinograms {o.sinograms}"
        span = 2 * math.pi if o.half_acquisition else math.pi
        step = o.angle if o.angle is not None else span / self.projections
        lines = [
            f"input: {src} ({self.projections} x {self.height} x {self.width})",
            *(f"  {line}" for line in self.taken),
            f"slices: {self.slices} (rows {self.rows[0]}..{self.rows[-1]} step {self._step()}) -> {o.output}",
            f"axis: {'auto (' + self._axis_method() + ')' if o.axis == 'auto' else self.axis if self.axis is not None else self.width / 2}",
            f"angles: step {step:.6g} rad, offset {o.offset:g} rad; filter {o.filter} (cutoff {o.filter_cutoff:g})"
            if self.angles is None else f"angles: {len(self.angles)} from the file, irregular ({self.angles[0]:.6g} .. "
            f"{self.angles[-1]:.6g} rad), each back-projected at its own; filter {o.filter} (cutoff {o.filter_cutoff:g})",
            *(["half acquisition: projections at theta and theta + 180 degrees stitched into sinograms about twice "
               "as wide"] if o.half_acquisition else []),
            *([f"phase retrieval (Paganin): {o.energy:g} keV, {o.distance:g} m, pixel {o.pixel_size * 1e6:g} um, "
               f"delta/beta {o.ratio:g}"] if o.phase and o.energy and o.distance and o.pixel_size else []),
            f"passes: {len(self.passes)} of up to {max(kept(p) for p in self.passes)} rows, "
            f"~{self.memory_per_pass / 2**20:.0f} MiB each",
        ]
        return "\n".join(lines)

    def slice_shape(self, axis: float | None) -> tuple[int, int]:
        """(rows, columns) of every slice: the region, else width x width, where the width of a
        half acquisition is that of its stitched sinograms (which depends on the axis)."""
        o = self.options
        if o.roi is not None:
            return (o.roi[3], o.roi[2])
        width = self.width
        if o.half_acquisition and axis is not None:
            from ..tomo.halftomo import stitched_geometry

            width = stitched_geometry(self.width, axis)[0]
        return (width, width)

    def _axis_method(self) -> str:
        """How --axis auto finds the axis of this scan (ufo.reco.axis_choice.axis_of)."""
        from ..tomo.halftomo import coverage

        if self.options.half_acquisition:
            return "overlap of opposite projections near the edge"
        if self.options.axis_method == "sinogram" and coverage(scan_angles(self)) > 1.9 * math.pi:
            return "each projection against its mirror at theta + 180 degrees"
        return self.options.axis_method

    def _step(self) -> int:
        return self.rows[1] - self.rows[0] if len(self.rows) > 1 else 1


def plan(options: RecoOptions, available: int | None = None, outputs: bool = True) -> Plan:
    """Check the inputs and split the rows into passes that fit in memory.

    `outputs`: also check the output before any work (see `check_outputs`); False for plans
    that write nothing (the GUI's axis view)."""
    o, taken, folder_notes = from_scan_folder(options)
    o, recorded = from_record(o)
    folder_notes = [*folder_notes, *recorded]
    if o.angle is not None and o.angle == 0:
        raise UsageError("--angle (the angle step) must not be 0")
    if bool(o.projections) == bool(o.sinograms):
        raise UsageError("give either --projections or --sinograms (exactly one)")
    if o.filter not in FILTERS:
        raise UsageError(f"unknown filter '{o.filter}'; choose one of {', '.join(FILTERS)}")
    if o.phase and not (o.energy and o.distance and o.pixel_size):
        missing = ", ".join(f"--{n.replace('_', '-')}" for n in ("energy", "distance", "pixel_size") if not getattr(o, n))
        raise UsageError(f"phase retrieval needs --energy, --distance and --pixel-size together; give {missing} (not "
                         "recorded in the scan)")
    if o.phase and o.absorption:
        raise UsageError("--absorption with phase retrieval: retrieve-phase takes -log of its filtered frames itself "
                         "(the slices were -log twice); leave --absorption out")
    if o.phase and o.sinograms:
        raise UsageError("phase retrieval works on projections, not sinograms")
    if o.darks is not None and o.flats is None:
        raise UsageError("--darks without --flats: flat-field correction needs flats (--flats FILES)")
    if o.output_min is not None and o.output_max is not None and o.output_min >= o.output_max:
        raise UsageError(f"--output-min {o.output_min:g} is not below --output-max {o.output_max:g}: 8/16-bit output "
                         "maps [min, max] onto its integers; give min < max")
    if o.output_bits in (8, 16) and o.output_min is not None and o.output_max is not None and \
            (why := scale_problem(o.output_bits, o.output_min, o.output_max)) is not None:
        raise UsageError(f"--output-min and --output-max: {why}")
    if outputs:
        check_outputs(o)
    source = open_source(o.projections or o.sinograms)  # type: ignore[arg-type]
    layout = getattr(source, "layout", None)
    source.close()
    keys, angles = {}, None  # type: dict[str, int | None], list[float] | None
    notes: list[str] = list(folder_notes)
    runs, runs_of_flats = {}, 0  # type: dict[str, int], int
    if layout is not None and o.projections:
        o, keys, angles, layout_notes = from_layout(o)
        notes += layout_notes
        if o.flats == o.projections and o.flats2 is None:
            runs_of_flats, more = flat_runs(o)
            taken += more
        source = open_source(o.projections, image_key=0)  # type: ignore[arg-type]
    else:
        o, angles, described = from_descriptions(o)  # a TIFF sequence or stack ufo wrote: each frame's angle
        notes += described
        source = open_source(o.projections or o.sinograms)  # type: ignore[arg-type]
    try:
        count, shape, short = source.count, source.shape, getattr(source, "short_of", 0)
        notes += [w for w in getattr(source, "warnings", []) if w not in notes]
        notes += input_notes(o, source, layout)
    finally:
        source.close()
    if len(shape) != 2:
        raise UsageError(not_images(o.projections or o.sinograms, shape))  # type: ignore[arg-type]
    if o.projections:
        check_references(o, keys, tuple(shape), runs)
        angles = given_angles(o, count, angles, notes)
        o = cut_scan(o, count, short, angles, notes)
    axis = _axis_value(o)
    if o.sinograms:
        n_angles, width = shape
        if n_angles < 2:
            raise UsageError(f"sinograms in '{o.sinograms}' have {n_angles} angle(s): are these projections? (use --projections)")
        if o.number:  # it was ignored: every row of each sinogram back-projected at pi / rows
            raise UsageError(f"--number selects projections; each sinogram of '{o.sinograms}' holds {n_angles} angles, "
                             "all reconstructed: cut the sinograms to the angles wanted, or give --projections")
        angles = given_angles(o, n_angles, None, notes)  # it was ignored too: a regular step assumed
        rows = select_rows(o, count)
        if outputs:
            check_numbered(o, rows)
        _check_axis(axis, width, o)
        one = Pass(0, len(rows), 1, slice(0, len(rows)), 0)
        notes += [note] if (note := region_note(o.region, count, rows)) else []
        result = Plan(o, width, count, n_angles, rows, [one], axis, len(rows) * n_angles * width * 4, image_keys=keys,
                      key_runs=runs, angles=angles, warnings=notes)
        _check_whole(result, outputs)
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
    _check_axis(axis, width, o)
    rows = select_rows(o, height)
    if outputs:
        check_numbered(o, rows)
    step = rows[1] - rows[0] if len(rows) > 1 else 1
    budget = int((available if available is not None else available_memory()) * o.memory_fraction)
    per_row = projections * width * 4 * 3  # projections band, sinogram stack and in-flight copies
    margin = read_margin(o)
    fits = budget // per_row if not margin else max(1, (budget // per_row - 2 * margin - 1) // step + 1)
    size = o.pass_height or pass_rows(len(rows), fits)
    passes = [band(rows[first: first + size], step, margin, height, first) for first in range(0, len(rows), size)]
    need = max(p.rows for p in passes) * per_row
    if need > (available if available is not None else available_memory()):
        raise UsageError(f"even one row of {projections} projections x {width} pixels needs more memory than is available")
    notes += [note] if (note := region_note(o.region, height, rows)) else []
    result = Plan(o, width, height, projections, rows, passes, axis, need, image_keys=keys, key_runs=runs,
                  angles=angles[:projections] if angles is not None else None, warnings=notes, taken=taken,
                  flat_runs=runs_of_flats)
    _check_whole(result, outputs)
    if projections * 4 < width:
        result.warnings.append(f"only {projections} projections for {width} pixels: if these are sinograms "
                               "(angles x width), use --sinograms")
    return result


def pass_rows(rows: int, fits: int) -> int:
    """Rows per pass: all of them when they fit in the memory budget (`fits` rows), else as many
    as let PASSES_IN_FLIGHT passes fit at once (ufo.reco.pipelined reads the next pass while
    the one before is back-projected and written).

    One pass when it fits: splitting gained nothing where measured (1024^3 on the H200 host:
    8.54-9.20 s in four passes, 8.84 s in one; 2-core VM, 256 rows of 512 projections: 7.7-7.9 s
    against 6.5-7.3 s), a band of rows being a read per projection, corrected again a pass."""
    if rows <= fits:
        return rows
    return max(1, fits // PASSES_IN_FLIGHT)


def front_device(plan: Plan) -> str | None:
    """Where the axis search corrects the middle row of every projection: the CPU unless outliers
    or phase are part of it (medians, FFTs), else the run's GPUs. A row of a projection is a few
    KiB: on a GPU each would go there and back for a few operations per pixel.

    The passes' front graphs keep the run's GPUs: on the H200 host, `ufo reco` of a 1024^3 scan
    with them corrected on its 16 cores, two passes at once, took 12.0 s against 9.0-9.5 s with
    them on the GPU one after another (which of the two changes cost more was not measured)."""
    o = plan.options
    return o.gpus if o.phase or o.remove_outliers else "cpu"


def stack_size(plan: Plan, slices: int, on_gpu: bool, memory: int | None = None) -> int:
    """Sinograms per back-projection stack for a pass of `slices` (no stack waits for the next
    pass's sinograms): --slices-per-pass on a GPU, at most `slices`; on
    the CPU no more than keeps every replica busy (a replica back-projects its stack on one core)
    and no more than 1/8 of each replica's share of the free memory holds (`slices_per_batch`)."""
    o = plan.options
    if on_gpu:
        return max(1, min(o.slices_per_pass, slices))
    from ..tomo.fbp import slices_per_batch

    share = (available_memory() if memory is None else memory) // max(1, o.replicas)
    fits = slices_per_batch(plan.projections, plan.width, plan.width, plan.width, memory=share, most=o.slices_per_pass)
    return max(1, min(o.slices_per_pass, math.ceil(slices / max(1, o.replicas)), fits))


def _check_whole(plan: Plan, outputs: bool) -> None:
    """The checks of a whole plan; with `outputs`, also the output disk's room (ufo.reco.room)."""
    _check_half_acquisition(plan)
    _check_axis_range(plan)
    if outputs:
        check_room(plan)
        note_stale(plan)


def _check_half_acquisition(plan: Plan) -> None:
    """--half-acquisition needs a scan of about 360 degrees (UsageError naming the fix)."""
    o = plan.options
    if not o.half_acquisition:
        return
    if o.axis is None:
        raise UsageError("--half-acquisition needs the axis near the detector edge: give --axis PIXELS or --axis auto")
    from ..tomo.halftomo import coverage

    angles = plan.angles if plan.angles is not None else (
        o.offset + (o.angle if o.angle is not None else 2 * math.pi / plan.projections) * np.arange(plan.projections))
    span = coverage(np.asarray(angles))
    if plan.angles is None and o.angle is None:  # a 180-degree scan of no angles would be joined wrongly
        plan.warnings.append(f"the projections carry no angles: --half-acquisition takes them as 360 degrees in "
                             f"{plan.projections} steps (give --angle for another step)")
    if span < 1.9 * math.pi:
        raise UsageError(f"--half-acquisition needs a 360-degree scan; these {plan.projections} projections cover "
                         f"{math.degrees(span):.1f} degrees (give --angle for the step if the file has no angles)")


def _check_axis_range(plan: Plan) -> None:
    """--axis auto (Vo's metric, or the scan around its estimate) on a scan of less than a half
    turn: UsageError, before any reading (it found axes pixels off)."""
    from ..tomo.axis_vo import range_problem
    from ..tomo.halftomo import coverage, first_half

    if plan.options.axis == "auto" and not plan.options.half_acquisition and \
            (problem := range_problem(coverage(scan_angles(plan)), first_half(scan_angles(plan)), plan.width)) is not None:
        raise UsageError(f"--axis auto: {problem} (--axis PIXELS)")


def _axis_value(o: RecoOptions) -> float | None:
    if o.axis is None or o.axis == "auto":
        return None
    try:
        return float(o.axis)
    except (TypeError, ValueError) as err:
        raise UsageError(f"--axis takes a number (pixels) or 'auto', got '{o.axis}'") from err


def _check_axis(axis: float | None, width: int, o: RecoOptions | None = None) -> None:
    if axis is not None and not 0 <= axis <= width:
        raise UsageError(f"axis {axis} lies outside the detector (0 .. {width} pixels)")
    if axis is not None and o is not None and o.half_acquisition and not 0 < axis < width - 1:  # stitching's bounds:
        raise UsageError(f"--half-acquisition: axis {axis} must lie between the detector's first and last pixel "
                         f"centres (0 .. {width - 1}, both excluded)")  # it failed after the reading (exit 1)
    if o is not None and o.roi is not None and min(o.roi[2:]) < 1:  # 0 or -1: UFO's "unset", which switched the
        x, y, w, h = o.roi  # back-projection to UFO's meaning (slices twice too bright, upside down; exit 0)
        raise UsageError(f"--roi {x},{y},{w},{h}: the width and height must be at least 1 pixel (leave --roi out for "
                         "the whole slice)")
    if o is not None and o.roi is not None and not o.half_acquisition and outside_view(width, o.roi, None, axis):
        x, y, w, h = o.roi
        raise UsageError(f"--roi {x},{y},{w},{h} lies outside the field of view, the circle the {width}-pixel "
                         f"detector sees about the axis in the {width} x {width} slice: it would be zeros")


def scan_angles(plan: Plan) -> np.ndarray:
    """The angle of every projection (radians): from the file, or --offset + i x --angle (default:
    a half turn, a full one with --half-acquisition)."""
    o = plan.options
    if plan.angles is not None:
        return np.asarray(plan.angles, np.float64)
    span = 2 * math.pi if o.half_acquisition else math.pi
    step = o.angle if o.angle is not None else span / plan.projections
    return o.offset + step * np.arange(plan.projections)


def resident_reason(plan: Plan, gpus: int) -> str | None:
    """Why this plan's projections cannot stream into slices kept on one GPU (ufo.reco.resident),
    or None when they can: that path corrects, filters and back-projects every frame as it is
    read, so a step that needs whole sinograms or neighbouring rows keeps the sinogram path."""
    from ..kernels.wedge import one_weight_fits
    from ..tomo.halftomo import coverage

    o, angles = plan.options, scan_angles(plan)
    jitter = float(np.median(np.abs(np.diff(angles)))) if plan.angles is not None and len(angles) > 1 else 0.0
    checks = ((o.gpu_path == "sinograms", "--gpu-path sinograms was given"),
              (bool(o.sinograms), "the input is sinograms"),
              (o.darks is None, "there are no darks (it corrects flat fields with them)"),
              (bool(o.flats2), "--flats2 interpolates flats over the scan"),
              (plan.flat_runs > 1, f"the flats of its {plan.flat_runs} runs are interpolated over the scan"),
              (o.phase, "phase retrieval needs neighbouring rows"),
              (o.remove_outliers is not None, "--remove-outliers works on the sinogram path"),
              (o.remove_stripes is not None, "--remove-stripes needs whole sinograms"),
              (o.method != "fbp", "--method dfi needs whole sinograms"),
              (not one_weight_fits(plan.projections, coverage(angles) / plan.projections, jitter),
               "its projections need weights of their own (more than a half turn, not a whole number of them)"),
              (o.absorption is False, "--absorption off is not supported there"),
              (o.axis == "auto" and o.axis_method == "scan", "--axis-method scan runs on the sinogram path"),
              (gpus != 1, "it runs on one GPU" if gpus else "it needs a GPU"))
    return next((why for bad, why in checks if bad), None)


def needs_scale(plan: Plan) -> bool:
    """8/16-bit output without both --output-min and --output-max: a scale must be found first."""
    o = plan.options
    return o.output_bits in (8, 16) and (o.output_min is None or o.output_max is None) and not o.sinograms
