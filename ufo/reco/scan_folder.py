"""What a scan implies for `ufo reco`'s inputs, as nabu reads them.

- `--projections FOLDER` where FOLDER is an ESRF EDF scan (ufo.storage.esrf_scan): its
  projections, reduced dark and flats and its angle step fill the options not given.
- `--projections FOLDER` where FOLDER holds no frames but subfolders as tofu, Concert and ufo's
  walker write them (projections/ or tomo/, darks/, flats/, flats_after/): those fill the
  options not given.
- An NXtomo/DXchange file with flats before and after its projections: the two runs are
  interpolated by projection index (`--flats2`), not combined into one median (a beam that
  drifted over the scan would leave its drift in every projection).

What was taken is said in the plan's description, what was left out in its warnings."""

from __future__ import annotations

import math
import os
from dataclasses import replace
from typing import Any

from ..storage import open_source
from ..storage.esrf_scan import find_esrf_scan
from .options import RecoOptions


#: a scan folder's subfolders (tofu's, Concert's and ufo's walker's names), in the order looked for
SUBFOLDERS = {"projections": ("projections", "tomo", "proj", "radios"), "darks": ("darks", "dark"),
              "flats": ("flats", "flat"), "flats2": ("flats_after", "flats2")}
#: files that make a folder one of frames, not of subfolders
FRAME_SUFFIXES = (".tif", ".tiff", ".edf", ".edf.gz", ".h5", ".hdf5", ".nx", ".nxs", ".raw")


def _subfolders(o: RecoOptions) -> tuple[RecoOptions, list[str]]:
    """The options with a tofu/Concert scan folder's subfolders filled in (where not given), and
    what was taken; unchanged where `--projections` is no such folder."""
    path = o.projections
    if not path or not os.path.isdir(path) or any(n.lower().endswith(FRAME_SUFFIXES) for n in os.listdir(path)):
        return o, []
    found = {name: next((os.path.join(path, c) for c in names if os.path.isdir(os.path.join(path, c))), None)
             for name, names in SUBFOLDERS.items()}
    if found["projections"] is None:
        return o, []
    changes = {name: sub for name, sub in found.items()
               if sub is not None and (name == "projections" or getattr(o, name) is None)}
    described = ", ".join(f"{name} from {os.path.basename(sub)}/" for name, sub in changes.items())
    return replace(o, **changes), [f"scan folder '{path}': {described}"]


def from_scan_folder(o: RecoOptions) -> tuple[RecoOptions, list[str], list[str]]:
    """The options with an ESRF scan folder's or a tofu/Concert scan folder's inputs filled in, what
    was taken (for the plan's description) and warnings (frames left out, no flat-field correction)."""
    scan = find_esrf_scan(o.projections, o.number) if o.projections else None
    if scan is None:
        o, taken = _subfolders(o)
        return o, taken, []
    changes: dict[str, Any] = {"projections": scan.pattern}
    taken = [f"ESRF scan '{scan.directory}': {scan.count} projections {scan.projection_name()} (TOMO_N)"]
    notes: list[str] = []
    if scan.alignment:  # the files' names as the folder has them (NAME0180.edf or NAME_0180.edf)
        notes.append(f"{scan.alignment} alignment projection(s) after the scan ({scan.projection_name(scan.count)} on) "
                     "left out of the reconstruction")
    if o.number is None or o.number > scan.count:
        changes["number"] = scan.count
    if o.darks is None and o.flats is None:
        if scan.darks is None or not scan.flats:
            missing = "no reduced dark (darkend0000.edf or dark.edf)" if scan.darks is None else "no refHST*.edf or ref*_NNNN.edf flat"
            notes.append(f"{missing} in the folder: no flat-field correction unless --darks and --flats are given")
        else:
            first, last = scan.flats[0], scan.flats[-1]
            changes.update(darks=scan.darks, flats=first[1])
            used = [os.path.basename(scan.darks), os.path.basename(first[1])]
            if len(scan.flats) > 1 and o.flats2 is None:
                changes["flats2"] = last[1]
                used.append(os.path.basename(last[1]))
                between = len(scan.flats) - 2
                if between:
                    notes.append(f"{between} flat(s) taken during the scan (refHST between {first[0]} and {last[0]}) "
                                 "not used: the first and the last are interpolated by projection index")
            taken.append("darks and flats: " + ", ".join(used))
    if o.angle is None:
        changes["angle"] = scan.angle_step
        taken.append(f"angle step {math.degrees(scan.angle_step):.6g} deg from ScanRange and TOMO_N")
    return replace(o, **changes), taken, notes


def flat_runs(o: RecoOptions) -> tuple[int, list[str]]:
    """For a file whose flats (image_key 1) come in two or more runs: their number and what is
    taken; (0, []) otherwise. All runs are read; flat-field-correct reduces each and interpolates
    between the runs around each projection by its place in the file (ufo.tomo.flat_runs)."""
    flats = open_source(o.projections, image_key=1)  # type: ignore[arg-type]
    try:
        spans = getattr(flats, "run_spans", [])
    finally:
        flats.close()
    if len(spans) < 2:
        return 0, []
    shown = ", ".join(f"{a}..{b}" for a, b in spans[:6]) + (", ..." if len(spans) > 6 else "")
    return len(spans), [f"flats: {len(spans)} runs in the file (frames {shown}), each projection's flat interpolated "
                        "between the runs around it by its place in the file"]
