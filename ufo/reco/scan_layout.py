"""What an NXtomo or DXchange scan file says of itself: its darks, flats and angles, checked.

Why a module of its own: other tools' files are where `ufo reco` met wrong answers with exit 0 (a
file with flats but no darks reconstructed raw counts; a 360-degree scan whose angle list was one
short taken as 180 degrees; placeholder angles all 0 gave a slice of zeros). Each of these is now
an error that names the dataset and the option that fixes it, or a note saying what was done.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from ..core.errors import UsageError
from ..storage import open_source
from ..tomo.stream_input import MAX_ANGLE
from .options import RecoOptions

#: what to give when the file lacks one kind of reference frames
_HOW = {"darks": "dark frames of the same detector region (a detector whose dark is negligible: one frame "
                 "of zeros of the projections' shape, e.g. a TIFF)",
        "flats": "flat (white) frames of the same detector region"}


def from_layout(o: RecoOptions) -> tuple[RecoOptions, dict[str, int | None], list[float] | None, list[str]]:
    """An NXtomo or DXchange file holds darks, flats and angles too: use them unless given.

    Regularly spaced angles become --angle and --offset (the fast path of every back-projector);
    irregular ones are returned to be back-projected each at its own angle. Alignment projections
    (image_key_control = -1) are left out of the reconstruction and said in a note.
    """
    keys: dict[str, int | None] = {"projections": 0}
    changes: dict[str, Any] = {}
    for name, key in (("darks", 2), ("flats", 1)):
        src = open_source(o.projections, image_key=key)  # type: ignore[arg-type]
        if getattr(o, name) is None and src.count:
            changes[name] = o.projections
            keys[name] = key
        src.close()
    darks, flats = changes.get("darks", o.darks), changes.get("flats", o.flats)
    if darks is not None and flats is None:  # a correction without flats would be no correction
        raise UsageError(f"'{o.projections}' holds darks but no flats: flat-field correction needs them; "
                         f"give --flats FILE ({_HOW['flats']})")
    notes: list[str] = []
    alignment = open_source(o.projections, image_key=-1)  # type: ignore[arg-type]
    if alignment.count:
        notes.append(f"{alignment.count} alignment projection(s) (image_key_control = -1) in '{o.projections}' "
                     "left out of the reconstruction")
    alignment.close()
    irregular: list[float] | None = None
    if not o.angles_file:  # --angles-file: ufo.reco.angles_file
        proj = open_source(o.projections, image_key=0)  # type: ignore[arg-type]
        angles = [a for a in getattr(proj, "angles", []) if a is not None]
        count, where = proj.count, getattr(proj, "angles_from", "") or "the angles"
        proj.close()
        if o.angle is not None:  # given: it replaces the recorded step, said where they differ
            _replaced(o.angle, angles, count, f"'{where}' in '{o.projections}'", notes)
        else:
            irregular = _angles(o, angles, count, f"'{where}' in '{o.projections}'", changes, notes)
        if not angles and count > 1 and o.angle is None:
            _no_angles(o, count, changes, notes)
    return replace(o, **changes), keys, irregular, notes


def from_descriptions(o: RecoOptions) -> tuple[RecoOptions, list[float] | None, list[str]]:
    """The angles ufo's TIFF writers put in each frame's description (`storage.tiff_angles`), used as
    an NXtomo's are: regular ones become --angle and --offset, irregular ones are returned. Only
    where the options give none and every frame records one."""
    from ..storage.tiff_angles import described_angles

    if o.angle is not None or o.angles_file or not o.projections:
        return o, None, []
    source = open_source(o.projections)
    try:
        locations, count = getattr(source, "locations", None), source.count
        angles = described_angles(locations) if isinstance(locations, list) else []
    finally:
        source.close()
    if len(angles) != count or any(a is None for a in angles):
        return o, None, []
    changes: dict[str, Any] = {}
    notes = [f"angles as the frames' descriptions in '{o.projections}' record them ({math.degrees(angles[0]):.6g} "
             f"to {math.degrees(angles[-1]):.6g} degrees; --angle and --offset give others)"]
    irregular = _angles(o, [a for a in angles if a is not None], count, f"the frames' descriptions in "
                        f"'{o.projections}'", changes, notes)
    return replace(o, **changes), irregular, notes


def _replaced(given: float, angles: list[float], count: int, where: str, notes: list[str]) -> None:
    """--angle replaced the recorded angles without a word: 0.5 (rad, meant as degrees) over a scan
    of 1-degree steps turned 180 projections over 90 rad."""
    values = np.asarray(angles, np.float64)
    values = values[np.isfinite(values)]
    if len(values) < 2 or not (step := float(np.median(np.diff(values)))) or \
            abs(given - step) <= 1e-3 * abs(step):
        return
    notes.append(f"--angle {given:g} rad ({math.degrees(given):.6g} degrees) replaces the step {where} records "
                 f"({math.degrees(step):.6g} degrees): the {count} projections span {math.degrees(given * count):.5g} "
                 f"degrees, not {math.degrees(step * count):.5g} (leave --angle out to use the recorded angles)")


def _no_angles(o: RecoOptions, count: int, changes: dict[str, Any], notes: list[str]) -> None:
    """A scan file without angles: the step and start its /process/acquisition/rotation states (as
    tomoscan and APS write them), else 180 degrees in `count` steps, said. Both were taken as
    180 degrees without a word (a 360-degree scan: correlation 0.57; dxchange warns too)."""
    from ..storage.formats import split_dataset
    from ..storage.hdf5_cut import open_reading

    with open_reading(split_dataset(o.projections)[0]) as f:  # type: ignore[arg-type]
        rotation = f.get("/process/acquisition/rotation")
        stated = {k: float(np.ravel(rotation[k][()])[0]) for k in ("rotation_start", "rotation_step")
                  if rotation is not None and k in rotation and np.ravel(rotation[k][()]).size}
        units = str(rotation["rotation_step"].attrs.get("units", "degree")) if "rotation_step" in stated else ""
    if "rotation_step" in stated and np.isfinite(stated["rotation_step"]) and stated["rotation_step"] != 0:
        scale = 1.0 if units.lower().startswith("rad") else math.pi / 180
        changes["angle"] = stated["rotation_step"] * scale
        if o.offset == 0.0:
            changes["offset"] = stated.get("rotation_start", 0.0) * scale
        notes.append(f"'{o.projections}' holds no angle per projection: step {stated['rotation_step']:g} and start "
                     f"{stated.get('rotation_start', 0.0):g} ({units or 'degree'}) taken from /process/acquisition/rotation")
        return
    notes.append(f"'{o.projections}' holds no angles: its {count} projections are taken as 180 degrees in {count} "
                 "steps; give --angle (the step, e.g. 0.5deg) and --offset for another scan")


def _angles(o: RecoOptions, angles: list[float], count: int, where: str, changes: dict[str, Any],
            notes: list[str]) -> list[float] | None:
    """The file's angles (radians) of `count` projections as --angle/--offset (into `changes`), or the
    irregular ones; UsageError where they cannot be right."""
    if not angles:
        return None
    values = np.asarray(angles, np.float64)
    bad = np.flatnonzero(~(np.abs(values) <= MAX_ANGLE))  # NaN, inf, and 1e300 (taken: its cosine is noise)
    if bad.size:
        raise UsageError(f"{where} holds {bad.size} angle(s) that are not finite numbers within "
                         f"+-{math.degrees(MAX_ANGLE):g} degrees (the first at projection {bad[0]}: {values[bad[0]]:g} "
                         "rad): give --angle (the step) and --offset, or fix the file")
    if len(values) >= 2 and np.ptp(values) == 0:
        raise UsageError(f"{where} holds one angle ({math.degrees(values[0]):.6g} degrees) for all {len(values)} "
                         "projections (placeholders?): give --angle (the step between projections) and --offset")
    if len(values) < 2:
        return None
    steps = np.diff(values)
    step = float(np.median(steps))
    regular = bool(np.max(np.abs(steps - step)) <= 1e-3 * max(abs(step), 1e-9) + 1e-6)
    if len(values) != count:
        if not regular:
            raise UsageError(f"{where} holds {len(values)} angles for {count} projections, not evenly spaced: give "
                             "--angle and --offset, or fix the file")
        notes.append(f"{where} holds {len(values)} angles for {count} projections: their step "
                     f"({math.degrees(step):.6g} degrees) is taken for all {count} (--angle to give another)")
    if regular:
        changes.update(angle=step, offset=float(values[0]) if o.offset == 0.0 else o.offset)
        return None
    start = values[0] if o.offset == 0.0 else o.offset  # --offset moves the scan's start
    return [float(a - values[0] + start) for a in values]


def from_record(o: RecoOptions) -> tuple[RecoOptions, list[str]]:
    """What an NXtomo scan records of its geometry and instrument, where the options leave it open.

    - A half acquisition (`half_acquisition` true or `field_of_view` "Half", as nxtomo and ufo write it) is reconstructed
      as one unless --no-half-acquisition: read as a full field it gave an axis 170 px off and a
      slice of half the width, with no word (nabu takes it from the file too).
    - Phase retrieval asked for with some of energy, distance, pixel size and delta/beta takes
      the others the file records (nabu does so); each value taken is said.
    """
    from ..storage.nexus import nxtomo_record, scan_pixel_size

    if not o.projections or (o.half_acquisition is not None and not o.phase):
        return o, []
    problems: list[str] = []
    record = nxtomo_record(o.projections, problems)
    changes: dict[str, Any] = {}
    notes: list[str] = list(problems) if o.phase else []
    if str(record.get("field_of_view", "")).lower() == "half" and o.half_acquisition is None:
        if o.axis is None:
            raise UsageError(f"'{o.projections}' records a half acquisition: its axis lies near "
                             "a detector edge; give --axis PIXELS or --axis auto (or --no-half-acquisition to read it "
                             "as a full field)")
        changes["half_acquisition"] = True
        notes.append(f"'{o.projections}' records a half acquisition: reconstructed as one, "
                     "opposite projections joined (--no-half-acquisition reads it as a full field)")
    if o.phase:
        record["x_pixel_size"] = scan_pixel_size(o.projections)  # the sample's (effective) before the detector's
        places = {"energy": ("energy", "keV", 1.0), "distance": ("distance", "m", 1.0),
                  "pixel_size": ("x_pixel_size", "um", 1e6)}
        taken, unusable = [], []
        for name, (key, unit, factor) in places.items():
            value = record.get(key)
            if getattr(o, name) is None and isinstance(value, float):
                if value > 0 and math.isfinite(value):
                    changes[name] = value
                    taken.append(f"{name.replace('_', ' ')} {value * factor:.6g} {unit}")
                else:  # a placeholder the file holds: said as such, not as "not recorded"
                    unusable.append(f"--{name.replace('_', '-')} ('{o.projections}' records {value:g})")
        if taken:
            notes.append(f"phase retrieval: {', '.join(taken)} as '{o.projections}' records")
        complete = all((o.energy or changes.get("energy"), o.distance or changes.get("distance"),
                        o.pixel_size or changes.get("pixel_size")))
        if unusable and not complete:
            raise UsageError(f"phase retrieval needs {', '.join(unusable)}: give them on the command line")
        if problems and not complete:
            missing = ", ".join(f"--{n.replace('_', '-')}" for n in places if not (getattr(o, n) or changes.get(n)))
            raise UsageError(f"phase retrieval needs {missing}: {'; '.join(problems)}; give {missing} on the command "
                             "line (or write the file's units as keV, m, mm or um)")
    return replace(o, **changes), notes


def cut_scan(o: RecoOptions, count: int, short: int, angles: list[float] | None, notes: list[str]) -> RecoOptions:
    """A scan without angles of which `short` recorded projections could not be read (a stack cut
    short): its step from the recorded count, the `count` read a limited-angle scan. Taken as the
    whole half turn, a copy cut at 60 % spread 142 degrees of projections over 180 (correlation
    with the phantom 0.49, against 0.99 at the recorded step). `--number N` of a scan without
    angles keeps its step the same way (N over the half turn was 0.115 correlation)."""
    span = 2 * math.pi if o.half_acquisition else math.pi
    if angles is not None or o.angle is not None or o.angles_file:  # the first N at their recorded angles
        step = o.angle if angles is None or len(angles) < 2 else (angles[-1] - angles[0]) / (len(angles) - 1)
        if o.number and step and o.number < count and abs(step) * (o.number + 0.5) < span:
            notes.append(f"--number {o.number} of the {count} projections: they span {math.degrees(abs(step) * o.number):.4g} "
                         f"degrees, a limited-angle scan ({math.degrees(span):g} make a whole slice)")
        return o
    step = span / (count + max(short, 0))
    if o.number and o.number < count:  # the first N of a scan: its step stays (N over 180 degrees turned 0.5)
        notes.append(f"--number {o.number} of the {count + max(short, 0)} projections recorded: the angle step stays "
                     f"{math.degrees(span):g} degrees / {count + max(short, 0)} = {math.degrees(step):.6g} degrees, a "
                     f"limited-angle scan of {math.degrees(step * o.number):.4g} degrees (give --angle for another step)")
        return replace(o, angle=step)
    if short <= 0:
        return o
    notes.append(f"'{o.projections}' records {count + short} projections and {count} are whole: the angle step is "
                 f"taken as {math.degrees(span):g} degrees / {count + short} = {math.degrees(step):.6g} degrees, a "
                 f"limited-angle scan of {math.degrees(step * count):.4g} degrees (give --angle for another step)")
    return replace(o, angle=step)


def not_images(path: str, shape: tuple[int, ...]) -> str:
    """Why frames of `shape` (not 2-D) cannot be reconstructed, with the fix where one is known: a
    stack of 3 or 4 frames that `tifffile.imwrite` stored as one RGB(A) page (its guess from the
    shape) was refused naming no way out."""
    said = f"'{path}' holds frames of shape {shape}; 2-D images expected"
    if len(shape) == 3 and shape[0] in (3, 4) and path.lower().endswith((".tif", ".tiff")):
        said += (f": a stack of {shape[0]} frames written by tifffile.imwrite is stored as one {shape[0]}-sample "
                 "(RGB) page; write it with photometric='minisblack' (one page a frame)")
    return said
