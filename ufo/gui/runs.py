"""Reconstructions started from the GUI: `reco.run` in a thread, with progress, cancel and a log.

Why a module of its own: a run is more than a call of `reco.run`. The page must be able to
stop it at any time (the GUI finds the axis itself, beside the run, and stops waiting for it on
Cancel: the search sees the stop only between chunks of candidate axes), must not start a second
run into an output that a run is writing (the second would fail only after all its work), must
say what the run is doing (a pass reads every projection before its first slice is written),
and must show the warnings and hints the command line prints.
"""

from __future__ import annotations

import os
import queue
import re
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from .. import reco as reco_mod
from ..core.errors import Cancelled, InputError, UfoError, UsageError
from ..core.progress import JobProgress, Progress
from ..core.resources import release_host_memory
from ..reco.bands import kept
from ..storage.formats import split_dataset
from .engine import check_graph, make_plan, output_stamp, tidy, validate
from .hints import device_note, quality_hints

GOING = ("starting", "running")
_ENDED = object()


@dataclass
class Run:
    id: str
    plan: reco_mod.Plan
    state: str = "starting"  # starting, running, done, failed, cancelled
    done: int = 0
    log: list[str] = field(default_factory=list)
    error: str | None = None
    axis: float | None = None
    seconds: float = 0.0
    handle: Any = None
    written: tuple[int, int, int] | None = None  # the output as the run left it (engine.output_stamp)
    before: int = 0
    started: float = field(default_factory=time.time)
    #: set by Cancel: the run thread stops waiting for the axis search, and every pass is cancelled
    stop: threading.Event = field(default_factory=threading.Event)
    # slices written of all passes, rate, ETA, stage: what the event stream sends (ufo.core.progress)
    progress: JobProgress = field(default_factory=lambda: JobProgress("reco", unit="slices"))

    @property
    def cancelled(self) -> bool:
        return self.stop.is_set()

    @property
    def total(self) -> int:
        return self.plan.slices

    def status(self) -> dict[str, Any]:
        update = self.progress.progress()
        if self.state == "running":
            self.done = min(self.total, update.current)
        return {"id": self.id, "state": self.state, "done": self.done, "total": self.total,
                "percent": round(100.0 * self.done / max(self.total, 1), 1), "log": self.log[-50:],
                "error": self.error, "axis": self.axis, "seconds": round(self.seconds, 3),
                "output": self.plan.options.output, "progress": update.as_dict(), "step": step_of(self, update)}


def step_of(run: Run, update: Progress) -> dict[str, Any]:
    """What the run is doing, with a count where its graph reports one: `reading` (sinograms made
    from the projections), `reconstructing` (slices back-projected), `writing` (slices written).

    Why: slices are written only once a pass's projections are all read and back-projected, so
    the written count stays 0 for most of a pass; the graph's nodes count the work before it."""
    nodes, stage = update.nodes, update.stage
    if update.final or not nodes or run.state not in GOING:
        return {"stage": stage, "current": None, "target": None, "unit": ""}
    pipelined = "feed" in nodes  # one back-projection fed the sinograms of every pass (reco.pipelined)
    before = 0 if pipelined else run.before
    here = next((p for p in run.plan.passes if p.first_slice == before), None)
    pass_slices = run.total if pipelined or here is None else min(run.total - before, kept(here))
    made = nodes.get("feed", nodes.get("transpose-projections", nodes.get("read")))
    backprojected = nodes.get("unstack")
    prefix = "" if stage in ("reconstructing", "running") else f"{stage}, "
    if made is not None and made < pass_slices:
        return {"stage": prefix + "reading", "current": before + made, "target": run.total, "unit": "sinograms made"}
    if backprojected is not None and backprojected < pass_slices:
        return {"stage": prefix + "reconstructing", "current": before + backprojected, "target": run.total,
                "unit": "slices back-projected"}
    if made is None and backprojected is None:
        return {"stage": stage, "current": update.current, "target": run.total, "unit": "slices written"}
    return {"stage": prefix + "writing", "current": update.current, "target": run.total, "unit": "slices written"}


def _target(output: str) -> str:
    """The file an output writes (a TIFF sequence: its pattern), links followed: two names of one file match."""
    return os.path.realpath(split_dataset(os.path.expanduser(output))[0])


class Runs:
    """Reconstructions started from the GUI, each in its own thread."""

    def __init__(self) -> None:
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()

    def writing(self, output: str) -> str | None:
        """Why `output` cannot be written now: a run still going writes it (None: no run does)."""
        with self._lock:
            return self._writing(output)

    def _writing(self, output: str) -> str | None:
        target = _target(output)
        other = next((r for r in self._runs.values() if r.state in GOING and _target(r.plan.options.output) == target),
                     None)
        if other is None:
            return None
        started = time.strftime("%H:%M:%S", time.localtime(other.started))
        return (f"output: '{output}' is being written by run {other.id} (started {started}, {other.state}); "
                "wait for it or cancel it, or choose another output")

    def validate(self, values: dict[str, Any]) -> dict[str, str]:
        """`engine.validate`, and the output refused while another run writes it."""
        errors = validate(values)
        if "output" not in errors and values.get("output"):
            busy = self.writing(str(values["output"]))
            if busy is not None:
                errors["output"] = busy
        return errors

    def start(self, values: dict[str, Any]) -> Run:
        """A new run of the form's plan; refused (UsageError) before any work where the plan, its
        graph or its output is wrong, or another run writes that output."""
        try:
            plan = make_plan(values)
            check_graph(plan)
        except UfoError as exc:
            raise UsageError(tidy(str(exc))) from exc
        with self._lock:  # checked and registered at once: two clicks at the same moment start one run
            busy = self._writing(plan.options.output)
            if busy is not None:
                raise UsageError(busy)
            run = Run(uuid.uuid4().hex[:12], plan)
            run.log.append(plan.describe())
            run.log.extend(f"warning: {w}" for w in plan.warnings)
            self._runs[run.id] = run
        threading.Thread(target=self._work, args=(run,), name=f"ufo:gui:run:{run.id}", daemon=True).start()
        return run

    def _work(self, run: Run) -> None:
        def on_start(handle: Any, before: int) -> None:
            run.handle, run.before = handle, before
            run.log.append(f"pass from slice {before}")
            if run.cancelled:
                handle.cancel()

        run.state = "running"
        t0 = time.perf_counter()
        rows: queue.Queue[Any] = queue.Queue()  # the middle row's sinogram (a maker, or None: read it) for the hints
        hints: list[str] = []
        hinter = threading.Thread(target=lambda: hints.extend(quality_hints(run.plan, rows, run.stop)),
                                  name=f"ufo:gui:hints:{run.id}", daemon=True)
        hinter.start()
        try:
            if (note := device_note(run.plan)) is not None:
                run.log.append(f"warning: {note}")
            if run.plan.options.axis == "auto":
                run.plan = self._find_axis(run)
            result = reco_mod.run(run.plan, on_start, progress=run.progress, middle_row=rows.put)
            run.axis = float(result.axis)
            shown = set(run.plan.warnings)
            for warning in result.warnings:  # an input's note comes again from each task that read it: once
                said = re.sub(r"^[a-z][a-z0-9-]*: ", "", warning)
                if said not in shown and warning not in shown:
                    shown.add(said)
                    run.log.append(f"warning: {warning}")
            run.done = run.total
            seconds = time.perf_counter() - t0  # the axis search too
            run.log.append(f"{run.total} slice(s) in {seconds:.2f} s, axis {result.axis:.2f}, "
                           f"{run.total / seconds:.1f} slices/s -> {run.plan.options.output}")
            hinter.join()  # the row is read beside the reconstruction, as the command line reads it
            run.log.extend(f"hint: {hint}" for hint in hints)
            run.state = "done"
        except Exception as exc:  # noqa: BLE001 - reported to the page
            if not run.progress.progress().final:  # ended before reco.run began (the axis search)
                run.progress.end(exc)
            run.state = "cancelled" if run.cancelled else "failed"
            run.error = None if run.cancelled else tidy(str(exc))
            if not run.cancelled:
                run.log.append(f"error: {run.error}")
            elif run.handle is None or not run.progress.progress().current:  # the handle comes with the pass,
                run.log.append("cancelled before any slice was written")  # before a slice
            else:
                run.log.append("cancelled; the slices written so far are complete")
        finally:
            rows.put(_ENDED)  # the run ended before it handed over the row: no hints
        run.seconds = time.perf_counter() - t0
        run.written = output_stamp(run.plan.options.output)
        hinter.join(timeout=30)  # it ends with the row or the run's stop
        release_host_memory()  # the server lives on: 200-370 MB a run were kept, 4 GB after 18 runs

    def _find_axis(self, run: Run) -> reco_mod.Plan:
        """`--axis auto`: `reco.find_axis` (what `reco.run` calls) in a thread of its own, waited
        for until Cancel; then the plan with that axis. Why not inside `reco.run`: the page must
        not say "running" for the rest of the chunk of candidate axes the search is in (seconds at
        2048 pixels): the run ends at once, the search at its next chunk (the run's stop)."""
        run.progress.begin(run.total, "finding the axis")
        found: list[Any] = []
        ended = threading.Event()

        def search() -> None:
            try:
                found.append(reco_mod.find_axis(run.plan, run.stop))
            except BaseException as exc:  # noqa: BLE001 - raised in the run's thread
                found.append(exc)
            finally:
                ended.set()

        threading.Thread(target=search, name=f"ufo:gui:axis:{run.id}", daemon=True).start()
        while not ended.wait(0.05):
            if run.cancelled:
                raise Cancelled("cancelled during the axis search")
        if isinstance(found[0], BaseException):
            raise found[0]
        axis = float(found[0])
        run.log.append(f"axis {axis:.2f} px (auto, {run.plan.options.axis_method})")
        planned = reco_mod.plan(replace(run.plan.options, axis=axis))
        before = (run.plan.projections, run.plan.height, run.plan.width, run.plan.rows)
        if (planned.projections, planned.height, planned.width, planned.rows) != before:  # another file now: the
            raise InputError(f"'{run.plan.options.projections or run.plan.options.sinograms}' changed while its "
                             "axis was found (another scan at that path now); start the run again")  # axis was the old's
        return planned

    def all(self) -> list[Run]:
        """Every run, oldest first (a reloaded page or a second tab follows the newest still going)."""
        with self._lock:
            return list(self._runs.values())

    def get(self, run_id: str) -> Run:
        with self._lock:
            if run_id not in self._runs:
                raise KeyError(run_id)
            return self._runs[run_id]

    def cancel(self, run_id: str) -> Run:
        run = self.get(run_id)
        run.stop.set()
        if run.handle is not None:
            run.handle.cancel()
        return run
