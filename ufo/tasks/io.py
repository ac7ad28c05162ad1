"""File input and output tasks; the file formats themselves live in ufo.storage."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..core import Kind, Property, Spec, Task
from ..core.errors import GraphError
from ..core.ufocompat import UfoSemantics, declare, differs, missing, only, same
from ..storage import open_source, open_writer
from ..storage.convert import to_bits
from ..storage.writer_base import room_note
from ..storage.readers import FrameSource

RAW_DTYPES = ("uint8", "uint16", "uint32", "int8", "int16", "int32", "float32", "float64",
              ">u2", ">i2", ">u4", ">i4", ">f4", ">f8")  # big-endian: ImageJ's raw data default


class Read(Task):
    """Read frames from TIFF (files, globs, directories, multi-page), EDF, HDF5 (file.h5:/dataset) or raw files."""

    name = "read"
    kind = Kind.SOURCE
    inputs = ()

    path = Property(str, doc="file, glob ('scan/*.tif'), directory, multi-page TIFF, EDF (.edf, .edf.gz), "
                    "file.h5[:/dataset] (NXtomo, DXchange and NeXus default data recognised), store.zarr[:/array] or raw file")
    image_key = Property(int, None, choices=(0, 1, 2), doc="NXtomo/DXchange: only projections (0), flats (1) or darks (2)")
    image_key_run = Property(int, None, doc="with image-key: only its N-th run of consecutive frames (0 the first, "
                             "-1 the last: the flats before and after a scan)")
    start = Property(int, 0, range=(0, None), doc="index of the first frame to read")
    number = Property(int, None, range=(0, None), doc="number of frames to read (default: all)")
    step = Property(int, 1, range=(1, None), doc="read every step-th frame")
    y = Property(int, 0, range=(0, None), doc="first row to read")
    height = Property(int, None, range=(1, None), doc="number of rows to read (default: to the last row)")
    y_step = Property(int, 1, range=(1, None), doc="read every y-step-th row")
    raw_width = Property(int, None, range=(1, None), doc="raw files: frame width in pixels")
    raw_height = Property(int, None, range=(1, None), doc="raw files: frame height in pixels")
    raw_dtype = Property(str, "uint16", choices=RAW_DTYPES, doc="raw files: data type ('>u2' ...: big-endian, "
                         "as ImageJ saves raw data)")
    raw_offset = Property(int, 0, range=(0, None), doc="raw files: bytes to skip at the start of each file")
    decode = Property(bool, True, doc="8/16-bit files recording the values their integers stand for (ufo's "
                      "scale_min/scale_max) are read as those values (float32); false: the stored integers")

    #: ufo-filters' read: one frame per file is the usual case, where UFO's file index is our frame index
    ufo_names = declare({
        "path": same("path"), "number": same("number"), "step": same("step"),
        "start": differs("start", "UFO counts files, ufo counts frames: the same for one frame per file"),
        "image-start": missing("ufo numbers the frames of all files in one sequence; use start="),
        "image-step": missing("ufo numbers the frames of all files in one sequence; use step="),
        "y": same("y"), "height": same("height"), "y-step": same("y-step"),
        "convert": only({"true": {}, "1": {}},
                        "ufo keeps the stored type and every computing task works in float32 (the same numbers); "
                        "UFO's convert=false (raw integers) has no equivalent"),
        "raw-width": same("raw-width"), "raw-height": same("raw-height"),
        "raw-bitdepth": only({"8": {"raw-dtype": "uint8"}, "16": {"raw-dtype": "uint16"},
                              "32": {"raw-dtype": "uint32"}}, "use raw-dtype=", ours="raw-dtype"),
        "raw-pre-offset": same("raw-offset"),
        "raw-post-offset": only({"0": {}}, "ufo's raw frames follow each other; bytes after a frame: none"),
        "type": missing("ufo tells the format from the file name"),
    })

    def _open(self) -> FrameSource:
        return open_source(self.path, self.raw_width, self.raw_height, self.raw_dtype, self.raw_offset, self.image_key,
                           self.image_key_run, self.decode)

    def _selection(self, source: FrameSource) -> tuple[range, slice]:
        if self.start >= source.count and source.count:
            raise GraphError(f"start={self.start} but '{self.path}' has only {source.count} frame(s)")
        stop = source.count if self.number is None else min(source.count, self.start + self.number * self.step)
        rows = source.shape[0]
        if self.y >= rows:
            raise GraphError(f"y={self.y} but frames of '{self.path}' have only {rows} rows")
        end = rows if self.height is None else self.y + self.height
        if end > rows:
            raise GraphError(f"y={self.y} + height={self.height} exceeds the {rows} rows of '{self.path}'")
        return range(self.start, stop, self.step), slice(self.y, end, self.y_step)

    def output_spec(self) -> Spec:  # type: ignore[override]
        source = self._open()
        try:
            frames, rows = self._selection(source)
            height = len(range(*rows.indices(source.shape[0])))
            return Spec((height, *source.shape[1:]), source.dtype, len(frames))
        finally:
            source.close()

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        self._source = self._open()
        for warning in getattr(self._source, "warnings", ()):
            ctx.warn(warning)

    def generate(self) -> Iterator[Any]:
        source = self._source
        frames, rows = self._selection(source)
        # a part of the frames: each says where it lies along all of them (flats before and after the
        # scan are interpolated by it: by the stream's index, frames 3-7 of 10 took the flats of 0-9)
        along = source.count - 1 if len(frames) < source.count and source.count > 1 else None
        for index, at in enumerate(frames):
            out = self.ctx.buffer()
            source.read(at, rows, out.data)
            out.meta = {"index": index, "path": source.label(at), **source.meta(at)}
            if along is not None:
                out.meta["scan_fraction"] = at / along
            if rows.start or rows.step != 1:  # the detector row of the frame's first row (a sinogram's row)
                out.meta.update(y=rows.start, y_step=rows.step)
            yield out

    def teardown(self) -> None:
        source = getattr(self, "_source", None)
        if source is not None:
            source.close()
            self._source = None  # type: ignore[assignment]


def _finite_sample(frame: np.ndarray) -> bool:
    """Whether 8 or 9 whole rows spread over the frame (every pixel of a frame of up to 64 Ki
    pixels) are finite: a NaN or inf pixel in a sinogram makes its whole slice NaN (the filter and
    the back-projection spread it), so a sample sees it. Rows, read in order: 4096 pixels
    scattered over a frame just downloaded were as many cache misses, a tenth of the writer
    thread's time (`ufo reco` of 1024^3 on the H200 host)."""
    if frame.size <= 1 << 16:  # small frames: every pixel
        return bool(np.isfinite(frame).all())
    if frame.ndim < 2:
        return bool(np.isfinite(frame.reshape(-1)[:4096]).all())
    rows = frame.reshape(frame.shape[0], -1)
    return bool(np.isfinite(rows[:: max(1, len(rows) // 8)]).all())


#: the share of a frame's values outside the 8/16-bit range above which its clipping is warned of
#: (zingers and a reconstruction's rim clip by design: the range is a percentile range)
CLIPPED_SHARE = 0.01


def _clipped_share(frame: np.ndarray, lo: float, hi: float) -> float:
    """The share of a sample of rows spread over `frame` (as `_finite_sample`) outside [lo, hi]."""
    rows = frame.reshape(frame.shape[0], -1) if frame.ndim >= 2 else frame.reshape(1, -1)
    sample = rows[:: max(1, len(rows) // 8)]
    return float(np.count_nonzero((sample < lo) | (sample > hi))) / max(1, sample.size)


def _ufo_scaling_note(task: Any) -> str | None:
    """The difference of 8/16-bit scaling without minimum/maximum, where a UFO graph has it."""
    if task.bits in (8, 16) and task.rescale and (task.minimum is None or task.maximum is None):
        return (f"bits={task.bits} without minimum= and maximum=: UFO scales each frame by its own range, ufo all "
                f"frames by one range from the first {task.scale_frames}; give both for the same integers as UFO")
    return None


def upstream_paths(task: Task) -> list[str]:
    """The paths every source upstream of `task` reads (the graph as built, before it runs): a
    `read`'s path, a `camera`'s replayed file (name=file settings=path=...)."""
    paths: list[str] = []
    seen: set[int] = set()
    todo = [task]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, Read) and node.path:
            paths.append(node.path)
        replayed = getattr(node, "replayed_path", None)
        if callable(replayed) and replayed():
            paths.append(replayed())
        todo.extend(stream.task for stream in (node._upstreams or ()))
    return paths


class Write(Task):
    """Write frames; the path decides the format: frame-%05i.tif, stack.tif (ImageJ TIFF or BigTIFF),
    scan.h5:/data, frames.raw.

    8/16-bit output uses one scale for all frames, so a value means the same in every frame:
    `minimum`/`maximum` when given, else the range of the first `scale-frames` frames (held
    back until then; `ufo reco` samples slices across the volume instead and gives the range).
    The scale is stored with the output (docs/conventions.md, "Output metadata"), as is the
    `metadata` dict a caller sets on the task (how the output was made; plain JSON values).
    """

    name = "write"
    kind = Kind.SINK
    uses_meta = True

    path = Property(str, doc="output: frame-%05i.tif (one TIFF per frame), stack.tif (one stack: a classic ImageJ "
                    "TIFF while the frame count is known and it stays under 4 GB, else BigTIFF), file.h5:/dataset, "
                    "scan.nx (NXtomo), stack.zarr[:/array] (Zarr v3; zarr-format=2 for v2), file.raw")
    bits = Property(int, None, choices=(8, 16, 32), doc="stored bits: 8/16 rescale to integers, 32 is float32 (default: as is)")
    minimum = Property(float, None, doc="value stored as 0 for 8/16 bits (default: from the first scale-frames frames)")
    maximum = Property(float, None, doc="value stored as the largest integer for 8/16 bits (default: from the first "
                       "scale-frames frames)")
    scale_frames = Property(int, 16, range=(1, None), doc="8/16 bits without minimum/maximum: frames whose value range "
                            "(0.05..99.95 percentiles, widened by 10 %) sets the one scale of all frames")
    units = Property(str, "", doc="unit of the values, stored with the scale (e.g. 1/pixel)")
    rescale = Property(bool, True, doc="8/16 bits: map [minimum, maximum] onto the integer range (false: clip and cast)")
    prescaled = Property(bool, False, doc="8/16 bits: integer frames arrive already mapped from [minimum, maximum] "
                         "(ufo reco converts on the GPU); stored as they are, with the scale")
    start = Property(int, 0, range=(0, None), doc="number of the first file of a TIFF sequence")
    step = Property(int, 1, range=(1, None), doc="TIFF sequence: file numbers advance by this per frame")
    first_row = Property(int, None, range=(0, None), doc="frame i is stored with metadata row = first-row + i * step "
                         "(ufo reco: the detector row of each slice)")
    overwrite = Property(bool, False, doc="replace existing files or datasets")
    append = Property(bool, False, doc="add frames to an existing BigTIFF, HDF5 dataset, Zarr array or raw file")
    layout = Property(str, "auto", choices=("auto", "plain", "nxtomo", "dxchange", "nxdata"),
                      doc="HDF5 layout; auto: NXtomo for .nx/.nxs names, else plain (frames use image_key and angle "
                      "metadata); nxdata: a NeXus NXdata of the frames, a reconstruction's (/entry/data/data, NXtomoproc's places)")
    compression = Property(str, "none", choices=("none", "gzip", "lzf", "zstd", "blosc"),
                           doc="HDF5: gzip or lzf; Zarr: zstd, blosc or gzip (uncompressed HDF5 uses direct chunk writes)")
    bytes_per_file = Property(int, 0, range=(0, None), doc="BigTIFF: start a new file after this many bytes (0: one file)")
    zarr_format = Property(int, None, choices=(2, 3), doc="stack.zarr: 2 writes Zarr v2 (zarr-python 2, napari's zarr 2 "
                           "reader), 3 Zarr v3 (default: v3, or an existing store's format)")
    tiff_format = Property(str, "auto", choices=("auto", "imagej", "bigtiff"),
                           doc="stack.tif: auto: classic ImageJ TIFF when the stream's frame count is known and the "
                           "stack stays under 4 GB, else BigTIFF; imagej: ImageJ TIFF whatever the count (fails past "
                           "4 GB); bigtiff: always BigTIFF (keeps each frame's metadata)")

    #: ufo-filters' write: `filename` with one %i counter, numbered from counter-start by counter-step
    ufo_names = declare({
        "filename": same("path"), "counter-start": same("start"), "counter-step": same("step"),
        "bytes-per-file": same("bytes-per-file"), "append": same("append"),
        "bits": differs("bits", "8/16 bits without minimum/maximum: UFO scales each frame by its own range, ufo all "
                        "frames by one range from the first scale-frames frames; give minimum= and maximum="),
        "minimum": same("minimum"), "maximum": same("maximum"), "rescale": same("rescale"),
        "jpeg-quality": missing("ufo writes no JPEG; write TIFF (bits=8) and convert"),
        "tiff-bigtiff": only({"true": {"tiff-format": "bigtiff"}, "1": {"tiff-format": "bigtiff"},
                              "false": {}, "0": {}}, "true or false", ours="tiff-format"),
    })
    #: UFO scales 8/16-bit output per frame by its own range; no setting of ours does that, so it is said
    ufo_semantics = UfoSemantics(note="8/16 bits without minimum and maximum: UFO scales each frame by its own "
                                 "range; ufo run says so where a UFO graph does it", check=_ufo_scaling_note)
    metadata: dict[str, Any] | None = None  # set by callers (ufo reco): stored once per output file

    def output_spec(self, *specs: Spec) -> None:
        from ..storage import parse_output_path

        parse_output_path(self.path)  # a bad name fails at build time
        # an output that is, contains or lies inside a file this graph reads is refused before anything starts
        from ..storage.guard import refuse_conflict

        refuse_conflict(self.path, upstream_paths(self), self.bytes_per_file)
        if self._scaled() and self.minimum is not None and self.maximum is not None and self.minimum >= self.maximum:
            raise GraphError(f"minimum {self.minimum:g} is not below maximum {self.maximum:g}: {self.bits}-bit output "
                             "maps [minimum, maximum] onto its integers (an inverted or empty range stored every "
                             "value as one); give minimum < maximum")
        if self._scaled() and self.minimum is not None and self.maximum is not None:
            from ..storage.convert import scale_problem

            if (why := scale_problem(self.bits, self.minimum, self.maximum)) is not None:
                raise GraphError(f"minimum and maximum: {why}")
        return None

    def _scaled(self) -> bool:
        return self.bits in (8, 16) and self.rescale

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        self._writer = None
        self._held: list[tuple[np.ndarray, dict[str, Any]]] = []
        self._scale = (self.minimum, self.maximum)
        self._count = 0
        self._nonfinite = (0, 0)  # (the first frame with NaN or inf, how many had them)
        self._clipped = (0, 0)  # (the first frame with more than CLIPPED_SHARE of its values clipped, how many)
        specs = getattr(ctx, "input_specs", None) or [None]
        self._expected = getattr(specs[0], "count", None)
        spec = specs[0]
        uncompressed = self.compression in (None, "", "none")  # compressed: the bytes are not known ahead
        if uncompressed and spec is not None and spec.shape and spec.dtype is not None and (note := room_note(
                self.path, self._expected, spec.shape, {8: 1, 16: 2}.get(self.bits or 0) or np.dtype(spec.dtype).itemsize)):
            import warnings  # said at once (not with the run's warnings at its end), as `ufo camera grab` says it

            warnings.warn(note, UserWarning, stacklevel=2)  # (81 GB were written, then "disk full")
        if self.append and self._scaled():
            self._scale = self._appended_scale()
        if not self._scaled() or None not in self._scale:
            self._open()

    def _appended_scale(self) -> tuple[float | None, float | None]:
        """Frames appended to an 8/16-bit output take its scale: a scale of their own replaced the file's
        record, and the frames already there decoded 100 times too large (one [min, max] an output)."""
        from ..storage.convert import stored_scale

        held = stored_scale(self.path)
        if held is None:
            return self._scale
        given = (self.minimum, self.maximum)
        if any(g is not None and not np.isclose(g, h) for g, h in zip(given, held)):
            raise GraphError(f"'{self.path}' stores its frames on the scale [{held[0]:g}, {held[1]:g}]; frames appended "
                             f"must be stored on it too, not on [{given[0]}, {given[1]}] (leave minimum and maximum out)")
        return held

    def _open(self) -> None:
        from ..storage.convert import stored_metadata

        from ..storage import parse_output_path
        from ..storage.formats import FileKind

        given = self.metadata
        if self.layout == "nxtomo" or self.layout == "auto" and self.path.lower().endswith((".nx", ".nxs")):
            from ..storage.nexus import nxtomo_record  # an NXtomo copied or corrected keeps its instrument

            inherited = next((r for r in map(nxtomo_record, upstream_paths(self)) if r), {})
            given = {**inherited, **(self.metadata or {})} if inherited else given
        metadata = stored_metadata(given, self.bits if self._scaled() else None, *self._scale, self.units,
                                   self.first_row, self.step)

        # each TIFF carries its own row; an HDF5 dataset has first_row and row_step, where row and
        # index datasets beside the slices took up to a fifth of the writer's time (1024 slices
        # of 1024^2 on the H200 host: 1.66-1.85 s with a row dataset, 1.29-1.44 s without)
        self._row_meta = parse_output_path(self.path).kind is not FileKind.HDF5
        self._writer = open_writer(self.path, self.overwrite, self.start, self.append, self.layout, self.compression,
                                   self.bytes_per_file, metadata=metadata, step=self.step,
                                   record_drops=True,  # a camera's frames (frame_number): their gaps in HDF5
                                   exclusive=getattr(self, "exclusive", True),  # False: a cluster worker's part
                                   expected_frames=self._expected,
                                   imagej={"auto": None, "imagej": True, "bigtiff": False}[self.tiff_format],
                                   zarr_format=self.zarr_format)

    def _store(self, frame: np.ndarray, meta: dict[str, Any]) -> None:
        if frame.ndim < 2:  # a measurement's values (measure, measure-sharpness): an image of one row
            frame = frame.reshape(1, -1)
        if self.first_row is not None and self._row_meta:
            meta = {**meta, "row": self.first_row + self._count * self.step}
        elif self.first_row is not None:  # slices of known rows into HDF5: no per-slice datasets of
            meta = {k: v for k, v in meta.items() if k not in ("row", "index")}  # what first_row says
        if frame.dtype.kind in "fc" and not _finite_sample(frame):
            first, count = self._nonfinite
            self._nonfinite = (first if count else self._count, count + 1)
        lo, hi = self._scale if self.rescale else (0, (1 << (self.bits or 0)) - 1)  # clip and cast: the type's range
        ready = self.prescaled and self.bits in (8, 16) and frame.dtype == (np.uint8 if self.bits == 8 else np.uint16)
        if self.bits in (8, 16) and not ready and _clipped_share(frame, lo, hi) > CLIPPED_SHARE:
            first, count = self._clipped
            self._clipped = (first if count else self._count, count + 1)
        self._writer.write(frame if ready else to_bits(frame, self.bits, lo, hi, self.rescale), meta)
        self._count += 1

    def _release(self) -> None:
        """The held frames set the scale; open the writer and store them."""
        from ..storage.convert import find_scale

        lo, hi = find_scale([f for f, _ in self._held])
        self._scale = (self.minimum if self.minimum is not None else lo, self.maximum if self.maximum is not None else hi)
        self._open()
        held, self._held = self._held, []
        for frame, meta in held:
            self._store(frame, meta)

    def consume(self, frame: np.ndarray, meta: dict[str, Any]) -> None:  # type: ignore[override]
        if self._writer is None:
            self._held.append((np.array(frame, copy=True), dict(meta)))
            if len(self._held) >= self.scale_frames:
                self._release()
            return
        self._store(frame, meta)

    def teardown(self) -> None:
        if getattr(self, "_held", None):
            self._release()
        writer = getattr(self, "_writer", None)
        if writer is not None:
            writer.close()
            self._writer = None  # type: ignore[assignment]
            for note in getattr(writer, "notes", list)():
                self.ctx.warn(note)
        first, count = getattr(self, "_clipped", (0, 0))
        if count:
            lo, hi = self._scale if self.rescale else (0, (1 << self.bits) - 1)
            low, high, floats = getattr(self, "scale_options", ("minimum=", "maximum=", "bits=32"))  # ufo reco's own
            given = "of the type (rescale=false: clipped and cast)" if not self.rescale else "given" \
                if self.minimum is not None and self.maximum is not None else \
                f"found from the first {self.scale_frames} frames"
            self.ctx.warn(f"{count} of the {self._count} frames written to {self.path} (the first: frame {first}) had more "
                          f"than {CLIPPED_SHARE:.0%} of their values outside [{lo:.6g}, {hi:.6g}], the range {given}, "
                          f"stored as 0 or {(1 << self.bits) - 1}: give {low} and {high} that hold every frame"
                          f"{' with rescale=true' if not self.rescale else ''}, or {floats}")
        first, count = getattr(self, "_nonfinite", (0, 0))
        if count:
            self.ctx.warn(f"{count} of the {self._count} frames written to {self.path} hold NaN or infinite values "
                          f"(the first: frame {first}); they come from upstream: NaN or infinite input pixels, "
                          "or a step that made them (a division by zero, a log of 0 or less: projections "
                          "without darks and flats?)")

    @property
    def frames_written(self) -> int:
        writer = getattr(self, "_writer", None)
        return writer.frames if writer is not None else 0
