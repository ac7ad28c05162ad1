"""Which detector rows `ufo reco` reconstructs: --region's 'from:to:step' or --slice's one row.

Its own module beside ufo.reco.planning (which re-exports `parse_region`).
"""

from __future__ import annotations

from ..core.errors import UsageError
from .options import RecoOptions


def parse_region(text: str | None, height: int) -> list[int]:
    """'from:to:step' (Python slice rules, 'to' excluded) into detector rows."""
    if not text:
        return list(range(height))
    rows = list(range(height))[slice(*_region_values(text))]
    if not rows:
        raise UsageError(f"region '{text}' selects no rows of the {height} detector rows")
    return rows


def _region_values(text: str) -> list[int | None]:
    """'from:to:step' as slice() takes it ('n' alone: that one row)."""
    parts = text.split(":")
    if len(parts) > 3:
        raise UsageError(f"region '{text}' must be from:to:step")
    try:
        values = [int(p) if p.strip() else None for p in parts] + [None] * (3 - len(parts))
    except ValueError as err:
        raise UsageError(f"region '{text}' must be integers from:to:step") from err
    if len(parts) == 1 and values[0] is not None:
        values[1] = values[0] + 1
    if values[2] == 0:
        raise UsageError(f"region '{text}' has a step of 0; give a step of 1 or more (from:to:step)")
    return values


def region_note(text: str | None, height: int, rows: list[int]) -> str | None:
    """A warning where --region (its `rows`) reaches past the detector's last row (Python's slice rules
    cut it there: `0:1000` of 64 rows gives 64 slices, not the 1000 a typo may have meant), else None."""
    stop = _region_values(text)[1] if text else None
    if stop is None or stop <= height:
        return None
    return (f"region '{text}' reaches past the detector's {height} rows: rows {rows[0]} .. {rows[-1]} "
            f"({len(rows)} slices) are reconstructed")


def select_rows(o: RecoOptions, height: int) -> list[int]:
    """The detector rows to reconstruct: --slice's one row (a preview: 'middle' is height // 2) or --region's."""
    if o.slice is None:
        return parse_region(o.region, height)
    if o.region is not None:
        raise UsageError("give --slice (one preview row) or --region, not both")
    row = height // 2 if o.slice == "middle" else int(o.slice)
    if not 0 <= row < height:
        raise UsageError(f"--slice {row} is not a row of the {height} detector rows (0 .. {height - 1})")
    return [row]
