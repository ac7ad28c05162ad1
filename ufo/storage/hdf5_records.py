"""The numbers of each frame that `write` keeps beside a plain HDF5 stack, one data set each.

`<stack>_<key>` holds the frame's `angle` (radians, units said), `image_key`, `frame_number`, ...
in the stack's order; ufo's reader takes the angles and image keys back (`layouts.plain_index`).
Kept apart from the writer so that the rules of these records live in one place.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np


#: units recorded with a per-frame value where it has them
UNITS = {"angle": "rad"}


def record_type(key: str, value: Any) -> np.dtype:
    """The type of the record of `key` whose first value is `value`: an angle is always float64 (a
    first angle of 0, or a float32 one, made an int64 record: 0.5 rad read back as 0)."""
    return np.dtype(np.float64 if key == "angle" or isinstance(value, (float, np.floating)) else np.int64)


def frame_record(create: Callable[..., Any], stack: Any, key: str, value: Any) -> Any:
    """The record of `key` beside `stack` (made by `create(name, shape, dtype)` where new), as long
    as the stack's frames so far, of `record_type`; a record an appending writer brings to a
    stack written without it gets a value for each frame before (NaN, or 0 for whole numbers):
    empty, it lined its first value up with frame 0, the first writer's projections read as the
    second's darks and flats."""
    record = create(f"{stack.name}_{key}", (), record_type(key, value))
    if key in UNITS:
        record.attrs["units"] = UNITS[key]
    held, before = record.shape[0], stack.shape[0]
    if held < before:
        record.resize(before, axis=0)
        record[held:] = math.nan if record.dtype.kind == "f" else 0
    return record
