"""Recognising NXtomo, DXchange and ALS 8.3.2 files: where the frames are, which are darks/flats, at what angle."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import InputError, UsageError
from .hdf5_chunks import frames_written
from .hdf5 import DXCHANGE


@dataclass
class FrameIndex:
    """Where each frame lies (dataset name, index) and its image_key and angle (radians or None)."""

    layout: str
    locations: list[tuple[str, int]]
    image_keys: list[int]
    angles: list[float | None]
    notes: list[str] = field(default_factory=list)  # what a reader should be told (angles' units guessed)
    angles_from: str = ""  # the dataset the angles come from, for messages about them
    short: int = 0  # frames recorded and never written whole (a laid-out volume's count): `short_of`


def select(keys: list[int], image_key: int | None, run: int | None, where: str) -> tuple[list[int], list[tuple[int, int]]]:
    """(the places of the frames of `image_key` (all where None), only its run-th run of
    consecutive ones where `run` is given; each run's first and last place). `where` names the
    file in the refusal of a run it does not hold."""
    keep = [i for i, k in enumerate(keys) if image_key is None or k == image_key]
    runs: list[list[int]] = []
    for i in keep:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    if run is not None:
        if image_key is None:
            raise UsageError("image-key-run selects a run of the frames image-key selects; give image-key")
        if not -len(runs) <= run < len(runs):
            raise UsageError(f"'{where}' holds {len(runs)} run(s) of frames of image_key {image_key}, not a run {run}")
        keep = runs[run]
    return keep, [(r[0], r[-1]) for r in runs]


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, np.ndarray):
        return _text(value[()] if value.shape == () else value.flat[0])
    return str(value)


def _to_radians(values: np.ndarray, units: str, name: str = "", notes: list[str] | None = None) -> list[float]:
    """`values` in `units` (NXtomo's default and DXchange's theta: degrees) as radians; InputError
    naming the data set where the units are no angle unit (mrad, grad, counts were read as degrees);
    text that names no unit is read as degrees, said in `notes`."""
    from ..core.units import radians_per

    try:
        factor = radians_per(units)
    except ValueError as exc:
        raise InputError(f"the angles '{name}': {exc}; give the angles with --angles-file (or set the data set's "
                         "units attribute to degree or rad)") from exc
    if factor is None:
        factor = math.pi / 180
        if notes is not None:
            notes.append(f"the angles '{name}' have units '{units}', which name no unit: read as degrees")
    return [float(v) * factor for v in values]


def _angles(dset: Any, n: int | None, notes: list[str]) -> list[float]:
    """The first `n` angles of `dset` in radians: degrees unless its `units` say otherwise. Without
    `units`, values spanning 0.8 pi .. 2 pi are taken as radians and a note says so: tomopy's
    users write theta in radians, often without units, and 8 or more projections over at most
    6.3 degrees are no tomography scan."""
    values = np.asarray(dset[()], np.float64).ravel()[:n]
    units = dset.attrs.get("units")
    if units is None and values.size >= 8 and np.all(np.isfinite(values)):
        span = float(values.max() - values.min())
        if 0.8 * math.pi <= span <= 2 * math.pi * 1.01:
            notes.append(f"'{dset.name}' has no units and spans {span:.4g}: read as radians (set its attribute "
                         "units='degree' or give --angle/--offset if it is degrees)")
            return _to_radians(values, "rad")
    return _to_radians(values, _text(units) if units is not None else "degree", dset.name, notes)


def _declares_nxtomo(group: Any) -> bool:
    return "definition" in group and _text(group["definition"][()]) == "NXtomo"


def _looks_nxtomo(group: Any) -> bool:
    """An NXentry without a definition that has NXtomo's frames and their image keys."""
    detector = group.get("instrument/detector")
    return bool(detector is not None and hasattr(detector, "keys") and "data" in detector
                and ("image_key" in detector or "image_key_control" in detector))


def nxtomo_entries(h5: Any) -> list[Any]:
    """The file's NXtomo entries, in the file's order: NXentry groups that declare the NXtomo
    definition (nxtomomill writes one per scan: entry0000, entry0001, ...), NXsubentry groups of
    an NXentry that do (Diamond's GDA: /entry1/tomo_entry beside the detector's raw data), and,
    where none declares it, NXentry groups laid out as NXtomo (image keys beside the frames) whose
    definition was left out. Read as plain stacks, these reconstructed darks and flats as
    projections at made-up angles."""
    declared, undeclared = [], []
    for name in h5:
        group = h5[name]
        if not hasattr(group, "keys") or _text(group.attrs.get("NX_class", "")) != "NXentry":
            continue
        if _declares_nxtomo(group):
            declared.append(group)
            continue
        subentries = [group[k] for k in group if hasattr(group[k], "keys")
                      and _text(group[k].attrs.get("NX_class", "")) == "NXsubentry" and _declares_nxtomo(group[k])]
        declared += subentries
        if not subentries and _looks_nxtomo(group):
            undeclared.append(group)
    return declared or undeclared


def _data_path(entry: Any) -> str:
    """The path in this file of an NXtomo entry's frames (an external link's target has another name
    in its own file)."""
    return f"{entry.name}/{'instrument/detector/data' if 'instrument/detector/data' in entry else 'data/data'}"


def entry_of(h5: Any, dataset: str) -> str | None:
    """The NXtomo entry that `dataset` (a path in the file) is, or holds the frames of; None for any
    other dataset or group."""
    path = "/" + dataset.strip("/")
    target = h5.get(path)
    for entry in nxtomo_entries(h5):
        if path in (entry.name, _data_path(entry), f"{entry.name}/data/data"):
            return str(entry.name)
        if target is not None and not hasattr(target, "keys") and target == h5.get(_data_path(entry)):
            return str(entry.name)  # the detector's frames an NXtomo (sub)entry links to (GDA)
    return None


def nexus_default(h5: Any) -> str | None:
    """The dataset of 2 or more dimensions that NeXus's default-plot attributes lead to: the file's
    `default` (or its only NXentry), each group's `default`, then an NXdata's `signal`; None where
    they lead nowhere. Why: a NeXus file says which of its datasets is the data (nabu's and silx's
    reconstructions hold configuration arrays and more beside it)."""
    node: Any = h5
    if not _text(h5.attrs.get("default", "")):
        entries = [h5[name] for name in h5
                   if hasattr(h5[name], "keys") and _text(h5[name].attrs.get("NX_class", "")) == "NXentry"]
        if len(entries) != 1:
            return None
        node = entries[0]
    for _ in range(8):  # file, entry, subentries or processes, data: a loop of links ends here
        if not hasattr(node, "keys"):  # a dataset
            return node.name if node.ndim >= 2 else None
        signal, default = _text(node.attrs.get("signal", "")), _text(node.attrs.get("default", ""))
        step = signal if signal and signal in node else default
        if not step or step not in node:
            return None
        node = node[step]
    return None


def keys_beside(dset: Any, filename: str) -> str | None:
    """A warning where a stack read as a plain dataset has image keys of its length beside it that
    mark darks or flats (a layout ufo does not know): they would be taken as projections."""
    if dset.ndim != 3:
        return None
    for name in ("image_key_control", "image_key"):
        keys = dset.parent.get(name)
        if keys is None or hasattr(keys, "keys") or keys.shape != (dset.shape[0],):
            continue
        values = np.asarray(keys[()])
        darks, flats = int(np.count_nonzero(values == 2)), int(np.count_nonzero(values == 1))
        if darks or flats:
            return (f"'{filename}:{dset.name}' has image keys beside it ('{keys.name}': {darks} dark(s), {flats} "
                    "flat(s)), in a layout ufo does not know as NXtomo or DXchange: all its frames are read as they are")
    return None


def _lengths(what: str, given: int, frames: int, notes: list[str]) -> None:
    """A note where a per-frame dataset (image keys, angles) does not hold one value a frame."""
    if given != frames:
        tail = f"the last {frames - given} frame(s) are left out" if given < frames else "the extra values are ignored"
        notes.append(f"'{what}' holds {given} values for {frames} frames: {tail}")


def detect(h5: Any, entry_name: str | None = None) -> FrameIndex | None:
    """The frame index of an NXtomo, DXchange or ALS 8.3.2 file, or None for other files. Of several NXtomo
    entries, `entry_name`'s (a path), else the first, and a note names the others."""
    entries = nxtomo_entries(h5)
    if entries:
        chosen = [e for e in entries if e.name == entry_name] if entry_name else entries[:1]
        if not chosen:
            return None
        entry = chosen[0]
        data = entry.get("instrument/detector/data") or entry.get("data/data")
        if data is None:
            return None
        n = data.shape[0]
        notes: list[str] = []
        if not _declares_nxtomo(entry):
            notes.append(f"'{h5.filename}:{entry.name}' declares no definition; read as NXtomo (its frames have image "
                         "keys)")
        if entry_name is None and len(entries) > 1:
            others = ", ".join(e.name for e in entries[1:])
            notes.append(f"'{h5.filename}' holds {len(entries)} NXtomo entries: reading {entry.name}; for another "
                         f"name it, e.g. '{h5.filename}:{entries[1].name}' (the others: {others})")
        # image_key_control tells alignment projections (-1, taken after the scan at known angles) from
        # projections; image_key calls both 0. Alignment frames then match no selection of 0, 1 or 2.
        keys_ds = (entry.get("instrument/detector/image_key_control") or entry.get("instrument/detector/image_key")
                   or entry.get("data/image_key"))
        keys = _keys(h5.filename, keys_ds, n) if keys_ds is not None else [0] * n
        if keys_ds is not None:
            _lengths(keys_ds.name, keys_ds.shape[0] if keys_ds.ndim else 1, n, notes)
        angles_ds = entry.get("sample/rotation_angle") or entry.get("data/rotation_angle")
        angles: list[float | None] = list(_angles(angles_ds, n, notes)) if angles_ds is not None else [None] * n
        angles += [None] * (n - len(angles))
        where = _data_path(entry)
        return FrameIndex("nxtomo", [(where, i) for i in range(len(keys))], keys, angles[:len(keys)], notes,
                          angles_ds.name if angles_ds is not None else "")
    if any(name in h5 for name in DXCHANGE.values()):  # a file of flats and darks alone too (tomocupy's flat file)
        locations: list[tuple[str, int]] = []
        keys = []
        angles = []
        theta = h5.get("/exchange/theta")
        notes = []
        thetas = _angles(theta, None, notes) if theta is not None else []
        after = _flats_after(h5, notes)
        for key in (2, 1, 0, -1):  # darks, flats, projections, then the flats taken after them
            kind = 1 if key == -1 else key
            name = DXCHANGE[kind]
            if name not in h5:
                continue
            count = h5[name].shape[0]
            frames = range(count - after, count) if key == -1 else range(count - after) if key == 1 else range(count)
            locations += [(name, i) for i in frames]
            keys += [kind] * len(frames)
            angles += [thetas[i] if key == 0 and i < len(thetas) else None for i in frames]
        return FrameIndex("dxchange", locations, keys, angles, notes, theta.name if theta is not None else "")
    from .als832 import frame_index

    found = frame_index(h5)  # ALS 8.3.2: one frame per data set
    if found is not None:
        return FrameIndex("als832", *found, angles_from="the ALS group's nangles and arange")
    return None


def plain_index(h5: Any, name: str) -> FrameIndex | None:
    """ufo's plain layout: a stack with the frames' numbers beside it, one data set each, as `write`
    stores them (`<name>_angle` in radians, `<name>_image_key`); None where it has neither. A grab of
    90 frames at 1 degree into 'scan.h5' was reconstructed over 180 degrees (its recorded angles
    unread), the same frames in 'scan.nx' over 90."""
    import h5py

    try:  # a link that leads nowhere (a loop, a missing file): the frames' reader names it
        dset = h5.get(name)
        if not isinstance(dset, h5py.Dataset) or dset.ndim != 3:
            return None
        records = {key: h5.get(f"{dset.name}_{key}") for key in ("angle", "image_key")}
    except (RuntimeError, KeyError, OSError, ValueError):
        return None
    records = {k: d for k, d in records.items() if isinstance(d, h5py.Dataset) and d.ndim == 1
               and d.dtype.kind in ("f" if k == "angle" else "iuf")}  # whole-number angles: cut by an old writer
    if not records:
        return None
    n, notes, short = dset.shape[0], [], 0  # type: int, list[str], int
    if (written := frames_written(h5, dset.name)) is not None and written < n:  # a laid-out volume (`hdf5_volume`)
        notes.append(f"'{h5.filename}:{dset.name}' holds {written} complete frame(s) of the {n} it was laid out for "
                     "(its writer stopped); reading those")
        n, short = written, n - written
    keys = [0] * n
    if (keys_ds := records.get("image_key")) is not None:  # frames past the keys left out, as of an NXtomo
        keys = _keys(h5.filename, keys_ds, n)
        _lengths(keys_ds.name, keys_ds.shape[0], n, notes)
    angles: list[float | None] = []
    if "angle" in records:
        values = np.asarray(records["angle"][:n], np.float64)
        units, finite = records["angle"].attrs.get("units"), values[np.isfinite(values)]  # no units: ufo's radians
        if units is None and finite.size and np.ptp(finite) > 2.02 * math.pi:
            units = "degree"  # no radians of a scan: another tool's degrees
            notes.append(f"'{records['angle'].name}' has no units and spans more than a turn in radians: read as degrees")
        radians = _to_radians(values, _text(units) if units is not None else "rad", records["angle"].name, notes)
        angles = [a if math.isfinite(a) else None for a in radians]
    angles += [None] * (n - len(angles))
    return FrameIndex("ufo", [(dset.name, i) for i in range(len(keys))], keys, angles[:len(keys)], notes,
                      records["angle"].name if "angle" in records else "", short)


def _flats_after(h5: Any, notes: list[str]) -> int:
    """How many of a DXchange file's `data_white` frames were taken after the projections: half of
    them where `/process/acquisition/flat_fields/flat_field_mode` says 'Both' (as APS tomoscan
    writes) and `num_flat_fields` is that half; 0 otherwise. They are placed after the projections,
    so the flats before and after are interpolated by each projection's place (one median of both
    left a drifting beam's 9 % in the slices)."""
    group = h5.get("/process/acquisition/flat_fields")
    white = h5.get(DXCHANGE[1])
    if group is None or white is None or "flat_field_mode" not in group:
        return 0
    try:
        value = group["flat_field_mode"][()]
        value = np.ravel(value)[0] if np.ndim(value) else value
        mode = value.decode() if isinstance(value, bytes) else str(value)
        each = int(np.ravel(group["num_flat_fields"][()])[0]) if "num_flat_fields" in group else white.shape[0] // 2
    except Exception:  # noqa: BLE001 - a record not as tomoscan writes it: one run, as before
        return 0
    if mode.strip().lower() != "both" or each < 1 or 2 * each != white.shape[0]:
        return 0
    notes.append(f"'{h5.filename}': flat_field_mode 'Both': the last {each} of {DXCHANGE[1]}'s {2 * each} flats were "
                 "taken after the projections; each projection's flat is interpolated between the two runs")
    return each


def check_image_dataset(node: Any, filename: str, name: str) -> None:
    """InputError unless `node` is a numeric HDF5 dataset (not a group, a link target or strings)."""
    import h5py

    if isinstance(node, h5py.Group):
        inside = [f"{key}" for key in list(node.keys())[:8]]
        holds = f" (it holds: {', '.join(inside)})" if inside else " (it is empty)"
        raise InputError(f"'{filename}:{name}' is an HDF5 group, not a dataset{holds}; name a dataset of frames")
    if not isinstance(node, h5py.Dataset):
        raise InputError(f"'{filename}:{name}' is not an HDF5 dataset ({type(node).__name__})")
    if node.shape is None or node.ndim < 2:
        ndim = 0 if node.shape is None else node.ndim
        raise InputError(f"'{filename}:{name}' has {ndim} dimension(s) (a scalar or a list); frames need 2 or more")
    kind = node.dtype.kind
    if kind not in "biuf":
        what = {"S": "byte strings", "U": "strings", "O": "strings or objects", "V": "compound records",
                "c": "complex numbers"}.get(kind, f"values of type {node.dtype}")
        raise InputError(f"'{filename}:{name}' holds {what}, not image data (integers or floats)")


def frame_shapes(h5: Any, locations: list[tuple[str, int]], keys: list[int], filename: str,
                 layout: str) -> set[tuple[int, ...]]:
    """The frame shapes of the data sets `locations` name (darks may be of another region: DXchange);
    InputError where one holds no image (strings: a flat of an ALS 8.3.2 file stored as text) or
    where frames of one kind differ in shape (one data set a frame: a projection cut short), naming
    the data set. Before, the first gave a bare RuntimeError and the second "Can't broadcast" at
    the frame, once the reconstruction ran."""
    kinds = {0: "projections", 1: "flats", 2: "darks"}
    seen: dict[int, tuple[tuple[int, ...], str]] = {}
    shapes = set()
    for name, key in dict(zip((name for name, _ in locations), keys)).items():
        dset = h5[name]
        check_image_dataset(dset, filename, name)
        shape = tuple(dset.shape[-2:])
        shapes.add(shape)
        first = seen.setdefault(key, (shape, name))
        if first[0] != shape:
            raise InputError(f"'{filename}:{name}' is a frame of {' x '.join(map(str, shape))} pixels, "
                             f"'{first[1]}' and the {kinds.get(key, 'frames')} before it "
                             f"{' x '.join(map(str, first[0]))} ({layout}): one kind of frame must have one "
                             "shape; leave it out or repair the file")
    return shapes


def _keys(filename: str, keys_ds: Any, n: int) -> list[int]:
    """The frames' image keys, as integers; keys that are no whole numbers (NaN, 0.5) or a data set
    of another shape than one key a frame are an InputError naming it ("cannot convert float NaN
    to integer", "only 0-dimensional arrays can be converted", naming no file)."""
    values = np.asarray(keys_ds[:n])
    if values.ndim != 1 or values.dtype.kind not in "iuf" or \
            (values.dtype.kind == "f" and not (np.isfinite(values).all() and (values == np.round(values)).all())):
        raise InputError(f"'{filename}:{keys_ds.name}' does not hold one whole-number image key a frame (0 projection, "
                         f"1 flat, 2 dark; shape {keys_ds.shape}, {keys_ds.dtype}): fix the file, or read the frames "
                         "without it (name the data set: FILE.h5:/PATH/TO/data)")
    return [int(k) for k in values]


def refuse_frame_per_dataset(h5file: Any, filename: str, names: list[str]) -> None:
    """UsageError where most image data sets hold one frame each in one group (a scan so written,
    unlike ALS 8.3.2's names, which ufo.storage.als832 reads): naming one of them, as the general
    advice says, read a scan of one projection."""
    groups: dict[str, int] = {}
    for name in names:
        shape = h5file[name].shape
        if len(shape) == 2 or shape[0] == 1:
            groups[name.rsplit("/", 1)[0] or "/"] = groups.get(name.rsplit("/", 1)[0] or "/", 0) + 1
    group, count = max(groups.items(), key=lambda item: item[1], default=("", 0))
    if count >= 8 and count >= len(names) // 2:
        raise UsageError(f"HDF5 file '{filename}' keeps one frame per data set ({count} in '{group}', not named as "
                         "ALS 8.3.2 names a scan's, NAME/NAME_0000_0000.tif): ufo reads a scan from data sets of "
                         "frames (NXtomo, DXchange, a stack), ALS 8.3.2 files or TIFF files; convert it first (e.g. "
                         f"to a DXchange file), or name one data set to read that frame alone ({filename}:{names[0]})")


def image_datasets(file: Any) -> str:
    """'; it holds /a, /b (...)': the data sets of two or more dimensions a path could name (8 at most)."""
    import h5py

    names: list[str] = []
    file.visititems(lambda name, item: names.append("/" + name)
                    if isinstance(item, h5py.Dataset) and len(item.shape) >= 2 else None)
    if not names:
        return "; it holds no data set of images"
    return f"; it holds {', '.join(names[:8])}{', ...' if len(names) > 8 else ''}"
