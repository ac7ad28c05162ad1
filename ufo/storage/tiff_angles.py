"""The angles ufo's TIFF writers record in each frame's description, read back for `ufo reco`.

A grab or a pipeline into a TIFF sequence (one file a frame) or a BigTIFF stack writes each
frame's scalar metadata as JSON in its page's description, the rotation angle (radians) among
them. `ufo reco` read none of it: 90 projections taken at 1 degree were reconstructed as 180
degrees without a word, where the same frames in an NXtomo file were right. Only ufo's JSON
descriptions are read; a file whose first frame records no angle costs one description.
"""

from __future__ import annotations

import json
import math
from typing import Any


def _angle(description: str) -> float | None:
    if not description.startswith("{") or '"angle"' not in description:
        return None
    try:
        record = json.loads(description)
        value = record.get("angle")
    except (ValueError, AttributeError):
        return None
    if "shape" in record:  # tifffile's own description (`metadata=`): not ufo's, its units unknown
        return None
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


HEAD = 4096  # bytes of a one-page file ufo wrote that hold its description (`tiff_page.page_header`)


def _head_angle(file: str) -> float | None:
    """The angle in the description of a one-page TIFF ufo wrote, from its first bytes (one read:
    tifffile takes 1.6 ms a file, 10 s for a sequence of 6000); None where it is not found there."""
    with open(file, "rb") as f:
        head = f.read(HEAD)
    start = head.find(b'{"')
    end = head.find(b"\0", start)
    return _angle(head[start:end].decode("ascii", "replace")) if start >= 0 and end > start else None


def described_angles(locations: list[tuple[str, int]]) -> list[float | None]:
    """Each frame's recorded angle (radians) at `locations` (file, page), None where a frame records
    none; [] where the first records none (no ufo description: nothing more is read)."""
    import tifffile

    if not locations:
        return []
    angles: list[float | None] = []
    handle: tuple[str, Any] | None = None
    sequence = len({file for file, _ in locations[:2]}) > 1  # one file a frame: each file's head is read
    try:
        for file, page in locations:
            if sequence and page == 0 and angles and (quick := _head_angle(file)) is not None:
                angles.append(quick)
                continue
            if handle is None or handle[0] != file:
                if handle is not None:
                    handle[1].close()
                handle = (file, tifffile.TiffFile(file))
            pages = handle[1].pages
            angle = _angle(pages[page].description or "") if page < len(pages) else None
            if not angles and angle is None:
                return []
            angles.append(angle)
    except Exception:  # noqa: BLE001 - a description that cannot be read: the scan's angles are not taken from them
        return []
    finally:
        if handle is not None:
            handle[1].close()
    return angles
