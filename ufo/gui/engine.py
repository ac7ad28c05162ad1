"""What the GUI computes, as plain functions over ufo.reco: no second implementation.

Form fields are the options of `ufo reco`, generated from their one declaration
(`ufo.reco.RecoOptions`, see ufo/reco/schema.py) plus the few the GUI adds (`GuiOptions`,
declared the same way), and are checked by the same `Option.convert` as the command line and
config files, so the form takes the same units and ranges and refuses with the same messages.
The axis view is `ufo.reco.axis_preview`; runs are `reco.run` in a thread with progress and
cancel (runs.py). The GUI shows no camera or experiment settings.
"""

from __future__ import annotations

import base64
import glob
import os
import re
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import UfoError, UsageError
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
    if extra.get("gpu_only"):  # the GPUs chosen stay; none chosen: all of them
        if str(clean.get("gpus", "")).strip().lower() == "cpu":
            raise schema.OptionError("gpu_only", "'Use GPU exclusively' contradicts GPUs 'cpu'; untick one of them")
        clean.setdefault("gpus", "all")
    return cls(**clean), extra


def make_plan(values: dict[str, Any], outputs: bool = True, cls: Any = reco_mod.RecoOptions) -> reco_mod.Plan:
    """The plan of `ufo reco` for the form; `outputs`: check the output too (not for the axis view)."""
    o, extra = options(values, cls)
    plan = reco_mod.plan(o, outputs=outputs)
    if extra.get("crop_width"):
        width = int(extra["crop_width"])
        if plan.options.half_acquisition and plan.axis is None:
            raise schema.OptionError("crop_width", "a half acquisition's slices are as wide as its axis makes them: "
                                     "give the axis (or find it in the axis view) to crop them")
        full = plan.slice_shape(plan.axis)[1]  # a half acquisition's: the stitched width, about twice the detector's
        if not 1 <= width <= full:
            raise schema.OptionError("crop_width", f"{width} is outside 1..{full}")
        start = (full - width) // 2
        plan = reco_mod.plan(replace(o, roi=(start, start, width, width)), outputs=outputs)
    from ..core.resources import available, select

    select(plan.options.gpus)  # 'banana', GPU 7 on a machine with two: refused now, not when the run starts
    if extra.get("gpu_only"):
        if not available():
            raise UsageError("gpu_only: no GPU is available here (CuPy with CUDA); untick 'Use GPU exclusively'")
    return plan


#: where a refusal of the run's graph (a task's property, a node's check) belongs on the form: the
#: first words of the message it contains, in order (a node names itself first, its property after)
GRAPH_FIELDS = (("angle-step", "angle"), ("angle-offset", "offset"), ("task 'remove-stripes'", "remove_stripes"),
                ("task 'remove-outliers'", "remove_outliers"), ("energy", "energy"), ("distance", "distance"),
                ("pixel-size", "pixel_size"), ("delta-beta", "delta_beta"), ("filter-cutoff", "filter_cutoff"),
                ("filter", "filter"), ("oversampling", "oversampling"), ("roi", "roi"), ("frame needs", "roi"))


def tidy(message: str) -> str:
    """A message for the page: a number of more than 15 digits (`--number 1e308` as 309 digits) as 1e+308."""
    return re.sub(r"\d{16,}", lambda m: f"{int(m.group()[:4]) / 1000:.3g}e+{len(m.group()) - 1}", message)  # 10**400:
    # no float holds it (it said 'inf')


def check_graph(plan: reco_mod.Plan) -> None:
    """Build the first pass's graph and check every task's properties and every node's output, as
    `ufo reco --dry-run` does (a GraphError or PropertyError): what the run would refuse at once
    (an angle step of 1e-300, a region of 1e9 pixels) is refused on the form, before Run. Builds
    only: nothing is read or written. `--axis auto` finds its axis at the run: the graph takes
    the plan's stand-in, as the dry run's."""
    o = plan.options
    axis = plan.axis if plan.axis is not None or not o.half_acquisition else plan.width / 8
    graph, _ = reco_mod.graph(plan, plan.passes[0], axis)
    graph.validate()


def _field_of(message: str, values: dict[str, Any], cls: Any) -> str:
    """The form field a refusal of the plan or its graph belongs to ('' for the form as a whole).

    The option a message starts with comes first: '--number 400 asks for more projections than the
    360 in 'scan.nx'' names the projections' file too, and belongs to *number*."""
    fields = declared(cls)
    for name, o in fields.items():
        if message.startswith((f"{name}:", f"{o.flag} ", f"{o.flag}:")):
            return name
    if message.startswith(("node '", "task '")):
        for words, name in GRAPH_FIELDS:
            if words in message and (name != "roi" or values.get("roi")):
                return name
        return ""
    paths = ("projections", "sinograms", "darks", "flats", "flats2", "output")
    for name in paths:
        value = str(values.get(name) or "")
        if value and (value in message or value.rstrip("/") in message):
            return name
    for name in paths:  # 'file.h5:/nope': the message names the file and the dataset apart
        file, dataset = split_dataset(str(values.get(name) or ""))
        if dataset and file in message and dataset.strip("/") in message:
            return name
    for name, o in fields.items():
        if o.flag in message or f"'{name}'" in message:
            return name
    for name in ("projections", "sinograms", "darks", "flats", "output", "region", "axis"):
        if name in message:
            return name
    return ""


def validate(values: dict[str, Any], cls: Any = reco_mod.RecoOptions) -> dict[str, str]:
    """Field -> message for what is wrong; empty when the run would start: its plan can be made
    and its first pass's graph accepts every property (what the run checks first)."""
    try:
        o, _ = options(values, cls)
    except schema.OptionError as err:
        return {err.option: tidy(str(err))}
    try:
        reco_mod.check_outputs(o)
    except UfoError as exc:  # exists, not writable, or is/contains/lies inside an input
        return {"output": tidy(str(exc))}
    try:
        check_graph(make_plan(values, cls=cls))
    except schema.OptionError as err:
        return {err.option: tidy(str(err))}
    except UfoError as exc:
        message = tidy(str(exc))
        return {_field_of(message, values, cls): message}
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


def axis_view(values: dict[str, Any], stop: threading.Event | None = None) -> dict[str, Any]:
    """`ufo.reco.axis_preview` of the form's plan, as JSON (the axis view writes nothing); `stop`
    set (the server stopping) ends it with Cancelled."""
    # the axis is what the view finds: an empty field is 'auto' (a half acquisition's plan wants one)
    preview = reco_mod.axis_preview(make_plan({**values, "axis": values.get("axis") or "auto"}, outputs=False),
                                     stop=stop)
    return {"width": preview.width, "factor": preview.factor, "p0": encode(preview.p0), "p180": encode(preview.p180),
            "estimate": preview.estimate, "best": preview.best, "row": preview.row,
            "candidates": [{"axis": c.axis, "score": c.score, "slice": encode(c.slice)} for c in preview.candidates]}


def output_stamp(output: str) -> tuple[int, int, int] | None:
    """(inode, size, modification time) of a run's output file, None for a TIFF sequence or none there:
    a later run writing the same output with overwrite showed its slices under this run's name."""
    from ..storage import parse_output_path
    from ..storage.formats import FileKind

    target = parse_output_path(output)
    try:
        info = os.stat(target.path)
    except OSError:
        return None
    return None if target.kind is FileKind.TIFF_SEQUENCE else (info.st_ino, info.st_size, info.st_mtime_ns)


def read_slice(output: str, index: int, rows: list[int] | None = None,
               raw: tuple[tuple[int, int], int | None] | None = None) -> dict[str, Any]:
    """Slice `index` of a run's output, with its detector row (`rows`: the plan's) and a contrast
    window of its 0.5 and 99.5 % percentiles (`low`, `high`: zingers and edge streaks set min and
    max, and a min/max window shows the sample as flat grey).

    A TIFF sequence is read file by file as the run names them (by detector row): its folder may
    hold other runs' slices or stray files, which a pattern matching all of them showed instead
    (a one-slice preview as "256 slices"). Any other output is read as the one file the writer
    wrote: a name with a glob character (`o/*.tif`) is no pattern for the reader. A headerless .raw
    output is read with `raw`: the run's slice shape and output bits (without them every slice of a
    raw run was refused for want of raw-width and raw-height)."""
    from ..storage import parse_output_path
    from ..storage.formats import FileKind
    from ..storage.readers import open_source

    target = parse_output_path(output)
    if target.kind is FileKind.TIFF_SEQUENCE and rows is not None:
        if not 0 <= index < len(rows):
            raise UsageError(f"slice {index} does not exist; the run writes {len(rows)}")
        path = target.frame_path(rows[index])
        if not os.path.exists(path):
            raise UsageError(f"slice {index} (row {rows[index]}) is not there (not written yet, or removed since)")
        source, at, count = open_source(glob.escape(path)), 0, len(rows)
    else:  # HDF5 and Zarr open the file named; a TIFF or raw file's name would be a pattern
        literal = target.kind in (FileKind.BIGTIFF, FileKind.RAW, FileKind.TIFF_SEQUENCE)
        if not os.path.exists(target.path) and target.kind is not FileKind.TIFF_SEQUENCE:
            raise UsageError(f"'{target.path}' is not there (not written yet, or removed since)")
        shape = {} if target.kind is not FileKind.RAW or raw is None else {
            "raw_height": raw[0][0], "raw_width": raw[0][1], "raw_dtype": {8: "uint8", 16: "uint16"}.get(raw[1], "float32")}
        source = open_source(glob.escape(output) if literal else output, **shape)
        at = index
        count = source.count
    try:
        if not 0 <= at < source.count:
            raise UsageError(f"slice {index} does not exist; the output holds {source.count}")
        stored = source.read(at, slice(None), None)
    finally:
        source.close()
    from ..storage.convert import from_bits, stored_scale

    scale = stored_scale(output) if stored.dtype in (np.uint8, np.uint16) else None  # 8/16-bit: the values they
    image = (from_bits(stored, *scale) if scale else stored).astype(np.float32)  # stand for (stored ints before)
    finite = image[np.isfinite(image)]
    hist, edges = np.histogram(finite, bins=64) if finite.size else (np.zeros(64), np.zeros(65))
    low, high = (float(v) for v in np.percentile(finite, (0.5, 99.5))) if finite.size else (0.0, 0.0)
    row = rows[index] if rows is not None and 0 <= index < len(rows) else None
    return {**encode(image), "index": index, "count": count, "row": row, "low": low, "high": high,
            "histogram": hist.tolist(), "edges": [float(edges[0]), float(edges[-1])]}
