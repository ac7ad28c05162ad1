"""What the streaming reconstructor (ufo.tomo.streaming) counts and how it picks a frame's rows.

Plain bookkeeping with no state of the engine, kept in a module of its own so the engine
stays readable (and under the project's 400 lines a module): the statistics a caller reads
(`StreamStats`, also importable from ufo.tomo.streaming) and the choice of the detector rows
kept of every frame (`rows_index`), which decides the memory of everything after it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class StreamStats:
    """What the reconstructor received and did; times are time.monotonic() seconds."""

    darks: int = 0
    flats: int = 0
    late_references: int = 0
    alignment: int = 0  # alignment projections (image_key -1) seen and left out
    projections: int = 0
    backprojected: int = 0
    busy_seconds: float = 0.0  # host time spent in batches (on a GPU: launching them)
    device_seconds: float = 0.0  # time the device spent on the batches (CUDA events on a GPU), known at finish
    first_frame: float | None = None
    last_frame: float | None = None
    finished: float | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def lag(self) -> float | None:
        """Seconds from the last frame to complete slices."""
        if self.finished is None or self.last_frame is None:
            return None
        return self.finished - self.last_frame


def rows_index(rows: Any, height: int) -> np.ndarray:
    """The detector rows to keep (all, a slice, or a list), checked against the frame height."""
    if rows is None:
        return np.arange(height)
    if isinstance(rows, slice):
        if any(v is not None and not -height <= v <= height for v in (rows.start, rows.stop)):
            raise ValueError(f"rows {rows.start}:{rows.stop} reach outside the {height} detector rows")
        index = np.arange(height)[rows]
    else:
        index = np.asarray(list(rows), dtype=int)
    if index.size == 0 or index.min() < 0 or index.max() >= height:
        raise ValueError(f"rows {rows} select no rows or rows outside the {height} detector rows")
    return index


#: radians: a thousand turns (a helical scan's are tens); beyond, float32 angles lose their degrees
MAX_ANGLE = 2000 * np.pi


def frame_angle(meta: dict[str, Any], number: int, projection: int, angle_step: float | None) -> float:
    """A projection's angle (radians): its metadata's 'angle', else projection x angle_step (ValueError
    naming the frame when neither is there or the angle is not finite)."""
    if meta.get("angle") is not None:
        try:
            value = float(meta["angle"])
        except (TypeError, ValueError):
            raise ValueError(f"frame {number} (projection {projection}) has angle {meta['angle']!r}, "
                             "not a number (radians)") from None
        if not np.isfinite(value) or abs(value) > MAX_ANGLE:  # 1e300 was taken: its cosine is noise
            raise ValueError(f"frame {number} (projection {projection}) has angle {value} rad "
                             f"(finite, within +-{MAX_ANGLE:g} rad: {MAX_ANGLE / (2 * np.pi):g} turns)")
        return value
    if angle_step is not None:
        return projection * angle_step
    raise ValueError(f"frame {number} (projection {projection}) has no 'angle' in its metadata; "
                     "send angles with the frames or give angle_step")


def nothing() -> None:
    """The engine's `release` where the caller lent nothing."""


def check_options(axis: Any, precision: str, half_acquisition: bool, interpolate_flats: bool) -> None:
    """The streaming engine's options that cannot work together, refused with what to give instead."""
    if half_acquisition and axis is None:
        raise ValueError("half acquisition needs the axis (pixels) or 'auto': the detector centre is no axis "
                         "near an edge")
    if half_acquisition and interpolate_flats:
        raise ValueError("half acquisition with interpolate_flats is not supported online; use `ufo reco`")
    if isinstance(axis, str) and axis != "auto":
        raise ValueError(f"axis is a position in pixels, None (the detector centre) or 'auto', not '{axis}'")
    if isinstance(axis, (int, float)) and not (math.isfinite(axis) and axis >= 0):  # refused before the darks are
        raise ValueError(f"axis {axis} is no detector position (pixels from 0)")  # taken, not at the first frame
    if precision not in ("fp32", "fp16"):
        raise ValueError(f"precision is 'fp32' or 'fp16', not '{precision}'")


def check_axis(axis: Any, width: int, half_acquisition: bool) -> None:
    """A given axis on the detector (stitching's bounds with half acquisition), checked at the first
    frame: the online reconstruction took 5000 on 2048 pixels and gave slices of zeros, state ON."""
    if isinstance(axis, (int, float)) and not (0 < axis < width - 1 if half_acquisition else 0 <= axis <= width):
        raise ValueError(f"axis {axis} lies outside the detector (0 .. {width} pixels)")


class FrameCheck:
    """One shape and one type for the frames of a scan, and finite values in float frames.

    Why: a frame of another type went into the first frame's buffers cast (an int32 frame with
    negative values wrapped into uint16: 20 % of the slice's range off), and a frame of NaN or
    infinite pixels was corrected to something finite but wrong (5 %), both without a word."""

    def __init__(self) -> None:
        self.shape: tuple[int, ...] | None = None
        self.dtype: np.dtype | None = None
        self.nonfinite = 0  # frames whose reconstructed rows hold NaN or infinite values

    def first(self, frame: np.ndarray, number: int) -> bool:
        """Whether `frame` is the scan's first (its shape and type then hold for the rest); ValueError
        for a frame that is not 2-D or does not match the first."""
        if frame.ndim != 2:
            raise ValueError(f"frame {number} has shape {frame.shape}; 2-D frames (rows x columns) are expected")
        if self.shape is None:
            self.shape, self.dtype = frame.shape, frame.dtype
            return True
        if frame.shape != self.shape:
            raise ValueError(f"frame {number} has shape {frame.shape}, but the stream started with {self.shape}: "
                             "every frame of a scan must have one shape (was the camera's ROI or binning changed?)")
        if frame.dtype != self.dtype and not np.can_cast(frame.dtype, self.dtype, "safe"):
            raise ValueError(f"frame {number} is {frame.dtype}, but the stream started with {self.dtype}: its values "
                             "would be cast (wrapped or cut); every frame of a scan must have one type")
        return False

    def values(self, band: np.ndarray, number: int, warn: Callable[[str], None]) -> None:
        """A word (at the first) where the reconstructed rows of a float frame hold NaN or infinite values."""
        if band.dtype.kind == "f" and not np.isfinite(band).all():
            self.nonfinite += 1
            if self.nonfinite == 1:
                warn(f"frame {number} holds NaN or infinite values in the rows reconstructed (the first such frame; "
                     "a detector gap, a broken frame?): the slices are not what the other frames make")



def check_memory(what: str, need: int, hint: str, share: float = 0.9) -> None:
    """Refuse host memory the machine does not have (`share` of what is free) before it is taken.

    Why: the CPU slices of every row of a 2560 x 2160 camera are 57 GB of float32, which NumPy
    takes lazily as the back-projection touches them: the scan ran until the kernel killed the
    whole process (the raw data file's writer with it) instead of stopping at its first frame
    with a reason. (On the GPU, CuPy's allocation itself fails at once, saying so.)"""
    from ..core.resources import available_memory

    free = available_memory()
    if need > share * free:
        raise MemoryError(f"online reconstruction: {what} need {need / 1e9:.1f} GB, this host has "
                          f"{free / 1e9:.1f} GB free; {hint}")
