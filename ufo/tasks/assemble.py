"""Assembling and cutting frames: UFO's stitch, tile, interpolate, horizontal-interpolate and cut-sinogram.

UFO runs these as OpenCL kernels; ours are numpy on the CPU with the same arithmetic, so a
UFO pipeline gives the same numbers (to float32 rounding). Where UFO's kernels read outside
their inputs (shapes UFO does not check), ours refuses the graph with a message instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..core import Input, Kind, Property, Spec, Task
from ..core.errors import GraphError, InputError
from .geometry import frame2d


def stitch(first: np.ndarray, second: np.ndarray, shift: int, adjust_mean: bool = False,
           blend: bool = False, out: np.ndarray | None = None) -> np.ndarray:
    """Join two frames side by side, the second `shift` columns right of the first (UFO's stitch rule).

    The overlap is width(left) - |shift|; a negative shift swaps the frames. Without `blend` the
    overlap shows the left frame; with it, a linear ramp from left to right. `adjust_mean`
    scales the right frame by mean(left overlap) / mean(right overlap).
    """
    left, right = (first, second) if shift >= 0 else (second, first)
    lw, rw = left.shape[1], right.shape[1]
    overlap = lw - abs(shift)
    if out is None:
        out = np.empty((left.shape[0], lw + rw - overlap), np.float32)
    weight = 1.0
    if adjust_mean and overlap:
        weight = float(np.mean(left[:, lw - overlap:], dtype=np.float64) / np.mean(right[:, :overlap], dtype=np.float64))
    keep = lw - overlap if blend else lw
    out[:, :keep] = left[:, :keep]
    out[:, lw:] = np.float32(weight) * right[:, overlap:]
    if blend and overlap:
        alpha = (np.arange(overlap, dtype=np.float32) / np.float32(max(overlap - 1, 1)))[None, :]
        out[:, lw - overlap: lw] = (1 - alpha) * left[:, lw - overlap:] + alpha * np.float32(weight) * right[:, :overlap]
    return out


class Stitch(Task):
    """Stitch the frames of two inputs horizontally, the second `shift` columns right of the first (UFO's `stitch`).

    For a 360-degree scan with the axis off centre, stitch each projection with the flipped
    one from 180 degrees on: `[read a, read b ! flip] ! stitch shift=N`. float32 output.
    """

    name = "stitch"
    inputs = (Input("first"), Input("second"))
    shift = Property(int, 0, doc="columns the second frame is shifted right of the first (negative: left)")
    adjust_mean = Property(bool, False, doc="scale the second frame so the means of the overlap match")
    blend = Property(bool, False, doc="ramp linearly from the first frame to the second across the overlap")

    def _geometry(self, first: tuple[int, int], second: tuple[int, int]) -> tuple[int, int]:
        if first[0] != second[0]:
            raise GraphError(f"task 'stitch': both inputs must have the same height, got {first[0]} and {second[0]}")
        lw, rw = (first[1], second[1]) if self.shift >= 0 else (second[1], first[1])
        overlap = lw - abs(self.shift)
        if not 0 <= overlap <= rw:
            raise GraphError(f"task 'stitch': shift={self.shift} leaves {'a gap' if overlap < 0 else 'no room'} "
                             f"between frames {first[1]} and {second[1]} wide; |shift| must be between "
                             f"{max(0, lw - rw)} and {lw}")
        return first[0], lw + rw - overlap

    def output_spec(self, first: Spec, second: Spec) -> Spec:  # type: ignore[override]
        counts = [c for c in (first.count, second.count) if c is not None]
        count = min(counts) if len(counts) == 2 else None
        return Spec(self._geometry(frame2d(self, first), frame2d(self, second)), np.float32, count)

    def process(self, first: np.ndarray, second: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        return stitch(first, second, self.shift, self.adjust_mean, self.blend, out=out)


class Tile(Task):
    """Cut each frame into tiles of width x height, emitted row by row from the top left (UFO's `tile`).

    Each tile keeps its frame's metadata and adds `tile_x` and `tile_y`, the column and row of
    its top left corner in the frame, so tiles processed apart can be put back together.
    """

    name = "tile"
    kind = Kind.REDUCE
    uses_meta = True
    width = Property(int, 0, range=(0, None), doc="tile columns, a divisor of the frame width (0: the whole width)")
    height = Property(int, 0, range=(0, None), doc="tile rows, a divisor of the frame height (0: the whole height)")

    def _tile(self, h: int, w: int) -> tuple[int, int]:
        th, tw = self.height or h, self.width or w
        for size, full, what in ((tw, w, "width"), (th, h, "height")):
            if size > full:
                raise GraphError(f"task 'tile': {what} {size} is larger than the frame's {full}")
            if full % size:
                raise GraphError(f"task 'tile': the frame {what} {full} must be a multiple of {what} {size}")
        return th, tw

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        h, w = frame2d(self, spec)
        th, tw = self._tile(h, w)
        tiles = (h // th) * (w // tw)
        return spec.with_(shape=(th, tw), count=None if spec.count is None else spec.count * tiles)

    def consume(self, frame: np.ndarray, meta: dict[str, Any]) -> Iterator[Any]:  # type: ignore[override]
        th, tw = self._tile(*frame.shape)
        shared = {k: v for k, v in meta.items() if k != "index"}
        for y in range(0, frame.shape[0], th):
            for x in range(0, frame.shape[1], tw):
                out = self.ctx.buffer()
                np.copyto(out.data, frame[y: y + th, x: x + tw])
                yield out, {**shared, "tile_x": x, "tile_y": y}


class Interpolate(Task):
    """Blend the first frames of two inputs into `number` frames, (1 - a) x + a y with a = i / (number - 1) (UFO's `interpolate`).

    Only the first frame of each input is used, as in UFO; further frames are ignored with a
    warning. a is 0 when number is 1. float32 output.
    """

    name = "interpolate"
    kind = Kind.REDUCE
    inputs = (Input("first"), Input("second"))
    number = Property(int, 1, range=(1, None), doc="number of output frames")

    def output_spec(self, first: Spec, second: Spec) -> Spec:  # type: ignore[override]
        if frame2d(self, first) != frame2d(self, second):
            raise GraphError(f"task 'interpolate': both inputs must have the same shape, got {first.shape} and {second.shape}")
        return Spec(first.shape, np.float32, self.number)

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        self._pair: tuple[np.ndarray, np.ndarray] | None = None
        self._ignored = 0

    def consume(self, first: np.ndarray, second: np.ndarray) -> None:  # type: ignore[override]
        if self._pair is None:
            self._pair = (np.array(first, np.float32), np.array(second, np.float32))
        else:
            self._ignored += 1

    def finish(self) -> Iterator[Any]:
        if self._pair is None:
            raise InputError("task 'interpolate' received no frames: its input stream was empty")
        if self._ignored:
            self.ctx.warn(f"interpolate uses the first frame of each input; {self._ignored} later pair(s) were ignored")
        x, y = self._pair
        for i in range(self.number):
            alpha = np.float32(i / (self.number - 1) if self.number > 1 else 0.0)
            out = self.ctx.buffer()
            np.multiply(x, np.float32(1) - alpha, out=out.data)
            out.data += alpha * y
            yield out


def interpolate_masked(image: np.ndarray, mask: np.ndarray, one_sided_gradient: bool = True,
                       out: np.ndarray | None = None) -> np.ndarray:
    """Fill the pixels where `mask` > 0 from the nearest unmasked pixels of the same row (UFO's rule).

    Between two good pixels: linear interpolation. Masked runs that reach a border take the
    nearest good pixel's value or, with `one_sided_gradient` and a second pixel beyond it, its
    value extended by the difference of those two pixels (as UFO's kernel, which does not check
    that the second pixel is unmasked). Rows without any good pixel are kept.
    """
    values = np.asarray(image, np.float32)
    if out is None:
        out = np.empty(values.shape, np.float32)
    np.copyto(out, values)
    bad = np.asarray(mask) > 0
    if not bad.any():
        return out
    w = values.shape[1]
    cols = np.arange(w)
    left = np.maximum.accumulate(np.where(bad, -1, cols), axis=1)
    right = np.minimum.accumulate(np.where(bad, w, cols)[:, ::-1], axis=1)[:, ::-1]
    rows, xs = np.nonzero(bad)
    lo, hi = left[rows, xs], right[rows, xs]
    v = values.astype(np.float64)

    inside = (lo >= 0) & (hi < w)
    r, x, a, b = rows[inside], xs[inside], lo[inside], hi[inside]
    span = (b - a).astype(np.float64)
    out[r, x] = (b - x) / span * v[r, a] + (x - a) / span * v[r, b]

    from_right = (lo < 0) & (hi < w)
    r, x, b = rows[from_right], xs[from_right], hi[from_right]
    slope = one_sided_gradient & (b < w - 1)
    bb = np.minimum(b + 1, w - 1)
    out[r, x] = np.where(slope, v[r, b] + (v[r, b] - v[r, bb]) * (b - x), v[r, b])

    from_left = (lo >= 0) & (hi >= w)
    r, x, a = rows[from_left], xs[from_left], lo[from_left]
    slope = one_sided_gradient & (a > 0)
    aa = np.maximum(a - 1, 0)
    out[r, x] = np.where(slope, v[r, a] + (v[r, a] - v[r, aa]) * (x - a), v[r, a])
    return out


class HorizontalInterpolate(Task):
    """Fill masked pixels (mask > 0) of each frame from the good pixels left and right in its row (UFO's `horizontal-interpolate`).

    For dead or defective detector columns. The mask is the second input, read whole before
    the frames: one mask frame serves every frame; a stream of masks pairs mask i with frame i
    (by the frames' index), as UFO's two inputs in step do. float32 output.
    """

    name = "horizontal-interpolate"
    uses_meta = True  # the frame index picks the mask of a mask stream
    inputs = (Input("input"), Input("mask", collect=True))
    use_one_sided_gradient = Property(bool, True, doc="masked runs at a border continue the slope of the two "
                                      "nearest good pixels (else: repeat the nearest one)")

    def output_spec(self, spec: Spec, mask: Spec) -> Spec:  # type: ignore[override]
        shape = frame2d(self, spec)
        if mask.shape is not None and tuple(mask.shape) != tuple(shape):
            raise GraphError(f"task 'horizontal-interpolate': the mask ({mask.shape}) must have the frames' shape {shape}")
        return spec.with_(dtype=np.float32)

    def collected(self, index: int, frames: list[np.ndarray]) -> None:
        if not frames:
            raise GraphError("task 'horizontal-interpolate' received no mask frame")
        self._masks = frames

    def process(self, frame: np.ndarray, out: np.ndarray | None, meta: dict[str, Any]) -> np.ndarray:  # type: ignore[override]
        masks = self._masks
        index = int(meta.get("index", 0)) if len(masks) > 1 else 0
        if index >= len(masks):
            raise GraphError(f"task 'horizontal-interpolate': frame {index} has no mask ({len(masks)} mask frames)")
        if masks[index].shape != frame.shape:
            raise GraphError(f"task 'horizontal-interpolate': mask {masks[index].shape} and frame {frame.shape} differ")
        return interpolate_masked(frame, masks[index], self.use_one_sided_gradient, out=out)


def cut_columns(width: int, center: float) -> tuple[int, int]:
    """(first column, columns) of the part of a `width`-wide sinogram symmetric about `center`.

    UFO rounds the centre (half away from zero) and keeps columns 2c - width .. width, right
    for an axis right of the middle; for an axis left of it ours keeps columns 0 .. 2c (UFO's
    kernel would read before the row there).
    """
    c = math.floor(abs(center) + 0.5) * (1 if center >= 0 else -1)
    if not 0 < c < width:
        raise GraphError(f"task 'cut-sinogram': center-of-rotation={center:g} must lie inside the {width} columns")
    if 2 * c >= width:
        return 2 * c - width, 2 * (width - c)
    return 0, 2 * c


class CutSinogram(Task):
    """Keep the columns of each sinogram symmetric about the rotation axis, so the axis is the new centre (UFO's `cut-sinogram`).

    Why: reconstruction tools that assume a centred axis (and `backproject` without axis=)
    then give the same slices as with the off-centre axis, with fewer columns to process.
    Without center-of-rotation frames pass unchanged.
    """

    name = "cut-sinogram"
    center_of_rotation = Property(float, None, doc="rotation axis in pixels (rounded to whole pixels, as UFO does)")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        shape = spec.shape
        if shape is None or len(shape) not in (2, 3):
            raise GraphError(f"task 'cut-sinogram' needs sinograms (angles x width) of a fixed shape, got {shape}")
        if self.center_of_rotation is None:
            return spec
        _, cols = cut_columns(shape[-1], self.center_of_rotation)
        return spec.with_(shape=(*shape[:-1], cols))

    def process(self, sino: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        if self.center_of_rotation is None:
            np.copyto(out, sino)
            return out  # type: ignore[return-value]
        start, cols = cut_columns(sino.shape[-1], self.center_of_rotation)
        np.copyto(out, sino[..., start: start + cols])
        return out  # type: ignore[return-value]
