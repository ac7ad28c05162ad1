"""Fourier-space helpers of ufo-filters: power-spectrum, swap-quadrants, zeropad, polar-coordinates.

They sit around `fft`/`ifft` in UFO pipelines: power spectra for focus and noise checks,
centring the zero frequency, padding sinogram rows about the rotation axis before a
Fourier transform (direct Fourier inversion), and polar resampling for radial profiles.
UFO stores complex frames as interleaved float pairs (width counts floats); ours are
complex64 arrays, so widths here count complex values.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core import Property, Spec, Task
from ..core.errors import GraphError
from .geometry import frame2d


def _is_complex(spec: Spec) -> bool:
    return spec.dtype is not None and np.dtype(spec.dtype).kind == "c"


class PowerSpectrum(Task):
    """|c|^2 of each complex coefficient (float32), as UFO's power-spectrum after `fft`.

    UFO reads interleaved (re, im) floats and halves the width; ours reads complex64
    frames and keeps their shape. A real frame is refused: it has no coefficients yet.
    """

    name = "power-spectrum"
    from_complex = True

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        if spec.shape is None:
            raise GraphError("task 'power-spectrum' needs frames of a fixed shape")
        if spec.dtype is not None and not _is_complex(spec):
            raise GraphError(f"task 'power-spectrum' needs complex Fourier coefficients (put 'fft' before it), "
                             f"got {spec.dtype}")
        return spec.with_(dtype=np.float32)

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        assert out is not None
        np.add(np.square(frame.real), np.square(frame.imag), out=out, casting="unsafe")
        return out


class SwapQuadrants(Task):
    """Swap the upper-left with the lower-right and the upper-right with the lower-left quadrant.

    This is numpy.fft.fftshift of both axes (also for odd sizes), as UFO's kernel: it moves
    the zero frequency of a 2-D spectrum to the centre. Real and complex frames keep their
    type.
    """

    name = "swap-quadrants"

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        frame2d(self, spec)
        return spec

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        h, w = frame.shape
        np.copyto(out, np.roll(frame, (h // 2, w // 2), axis=(0, 1)))
        return out  # type: ignore[return-value]


class Zeropad(Task):
    """Pad each row with zeros in its middle, the rotation axis first, for a Fourier transform (complex64).

    The output row has `oversampling` x (the next power of two >= width) complex values:
    columns from the axis to the right edge first, then zeros, then the columns left of
    the axis at the end, so the axis is the origin of the transform (UFO's layout; the
    imaginary parts are 0). The axis column is width // 2 + trunc(center-of-rotation -
    width / 2), as UFO computes it; with the default (-1: the middle) ours and UFO's are the
    same. For another axis UFO's kernel puts column width - c at the origin (its offset
    enters with the opposite sign); ours puts the axis column c there, as the docs say.
    """

    name = "zeropad"
    oversampling = Property(int, 1, range=(1, 64), doc="output width in powers of two >= the input width")
    center_of_rotation = Property(float, -1.0, unit="pixel", doc="rotation axis column (-1: width / 2)")

    def _geometry(self, w: int) -> tuple[int, int]:
        size = 2 ** math.ceil(math.log2(w)) * self.oversampling
        axis = w // 2 if self.center_of_rotation == -1 else w // 2 + int(self.center_of_rotation - w / 2.0)
        if not 0 <= axis < w:
            raise GraphError(f"task 'zeropad': center-of-rotation={self.center_of_rotation:g} is outside "
                             f"the {w} columns of the frame")
        return size, axis

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        h, w = frame2d(self, spec)
        if _is_complex(spec):
            raise GraphError(f"task 'zeropad' works on real sinograms, got {spec.dtype}")
        size, _ = self._geometry(w)
        return spec.with_(shape=(h, size), dtype=np.complex64)

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        self._size, self._axis = self._geometry(ctx.input_specs[0].shape[1])

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        assert out is not None
        w, c = frame.shape[1], self._axis
        out.fill(0)
        out[:, : w - c] = frame[:, c:]
        if c:
            out[:, self._size - c:] = frame[:, :c]
        return out


class PolarCoordinates(Task):
    """Resample each frame from Cartesian to polar coordinates (about its centre) or back, as UFO.

    cartesian_to_polar (UFO's default): output column i is the radius i in pixels, row j the
    angle (2 j / height - 1) pi, sampled at (i cos a + width / 2, i sin a + height / 2).
    polar_to_cartesian: pixel (x, y) of the output, relative to (width // 2, height // 2),
    reads radius r and row (atan2 + pi) * input height / (2 pi) of the polar input.
    Values are interpolated linearly between pixel centres (OpenCL's sampler: pixel k spans
    k to k + 1) and clamped to the edge pixels, as UFO. Default sizes are UFO's.
    """

    name = "polar-coordinates"
    width = Property(int, 0, range=(0, 32768), doc="output width (0: UFO's default for the direction)")
    height = Property(int, 0, range=(0, 32768), doc="output height (0: UFO's default for the direction)")
    direction = Property(str, "cartesian_to_polar", choices=("cartesian_to_polar", "polar_to_cartesian"),
                         doc="which way to transform")

    def _shape(self, h: int, w: int) -> tuple[int, int]:
        if self.direction == "cartesian_to_polar":
            default_w = round(math.sqrt(w * w / 4.0 + h * h / 4.0))
            default_h = round(2 * math.pi / math.tan(2.0 / max(w, h)))
        else:
            default_w = default_h = round(2 * w / math.sqrt(2))
        return (self.height or default_h, self.width or default_w)

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        h, w = frame2d(self, spec)
        if _is_complex(spec):
            raise GraphError(f"task 'polar-coordinates' works on real frames, got {spec.dtype}")
        return spec.with_(shape=self._shape(h, w), dtype=np.float32)

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        h, w = ctx.input_specs[0].shape
        oh, ow = self._shape(h, w)
        if self.direction == "cartesian_to_polar":
            radius = np.arange(ow, dtype=np.float64)[None, :]
            angle = (2.0 * np.arange(oh, dtype=np.float64)[:, None] / oh - 1.0) * math.pi
            x = radius * np.cos(angle) + w / 2.0
            y = radius * np.sin(angle) + h / 2.0
        else:
            px = (np.arange(ow) - ow // 2).astype(np.float64)[None, :]
            py = (np.arange(oh) - oh // 2).astype(np.float64)[:, None]
            x = np.broadcast_to(np.hypot(px, py), (oh, ow))
            y = (np.arctan2(py, px) + math.pi) * h / (2 * math.pi)
        # OpenCL's unnormalised coordinate u lies between the centres of pixels floor(u - 0.5) and the next
        self._coords = np.stack([np.broadcast_to(y, (oh, ow)) - 0.5, np.broadcast_to(x, (oh, ow)) - 0.5])

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        from scipy import ndimage

        ndimage.map_coordinates(frame.astype(np.float32, copy=False), self._coords, output=out, order=1,
                                mode="nearest")
        return out  # type: ignore[return-value]
