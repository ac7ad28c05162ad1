"""What the GUI computes, as plain functions over ufo.reco: no second implementation.

Form fields are the options of `ufo reco` (same names, same config file); the axis view is
the flat-corrected 0 and 180 degree projections, the automatic estimate and one slice at
candidate axes with their scores; runs are `reco.run` in a thread with progress and cancel.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
import uuid
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from ..core.errors import UfoError, UsageError
from .. import reco as reco_mod
from ..tomo.filters import FILTERS

# (group, option, label, kind, help): the fields of the stack's "Axis View" reconstruction form,
# named as `ufo reco` names them
FIELDS: list[tuple[str, str, str, str, str]] = [
    ("Input", "projections", "Projections path", "path", "directory, glob, multi-page TIFF, file.h5:/dataset, .nx"),
    ("Input", "sinograms", "Sinograms path (instead of projections)", "path", "one sinogram per slice"),
    ("Input", "region", "Sinograms region (from:to:step)", "text", "detector rows; to excluded; empty: all"),
    ("Correction", "absorption", "Use correction (flat-field, -log)", "bool", "on by default when flats are given"),
    ("Correction", "darks", "Dark-field", "path", "dark frames (averaged)"),
    ("Correction", "flats", "Flat-field", "path", "flat frames before the scan (median)"),
    ("Correction", "flats2", "Flat-field after", "path", "interpolated with the first flats by index"),
    ("Correction", "remove_outliers", "Remove zingers (sigma)", "number", "empty: off"),
    ("Correction", "remove_stripes", "Remove rings (window)", "integer", "empty: off; e.g. 21"),
    ("Parameters", "method", "Method", "select:fbp", "filtered back-projection (parallel beam)"),
    ("Parameters", "axis", "Axis (pixel)", "text", "a number, 'auto', or empty for the detector centre"),
    ("Parameters", "offset", "Angle offset (rad)", "number", "angle of the first projection"),
    ("Parameters", "angle", "Angle step (rad)", "number", "empty: pi / projections (or from the file)"),
    ("Parameters", "filter", "Filter", "select:" + ",".join(FILTERS), "FBP filter"),
    ("Parameters", "filter_cutoff", "Filter cutoff", "number", "fraction of Nyquist kept (0-1]"),
    ("Parameters", "crop_width", "Crop width (pixel)", "integer", "width of the slice region around its centre"),
    ("Phase", "energy", "Energy (keV)", "number", "phase retrieval (Paganin); empty: off"),
    ("Phase", "distance", "Distance (m)", "number", "propagation distance"),
    ("Phase", "pixel_size", "Pixel size (m)", "number", "effective pixel size"),
    ("Phase", "delta_beta", "delta / beta", "number", "ratio of the refractive index decrement to absorption"),
    ("Output", "output", "Output path", "path", "slice-%05i.tif, slices.tif (BigTIFF) or slices.h5:/data"),
    ("Output", "overwrite", "Overwrite", "bool", "replace existing output"),
    ("Output", "show_images", "Show images after reconstruction", "bool", "open the slice viewer"),
    ("Output", "gpu_only", "Use GPU exclusively", "bool", "fail instead of falling back to the CPU"),
]
GUI_ONLY = {"method", "crop_width", "show_images", "gpu_only"}


def schema() -> list[dict[str, Any]]:
    defaults = {f.name: f.default for f in fields(reco_mod.RecoOptions) if not callable(f.default)}
    defaults.update(method="fbp", show_images=True, gpu_only=False, crop_width=None, absorption=None)
    return [{"group": g, "name": n, "label": label, "kind": kind, "help": help, "default": defaults.get(n)}
            for g, n, label, kind, help in FIELDS]


def _number(name: str, value: Any, integer: bool = False) -> Any:
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{name}: '{value}' is not a number") from None
    if integer:
        if number != int(number):
            raise UsageError(f"{name}: '{value}' is not a whole number")
        return int(number)
    return number


def _check_type(name: str, kind: str, value: Any) -> None:
    """A form value of the wrong JSON type is the request's fault (HTTP 400 naming the field)."""
    if value is None:
        return
    if kind == "bool":
        if not isinstance(value, bool) and value != "":
            raise UsageError(f"{name}: expected true or false, got {json.dumps(value)[:80]}")
    elif kind in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise UsageError(f"{name}: expected a number, got {json.dumps(value)[:80]}")
    elif name == "axis":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise UsageError(f"axis: expected a number or 'auto', got {json.dumps(value)[:80]}")
    elif not isinstance(value, str):
        raise UsageError(f"{name}: expected text, got {json.dumps(value)[:80]}")


def options(values: dict[str, Any]) -> tuple[reco_mod.RecoOptions, dict[str, Any]]:
    """RecoOptions from form values (strings or numbers); raises UsageError naming the field."""
    kinds = {n: k for _, n, _, k, _ in FIELDS}
    clean: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for name, value in values.items():
        if name not in kinds:
            raise UsageError(f"unknown field '{name}'")
        kind = kinds[name]
        _check_type(name, kind, value)
        if kind == "number":
            value = _number(name, value)
        elif kind == "integer":
            value = _number(name, value, integer=True)
        elif kind == "bool":
            value = None if value in (None, "") else bool(value)
        elif value == "":
            value = None
        (extra if name in GUI_ONLY else clean)[name] = value
    if clean.get("axis") not in (None, "auto"):
        clean["axis"] = _number("axis", clean["axis"])
    for name in ("delta_beta", "filter_cutoff", "offset"):
        if clean.get(name) is None:
            clean.pop(name, None)
    if clean.get("output") is None:
        clean.pop("output", None)
    if extra.get("gpu_only"):
        clean["gpus"] = "all"
    return reco_mod.RecoOptions.from_mapping(clean, "form"), extra


def make_plan(values: dict[str, Any], outputs: bool = True) -> reco_mod.Plan:
    """The plan of `ufo reco` for the form; `outputs`: check the output too (not for the axis view)."""
    o, extra = options(values)
    plan = reco_mod.plan(o, outputs=outputs)
    if extra.get("crop_width"):
        width = int(extra["crop_width"])
        if not 1 <= width <= plan.width:
            raise UsageError(f"crop_width: {width} is outside 1..{plan.width}")
        from dataclasses import replace

        start = (plan.width - width) // 2
        plan = reco_mod.plan(replace(o, roi=(start, start, width, width)), outputs=outputs)
    if extra.get("gpu_only"):
        from ..core.resources import available

        if not available():
            raise UsageError("gpu_only: no GPU is available here (CuPy with CUDA); untick 'Use GPU exclusively'")
    return plan


def validate(values: dict[str, Any]) -> dict[str, str]:
    """Field -> message for what is wrong; empty when the plan can be made."""
    try:
        o, _ = options(values)
    except UfoError:
        o = None  # reported below, by the same path as every other error
    if o is not None:
        try:
            reco_mod.check_outputs(o)
        except UfoError as exc:  # exists, not writable, or is/contains/lies inside an input
            return {"output": str(exc)}
    try:
        make_plan(values)
    except UfoError as exc:
        message = str(exc)
        for name in ("projections", "sinograms", "darks", "flats", "flats2", "output"):
            value = str(values.get(name) or "")
            if value and (value in message or value.rstrip("/") in message):
                return {name: message}
        for _, name, _, _, _ in FIELDS:
            if message.startswith(f"{name}:") or f"--{name.replace('_', '-')}" in message or f"'{name}'" in message:
                return {name: message}
        for name in ("projections", "sinograms", "darks", "flats", "output", "region", "axis"):
            if name in message:
                return {name: message}
        return {"": message}
    return {}


def encode(array: np.ndarray) -> dict[str, Any]:
    data = np.ascontiguousarray(array, np.float32)
    finite = data[np.isfinite(data)]
    return {"shape": list(data.shape), "data": base64.b64encode(data.tobytes()).decode(),
            "min": float(finite.min()) if finite.size else 0.0, "max": float(finite.max()) if finite.size else 0.0}


def _reduce(image: np.ndarray, limit: int = 512) -> tuple[np.ndarray, int]:
    factor = max(1, math.ceil(max(image.shape) / limit))
    if factor > 1:
        h, w = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
        image = image[:h, :w].reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))
    return image, factor


def axis_view(values: dict[str, Any]) -> dict[str, Any]:
    """Flat-corrected 0/180 degree projections, the estimate, and a slice at candidate axes."""
    from ..storage.readers import open_source
    from ..tomo.axis import axis_by_scan, axis_from_projections, axis_from_sinogram

    plan = make_plan(values, outputs=False)  # the axis view writes nothing
    o = plan.options
    if not o.projections:
        raise UsageError("projections: the axis view needs projections (0 and 180 degree frames)")
    keys = plan.image_keys
    step = o.angle if o.angle else math.pi / plan.projections
    opposite = int(round(math.pi / step))
    exact = opposite < plan.projections  # a scan over [0, 180) has no 180 degree frame: its last is shown
    if opposite > plan.projections or opposite < 2:
        raise UsageError(f"angle: the scan has {plan.projections} projections of {step:.5f} rad, none near 180 degrees")
    opposite = min(opposite, plan.projections - 1)

    def frame(path: str, key: Any, index: int | None = None) -> np.ndarray:
        source = open_source(path, image_key=key)
        try:
            if index is not None:
                return source.read(index, slice(None), None).astype(np.float32)
            return np.stack([source.read(i, slice(None), None) for i in range(source.count)]).astype(np.float32)
        finally:
            source.close()

    p0, p180 = frame(o.projections, keys.get("projections"), 0), frame(o.projections, keys.get("projections"), opposite)
    if o.darks and o.flats:  # the flat-field step of `ufo reco` and the online reconstruction, as transmission
        from ..tomo.steps import FlatField

        ff = FlatField(absorption=False)
        ff.reduce(list(frame(o.darks, keys.get("darks"))), list(frame(o.flats, keys.get("flats"))))
        p0, p180 = ff.correct(np.stack([p0, p180]))
    row = plan.rows[len(plan.rows) // 2]
    sino = _sinogram(plan, row)
    estimate = axis_from_projections(p0, p180) if exact else axis_from_sinogram(sino)
    scan = axis_by_scan(sino, centre=estimate, search=min(16.0, plan.width / 8))
    order = np.argsort(scan.axes)
    picks = order[np.linspace(0, len(order) - 1, min(9, len(order))).astype(int)]
    best = int(np.argmin(scan.scores))
    if best not in picks:
        picks = np.sort(np.append(picks[:-1], best))
    r0, factor = _reduce(p0)
    r180, _ = _reduce(p180)
    return {"width": plan.width, "factor": factor, "p0": encode(r0), "p180": encode(r180), "estimate": float(estimate),
            "best": float(scan.best), "row": int(row),
            "candidates": [{"axis": float(scan.axes[i]), "score": float(scan.scores[i]),
                            "slice": encode(_reduce(scan.slices[i], 192)[0])} for i in picks]}


def _sinogram(plan: reco_mod.Plan, row: int) -> np.ndarray:
    from ..core.registry import create

    middle = reco_mod.Pass(row, 1, 1, slice(0, 1), 0)
    absorption = plan.options.absorption if plan.options.absorption is not None else plan.options.darks is not None
    stream = reco_mod.corrected(plan, middle, bool(absorption))
    return create("transpose-projections", number=plan.projections)(stream).collect()[0]  # type: ignore[no-any-return]


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

    @property
    def total(self) -> int:
        return self.plan.slices

    def status(self) -> dict[str, Any]:
        if self.handle is not None and self.state == "running":
            written = sum(s.frames_in for s in self.handle.stats.values() if s.kind == "sink")
            self.done = min(self.total, self.before + written)
        return {"id": self.id, "state": self.state, "done": self.done, "total": self.total,
                "percent": round(100.0 * self.done / max(self.total, 1), 1), "log": self.log[-50:],
                "error": self.error, "axis": self.axis, "seconds": round(self.seconds, 3),
                "output": self.plan.options.output}


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
            result = reco_mod.run(run.plan, on_start)
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


def read_slice(output: str, index: int) -> dict[str, Any]:
    from ..storage.readers import open_source

    import re

    source = open_source(re.sub(r"%0?\d*[id]", "*", output))  # a TIFF sequence's pattern: all its files
    try:
        if not 0 <= index < source.count:
            raise UsageError(f"slice {index} does not exist; the output holds {source.count}")
        image = source.read(index, slice(None), None).astype(np.float32)
        count = source.count
    finally:
        source.close()
    finite = image[np.isfinite(image)]
    hist, edges = np.histogram(finite, bins=64) if finite.size else (np.zeros(64), np.zeros(65))
    return {**encode(image), "index": index, "count": count, "histogram": hist.tolist(),
            "edges": [float(edges[0]), float(edges[-1])]}
