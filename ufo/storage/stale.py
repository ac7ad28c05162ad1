"""Files of a TIFF sequence's pattern that a run did not write.

`--overwrite` (overwrite=true) replaces the frames a run writes, and only those: an earlier,
longer run's files stay in the folder beside the new ones, and a glob or a folder read then
mixes the two (a probe: 4 new slices among 22 stale, read back as one volume). ufo never
removes them (they may be what another run made); it says which there are, once, in the same
words from `ufo reco`'s plan and from the write task of any pipeline.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from .formats import OutputPath


def sequence_regex(target: OutputPath) -> re.Pattern[str]:
    """The file names of the sequence's pattern (frame-%05i.tif: frame-00000.tif, frame-123456.tif)."""
    name = os.path.basename(target.path)
    pieces = re.split(r"(%0?\d*[id]|\{[^{}]*\})", name)
    return re.compile("".join(r"\d+" if i % 2 else re.escape(p) for i, p in enumerate(pieces)))


def stale_note(target: OutputPath, written: Iterable[str]) -> str | None:
    """A warning naming the files of the pattern in its folder other than `written`, or None."""
    folder = os.path.dirname(os.path.abspath(target.path))
    names = sequence_regex(target)
    ours = {os.path.abspath(path) for path in written}
    try:
        entries = os.listdir(folder)
    except OSError:
        return None
    stale = sorted(n for n in entries if names.fullmatch(n) and os.path.join(folder, n) not in ours)
    if not stale:
        return None
    shown = ", ".join(stale[:3]) + (", ..." if len(stale) > 3 else "")
    return (f"{len(stale)} other file(s) of the pattern {target.path} are in its folder ({shown}) and are kept "
            "beside this run's files: remove them, or write to another folder")
