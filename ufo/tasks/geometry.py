"""Geometric maps: crop, pad, bin, rescale, transpose, flip, rotate (2-D frames)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core import Property, Spec, Task
from ..core.errors import GraphError
from ..core.ufocompat import UfoSemantics, declare, differs, missing, only, same, zero_is_default

ORDERS = {"nearest": 0, "linear": 1, "cubic": 3}
#: most pixels of one frame a geometric map may produce (2**31 float32 pixels are 8 GiB)
MAX_PIXELS = 2**31


def frame2d(task: Task, spec: Spec) -> tuple[int, int]:
    """(height, width) of 2-D frames of a fixed shape; GraphError naming the task otherwise."""
    if spec.shape is None:
        raise GraphError(f"task '{task.name}' needs frames of a fixed shape")
    if len(spec.shape) != 2:
        raise GraphError(f"task '{task.name}' works on 2-D frames, got shape {spec.shape}")
    return spec.shape  # type: ignore[return-value]


class Crop(Task):
    """Cut a rectangle out of each frame."""

    devices = ("cpu", "gpu")

    name = "crop"
    x = Property(int, 0, range=(0, None), doc="first column")
    y = Property(int, 0, range=(0, None), doc="first row")
    width = Property(int, None, range=(1, None), doc="columns to keep (default: to the right edge)")
    height = Property(int, None, range=(1, None), doc="rows to keep (default: to the bottom edge)")
    y_step = Property(int, 1, range=(1, None), doc="keep every y-step-th of those rows (from y)")
    from_center = Property(bool, False, doc="centre the box as UFO does (frame // 2 - size // 2); x and y "
                           "are offsets from there (UFO ignores them)")
    ufo_names = declare({"x": same("x"), "y": same("y"), "width": zero_is_default("width"), "height": zero_is_default("height"),
                 "from-center": same("from-center")})

    def _box(self, h: int, w: int) -> tuple[slice, slice]:
        width = self.width if self.width is not None else w - self.x
        height = self.height if self.height is not None else h - self.y
        x0 = self.x + (w // 2 - width // 2 if self.from_center else 0)  # UFO's crop.c: 52 // 2 - 11 // 2 = 21
        y0 = self.y + (h // 2 - height // 2 if self.from_center else 0)
        if x0 + width > w or y0 + height > h or width < 1 or height < 1:  # the box as given (-3 was a width never given)
            given = " ".join(f"{k}={v}" for k, v in (("x", self.x), ("y", self.y), ("width", self.width),
                                                     ("height", self.height)) if v is not None and (v or k in "xy"))
            raise GraphError(f"crop {given} does not fit a {w}x{h} frame (width x height)")
        return slice(y0, y0 + height, self.y_step), slice(x0, x0 + width)

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        h, w = frame2d(self, spec)
        rows, cols = self._box(h, w)
        return spec.with_(shape=(len(range(rows.start, rows.stop, rows.step)), cols.stop - cols.start))

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        self._sel = self._box(*ctx.input_specs[0].shape)

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        np.copyto(out, frame[self._sel])
        return out  # type: ignore[return-value]


class Pad(Task):
    """Place each frame in a larger one, filling the border by a chosen rule."""

    devices = ("cpu", "gpu")

    name = "pad"
    width = Property(int, range=(1, None), doc="output columns")
    height = Property(int, range=(1, None), doc="output rows")
    x = Property(int, None, range=(0, None), doc="column of the input's left edge (default: centred)")
    y = Property(int, None, range=(0, None), doc="row of the input's top edge (default: centred)")
    addressing_mode = Property(str, "constant", choices=("constant", "clamp", "mirror", "repeat"),
                               doc="border fill: a constant, the edge value, mirrored or repeated data")
    value = Property(float, 0.0, finite=False, doc="fill value for addressing-mode=constant")
    #: OpenCL's addressing modes by UFO's names ('clamp' is OpenCL's border colour, i.e. zeros)
    ufo_names = declare({"x": same("x"), "y": same("y"), "width": same("width"), "height": same("height"),
                 "addressing-mode": only({"none": {"addressing-mode": "constant"}, "clamp": {"addressing-mode": "constant"},
                                          "clamp_to_edge": {"addressing-mode": "clamp"},
                                          "repeat": {"addressing-mode": "repeat"},
                                          "mirrored_repeat": {"addressing-mode": "mirror"}},
                                         "one of UFO's OpenCL addressing modes", ours="addressing-mode")})

    def _offsets(self, h: int, w: int) -> tuple[int, int]:
        x = (self.width - w) // 2 if self.x is None else self.x
        y = (self.height - h) // 2 if self.y is None else self.y
        if x + w > self.width or y + h > self.height:
            raise GraphError(f"a {w}x{h} frame at x={x} y={y} does not fit the padded {self.width}x{self.height}")
        return y, x

    def fill_type(self, dtype: Any) -> Any:
        """`dtype`, or float32 where the fill value is none of its values (-1, 3.5 or NaN around
        uint16 frames: they failed mid-run or were stored as 3)."""
        kind = np.dtype(dtype)
        if self.addressing_mode != "constant" or kind.kind not in "iu":
            return dtype
        info, v = np.iinfo(kind), self.value
        return dtype if np.isfinite(v) and v == int(v) and info.min <= v <= info.max else np.float32

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        self._offsets(*frame2d(self, spec))
        if self.width * self.height > MAX_PIXELS:  # a zero too many: refused, not a process killed for memory
            raise GraphError(f"pad width={self.width} height={self.height}: {self.width * self.height} pixels a frame, "
                             f"more than {MAX_PIXELS}; give the padded frame's size in pixels")
        dtype = self.fill_type(spec.dtype) if spec.dtype is not None else None
        return spec.with_(shape=(self.height, self.width), dtype=dtype)

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        h, w = ctx.input_specs[0].shape
        y, x = self._offsets(h, w)
        self._inner = (slice(y, y + h), slice(x, x + w))
        self._widths = ((y, self.height - h - y), (x, self.width - w - x))
        self._mode = {"clamp": "edge", "mirror": "symmetric", "repeat": "wrap"}.get(self.addressing_mode)

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        assert out is not None
        if self._mode is None:
            out.fill(self.value)
            out[self._inner] = frame
        else:
            np.copyto(out, np.pad(frame, self._widths, mode=self._mode), casting="unsafe")
        return out


class Bin(Task):
    """Combine size x size pixel blocks by their sum or mean (float32 output)."""

    devices = ("cpu", "gpu")

    name = "bin"
    size = Property(int, 2, range=(1, None), doc="block edge in pixels")
    mode = Property(str, "mean", choices=("mean", "sum"), doc="how a block is combined")
    ufo_names = declare({"size": differs("size", "UFO sums each size x size block; ufo averages it unless mode=sum")})
    #: UFO's bin sums: a UFO user's graph gets mode=sum (ufocompat.apply says so)
    ufo_semantics = UfoSemantics({"mode": "sum"}, "UFO's bin sums each block where ufo averages it")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        h, w = frame2d(self, spec)
        if h < self.size or w < self.size:
            raise GraphError(f"bin size {self.size} is larger than the {w}x{h} frame")
        return spec.with_(shape=(h // self.size, w // self.size), dtype=np.float32)

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        s = self.size
        h, w = out.shape  # type: ignore[union-attr]
        blocks = frame[: h * s, : w * s].reshape(h, s, w, s)
        if self.mode == "sum":
            return blocks.sum(axis=(1, 3), out=out, dtype=np.float32)  # type: ignore[no-any-return]
        return blocks.mean(axis=(1, 3), out=out, dtype=np.float32)  # type: ignore[no-any-return]


class Rescale(Task):
    """Resize each frame by a factor (per axis) or to width x height, with nearest, linear or cubic interpolation."""

    devices = ("cpu", "gpu")

    name = "rescale"
    factor = Property(float, 1.0, range=(1e-6, None), doc="scale factor of both axes")
    x_factor = Property(float, None, range=(1e-6, None), doc="scale factor of columns (overrides factor)")
    y_factor = Property(float, None, range=(1e-6, None), doc="scale factor of rows (overrides factor)")
    interpolation = Property(str, "linear", choices=tuple(ORDERS), doc="interpolation")
    width = Property(int, None, range=(1, None), doc="output columns (overrides the factors; UFO's width)")
    height = Property(int, None, range=(1, None), doc="output rows (overrides the factors; UFO's height)")

    #: pixel centres map as UFO's OpenCL sampler and scikit-image's resize map them: output pixel j
    #: samples input position (j + 0.5) n_in / n_out - 0.5, so a factor is the factor (corner pixels
    #: aligned, factor=0.5 of 2048 px scaled by 0.49976 and moved features up to half a pixel)
    ufo_names = declare({
        "factor": same("factor"), "x-factor": same("x-factor"), "y-factor": same("y-factor"),
        "width": zero_is_default("width"), "height": zero_is_default("height"),
        "interpolation": same("interpolation"),
    })

    def _factors(self) -> tuple[float, float]:
        return (self.y_factor or self.factor, self.x_factor or self.factor)

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        h, w = frame2d(self, spec)
        fy, fx = self._factors()
        shape = (self.height or max(1, round(h * fy)), self.width or max(1, round(w * fx)))
        if shape[0] * shape[1] > MAX_PIXELS:
            raise GraphError(f"rescale factor {fy:g} x {fx:g} turns a {w}x{h} frame into {shape[1]}x{shape[0]} "
                             f"pixels, more than {MAX_PIXELS} per frame")
        return spec.with_(shape=shape, dtype=np.float32)

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        from scipy import ndimage

        assert out is not None
        zoom = (out.shape[0] / frame.shape[0], out.shape[1] / frame.shape[1])
        ndimage.zoom(frame.astype(np.float32, copy=False), zoom, output=out, order=ORDERS[self.interpolation],
                     mode="nearest", grid_mode=True)  # pixel centres (see ufo_names); the edge value beyond
        return out


class Transpose(Task):
    """Swap rows and columns."""

    name = "transpose"

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        h, w = frame2d(self, spec)
        return spec.with_(shape=(w, h))

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        np.copyto(out, frame.T)
        return out  # type: ignore[return-value]


class Flip(Task):
    """Mirror each frame horizontally (left-right), vertically (up-down) or both."""

    name = "flip"
    direction = Property(str, "horizontal", choices=("horizontal", "vertical", "both"), doc="mirror axis")
    ufo_names = declare({"direction": same("direction")})

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        frame2d(self, spec)
        return spec

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        sel = {"horizontal": (slice(None), slice(None, None, -1)), "vertical": (slice(None, None, -1),),
               "both": (slice(None, None, -1), slice(None, None, -1))}[self.direction]
        np.copyto(out, frame[sel])
        return out  # type: ignore[return-value]


def _ufo_angle(value: Any) -> dict[str, Any]:
    """UFO's rotate angle (clockwise on the screen: checked against ufo-filters' rotate.cl) as ours."""
    return {"angle": -Rotate.properties()["angle"].convert(value, "rotate")}


class Rotate(Task):
    """Rotate each frame about its centre (counter-clockwise for positive angles); shape kept.

    UFO's rotate turns clockwise: a UFO graph's `angle` is negated (docs/ufo-compat.md).
    """

    name = "rotate"
    angle = Property(float, 0.0, unit="rad", doc="rotation angle (e.g. 0.5 or 90deg)")
    interpolation = Property(str, "linear", choices=tuple(ORDERS), doc="interpolation")
    value = Property(float, 0.0, finite=False, doc="value of pixels rotated in from outside")
    ufo_names = declare({
        "angle": differs("angle", "UFO rotates clockwise (its kernel reads the input at the angle's negative), ufo "
                         "counter-clockwise: in a UFO graph angle=A is our angle=-A", _ufo_angle),
        "interpolation": same("interpolation"),
        "reshape": only({"false": {}, "0": {}}, "ufo keeps the frame size; pad first (pad width= height=) to keep "
                        "the corners"),
        "center": missing("ufo rotates about the frame centre; shift with pad x= y= or crop first"),
        "addressing-mode": only({"clamp": {}, "none": {}}, "ufo fills pixels from outside with value= (0); "
                                "UFO's clamp_to_edge/repeat/mirrored_repeat have no equivalent"),
    })

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        frame2d(self, spec)
        return spec.with_(dtype=np.float32)

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        from scipy import ndimage

        ndimage.rotate(frame.astype(np.float32, copy=False), np.degrees(self.angle), reshape=False, output=out,
                       order=ORDERS[self.interpolation], mode="constant", cval=self.value)
        return out  # type: ignore[return-value]
