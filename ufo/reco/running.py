"""Running a planned reconstruction: one graph per pass of rows, executed one after another.

`graph()` builds one pass's graph from the registered tasks (read, flat-field-correct,
transpose-projections, remove-stripes, retrieve-phase, fft/filter/ifft, backproject, write);
`run()` finds the axis when asked and runs the passes into one output.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


from ..core import Graph, RunHandle, Stream, Task
from ..core.progress import JobProgress
from ..core.errors import Cancelled, UsageError
from ..core.registry import create
from ..core.resources import select
from ..tomo.timing import StageTimes
from .bands import kept
from .output_checks import reco_layout
from .planning import Pass, Plan, front_device, stack_size


# -- graphs -------------------------------------------------------------------------------
def _read(path: str, p: Pass | None = None, number: int | None = None, image_key: int | None = None,
          run: int | None = None) -> Stream:
    props: dict[str, Any] = {"path": path}
    if image_key is not None:
        props["image_key"] = image_key
    if run is not None:
        props["image_key_run"] = run
    if p is not None:
        props.update(y=p.first_row, height=(p.rows - 1) * p.step + 1, y_step=p.step)
    if number:
        props["number"] = number
    return create("read", **props)()


def corrected(plan: Plan, p: Pass, absorption: bool) -> Stream:
    """The flat-field corrected projections of one pass (the input of the sinograms; the GUI shows them)."""
    o = plan.options
    keys = plan.image_keys
    projections = _read(o.projections, p, plan.projections, keys.get("projections"))  # type: ignore[arg-type]
    if o.flats is None:  # projections flat-corrected already: -log where asked (--absorption was ignored)
        return create("calculate", expression="-log(x)", replicas=o.replicas)(projections) if absorption else projections
    runs = plan.key_runs
    darks = _read(o.darks, p, image_key=keys.get("darks")) if o.darks is not None else \
        create("dummy-data", shape=[p.rows, plan.width], number=1)()  # flats alone: a dark of 0 (said in the plan)
    inputs = [projections, darks,
              _read(o.flats, p, image_key=keys.get("flats"), run=runs.get("flats"))]  # type: ignore[arg-type]
    if o.flats2:
        inputs.append(_read(o.flats2, p, image_key=keys.get("flats2"), run=runs.get("flats2")))
    return create("flat-field-correct", absorption=absorption, replicas=o.replicas)(*inputs)


def backprojected(plan: Plan, sinograms: Stream, axis: float | None, slices: int,
                  times: StageTimes | None = None, most: int | None = None) -> Stream:
    """Slices from a stream of `slices` sinograms: stripes removed, stacked (`most` at a time at
    most), back-projected (or DFI)."""
    o = plan.options
    if o.remove_stripes:
        sinograms = create("remove-stripes", size=o.remove_stripes, replicas=o.replicas)(sinograms)
    number = min(stack_size(plan, slices, on_gpu=bool(select(o.gpus))), most or slices)
    stacked = create("stack", number=number, partial=True)(sinograms)
    props: dict[str, Any] = dict(filter=o.filter, filter_cutoff=o.filter_cutoff, angle_offset=o.offset)
    if axis is not None:
        props["axis"] = axis
    if o.angle is not None:
        props["angle_step"] = o.angle
    if plan.angles is not None:  # irregular: each projection at its true angle
        props["angles"] = plan.angles
    if o.half_acquisition:
        props["half_acquisition"] = True
    if o.roi is not None:
        props.update(roi_x=o.roi[0], roi_y=o.roi[1], roi_width=o.roi[2], roi_height=o.roi[3])
    if o.method == "dfi":  # the same geometry, region and stacks; regular angles only (checked by dfi_props)
        slices = create("dfi-sinc", replicas=o.replicas, **dfi_props(plan, props))(stacked)
    else:
        task = create("backproject", replicas=o.replicas, **props)
        task.stage_times = times  # type: ignore[attr-defined]  # the filter's share, for --profile
        slices = task(stacked)
    return create("unstack")(slices)


def regular_step(props: dict[str, Any]) -> dict[str, Any]:
    """`angles` that lie on one step (within 1 % of it: a recorded encoder's jitter) as `angle_step` and
    `angle_offset`, for the methods that take one step only; irregular ones as they are. Why: every
    `--angles-file` was refused by `--method dfi` as irregular, a regular one too."""
    import numpy as np

    angles = np.asarray(props["angles"], np.float64)
    if len(angles) < 2:
        return props
    step = (angles[-1] - angles[0]) / (len(angles) - 1)
    grid = angles[0] + step * np.arange(len(angles))
    if step == 0 or np.abs(angles - grid).max() > 0.01 * abs(step):
        return props
    kept = {k: v for k, v in props.items() if k != "angles"}
    return {**kept, "angle_step": float(step), "angle_offset": float(angles[0])}


def dfi_props(plan: Plan, props: dict[str, Any]) -> dict[str, Any]:
    """`backproject`'s properties for `dfi-sinc`: DFI grids equally spaced angles of one step, so
    irregular angles and half acquisition (stitched sinograms) are refused rather than wrong."""
    if "angles" in props and "half_acquisition" not in props:  # an angles file of equal steps: its step and start
        props = regular_step(props)
    if "angles" in props or "half_acquisition" in props:
        what = "half acquisition" if "half_acquisition" in props else "irregular angles"
        raise UsageError(f"--method dfi needs equally spaced angles of one step; this scan has {what}: "
                         "use --method fbp")
    from ..kernels.wedge import one_weight_problem

    step = props.get("angle_step", math.pi / plan.projections)
    if (problem := one_weight_problem(plan.projections, step)) is not None:
        raise UsageError(f"--method dfi: {problem}; use --method fbp (it weighs each projection)")
    return {**props, "oversampling": plan.options.oversampling}


def writer(plan: Plan, p: Pass, first_slice: int = 0, axis: float | None = None, every_pass: bool = False,
           prescaled: bool = False) -> Task:
    """The write task of one pass, with the record of how the output is made (`outputs.output_metadata`).

    TIFF sequence files are numbered by detector row (`slice-00512.tif` is row 512) and every
    slice carries its row as metadata `row`, so a part written elsewhere (`first_slice`, the
    slices before it, kept for callers) numbers itself from its own rows. A stack is a classic
    ImageJ TIFF only when one writer writes it (`every_pass`, or a plan of one pass: later passes
    append, which needs BigTIFF).
    """
    from .outputs import output_metadata

    o = plan.options
    row = plan.rows[p.first_slice]
    step = plan.rows[1] - plan.rows[0] if len(plan.rows) > 1 else 1
    task = create("write", path=o.output, bits=o.output_bits, minimum=o.output_min, maximum=o.output_max,
                  overwrite=o.overwrite and p.first_slice == 0, append=p.first_slice > 0,
                  start=row, step=step, first_row=row, tiff_format="auto" if every_pass or len(plan.passes) == 1 else "bigtiff",
                  prescaled=prescaled, layout=reco_layout(o.output))
    task.metadata = output_metadata(plan, axis)  # type: ignore[attr-defined]
    task.scale_options = ("--output-min", "--output-max", "--output-bits 32")  # type: ignore[attr-defined]
    return task


def graph(plan: Plan, p: Pass, axis: float | None, sink: Task | None = None,
          times: StageTimes | None = None) -> tuple[Graph, Task]:
    """The graph of one pass and its sink (the writer unless another is given); `times` collects the
    filter's seconds (`ufo reco --profile`)."""
    o = plan.options
    out = sink if sink is not None else writer(plan, p, axis=axis)
    slices = len(plan.rows) if o.sinograms else kept(p)
    return Graph([out(backprojected(plan, sinograms(plan, p), axis, slices, times))]), out


def sinograms(plan: Plan, p: Pass) -> Stream:
    """The sinograms of one pass's rows: read from a sinogram file, or made from its projections
    (flat-field correction, outliers, phase retrieval, margins cut off, transposed)."""
    o = plan.options
    if o.sinograms:
        return create("read", path=o.sinograms, start=plan.rows[0], number=len(plan.rows),
                      step=plan.rows[1] - plan.rows[0] if len(plan.rows) > 1 else 1)()
    absorption = o.absorption if o.absorption is not None else (o.flats is not None and not o.phase)
    frames = corrected(plan, p, absorption)
    if o.remove_outliers:
        frames = create("remove-outliers", threshold=o.remove_outliers, replicas=o.replicas)(frames)
    if o.phase:
        frames = create("retrieve-phase", energy=o.energy, distance=o.distance, pixel_size=o.pixel_size,
                        delta_beta=o.ratio, replicas=o.replicas)(frames)
    if p.keep != slice(0, p.rows):  # margins cut off; every step-th row kept where all were read
        frames = create("crop", y=p.keep.start, height=p.keep.stop - p.keep.start, y_step=p.keep.step or 1)(frames)
    return create("transpose-projections", number=plan.projections)(frames)


def find_axis(plan: Plan, stop: threading.Event | None = None) -> float:
    """The axis from the sinogram of the middle row to reconstruct; `stop` (set: Cancelled) ends it
    between the candidates of a scan (a Ctrl-C or the GUI's Cancel waited for the whole search)."""
    from .axis_choice import axis_of

    o = plan.options
    row = plan.rows[len(plan.rows) // 2]
    if o.sinograms:
        sino = create("read", path=o.sinograms, start=row, number=1)().collect()[0]
    else:
        middle = Pass(row, 1, 1, slice(0, 1), 0)
        absorption = o.absorption if o.absorption is not None else o.flats is not None
        sinos = create("transpose-projections", number=plan.projections)(corrected(plan, middle, absorption))
        sino = sinos.collect(device=front_device(plan))[0]
    if stop is not None and stop.is_set():
        raise Cancelled("the axis search was stopped")
    return axis_of(plan, sino, stop=stop)


@dataclass
class RecoResult:
    plan: Plan
    axis: float
    seconds: float
    handles: list[RunHandle]
    #: seconds outside the graphs (axis search, scale sample) and inside tasks (filter): ufo.reco.profile
    stages: StageTimes = field(default_factory=StageTimes)
    #: "resident" (frames streamed into slices kept on the GPU, ufo.reco.resident) or "sinograms"
    path: str = "sinograms"

    @property
    def warnings(self) -> list[str]:
        """What the passes' tasks warned of (flats with dead pixels, a camera's dropped frames), once each."""
        return list(dict.fromkeys(w for handle in self.handles for w in handle.warnings))

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
        sink: Callable[[Plan, Pass], Task] | None = None, progress: JobProgress | None = None,
        say: Callable[[str], None] | None = None,
        middle_row: Callable[[Callable[[], Any] | None], None] | None = None,
        stop: threading.Event | None = None) -> RecoResult:
    """Reconstruct every pass into the output; `on_start(handle, slices_before)` lets callers watch;
    `sink(plan, pass)` replaces the writer (a region of a shared volume, say); `progress` (a
    `ufo.core.progress.JobProgress`) gets the slices written of all passes, for watchers.
    `middle_row` is called once: with a function making the middle row's flat-corrected
    sinogram when the run read that row anyway (the resident path: the quality hints then read
    nothing), else with None as soon as the path is chosen (the caller reads the row itself).
    `stop` ends an `--axis auto` search (Cancelled) between the candidates of a scan."""
    if progress is not None:
        firsts = [p.first_slice for p in plan.passes]

        def watched(handle: RunHandle, before: int) -> None:
            pipelined = sink is None and not plan.options.sinograms
            progress.attach(handle, before, "reconstructing" if pipelined else f"pass {firsts.index(before) + 1}/{len(firsts)}")
            if on_start is not None:
                on_start(handle, before)

        stage = "finding the axis" if plan.options.axis == "auto" else "starting"
        return progress.follow(lambda: run(plan, watched, sink, say=progress.stage, middle_row=middle_row, stop=stop),
                               plan.slices, stage)
    t0 = time.perf_counter()
    times = StageTimes()
    times.mark("reconstruction started", t0)

    def prelude() -> tuple[Plan, float | None]:
        """The axis (--axis auto) and, for 8/16-bit output, the plan with one scale for the volume."""
        axis = plan.axis
        if plan.options.axis == "auto":
            with times.measure("axis search"):
                axis = find_axis(plan, stop)
        if sink is not None:
            return plan, axis
        from .outputs import with_output_scale

        started = time.perf_counter()
        scaled = with_output_scale(plan, axis, graph, stop)
        if scaled is not plan:  # a sample was reconstructed
            times.add("scale sample", time.perf_counter() - started)
        return scaled, axis

    from ..storage.cut_marks import state

    before = state(plan.options.output) if sink is None else None
    try:
        path = "sinograms"
        resident = None
        if sink is None:  # one GPU: frames streamed into slices kept on it, where the steps allow
            from .resident import try_resident

            resident = try_resident(plan, times, on_start, writer, say, middle_row)
        if resident is None and middle_row is not None:
            middle_row(None)
        if resident is not None:
            plan, axis, handles = resident
            path = "resident"
        elif sink is None and not plan.options.sinograms:  # projections in: passes pipelined into one writer
            from .pipelined import run_pipelined

            plan, axis, handles = run_pipelined(plan, prelude, times, on_start, (sinograms, backprojected, writer))
        else:
            plan, axis = prelude()
            handles = []
            for p in plan.passes:
                g, _ = graph(plan, p, axis, sink(plan, p) if sink is not None else None, times)
                handle = g.run(device=plan.options.gpus)
                if on_start is not None:
                    on_start(handle, p.first_slice)
                handles.append(handle)
                handle.wait()
    except BaseException:  # stopped or failed: a volume of fewer slices says so in its file (HDF5, Zarr)
        if sink is None:
            from ..storage.cut_marks import mark_cut

            mark_cut(plan.options.output, plan.slices, before)
        raise
    times.mark("reconstruction ended")
    return RecoResult(plan, axis if axis is not None else plan.width / 2, time.perf_counter() - t0, handles, times, path)
