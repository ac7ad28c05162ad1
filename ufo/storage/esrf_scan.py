"""ESRF's EDF scan folders (ID19, ID16, BM05 before HDF5; what PyHST2, tomoscan and nabu read).

A folder `NAME/` holds `NAME.info` (the acquisition: `TOMO_N` projections over `ScanRange`
degrees, `REF_ON`, `PixelSize` in um, `Distance` in mm, `Energy` in keV), the projections
`NAME0000.edf` ... or `NAME_0000.edf` ... (tomoscan's naming; the notes name them as the folder
spells them) (numbered from 0; files past `TOMO_N` are alignment projections taken at the
end, at 180/90/0 or 360/270/180/90/0 degrees), the reduced flats `refHST<index>.edf` (the mean
of the flats taken before projection `index`) and the reduced dark (`darkend0000.edf`, or
`dark.edf`). Given such a folder as --projections, `ufo reco` takes the projections, darks,
flats and angles from it unless told otherwise, as nabu does.

Angles: as nabu's EDF reader, `TOMO_N` projections span 0 to 180 degrees without the end (a
step of 180 / TOMO_N) and 0 to 360 degrees with it (360 / (TOMO_N - 1)); --angle overrides.
"""

from __future__ import annotations

import fnmatch
import glob
import math
import os
import re
from dataclasses import dataclass

from ..core.errors import UsageError
from .formats import natural_key

DARK_NAMES = ("darkend", "dark", "darkHST")  # tried in this order


@dataclass(frozen=True)
class EsrfScan:
    """What an ESRF EDF scan folder holds (paths absolute or as given, in acquisition order)."""

    directory: str
    pattern: str  # a glob matching the projections (the first `count` in natural order)
    count: int  # TOMO_N
    alignment: int  # projections past TOMO_N
    darks: str | None
    flats: list[tuple[int, str]]  # (projection index, refHST file or the glob of its raw ref files)
    angle_step: float  # radians
    prefix: str  # the projections' file name before their number: 'NAME' or 'NAME_'
    digits: int  # the digits of that number (padded)
    start: int  # the number of the first projection

    def projection_name(self, index: int | None = None) -> str:
        """The file name of projection `index` (from the first, alignment ones past `count`), or
        without one their pattern ('NAME_NNNN.edf'): spelled as the folder spells them, with or
        without the '_' (what the notes named before, 'NAME0180.edf', did not exist in a folder of
        'NAME_0180.edf' files)."""
        if index is None:
            return f"{self.prefix}{'N' * self.digits}.edf"
        return f"{self.prefix}{self.start + index:0{self.digits}d}.edf"


def read_info(path: str) -> dict[str, str]:
    """'Key= value' lines of an ESRF .info file (keys as written)."""
    info: dict[str, str] = {}
    with open(path, encoding="latin-1") as f:
        for line in f:
            key, equal, value = line.partition("=")
            if equal and key.strip():
                info[key.strip()] = value.strip()
    return info


def _number(info: dict[str, str], key: str, where: str) -> float | None:
    lowered = {k.lower(): v for k, v in info.items()}
    text = lowered.get(key.lower())
    if text is None or text == "":
        return None
    try:
        return float(text.split()[0])
    except (ValueError, IndexError) as exc:
        raise UsageError(f"{where}: {key} = '{text}' is not a number; correct the .info file or give the "
                         "scan's files and angles as options") from exc


def _indexed(names: list[str], prefix: str) -> list[tuple[int, str]]:
    """(index, file) of the `prefix<digits>.edf` files among `names`, by index."""
    pattern = re.compile(re.escape(prefix) + r"_?(\d+)\.edf$")
    return sorted((int(m.group(1)), name) for name in names if (m := pattern.fullmatch(name)))


def raw_references(directory: str, names: list[str]) -> list[tuple[int, str]]:
    """(projection index, glob of its files) of the raw flats `ref<k>_<index>.edf` (k-th flat of the
    group taken before projection `index`), where the folder has no reduced refHST files: PyHST2
    averages each group; without them the scan was reconstructed from raw counts (exit 0)."""
    groups = sorted({int(m.group(2)): m.group(2) for name in names
                     if (m := re.fullmatch(r"ref(\d+)_(\d+)\.edf", name))}.items())
    return [(index, os.path.join(glob.escape(directory), f"ref[0-9]*_{digits}.edf")) for index, digits in groups]


def info_file(path: str) -> str | None:
    """`path/NAME.info` where `path` is a folder NAME holding it (an ESRF scan folder), else None."""
    if not os.path.isdir(path):
        return None
    directory = os.path.normpath(path)
    name = os.path.basename(directory)
    found = os.path.join(directory, name + ".info")
    return found if name and os.path.isfile(found) else None


def find_esrf_scan(path: str, number: int | None = None) -> EsrfScan | None:
    """The ESRF scan in folder `path`, or None when it is not one (no `NAME/NAME.info`); `number`:
    only the first so many projections are needed (a scan that stopped early)."""
    info_path = info_file(path)
    if info_path is None:
        return None
    directory = os.path.dirname(info_path)
    name = os.path.basename(directory)
    names = os.listdir(directory)  # once: a scan folder holds thousands of files
    info = read_info(info_path)
    count = _number(info, "TOMO_N", info_path)
    if count is None or count < 2 or count != int(count):
        raise UsageError(f"{info_path}: TOMO_N (the number of projections) is missing or not a whole number >= 2")
    count = int(count)
    scan_range = _number(info, "ScanRange", info_path)
    scan_range = 180.0 if scan_range is None else scan_range
    if scan_range == 0:
        raise UsageError(f"{info_path}: ScanRange is 0 degrees; give --angle")
    full_turn = abs(abs(scan_range) - 360) < abs(abs(scan_range) - 180)
    step = math.radians(scan_range) / (count - 1 if full_turn else count)
    projections = _indexed(names, name)
    if not projections:
        raise UsageError(f"'{directory}' holds no projection file {name}NNNN.edf")
    start = projections[0][0]
    need = min(count, number) if number else count
    missing = sorted(set(range(start, start + need)) - {i for i, _ in projections})
    if missing and missing == list(range(missing[0], start + need)):
        raise UsageError(f"'{directory}' holds {missing[0] - start} of the {count} projections its .info file "
                         f"announces (TOMO_N): did the scan stop? --number {missing[0] - start} reconstructs those")
    if missing:
        raise UsageError(f"'{directory}': projection file(s) numbered {', '.join(map(str, missing[:5]))}"
                         f"{' ...' if len(missing) > 5 else ''} are missing")
    first = projections[0][1]
    digits = re.search(r"(\d+)\.edf$", first)
    assert digits is not None  # _indexed matched it
    file_pattern = glob.escape(first[:digits.start(1)]) + "[0-9]" * len(digits.group(1)) + ".edf"
    pattern = os.path.join(glob.escape(directory), file_pattern)
    matched = sorted(fnmatch.filter(names, file_pattern), key=natural_key)  # what the pattern will open
    if matched[:need] != [f for _, f in projections[:need]]:
        raise UsageError(f"'{directory}': its projections are not numbered with {len(digits.group(1))} digits "
                         f"throughout ({first} ...); give --projections, --darks, --flats and --angle yourself")
    darks = next((os.path.join(directory, f) for prefix in DARK_NAMES for _, f in _indexed(names, prefix)), None)
    if darks is None and "dark.edf" in names:
        darks = os.path.join(directory, "dark.edf")
    flats = [(i, os.path.join(directory, f)) for i, f in _indexed(names, "refHST")] or raw_references(directory, names)
    return EsrfScan(directory, pattern, count, max(len(projections) - count, 0), darks, flats, step,
                    first[:digits.start(1)], len(digits.group(1)), start)
