"""Slices resident on the GPU: every frame read once and streamed into them (`ufo reco` on one GPU).

Why: the sinogram path (ufo.reco.pipelined) handles every projection three times on the host
before a sinogram exists (at 1024^3 on the H200 host 8.8 s against a 1.3 s I/O floor). Here a
reader thread reads each frame's band of rows once, in file order, into pooled buffers; the
streaming engine (ufo.tomo.streaming) uploads it as stored, corrects, filters and
back-projects it on the GPU into slices that stay there until the last projection. Then they
are downloaded a group at a time into the write task, while the next pass is read.

With one pass the axis (--axis auto) comes from the middle row (the row `ufo reco` searches,
decided by `axis_choice.axis_of` as on the sinogram path; Vo's metric on the GPU), which the
reader reads of every frame before the frames, one small read each: the search runs while CuPy
starts and the frames are read, and no frame waits for it. The 8/16-bit scale comes from the
finished volume's sample rows (those of `outputs.sample_passes`, without a second read). With
several passes both come from rows read before the first pass: the sample rows, reconstructed
apart, and the middle row (ufo.reco.resident_sample).

Large volumes go in passes (`passes.overlap_height`). The first pass's reader asks the disk for
its bands itself; once it is read, a child process reads the later passes' bands ahead, pass
after pass (`_read_ahead`, `resident_reader.prefetch_passes`). The writer starts only after
the first pass. Cancelling: the reading loop's `WorkHandle` (callers get it through
`on_start`) ends the read at the next frame; the writer's handle follows.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core import RunHandle, Task
from ..core.errors import Cancelled, InputError, UsageError
from ..core.handle import WorkHandle
from ..tomo.streaming import StreamingReconstructor
from ..tomo.timing import StageTimes
from .outputs import with_volume_scale
from .axis_choice import axis_of
from .passes import resident_passes
from .planning import Pass, Plan, needs_scale, resident_reason, scan_angles
from .resident_output import Output, Starting, on_device
from .resident_reader import Allocate, MiddleRow, Reader, Sources, early_reader, pinned_buffers, prefetch_passes
from .resident_sample import SampleScale, middle_axis

#: seconds a thread may hold the GIL while another waits (Python's default: 5 ms): the reader, downloader
#: and writer threads wait for it after every system call (docs/benchmarks.md, 2026-12-03: 0.1 ms)
SWITCH = 0.0001
#: gets a function that makes the middle row's flat-corrected sinogram (`ufo reco`'s quality hints)
MiddleSink = Callable[[Callable[[], np.ndarray]], None]


def _row_maker(middle: MiddleRow, device: str, index: int) -> Callable[[], np.ndarray]:
    """The middle row's sinogram for the quality hints, made in their thread where the run ran: on
    the GPU, CuPy is up, where the CPU's correction would import numba (from a cold disk, beside
    the slices being written)."""

    def make() -> np.ndarray:
        on_device(device, index)
        return middle.sinogram(device)

    return make


def free_memory(device: str, index: int = 0) -> int:
    """Free bytes where the slices will stay: the GPU's, or the host's for device 'cpu'."""
    if device == "gpu":
        import cupy

        with cupy.cuda.Device(index):
            return int(cupy.cuda.runtime.memGetInfo()[0])
    from ..core.resources import available_memory

    return available_memory()


def _engine(plan: Plan, axis: float | str | None, device: str) -> StreamingReconstructor:
    o = plan.options
    return StreamingReconstructor(axis=axis, filter=o.filter, filter_cutoff=o.filter_cutoff,
                                  roi=tuple(o.roi) if o.roi else None, device=device,  # type: ignore[arg-type]
                                  threads=o.replicas, half_acquisition=o.half_acquisition, axis_device=device)


def _read_pass(engine: StreamingReconstructor, plan: Plan, p: Pass, stop: threading.Event, times: StageTimes,
               say: Callable[[str], None], where: str, reader: Reader | None = None,
               middle: MiddleRow | None = None, sources: Sources | None = None, pinned: Any = None,
               on_shape: Callable[[tuple[int, int]], None] | None = None) -> None:
    """Every frame of the pass into the engine (from `reader` when one was started early, else from
    `sources` into `pinned` buffers where given; `middle` keeps a row of each), then its slices
    completed; `on_shape` gets the slices' shape once the first frame is in."""
    if reader is None:
        reader = Reader(plan, p, scan_angles(plan), sources=sources, pinned=pinned)
        reader.thread.start()
    say(f"reading{where}")
    done = 0
    try:
        for frame, meta, buffer in reader.frames(engine.idle):
            if stop.is_set():
                break
            if middle is not None:  # first: the engine may hand the buffer back at once
                middle.add(frame, meta)
            engine.add(frame, meta, release=lambda b=buffer: reader.recycle(b), pinned=reader.pinned)  # lent
            if on_shape is not None and engine.slice_shape != (0, 0):  # known at the first projection
                on_shape(engine.slice_shape)
                on_shape = None
            done += meta["image_key"] == 0
            if done % 64 == 0 and meta["image_key"] == 0:
                say(f"reading {done}/{plan.projections} projections{where}")
        if stop.is_set():
            raise Cancelled("the reconstruction was stopped")
        say(f"completing the slices{where}" if plan.options.axis != "auto" else f"finding the axis{where}")
        t0 = time.perf_counter()
        engine.finish(copy=False)
        times.add("complete slices", time.perf_counter() - t0)
        times.mark(f"slices complete{where}")
    except ValueError as exc:  # the engine's word on the data (no flats, an angle that is not finite)
        raise InputError(f"{plan.options.projections}: {exc}") from exc
    finally:
        reader.close()
        for event, at in (("first frame read", reader.first_at), ("last frame read", reader.last_at)):
            if at is not None:
                times.mark(f"{event}{where}", at)
        times.add("read", reader.busy)
        times.add("back-project", engine.stats.device_seconds)


def run_resident(plan: Plan, times: StageTimes,
                 on_start: Callable[[RunHandle, int], None] | None, writer: Callable[..., Task],
                 device: str = "gpu", index: int = 0, say: Callable[[str], None] | None = None,
                 early: Reader | None = None, middle_row: MiddleSink | None = None,
                 ) -> tuple[Plan, float | None, list[RunHandle]]:
    """Reconstruct `plan` with its slices on `device` (GPU `index`; 'cpu' runs the same engine on
    the host, for checks without a GPU); `writer` is ufo.reco.running's, `say(stage)` gets what
    is being done, `middle_row` the middle row's sinogram (a function making it) once its pass is
    read. Returns the plan written with (its 8/16-bit scale), the axis and the handles."""
    o = plan.options
    hint_row = plan.rows[len(plan.rows) // 2]
    say = say or (lambda stage: None)
    say("starting the GPU" if device == "gpu" else "starting")
    stop = threading.Event()
    reading = WorkHandle(stop.set)
    handles: list[RunHandle] = [reading]
    output: Output | None = None
    starting: Starting[Output] | None = None
    sources = Sources()
    ahead: Starting[Any] | None = None  # the child reading the later passes' bands ahead
    sample: SampleScale | None = None  # 8/16-bit output in passes: the rows its scale comes from
    closing: Starting[None] | None = None  # the inputs closed once the last pass is read

    def close_inputs() -> None:
        """The sample's reading, the read-ahead child and the inputs ended (unmapping a 1024^3 scan's
        memory map alone took 0.05 s of the 0.08-0.10 s this took after the slices were written)."""
        if sample is not None:
            sample.close()
        child = ahead.get() if ahead is not None else None
        if child is not None:
            child.stop()
        times.mark("read-ahead stopped")
        sources.close()
        times.mark("inputs closed")
    try:
        on_device(device, index)
        passes = resident_passes(plan, free_memory(device, index))
        times.mark("GPU ready" if device == "gpu" else "engine ready")
        if early is not None and early.p != passes[0]:  # several passes: the early reader read the wrong rows
            early.close()
            early = None
        axis: Any = plan.axis
        hinted = False
        if on_start is not None:
            on_start(reading, 0)
        if len(passes) > 1:  # one axis and one scale for every pass, from rows read before the first
            if needs_scale(plan):
                sample = SampleScale(plan, sources, times, stop)
            if o.axis == "auto":
                say("finding the axis")
                axis, middle_read = middle_axis(plan, sources, times, device, stop)
                if middle_row is not None:
                    middle_row(_row_maker(middle_read, device, index))
                    hinted = True
        elif o.axis == "auto":  # from the middle row, read before the frames: no frame waits for it
            if early is None:
                early = Reader(plan, passes[0], scan_angles(plan), middle=len(plan.rows) // 2)
                early.thread.start()
            say("finding the axis")
            t0 = time.perf_counter()
            sino = early.middle_sinogram(stop, device)
            t1 = time.perf_counter()
            times.add("middle row", t1 - t0)
            axis = axis_of(plan, sino, device)
            times.add("axis search", time.perf_counter() - t1)
            times.mark("axis found")
            if middle_row is not None and early.middle is not None:
                middle_row(_row_maker(early.middle, device, index))
                hinted = True

        def make_output(shape: tuple[int, int], scaled: Plan) -> Output:
            return Output(scaled, shape, axis, writer, device, index, times, stop)

        def start_output(shape: tuple[int, int]) -> None:
            """Several passes: the writer starts while the first is read (its shape known at its first
            frame; its 8/16-bit scale from the sample, once that is read and reconstructed)."""
            nonlocal starting

            def make() -> Output:
                on_device(device, index)
                scaled = plan if sample is None else sample.scaled(lambda: _engine(plan, axis, device))
                return make_output(shape, scaled)

            starting = Starting(make)

        if sample is not None:  # its reads, before the first pass's frames keep the GIL busy
            sample.wait_read()
        after = os.environ.get("UFO_READ_AHEAD", "after") != "first"  # `_read_ahead`: when the child starts
        if len(passes) > 1 and not after:
            ahead = Starting(lambda: _read_ahead(plan, passes, sources, times), "ufo:reco-ahead")
        for k, p in enumerate(passes):
            engine = _engine(plan, axis, device)
            where = f" (pass {k + 1} of {len(passes)})" if len(passes) > 1 else ""
            row, off = divmod(hint_row - p.first_row, p.step)  # the hint row's place in this pass
            keep = middle_row is not None and not hinted and not off and 0 <= row < p.rows
            middle = MiddleRow(row) if keep else None
            _read_pass(engine, plan, p, stop, times, say, where, early if k == 0 else None, middle, sources,
                       pinned_buffers(index) if device == "gpu" else None,
                       start_output if k == 0 and len(passes) > 1 else None)
            if k == 0 and len(passes) > 1 and after:
                ahead = Starting(lambda: _read_ahead(plan, passes[1:], sources, times), "ufo:reco-ahead")
            if k == len(passes) - 1:  # nothing reads the inputs any more: closed while the slices are written
                closing = Starting(close_inputs, "ufo:reco-close")
            if middle is not None:
                middle_row(_row_maker(middle, device, index))  # type: ignore[misc]
            if output is None:
                if starting is not None:
                    output = starting.get()
                    plan = output.plan
                else:  # one pass: its scale may come from its slices
                    t0 = time.perf_counter()
                    scaled = with_volume_scale(plan, engine.slice)
                    if scaled is not plan:
                        times.add("scale sample", time.perf_counter() - t0)
                    plan = scaled
                    output = make_output(engine.slice_shape, plan)
                handles.insert(0, output.handle)
                if on_start is not None:
                    on_start(output.handle, 0)
            say(f"writing{where}")
            output.drain(engine, p.first_slice)
            del engine
        assert output is not None
        output.finish()
        if closing is not None:
            closing.get()  # its error, where closing failed
    except BaseException as exc:
        stop.set()
        if early is not None:
            early.close()
        if output is None and starting is not None:
            try:
                output = starting.get()
            except BaseException:  # noqa: BLE001 - the first error is the one to raise
                pass
        if output is not None:
            output.abort()
            if isinstance(exc, Cancelled) and output.handle.error is not None:  # the writer failed: its error
                raise output.handle.error from None
        raise
    finally:
        reading.end()
        if closing is None:
            close_inputs()
        else:
            closing.join()
    return plan, axis, handles


def _read_ahead(plan: Plan, passes: list[Pass], sources: Sources, times: StageTimes) -> Any:
    """The prefetch child of `passes`, or None; made in a thread of its own (finding the byte
    ranges of three passes of a 1024^3 scan and starting the child took 0.1-0.2 s, which the
    first slices waited for when the engine's thread did it).

    When: once the first pass is read, for the passes after it (the first pass's reader asks the
    disk for its own bands). UFO_READ_AHEAD=first starts it with the job, for every pass, the
    first too: pass after pass, each asked for all at once. On lent H200 VMs (1024^3, through a
    warm server, interleaved, medians; docs/benchmarks.md, 2026-12-04 11:15-11:50 UTC) that was
    0.21 s and 0.05 s faster with only the scan's pages evicted (two VMs), but 0.21 s and 0.15 s
    slower with the whole page cache dropped (two VMs: its all-at-once requests slowed the first
    pass, 0.48-1.09 s against 0.37-0.52 s): no default wins everywhere, so the one measured
    longest stays."""
    try:
        child = prefetch_passes(plan, passes, sources)
    except Exception:  # noqa: BLE001 - reading ahead is an optimisation: the readers read anyway
        return None
    if child is not None:
        times.mark("read-ahead started")
    return child


def try_resident(plan: Plan, times: StageTimes,
                 on_start: Callable[[RunHandle, int], None] | None, writer: Callable[..., Task],
                 say: Callable[[str], None] | None, middle_row: MiddleSink | None = None,
                 ) -> tuple[Plan, float | None, list[RunHandle]] | None:
    """`run_resident` when the plan can take this path on one GPU (`planning.resident_reason`),
    else None (UsageError when --gpu-path resident was asked for and cannot be). The first frames
    are read while CuPy and the GPU start, where a GPU may be found (CuPy installed, not --gpus cpu)."""
    from ..core.resources import parse_spec, select

    o = plan.options
    interval = sys.getswitchinterval()
    early = None
    try:
        if resident_reason(plan, 1) is None and parse_spec(o.gpus) != "cpu" and _cupy_installed():
            sys.setswitchinterval(SWITCH)
            early = early_reader(plan, _warm_pinned(o.gpus))
        gpus = select(o.gpus)
        reason = resident_reason(plan, len(gpus))
        if reason is not None:
            if early is not None:
                early.close()
            if o.gpu_path == "resident":
                raise UsageError(f"--gpu-path resident is not possible for this run: {reason}")
            return None
        if o.axis == "auto":  # the search's SciPy, numba and kernels, while reading
            threading.Thread(target=_import_axis_search, args=(gpus[0],), name="ufo:reco-imports", daemon=True).start()
        sys.setswitchinterval(SWITCH)
        return run_resident(plan, times, on_start, writer, index=gpus[0], say=say, early=early,
                            middle_row=middle_row)
    except BaseException:
        if early is not None:
            early.close()
        raise
    finally:
        sys.setswitchinterval(interval)


def _warm_pinned(gpus: str) -> Allocate | None:
    """Page-locked buffers for the early reader where CuPy is up already (a warm server, whose
    pinned pool is at hand): its frames are uploaded in place too; a new process does not wait
    for CuPy's import for them."""
    if "cupy" not in sys.modules:
        return None
    from ..core.resources import select

    chosen = select(gpus)
    return pinned_buffers(chosen[0]) if chosen else None


def _cupy_installed() -> bool:
    """Whether CuPy could be imported, without importing it (that is what takes the time)."""
    import importlib.util

    return importlib.util.find_spec("cupy") is not None


def _import_axis_search(index: int) -> None:
    """Import and compile what --axis auto needs while the middle row is read: the CUDA kernels of
    its correction and of Vo's metric (no SciPy or numba: ufo.tomo.axis_vo), on a 64 x 64 sinogram."""
    from ..tomo.axis_vo import axis_from_sinogram
    from ..tomo.stream_geometry import middle_sinogram

    try:
        on_device("gpu", index)
        rng = np.random.default_rng(0)
        frames = [(i, 0.0, (1000 + 100 * rng.random((1, 64))).astype(np.uint16)) for i in range(64)]
        sino = middle_sinogram(frames, [np.full((1, 64), 100, np.float32)], [np.full((1, 64), 1200, np.float32)], "gpu")
        axis_from_sinogram(sino, device="gpu")
    except Exception:  # noqa: BLE001 - a warm-up: the search itself reports what is wrong
        pass
