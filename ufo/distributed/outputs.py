"""Outputs that several workers write at once without conflicts: TIFF sequences numbered
globally, HDF5 part files joined by a virtual dataset, Zarr regions of one chunk per slice."""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

import numpy as np

from ..core import Kind, Task
from ..core.errors import UsageError
from ..storage.formats import FRAMES_WRITTEN, NEXUS_SUFFIXES, FileKind, parse_output_path
from ..storage.formats import RANGES_WRITTEN as RANGES
from ..storage.nexus import NXTOMOPROC_DATA, nxdata_metadata
from .ranges import Part


class RegionWriter(Task):
    """Writes slices into rows `offset ...` of an existing Zarr array (chunk-aligned: no conflicts)."""

    name = "_zarr-region"
    kind = Kind.SINK

    def __init__(self, store: str, array: str, offset: int, bits: int | None = None,
                 minimum: float | None = None, maximum: float | None = None):
        super().__init__()
        self.store, self.array, self.offset = store, array, offset
        self.bits, self.minimum, self.maximum = bits, minimum, maximum  # 8/16 bits: the volume's one scale

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        import zarr

        self._target = zarr.open_group(self.store, mode="r+")[self.array]
        self._index = 0

    def consume(self, frame: np.ndarray) -> None:  # type: ignore[override]
        from ..storage.convert import to_bits

        self._target[self.offset + self._index] = to_bits(frame, self.bits, self.minimum, self.maximum)
        self._index += 1


def prepare_output(output: str, slices: int, shape: tuple[int, int], overwrite: bool, bits: int | None = None,
                   metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check the output and lay out its parts (slices of `shape` = rows x columns) before any worker writes.
    A Zarr array is made here whole: of `bits` (8/16: unsigned integers, else float32), with
    `metadata` (what a single process's writer stores: how it was made, the scale) as attributes."""
    target = parse_output_path(os.path.expanduser(output))
    height, width = shape
    if target.kind is FileKind.TIFF_SEQUENCE:
        first = target.frame_path(0)
        if os.path.exists(first) and not overwrite:
            raise UsageError(f"'{first}' exists; pass --overwrite to replace the slices")
        os.makedirs(os.path.dirname(first) or ".", exist_ok=True)
        return {"kind": "tiff", "pattern": output}
    if target.kind is FileKind.HDF5:
        nexus = target.path.lower().endswith(NEXUS_SUFFIXES)  # a NeXus reconstruction (`storage.nexus`)
        dataset = target.dataset or (NXTOMOPROC_DATA if nexus else "/data")
        _clear_hdf5(target.path, dataset, overwrite)  # the data set alone: the file's others stay (its raw data)
        parts = target.path + ".parts"
        name = os.path.basename(target.path)
        _clear_parts(parts, name)
        os.makedirs(parts, exist_ok=True)
        return {"kind": "hdf5", "file": target.path, "dataset": dataset,
                "nexus": nexus, "parts": parts,
                "part_path": os.path.join(parts, name + ".{first:07d}.h5") + ":/data",
                # the run's options for the joined volume: each part records its own range as the region
                "configuration": json.dumps((metadata or {}).get("configuration"), default=str)}
    if target.kind is FileKind.ZARR:
        import zarr

        array = (target.dataset or "data").strip("/")
        group = zarr.open_group(target.path, mode="a")  # the store's other arrays stay (mode "w" removed the
        if array in group:  # projections read from st.zarr:/proj with -o st.zarr:/recon --overwrite)
            if not overwrite:
                raise UsageError(f"'{target.path}:/{array}' exists; pass --overwrite to replace it")
            del group[array]
        dtype = {8: "uint8", 16: "uint16"}.get(bits or 0, "float32")
        made = group.create_array(array, shape=(slices, height, width), chunks=(1, height, width), dtype=dtype,
                                  fill_value=0)
        # the slice ranges written whole, recorded by the client as they finish (`record_range`) and
        # removed at the end: after a stopped run it says which slices are there (the rest read as zeros)
        made.attrs.update({**json.loads(json.dumps(metadata or {}, default=str)), RANGES: []})
        return {"kind": "zarr", "store": target.path, "array": array}
    raise UsageError(cluster_output_problem(output) or f"'{output}': not a cluster's output")


def _clear_hdf5(path: str, dataset: str, overwrite: bool) -> None:
    """The old `dataset` of `path` removed (with --overwrite; else refused), the file's other data
    sets kept: an old virtual dataset over the parts removed here would read zeros where this run
    leaves none. Removing the whole file lost the raw data beside the reconstruction."""
    import h5py

    if not os.path.exists(path):
        return
    try:
        with h5py.File(path, "a", locking=False) as f:
            if dataset not in f:
                return
            if not overwrite:
                raise UsageError(f"'{path}:{dataset}' exists; pass --overwrite to replace it")
            for name in (dataset, dataset.rstrip("/") + FRAMES_WRITTEN):
                if name in f:
                    del f[name]
    except OSError as exc:  # not an HDF5 file ufo can open (cut short, killed early): replaced only when asked
        if not overwrite:
            raise UsageError(f"'{path}' exists; pass --overwrite to replace it") from exc
        os.remove(path)


def _clear_parts(parts: str, name: str) -> None:
    """The part files of an earlier run in `parts` removed; a folder holding anything else is refused
    (it was deleted whole: the projections being read, a user's notes)."""
    if not os.path.exists(parts):
        return
    entries = os.listdir(parts) if os.path.isdir(parts) else [""]
    foreign = [e for e in entries if not (e.startswith(name + ".") and e.endswith(".h5"))]
    if foreign:
        raise UsageError(f"'{parts}' holds files that are not a cluster run's parts ({foreign[0] or parts}): the "
                         "parts of this output go there; move them, or choose another output")
    for entry in entries:
        os.remove(os.path.join(parts, entry))


def cluster_output_problem(output: str) -> str | None:
    """Why a cluster cannot write `output` (one file several hosts cannot write at once), or None:
    said before the cluster starts (the refusal came after it, under a progress bar of 0 slices)."""
    if parse_output_path(os.path.expanduser(output)).kind in (FileKind.TIFF_SEQUENCE, FileKind.HDF5, FileKind.ZARR):
        return None
    return (f"'{output}': a cluster writes TIFF sequences (slice-%05i.tif), HDF5 (file.h5:/data) or Zarr "
            "(volume.zarr); one BigTIFF or raw file cannot be written by several hosts at once")


def record_range(target: dict[str, Any], done: list[list[int]], part: Part | None) -> None:
    """A Zarr volume's record of the ranges written (`done`, merged, with `part` added), or, with
    `part` None once every range is written, the record removed."""
    if target["kind"] != "zarr":
        return
    import zarr

    array = zarr.open_group(target["store"], mode="r+")[target["array"]]
    if part is None:
        if RANGES in array.attrs:
            del array.attrs[RANGES]
        return
    done[:] = merged_ranges([*done, [part.first, part.stop]])
    array.attrs.update({RANGES: done})


def join_hdf5(target: dict[str, Any], parts: list[Part], total: int | None = None) -> None:
    """One virtual dataset over the part files (relative paths: the folder can move as a whole).

    With `total` (a run stopped or lost before every part was done): the volume is laid out whole,
    the ranges of `parts` are in it, `ranges_written` lists them and `<dataset>_frames_written`
    counts the slices whole from the first, as a single process's stopped volume does, so ufo's
    reader reads those and no slice of zeros where a part is missing."""
    import h5py

    parts = sorted(parts, key=lambda p: p.first)  # as they finished: the record's rows run first to last
    folder = os.path.dirname(os.path.abspath(target["file"]))
    sources = []
    attrs: list[dict[str, Any]] = []
    for part in parts:
        path = target["part_path"].format(first=part.first).split(":")[0]
        with h5py.File(path, "r") as f:
            shape, dtype = f["data"].shape, f["data"].dtype
            attrs.append(dict(f["data"].attrs))
        sources.append((part, os.path.relpath(path, folder), shape, dtype))
    whole = total is None
    total = sum(p.slices for p in parts) if total is None else total
    shape, dtype = sources[0][2], sources[0][3]
    layout = h5py.VirtualLayout(shape=(total, *shape[1:]), dtype=dtype)
    for part, rel, part_shape, _ in sources:
        layout[part.first: part.stop] = h5py.VirtualSource(rel, "data", shape=part_shape)
    with h5py.File(target["file"], "a") as f:  # the file's other data sets stay
        for name in (target["dataset"], target["dataset"].rstrip("/") + FRAMES_WRITTEN):
            if name in f:  # a stopped run's volume joined before
                del f[name]
        dataset = f.create_virtual_dataset(target["dataset"], layout, fillvalue=0)
        record = _volume_attrs(attrs, [p.slices for p in parts])
        if target.get("configuration") not in (None, "null"):
            record["configuration"] = target["configuration"]
        dataset.attrs.update(record)
        if not whole:
            ranges = merged_ranges(parts)
            dataset.attrs[RANGES] = json.dumps(ranges)
            f[target["dataset"].rstrip("/") + FRAMES_WRITTEN] = [ranges[0][1] if ranges and ranges[0][0] == 0 else 0]
        if target.get("nexus"):  # as a single process writes a .nx output: NXentry, NXdata, NXprocess
            nxdata_metadata(f, target["dataset"], record)


def merged_ranges(ranges: list[Part] | list[list[int]]) -> list[list[int]]:
    """[first, stop) of the slices `ranges` (parts, or [first, stop] pairs) hold, adjacent ones merged."""
    merged: list[list[int]] = []
    for first, stop in sorted((r.first, r.stop) if isinstance(r, Part) else (r[0], r[1]) for r in ranges):
        if merged and first <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([first, stop])
    return merged


def _volume_attrs(attrs: list[dict[str, Any]], counts: list[int]) -> dict[str, Any]:
    """The parts' record (scale, axis, configuration, first_row/row_step) for the whole volume: the
    first part's, with the rows running to the last part's last row, and the step between rows
    from the first two parts' first rows (a first part of one slice recorded a step of 1: every
    row of `--region 1:8:2` but the first was named wrong)."""
    merged = dict(attrs[0])
    with contextlib.suppress(KeyError, TypeError, ValueError, ZeroDivisionError):
        rows = json.loads(attrs[0]["rows"])
        rows["last"] = json.loads(attrs[-1]["rows"])["last"]
        if len(attrs) > 1:
            rows["step"] = (json.loads(attrs[1]["rows"])["first"] - rows["first"]) // counts[0]
            merged["row_step"] = rows["step"]
        merged["rows"] = json.dumps(rows)
    return merged


def write_band(slices: np.ndarray, part: Part, target: dict[str, Any]) -> None:
    from ..storage import open_writer

    if target["kind"] == "zarr":
        import zarr

        zarr.open_group(target["store"], mode="r+")[target["array"]][part.first: part.stop] = slices
        return
    path = target["part_path"].format(first=part.first) if target["kind"] == "hdf5" else target["pattern"]
    writer = open_writer(path, overwrite=True, start=part.first if target["kind"] == "tiff" else 0,
                         exclusive=False)  # the workers write their parts of one sequence side by side
    try:
        for index, plane in enumerate(slices):
            writer.write(plane, {"index": part.first + index})
    finally:
        writer.close()
