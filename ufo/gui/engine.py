"""What the GUI computes, as plain functions over ufo.reco: no second implementation.

Form fields are the options of `ufo reco`, generated from their one declaration
(`ufo.reco.RecoOptions`, see ufo/reco/schema.py) plus the few the GUI adds (`GuiOptions`,
declared the same way), and are checked by the same `Option.convert` as the command line and
config files, so the form takes the same units and ranges and refuses with the same messages.
The axis view is `ufo.reco.axis_preview`; runs are `reco.run` in a thread with progress and
cancel. The GUI shows no camera or experiment settings.
"""

from __future__ import annotations

import base64
import os
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import UfoError, UsageError
from ..core.progress import JobProgress
from .. import reco as reco_mod
from ..reco import config, schema
from ..reco.schema import option
from ..storage.formats import split_dataset


@dataclass
class GuiOptions:
    """Fields of the form that are no option of `ufo reco` (never written to a config file)."""

    crop_width: int | None = option(int, range=(1, None), doc="Width of the slice region around its centre",
                                    group="geometry", label="Crop width (pixel)")
    show_images: bool = option(bool, True, doc="Open the slice viewer after the run", group="output",
                               label="Show images after reconstruction")
    gpu_only: bool = option(bool, False, doc="Fail instead of falling back to the CPU", group="resources",
                            label="Use GPU exclusively")


def declared(cls: Any = reco_mod.RecoOptions) -> dict[str, schema.Option]:
    """Every field of the form by name: the options of `cls`, then the GUI's own."""
    return {**schema.options_of(cls), **schema.options_of(GuiOptions)}


def schema_fields(cls: Any = reco_mod.RecoOptions) -> list[dict[str, Any]]:
    """The form: one field per option (name, label, kind, unit, range, choices, default, help), by group."""
    fields = declared(cls).values()
    order = {group: i for i, group in enumerate(schema.GROUPS)}
    out = []
    for o in sorted(fields, key=lambda o: order[o.group]):  # stable: declaration order within a group
        data = o.to_dict()
        data["help"] = o.doc + (f" [{o.describe()}]" if o.describe() and o.choices is None else "")
        out.append(data)
    return out


def options(values: dict[str, Any], cls: Any = reco_mod.RecoOptions) -> tuple[Any, dict[str, Any]]:
    """(options, GUI-only values) from form values; an empty field takes the default. Raises
    OptionError (a UsageError naming the field) with the reason the command line gives."""
    fields = declared(cls)
    clean: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for name, value in values.items():
        if name not in fields:
            raise schema.OptionError(str(name), "unknown form field")
        if value is None or value == "":
            continue
        (extra if name in schema.options_of(GuiOptions) else clean)[name] = fields[name].convert(value)
    if extra.get("gpu_only"):
        clean["gpus"] = "all"
    return cls(**clean), extra


def make_plan(values: dict[str, Any], outputs: bool = True, cls: Any = reco_mod.RecoOptions) -> reco_mod.Plan:
    """The plan of `ufo reco` for the form; `outputs`: check the output too (not for the axis view)."""
    o, extra = options(values, cls)
    plan = reco_mod.plan(o, outputs=outputs)
    if extra.get("crop_width"):
        width = int(extra["crop_width"])
        if not 1 <= width <= plan.width:
            raise schema.OptionError("crop_width", f"{width} is outside 1..{plan.width}")
        start = (plan.width - width) // 2
        plan = reco_mod.plan(replace(o, roi=(start, start, width, width)), outputs=outputs)
    from ..core.resources import available, select

    select(plan.options.gpus)  # 'banana', GPU 7 on a machine with two: refused now, not when the run starts
    if extra.get("gpu_only"):
        if not available():
            raise UsageError("gpu_only: no GPU is available here (CuPy with CUDA); untick 'Use GPU exclusively'")
    return plan


def validate(values: dict[str, Any], cls: Any = reco_mod.RecoOptions) -> dict[str, str]:
    """Field -> message for what is wrong; empty when the plan can be made."""
    try:
        o, _ = options(values, cls)
    except schema.OptionError as err:
        return {err.option: str(err)}
    try:
        reco_mod.check_outputs(o)
    except UfoError as exc:  # exists, not writable, or is/contains/lies inside an input
        return {"output": str(exc)}
    try:
        make_plan(values, cls=cls)
    except schema.OptionError as err:
        return {err.option: str(err)}
    except UfoError as exc:
        message = str(exc)
        paths = ("projections", "sinograms", "darks", "flats", "flats2", "output")
        for name in paths:
            value = str(values.get(name) or "")
            if value and (value in message or value.rstrip("/") in message):
                return {name: message}
        for name in paths:  # 'file.h5:/nope': the message names the file and the dataset apart
            file, dataset = split_dataset(str(values.get(name) or ""))
            if dataset and file in message and dataset.strip("/") in message:
                return {name: message}
        for name, o in declared(cls).items():
            if message.startswith(f"{name}:") or o.flag in message or f"'{name}'" in message:
                return {name: message}
        for name in ("projections", "sinograms", "darks", "flats", "output", "region", "axis"):
            if name in message:
                return {name: message}
        return {"": message}
    return {}


def config_text(values: dict[str, Any], cls: Any = reco_mod.RecoOptions) -> str:
    """The `[reco]` table `ufo reco --config` reads for these form values: each checked by its
    option, written as typed (text stays text: '20 keV' keeps its unit); GUI-only fields left out."""
    fields = declared(cls)
    keep: dict[str, Any] = {}
    for name, value in values.items():
        if name not in fields:
            raise schema.OptionError(str(name), "unknown form field")
        if value is None or value == "" or name in schema.options_of(GuiOptions):
            continue
        fields[name].convert(value)
        keep[name] = value
    return config.dumps(keep, cls)


def config_values(path: str | Path, cls: Any = reco_mod.RecoOptions) -> dict[str, Any]:
    """Form values from a config file, as written (the form shows text); keys and values are
    checked as `ufo reco --config` checks them."""
    config.load(path, cls)  # unknown keys, bad values: the command line's messages
    names = schema.lookup(cls)
    return {names[key]: value for key, value in config.read(path).items()}


def encode(array: np.ndarray) -> dict[str, Any]:
    data = np.ascontiguousarray(array, np.float32)
    finite = data[np.isfinite(data)]
    return {"shape": list(data.shape), "data": base64.b64encode(data.tobytes()).decode(),
            "min": float(finite.min()) if finite.size else 0.0, "max": float(finite.max()) if finite.size else 0.0}


def axis_view(values: dict[str, Any]) -> dict[str, Any]:
    """`ufo.reco.axis_preview` of the form's plan, as JSON (the axis view writes nothing)."""
    preview = reco_mod.axis_preview(make_plan(values, outputs=False))
    return {"width": preview.width, "factor": preview.factor, "p0": encode(preview.p0), "p180": encode(preview.p180),
            "estimate": preview.estimate, "best": preview.best, "row": preview.row,
            "candidates": [{"axis": c.axis, "score": c.score, "slice": encode(c.slice)} for c in preview.candidates]}


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
    before: int = 0
    cancelled: bool = False
    # slices written of all passes, rate, ETA, stage: what the event stream sends (ufo.core.progress)
    progress: JobProgress = field(default_factory=lambda: JobProgress("reco", unit="slices"))

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
                "output": self.plan.options.output, "progress": update.as_dict()}


class Runs:
    """Reconstructions started from the GUI, each in its own thread."""

    def __init__(self) -> None:
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()

    def start(self, values: dict[str, Any]) -> Run:
        plan = make_plan(values)
        run = Run(uuid.uuid4().hex[:12], plan)
        run.log.append(plan.describe())
        with self._lock:
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
        try:
            result = reco_mod.run(run.plan, on_start, progress=run.progress)
            run.axis = float(result.axis)
            run.done = run.total
            run.state = "done"
            run.log.append(f"{run.total} slice(s) in {result.seconds:.2f} s, axis {result.axis:.2f}, "
                           f"{result.slices_per_second:.1f} slices/s -> {run.plan.options.output}")
        except Exception as exc:  # noqa: BLE001 - reported to the page
            run.state = "cancelled" if run.cancelled else "failed"
            run.error = None if run.cancelled else str(exc)
            run.log.append("cancelled; the slices written so far are complete" if run.cancelled else f"error: {exc}")
        run.seconds = time.perf_counter() - t0

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
        run.cancelled = True
        if run.handle is not None:
            run.handle.cancel()
        return run


def read_slice(output: str, index: int, rows: list[int] | None = None) -> dict[str, Any]:
    """Slice `index` of a run's output. A TIFF sequence is read file by file as the run names them
    (by detector row: `rows`, the plan's): its folder may hold other runs' slices or stray files,
    which a pattern matching all of them showed instead (a one-slice preview as "256 slices")."""
    from ..storage import parse_output_path
    from ..storage.formats import FileKind
    from ..storage.readers import open_source

    target = parse_output_path(output)
    if target.kind is FileKind.TIFF_SEQUENCE and rows is not None:
        if not 0 <= index < len(rows):
            raise UsageError(f"slice {index} does not exist; the run writes {len(rows)}")
        path = target.frame_path(rows[index])
        if not os.path.exists(path):
            raise UsageError(f"slice {index} (row {rows[index]}) is not written yet")
        source, at, count = open_source(path), 0, len(rows)
    else:
        source = open_source(output)
        at = index
        count = source.count
    try:
        if not 0 <= at < source.count:
            raise UsageError(f"slice {index} does not exist; the output holds {source.count}")
        image = source.read(at, slice(None), None).astype(np.float32)
    finally:
        source.close()
    finite = image[np.isfinite(image)]
    hist, edges = np.histogram(finite, bins=64) if finite.size else (np.zeros(64), np.zeros(65))
    return {**encode(image), "index": index, "count": count, "histogram": hist.tolist(),
            "edges": [float(edges[0]), float(edges[-1])]}
