"""Projections, darks and flats kept apart when they share a folder.

Elettra's SYRMEP, SLS TOMCAT, ALS 8.3.2 (TIFF), Diamond's L12 and the Australian Synchrotron
write darks and flats beside the projections, as series of their own names (`proj_0001.tif`,
`dark_0001.tif`, `flat_0001.tif`). `ufo reco --projections FOLDER` read every TIFF as a
projection and, without --darks and --flats, reconstructed raw counts with exit 0 (correlation
-0.78 with the object); given by hand too, the references were read twice, also as projections.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from typing import Any

import numpy as np

from ..core.errors import UsageError
from ..storage import open_source
from ..storage.readers import name_series

#: a series' name marks dark fields where one of its words (letters between other characters) is one
#: of DARK_TOKENS or holds one of DARK_WORDS, flat fields likewise (ALS: sampledrk_, samplebak_; the
#: Australian Synchrotron: DF_ and BG_, background meaning the open beam; PETRA III P05: _img_, _ref_,
#: _dar_; neutron imaging: OB_ open beam, DC_ dark current; elsewhere dark_, flat_, white_)
DARK_TOKENS, DARK_WORDS = ("df", "drk", "dk", "dar", "dc"), ("dark",)
FLAT_TOKENS, FLAT_WORDS = ("bg", "bak", "ob", "ff", "wf"), ("flat", "white", "background", "blank", "bright", "ref",
                                                             "open")
AFTER_WORDS = ("after", "post", "end", "last")


def _kind(prefix: str) -> str:
    """'darks', 'flats', 'flats2' (flats named as taken after the scan) or 'projections'."""
    words = [w for w in re.split(r"[^a-z]+", prefix.lower()) if w]
    if any(w in DARK_TOKENS or w.endswith(DARK_TOKENS) or any(d in w for d in DARK_WORDS) for w in words):
        return "darks"
    if any(w in FLAT_TOKENS or w.endswith(("bak",)) or any(f in w for f in FLAT_WORDS) for w in words):
        return "flats2" if any(a in words for a in AFTER_WORDS) else "flats"
    return "projections"


def _pattern(keys: list[tuple[str, str, str]]) -> str:
    """One glob for series of one kind: their folder, the prefixes' common start, any suffix they share."""
    folder, suffixes = keys[0][0], {k[2] for k in keys}
    start = os.path.commonprefix([k[1] for k in keys])
    return os.path.join(folder, glob.escape(start) + "*" + (glob.escape(suffixes.pop()) if len(suffixes) == 1 else ""))


def _files(path: str | None) -> set[str]:
    if not path:
        return set()
    try:
        source = open_source(path)
    except Exception:  # noqa: BLE001 - the plan's own reading of it says what is wrong
        return set()
    try:
        return {os.path.realpath(f) for f in getattr(source, "files", []) or []}
    finally:
        source.close()


def check_series(o: Any, source: Any) -> list[str]:
    """UsageError where the projections' files include darks or flats (by their series' names, or
    the very files given as --darks/--flats); a note where they are several other series."""
    files = getattr(source, "files", None) or []
    if len(files) < 2:
        return []
    given = {os.path.realpath(f) for f in files}
    for option, path in (("--darks", o.darks), ("--flats", o.flats), ("--flats2", o.flats2)):
        shared = given & _files(path)
        if shared:
            raise UsageError(f"{len(shared)} file(s) of {option} ('{path}', e.g. {os.path.basename(min(shared))}) are "
                             f"among the --projections ('{o.projections}'): they would be reconstructed as projections "
                             "too; name the projections alone, e.g. --projections 'FOLDER/proj_*.tif'")
    series = name_series(files) or {}
    if len(series) < 2:
        return []
    shown = ", ".join(f"{prefix or '(no prefix)'}N{suffix} ({len(numbers)})"
                      for (_, prefix, suffix), numbers in list(series.items())[:6]) + (", ..." if len(series) > 6 else "")
    kinds = {key: _kind(key[1]) for key in series}
    if any(kind != "projections" for kind in kinds.values()):
        if "flats2" in kinds.values() and "flats" not in kinds.values():
            kinds = {key: "flats" if kind == "flats2" else kind for key, kind in kinds.items()}
        patterns = {kind: _pattern([k for k in kinds if kinds[k] == kind]) for kind in set(kinds.values())}
        unknown = ""
        if any(fnmatch.fnmatch(os.path.join(k[0], f"{k[1]}0{k[2]}"), patterns["projections"])
               for k in kinds if kinds[k] != "projections"):  # a glob of all projection series takes the others too
            largest = max((k for k in kinds if kinds[k] == "projections"), key=lambda k: len(series[k]))
            patterns["projections"] = _pattern([largest])
            others = [f"{k[1]}N{k[2]}" for k in kinds if kinds[k] == "projections" and k != largest]
            unknown = f" ({', '.join(others)}: not known as darks or flats by name; give it as one if it is)"
        options = [f"--{kind} '{patterns[kind]}'" for kind in ("projections", "darks", "flats", "flats2") if kind in patterns]
        raise UsageError(f"'{o.projections}' holds {len(series)} series of files: {shown}; darks or flats among "
                         f"them would be reconstructed as projections: name each, e.g. {' '.join(options)}{unknown}")
    if any("series of files" in w for w in getattr(source, "warnings", [])):  # the reader said it (several_series)
        return []
    return [f"'{o.projections}' holds {len(series)} series of files ({shown}): all read as projections, in name order"]


def raw_note(o: Any, source: Any) -> str:
    """A note where integer projections come without darks and flats: raw counts (a DXchange file
    of projections alone, a camera's TIFFs), reconstructed as if flat-field corrected; '' else."""
    dtype = getattr(source, "dtype", None)
    if dtype is None or np.dtype(dtype).kind not in "iu":
        return ""
    return (f"'{o.projections}' holds integer ({np.dtype(dtype).name}) projections and no darks or flats were given: "
            "reconstructed as given, as if flat-field corrected; raw counts need --darks and --flats")


def input_notes(o: Any, source: Any, layout: str | None) -> list[str]:
    """What the plan says of its projections' files (`check_series`, `raw_note`); UsageError where
    darks or flats are among them."""
    if not o.projections:
        return []
    notes = check_series(o, source) if layout is None else []
    raw = raw_note(o, source) if o.flats is None else ""
    dark = ("no darks: a dark of 0 is taken (right for a detector whose dark is negligible; an sCMOS offset of "
            "100 counts in 2000 makes the line integrals about 5 % off: give --darks)") if o.flats and not o.darks else ""
    return notes + [n for n in (raw, dark) if n]
