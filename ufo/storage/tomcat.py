"""SLS TOMCAT's TIFF scans: one numbered sequence of darks, flats, projections and flats after.

TOMCAT writes a scan as `NAME0001.tif`, `NAME0002.tif`, ... beside `NAME.log`, whose "Scan
Settings" say what the sequence holds: `Number of darks`, `Number of flats`, `Number of
projections`, `Number of inter-flats` every `Flat frequency` projections, `Rot Y min position`,
`Rot Y max position` and `Angular step` in degrees. The darks come first, then the flats, then
the projections (with the inter-flats among them), then, where the files say so, the flats
after the scan and the darks after them (dxchange's `read_sls_tomcat` reads the first three).

Read as a TIFF sequence, every file was a projection: raw darks and flats reconstructed as if
they were the object, exit 0. Here a folder (or the log, or a glob of the sequence) with such a
log is a layout like NXtomo's: every frame carries its image_key, the projections their angles,
so `ufo reco --projections NAME/tif` takes darks, flats (before and after, interpolated by
place) and angles from it. A sequence whose file count the log does not explain is refused.

Angles: `Number of projections` from `Rot Y min` to `Rot Y max` with both ends (1801 over 180
degrees at 0.1), or without the end where the log's `Angular step` says so (its value is
rounded: the step of the two nearer to it is taken).
"""

from __future__ import annotations

import glob
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import UsageError
from .formats import natural_key
from .tiff_frames import TiffFrames

KEYS = {"projections": "Number of projections", "darks": "Number of darks", "flats": "Number of flats",
        "inter": "Number of inter-flats", "frequency": "Flat frequency", "start": "Rot Y min position",
        "stop": "Rot Y max position", "step": "Angular step"}


@dataclass
class TomcatScan:
    """A TOMCAT sequence: its files in order, each frame's image_key and angle (radians or None)."""

    log: str
    files: list[str]
    keys: list[int]
    angles: list[float | None]
    notes: list[str] = field(default_factory=list)


def _settings(log: str) -> dict[str, float]:
    """The log's scan settings that KEYS names (the first number after the colon)."""
    found: dict[str, float] = {}
    try:
        with open(log, errors="replace") as handle:
            for line in handle:
                name, colon, value = line.partition(":")
                number = re.search(r"[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?", value) if colon else None
                for key, text in KEYS.items():
                    if number is not None and key not in found and name.strip().startswith(text):
                        found[key] = float(number.group())
    except OSError:
        return {}
    return found


def find_log(path: str) -> tuple[str, list[str]] | None:
    """(the log, the sequence's TIFF files in order) where `path` is a TOMCAT scan: a folder
    holding NAME.log and NAME<digits>.tif files (or the scan's folder, whose tif/ holds them), the
    log itself, or a glob of the whole sequence beside its log; None otherwise (one file or a part
    of the sequence are read as they are); UsageError for a folder of several such scans.""" 
    if path.lower().endswith(".log"):
        logs = [path] if os.path.isfile(path) else []  # a log that is not there names no other scan
    else:
        folder = path if os.path.isdir(path) else os.path.dirname(path) or "."
        if not os.path.isdir(folder):
            return None
        logs = sorted(glob.glob(os.path.join(glob.escape(folder), "*.log")))
        if not logs and os.path.isdir(path) and os.path.isdir(os.path.join(path, "tif")):
            logs = sorted(glob.glob(os.path.join(glob.escape(path), "tif", "*.log")))  # the scan's folder, NAME/
    found = [scan for scan in (_sequence(log, path) for log in logs) if scan is not None]
    if len(found) > 1:
        names = ", ".join(os.path.basename(log) for log, _ in found)
        raise UsageError(f"'{path}' holds {len(found)} TOMCAT scans ({names}): name one by its log, e.g. "
                         f"--projections {found[0][0]}")
    return found[0] if found else None


def _sequence(log: str, path: str) -> tuple[str, list[str]] | None:
    """(log, its sequence's files) where `log` describes a TOMCAT sequence that `path` names."""
    prefix = os.path.basename(log)[:-len(".log")]
    folder = os.path.dirname(log) or "."
    numbered = re.compile(re.escape(prefix) + r"\d+\.tiff?$", re.IGNORECASE)
    files = sorted((os.path.join(folder, n) for n in os.listdir(folder) if numbered.match(n)), key=natural_key)
    if not files or "projections" not in _settings(log):
        return None
    if not os.path.isdir(path) and not path.lower().endswith(".log"):
        chosen = {os.path.realpath(f) for f in glob.glob(path)} if any(c in path for c in "*?[") else set()
        if chosen != {os.path.realpath(f) for f in files}:
            return None  # one file, or a part of the sequence chosen by hand: read as they are
    return log, files


def _step(settings: dict[str, float], count: int) -> tuple[float, str]:
    """The projections' angle step in degrees, and how it was found."""
    start, stop = settings.get("start"), settings.get("stop")
    if start is None or stop is None or stop == start:
        stated = settings.get("step")
        if stated:
            return stated, f"the log's Angular step {stated:g} degrees"
        return 180.0 / max(count - 1, 1), "no Rot Y min/max in the log: 0 to 180 degrees with both ends taken"
    with_end, without = (stop - start) / max(count - 1, 1), (stop - start) / count
    stated = settings.get("step")
    if stated and abs(without - stated) < abs(with_end - stated):
        return without, f"{start:g} to {stop:g} degrees without the end (Angular step {stated:g})"
    return with_end, f"{start:g} to {stop:g} degrees with both ends"


def read_scan(log: str, files: list[str]) -> TomcatScan:
    """The sequence's frames as the log describes them; UsageError where its files do not fit."""
    settings = _settings(log)
    darks, flats, count = (int(settings.get(k, 0)) for k in ("darks", "flats", "projections"))
    inter, every = int(settings.get("inter", 0)), int(settings.get("frequency", 0))
    if min(darks, flats, inter, every) < 0:
        raise UsageError(f"'{log}' gives a negative count ({darks} darks, {flats} flats, {inter} inter-flats every "
                         f"{every}): fix the log, or give the parts as --projections, --darks and --flats")
    numbers = [int(re.findall(r"(\d+)\.tiff?$", f, re.IGNORECASE)[0]) for f in files]
    hole = next((i for i in range(1, len(numbers)) if numbers[i] != numbers[i - 1] + 1), None)
    if hole is not None:  # every frame after a missing file would be taken for the next kind's or angle's
        raise UsageError(f"the TOMCAT sequence of '{log}' misses file(s) between {os.path.basename(files[hole - 1])} "
                         f"and {os.path.basename(files[hole])}: its frames cannot be told apart by their place; "
                         "give the parts as --projections, --darks and --flats")
    inside = (count - 1) // every * inter if inter and every else 0  # inter-flats after every `every` projections
    head = darks + flats + count + inside
    tail = len(files) - head
    layouts = {0: [], flats: [1] * flats, darks + flats: [1] * flats + [2] * darks} if flats else {0: []}
    if count < 1 or tail < 0 or tail not in layouts:
        described = f"{darks} darks, {flats} flats, {count} projections" + (f", {inside} inter-flats" if inside else "")
        raise UsageError(f"'{log}' describes {head} frames ({described}) and {len(files)} files "
                         f"{os.path.basename(files[0])} .. {os.path.basename(files[-1])} follow it: give the parts "
                         "as --projections, --darks and --flats (files or globs), or complete the sequence")
    keys = [2] * darks + [1] * flats
    for index in range(count):
        keys.append(0)
        if inside and index < count - 1 and (index + 1) % every == 0:
            keys += [1] * inter
    keys += layouts[tail]
    step, how = _step(settings, count)
    start = settings.get("start", 0.0)
    angles: list[float | None] = []
    projection = 0
    for key in keys:
        angles.append(math.radians(start + projection * step) if key == 0 else None)
        projection += key == 0
    after = "" if not tail else f", {flats} flats after" if tail == flats else f", {flats} flats and {darks} darks after"
    notes = [f"'{log}' describes a TOMCAT sequence of {len(files)} files: {darks} darks, {flats} flats, {count} "
             f"projections{f', {inside} inter-flats' if inside else ''}{after}; angles {how}; --angle and --offset "
             "give others"]
    return TomcatScan(log, files, keys, angles, notes)


class TomcatFrames(TiffFrames):
    """The frames of a TOMCAT sequence of one image_key (all where None), `run` the run-th run of
    consecutive ones; each frame's meta carries its image_key, place in the sequence and angle."""

    layout = "tomcat"

    def __init__(self, scan: TomcatScan, image_key: int | None = None, run: int | None = None):
        from .layouts import select

        keep, self.run_spans = select(scan.keys, image_key, run, scan.log)
        super().__init__([scan.files[i] for i in keep] or scan.files[:1])
        if not keep:
            self.locations, self.count = [], 0
        self.warnings += scan.notes
        self.angles_from = f"the TOMCAT log '{scan.log}'"
        self._positions = keep
        self._keys = [scan.keys[i] for i in keep]
        self._angles = [scan.angles[i] for i in keep]

    @property
    def angles(self) -> list[float | None]:
        return list(self._angles)

    def meta(self, index: int) -> dict[str, Any]:
        meta: dict[str, Any] = {"image_key": self._keys[index], "file_index": self._positions[index]}
        if self._angles[index] is not None:
            meta["angle"] = self._angles[index]
        return meta


def open_tomcat(path: str, image_key: int | None, run: int | None) -> TomcatFrames | None:
    """`path`'s frames where it names a TOMCAT scan (find_log), else None."""
    found = find_log(path)
    if found is None:
        return None
    return TomcatFrames(read_scan(*found), image_key, run)


def part_of_scan(path: str, files: list[str]) -> str | None:
    """A note where `files`, chosen by a glob, are a part of a TOMCAT sequence beside its log (a
    scan's projections picked by hand, say): they are read as they are, raw counts without the
    log's darks and flats; the log reads the whole scan. None otherwise."""
    if len(files) < 2 or not any(c in path for c in "*?["):
        return None
    folder = os.path.dirname(files[0]) or "."
    chosen = {os.path.realpath(f) for f in files}
    for log in sorted(glob.glob(os.path.join(glob.escape(folder), "*.log"))):
        found = _sequence(log, log)
        if found is None or not chosen < {os.path.realpath(f) for f in found[1]}:
            continue
        try:
            scan = read_scan(*found)
        except UsageError:
            held = "frames of it"
        else:
            keys = [key for f, key in zip(scan.files, scan.keys) if os.path.realpath(f) in chosen]
            held = ", ".join(f"{keys.count(k)} {name}" for k, name in ((2, "darks"), (1, "flats"), (0, "projections"))
                             if keys.count(k)) + " by its log"
        return (f"'{path}' is a part of the TOMCAT scan of '{log}' ({len(files)} of its {len(found[1])} files: "
                f"{held}): read as given, raw counts without the log's darks, flats and angles; "
                f"--projections {log} reads the scan whole")
    return None
