"""Image filters of ufo-filters on 2-D frames: median-filter, blur, gradient, clip, binarize, mask,
subtract and find-large-spots.

The names and property names are UFO's so that `ufo-launch` pipelines read the same here.
Where UFO's OpenCL kernels leave something undefined (the border of `median-filter` and
`blur`, the centre of `mask` on non-square frames) each task says what ours does instead.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core import Input, Property, Spec, Task
from ..core.errors import GraphError

#: UFO's OpenCL addressing modes -> numpy.pad modes (OpenCL's `clamp` and `none` read 0 outside)
ADDRESSING = {"none": "constant", "clamp": "constant", "clamp_to_edge": "edge", "repeat": "wrap",
              "mirrored_repeat": "symmetric"}


def frame2d(task: Task, spec: Spec) -> tuple[int, int]:
    """The (rows, columns) of a stream of 2-D frames, or a GraphError naming the task."""
    if spec.shape is None:
        raise GraphError(f"task '{task.name}' needs frames of a fixed shape")
    if len(spec.shape) != 2:
        raise GraphError(f"task '{task.name}' works on 2-D frames, got shape {spec.shape}")
    if spec.dtype is not None and np.dtype(spec.dtype).kind == "c":
        raise GraphError(f"task '{task.name}' works on real frames, got {spec.dtype}")
    return spec.shape  # type: ignore[return-value]


def _odd_window(task: Task, size: int, shape: tuple[int, int]) -> None:
    if size % 2 == 0:
        raise GraphError(f"task '{task.name}': size={size} must be odd (the window is centred on the pixel)")
    if size // 2 >= 2 * max(shape):  # as blur; a frame of 1 row is mirrored onto itself (scipy's 'reflect')
        raise GraphError(f"task '{task.name}': size={size} is too large for a {shape[1]}x{shape[0]} frame")


class MedianFilter(Task):
    """Median of the size x size window around each pixel (float32).

    Why a median: it removes isolated outliers (zingers, hot pixels) without blurring
    edges. UFO computes the median only where the whole window lies inside the frame and
    leaves the border rows and columns undefined; ours mirrors the frame at its edges
    (scipy.ndimage 'reflect': d c b a | a b c d), so the border is filtered too and the
    interior is the same as UFO's. NaN pixels (a flat-field correction that kept them) are left out
    of every window, as numpy's nanmedian does: each is filled from its neighbours, none spreads.
    """

    devices = ("cpu", "gpu")

    name = "median-filter"
    size = Property(int, 3, range=(1, 101), doc="edge of the square window in pixels (odd)")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        _odd_window(self, self.size, frame2d(self, spec))
        return spec.with_(dtype=np.float32)

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        from scipy import ndimage

        from ..kernels.median import median_2d  # numba: imported when frames flow, not when tasks are listed

        data = np.ascontiguousarray(frame, np.float32)
        nan = bool(np.isnan(data).any())  # NaN pixels are left out of the windows (kernels.median.median_2d)
        if self.size <= 5 or nan:  # numba sorting network / insertion sort: 90x (3) and 1.1x (5) faster than scipy
            return median_2d(data, self.size, out, nan)  # type: ignore[arg-type]
        ndimage.median_filter(data, size=self.size, mode="reflect", output=out)
        return out  # type: ignore[return-value]


def gaussian_weights(size: int, sigma: float) -> np.ndarray:
    """UFO's blur kernel: `size` samples of a Gaussian at integer offsets, normalised to sum 1."""
    x = np.arange(size, dtype=np.float64) - size // 2
    weights = np.exp(-0.5 * (x / sigma) ** 2)
    return weights / weights.sum()  # type: ignore[no-any-return]


class Blur(Task):
    """Gaussian blur with a size x size kernel of standard deviation sigma (float32, separable).

    The kernel is UFO's: `size` taps at integer offsets, normalised to sum 1, applied along
    rows and then columns. UFO's kernel reads past its window near the borders (the taps
    shift there); ours mirrors the frame at its edges (scipy.ndimage 'reflect'), so the
    result is the same as `scipy.ndimage.gaussian_filter(sigma=sigma, radius=size // 2)`.
    UFO accepts even sizes with asymmetric weights; ours asks for an odd size.
    """

    devices = ("cpu", "gpu")

    name = "blur"
    size = Property(int, 5, range=(1, 1001), doc="kernel edge in pixels (odd)")
    sigma = Property(float, 1.0, unit="pixel", range=(1e-3, None), doc="standard deviation of the Gaussian")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        shape = frame2d(self, spec)
        if self.size % 2 == 0:
            raise GraphError(f"task 'blur': size={self.size} must be odd (the kernel is centred on the pixel)")
        if self.size // 2 >= 2 * max(shape):
            raise GraphError(f"task 'blur': size={self.size} is too large for a {shape[1]}x{shape[0]} frame")
        return spec.with_(dtype=np.float32)

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        self._weights = gaussian_weights(self.size, self.sigma).astype(np.float32)

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        from scipy import ndimage

        rows = ndimage.correlate1d(frame.astype(np.float32, copy=False), self._weights, axis=1, mode="reflect")
        ndimage.correlate1d(rows, self._weights, axis=0, mode="reflect", output=out)
        return out  # type: ignore[return-value]


class Gradient(Task):
    """Finite-difference gradient along x (horizontal: between columns), y (vertical) or both (float32).

    As UFO: `both` is the sum of the two differences, `both_abs` the sum of their absolute
    values and `both_mag` the length of the gradient vector; `central` is half the
    difference of the two neighbours. Pixels outside the frame follow UFO's OpenCL
    addressing modes: `clamp` (UFO's default) and `none` read 0, `clamp_to_edge` the edge
    pixel, `repeat` wraps around and `mirrored_repeat` mirrors (the edge pixel repeated).
    """

    devices = ("cpu",)

    name = "gradient"
    direction = Property(str, "horizontal", choices=("horizontal", "vertical", "both", "both_abs", "both_mag"),
                         doc="which gradient: along x (horizontal), along y (vertical) or a combination")
    finite_difference_type = Property(str, "central", choices=("forward", "backward", "central"),
                                      doc="difference with the next pixel, the previous one, or half of both")
    addressing_mode = Property(str, "clamp", choices=tuple(ADDRESSING),
                               doc="pixels outside the frame: 0 (clamp, none), edge, wrapped or mirrored")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        frame2d(self, spec)
        return spec.with_(dtype=np.float32)

    def _difference(self, padded: np.ndarray, axis: int) -> np.ndarray:
        h, w = padded.shape[0] - 2, padded.shape[1] - 2

        def shifted(offset: int) -> np.ndarray:
            if axis == 1:
                return padded[1:1 + h, 1 + offset:1 + offset + w]
            return padded[1 + offset:1 + offset + h, 1:1 + w]

        if self.finite_difference_type == "forward":
            return shifted(1) - shifted(0)
        if self.finite_difference_type == "backward":
            return shifted(0) - shifted(-1)
        return np.float32(0.5) * (shifted(1) - shifted(-1))  # type: ignore[no-any-return]

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        assert out is not None
        padded = np.pad(frame.astype(np.float32, copy=False), 1, mode=ADDRESSING[self.addressing_mode])
        if self.direction == "horizontal":
            np.copyto(out, self._difference(padded, 1))
        elif self.direction == "vertical":
            np.copyto(out, self._difference(padded, 0))
        else:
            dx, dy = self._difference(padded, 1), self._difference(padded, 0)
            if self.direction == "both":
                np.add(dx, dy, out=out)
            elif self.direction == "both_abs":
                np.add(np.abs(dx), np.abs(dy), out=out)
            else:
                np.hypot(dx, dy, out=out)
        return out


class Clip(Task):
    """Limit values to the range from min to max (float32); as UFO, min > max is an error."""

    name = "clip"
    min = Property(float, 0.0, doc="values below are set to min")
    max = Property(float, 1.0, doc="values above are set to max")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        if self.min > self.max:
            raise GraphError(f"task 'clip': min={self.min:g} is larger than max={self.max:g}")
        if spec.dtype is not None and np.dtype(spec.dtype).kind == "c":
            raise GraphError(f"task 'clip' works on real frames, got {spec.dtype}")
        return spec.with_(dtype=np.float32)

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        return np.clip(frame, np.float32(self.min), np.float32(self.max), out=out, casting="unsafe")  # type: ignore[no-any-return]


class Binarize(Task):
    """1 where the value is at least the threshold (or NaN), 0 elsewhere (float32), as UFO's binarize.

    `invert` (not in UFO) swaps 0 and 1: 1 marks values below the threshold.
    """

    name = "binarize"
    threshold = Property(float, 1.0, doc="values >= threshold become 1, smaller ones 0")
    invert = Property(bool, False, doc="mark values below the threshold with 1 instead")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        if spec.dtype is not None and np.dtype(spec.dtype).kind == "c":
            raise GraphError(f"task 'binarize' works on real frames, got {spec.dtype}")
        return spec.with_(dtype=np.float32)

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        below = np.less(frame, np.float32(self.threshold))  # NaN is not below: 1 without invert, as UFO's kernel
        return np.not_equal(below, not self.invert, out=out, casting="unsafe")  # type: ignore[no-any-return]


class Mask(Task):
    """Set the pixels outside a circle to a value (0), e.g. the corners a reconstruction does not see.

    UFO's mask has no properties: its circle has the radius min(width, height) // 2 about
    (width // 2, width // 2). Ours defaults to the same circle on square frames; on
    non-square ones its default centre is (width // 2, height // 2), inside the frame, where
    UFO uses width // 2 for the row as well. A pixel is kept where its distance from the
    centre is at most `radius`, as in UFO.
    """

    name = "mask"
    radius = Property(float, None, unit="pixel", range=(0, None), doc="circle radius (default: min(width, height) // 2)")
    x = Property(float, None, unit="pixel", doc="column of the centre (default: width // 2)")
    y = Property(float, None, unit="pixel", doc="row of the centre (default: height // 2)")
    value = Property(float, 0.0, finite=False, doc="value outside the circle (e.g. 0 or nan)")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        frame2d(self, spec)
        return spec.with_(dtype=np.float32)

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        h, w = ctx.input_specs[0].shape
        radius = min(w // 2, h // 2) if self.radius is None else self.radius
        cx = w // 2 if self.x is None else self.x
        cy = h // 2 if self.y is None else self.y
        rows, cols = np.ogrid[:h, :w]
        self._outside = np.hypot(cols - cx, rows - cy) > radius

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        assert out is not None
        np.copyto(out, frame, casting="unsafe")
        out[self._outside] = self.value
        return out


class Subtract(Task):
    """Subtract each frame of the second stream from the frame of the first (float32), as UFO."""

    name = "subtract"
    inputs = (Input("minuend"), Input("subtrahend"))

    def output_spec(self, *specs: Spec) -> Spec:  # type: ignore[override]
        a, b = specs
        if a.shape is None or b.shape is None or a.shape != b.shape:
            raise GraphError(f"task 'subtract' needs two streams of one fixed shape, got {a.shape} and {b.shape}")
        complex_ = any(s.dtype is not None and np.dtype(s.dtype).kind == "c" for s in specs)
        count = None if a.count is None or b.count is None else min(a.count, b.count)  # pairs end with the shorter
        return a.with_(dtype=np.complex64 if complex_ else np.float32, count=count)

    def process(self, a: np.ndarray, b: np.ndarray, *, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        kind = out.dtype if out is not None else np.result_type(np.float32, a.dtype, b.dtype)  # not in uint16:
        return np.subtract(a, b, out=out, dtype=kind, casting="unsafe")  # type: ignore[no-any-return]  # 100 - 300


def estimate_noise_sigma(frame: np.ndarray, addressing_mode: str = "mirrored_repeat") -> float:
    """Immerkaer's noise standard deviation (1996), as UFO computes it: |frame * (L2 - 2 L1)| summed.

    The 3x3 difference of Laplacians cancels smooth image structure and leaves the noise;
    UFO reads outside pixels by its addressing mode (mirrored by default) and normalises
    by 6 (width - 2) (height - 2).
    """
    from scipy import ndimage

    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float64)
    h, w = frame.shape
    mode = {"constant": "constant", "edge": "nearest", "wrap": "wrap", "symmetric": "reflect"}[ADDRESSING[addressing_mode]]
    total = np.abs(ndimage.convolve(np.asarray(frame, np.float64), kernel, mode=mode)).sum()
    return float(math.sqrt(math.pi / 2) / (6 * (w - 2) * (h - 2)) * total)


class FindLargeSpots(Task):
    """A mask (float32, 1 = spot) of large spots of extreme values, as UFO's find-large-spots.

    Why: large zingers and dead clusters are not removed by a small median; this mask
    marks them for `horizontal-interpolate`. As UFO: pixels beyond `spot-threshold`
    (above, below, or in absolute value) seed the mask; a neighbour (4-connected, not on
    the frame's outer rows and columns) joins it while it differs from a masked neighbour
    by more than `grow-threshold`, until nothing changes; then holes (unmasked regions not
    connected to the frame's edge) are filled. grow-threshold=0 takes 4.29 x the noise
    sigma estimated from the first frame (Immerkaer), and keeps it for the later frames,
    as UFO does.
    """

    name = "find-large-spots"
    first_frame_state = ("_grow",)  # estimated from the stream's first frame, shared by replicas
    spot_threshold = Property(float, 0.0, doc="pixels beyond this value seed the mask")
    spot_threshold_mode = Property(str, "absolute", choices=("below", "absolute", "above"),
                                   doc="seed where value < t (below), |value| > t (absolute) or value > t (above)")
    grow_threshold = Property(float, 0.0, range=(0, None),
                              doc="grow into neighbours differing by more than this (0: 4.29 x estimated noise sigma)")
    addressing_mode = Property(str, "mirrored_repeat", choices=tuple(ADDRESSING),
                               doc="pixels outside the frame for the noise estimate: 0, edge, wrapped or mirrored")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        h, w = frame2d(self, spec)
        if h < 3 or w < 3:
            raise GraphError(f"task 'find-large-spots' needs frames of at least 3x3 pixels, got {w}x{h}")
        return spec.with_(dtype=np.float32)

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        self._grow = self.grow_threshold or None

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        from scipy import ndimage

        from ..kernels.spots import grow_mask  # numba: imported when frames flow, not when tasks are listed

        assert out is not None
        data = np.asarray(frame, np.float32)
        if self._grow is None:
            self._grow = 4.29 * estimate_noise_sigma(data, self.addressing_mode)
        t = np.float32(self.spot_threshold)
        if self.spot_threshold_mode == "below":
            mask = data < t
        elif self.spot_threshold_mode == "above":
            mask = data > t
        else:
            mask = np.abs(data) > t
        grow_mask(data, mask, np.float32(self._grow))
        np.copyto(out, ndimage.binary_fill_holes(mask), casting="unsafe")
        return out
