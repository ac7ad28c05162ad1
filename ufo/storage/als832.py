"""ALS beamline 8.3.2's HDF5 scans of one frame per data set (its format before DXchange).

A group named after the scan, `NAME`, holds each frame as a data set of its own, named as the
TIFF files it replaced: the projections `NAME_0000_0000.tif` .. `NAME_0000_<n-1>.tif`, the
flats `NAMEbak_<k>_<p>.tif` and the darks `NAMEdrk_<k>_<p>.tif`, where `p` is the projection
the reference was taken beside (0 before the scan, n-1 after it, every `i0cycle` in between).
The group's attributes say the rest (`nangles`, `arange` in degrees, `num_bright_field`,
`num_dark_fields`, `i0cycle`), as strings or numbers. dxchange's `read_als_832h5` reads it so.

Read as anything else, ufo refused it (one frame per data set) and named a single frame to read.
Here it is a layout like NXtomo's: every frame carries its image_key and the projections their
angles, so `ufo reco --projections scan.h5` takes its darks, its flats (before and after,
interpolated by place) and its angles from it.

Angles: `nangles` projections from 0 to `arange` degrees with both ends, as tomopy's
`angles(n, 0, arange)` gives them (the ALS examples reconstruct these files so); said in a note.
"""

from __future__ import annotations

import math
import re
from typing import Any

NAME = r"(?P<outer>\d+)(?:_(?P<place>\d+))?\.tif{1,2}"
KINDS = (("bak", 1), ("drk", 2), ("", 0))  # suffix after the scan's name, image_key


def _number(value: Any) -> float | None:
    """An attribute as a number: ALS writes them as strings ('1025', b'180.0') or numbers."""
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    try:
        number = float(str(value).strip()) if not hasattr(value, "item") else float(value.item())
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def scan_group(h5: Any) -> Any | None:
    """The group of an ALS 8.3.2 scan: at the root or one level down, named NAME and holding a
    data set NAME_<i>_<j>.tif; None for other files (without listing more than their top groups)."""
    groups = [g for g in (_group(h5, k) for k in h5) if g is not None]
    for group in groups + [g for g in (_group(p, k) for p in groups for k in p) if g is not None]:
        name = group.name.rsplit("/", 1)[-1]
        first = re.compile(re.escape(name) + r"_\d+_\d+\.tif{1,2}$")
        if name and any(first.match(key) for key in group):
            return group
    return None


def _group(parent: Any, key: str) -> Any | None:
    """`parent[key]` where it is a group this file holds; None for data sets and for links to
    other files or to nothing (a dangling link made a plain stack unreadable by its name)."""
    import h5py

    link = parent.get(key, getlink=True)
    if not isinstance(link, h5py.HardLink):
        return None
    node = parent.get(key)
    return node if isinstance(node, h5py.Group) else None


def frame_index(h5: Any) -> tuple[list[tuple[str, int]], list[int], list[float | None], list[str]] | None:
    """(locations, image keys, angles in radians or None, notes) of an ALS 8.3.2 scan in
    acquisition order, or None where `h5` is no such file."""
    group = scan_group(h5)
    if group is None:
        return None
    name = group.name.rsplit("/", 1)[-1]
    frames: dict[int, list[tuple[int, int, str]]] = {0: [], 1: [], 2: []}  # key: (place, outer, data set)
    patterns = [(re.compile(re.escape(name + suffix) + "_" + NAME + "$"), key) for suffix, key in KINDS]
    for dataset in group:
        for pattern, key in patterns:
            match = pattern.match(dataset)
            if match is None:
                continue
            outer, place = int(match["outer"]), match["place"]
            if key == 0:  # projections: NAME_<outer>_<index>
                frames[0].append((int(place) if place is not None else outer, outer, dataset))
            else:
                frames[key].append((int(place) if place is not None else -1, outer, dataset))
            break
    projections = sorted(frames[0])
    if not projections:
        return None
    n, last = len(projections), projections[-1][0]
    notes: list[str] = []
    attrs = group.attrs
    stated = _number(attrs.get("nangles"))
    if stated is not None and int(stated) != n:
        notes.append(f"'{h5.filename}:{group.name}' states nangles {int(stated)} and holds {n} projections: "
                     f"the {n} are read")
    arange = _number(attrs.get("arange"))
    span = arange if arange is not None and arange != 0 else 180.0
    step = span / (int(stated) - 1 if stated is not None and int(stated) > 1 else max(n - 1, 1))
    angles = [math.radians(index * step) for index, _, _ in projections]
    notes.append(f"'{h5.filename}' is an ALS 8.3.2 scan of one frame per data set ('{group.name}': {n} projections, "
                 f"{len(frames[1])} flats, {len(frames[2])} darks); angles 0 to {span:g} degrees with both ends "
                 f"{'(its arange)' if arange else '(no arange: 180 taken)'}, as tomopy.angles gives them; "
                 "--angle and --offset give others")
    order: list[tuple[float, int, int, str, float | None]] = []
    for index, (place, _, dataset) in enumerate(projections):
        order.append((place, 0, index, dataset, angles[index]))
    for key in (1, 2):  # before the projection they sit beside; after the scan at its end (or unplaced darks)
        for place, outer, dataset in sorted(frames[key]):
            at = last + 0.5 if place < 0 or place >= last else place - 0.5
            order.append((at, key, outer, dataset, None))
    order.sort(key=lambda item: (item[0], item[1], item[2]))
    keys = [item[1] for item in order]
    locations = [(f"{group.name}/{item[3]}", 0) for item in order]
    return locations, keys, [item[4] for item in order], notes
