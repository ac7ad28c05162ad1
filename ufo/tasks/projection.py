"""Forward projection of slices into parallel-beam sinograms (UFO's `forwardproject`).

Why: to simulate sinograms from a slice (a phantom, a reconstruction to re-project for
iterative or consistency checks) inside a pipeline. The geometry is `backproject`'s
(docs/conventions.md): a slice pixel at column c, row r sits at x = c - columns / 2,
y = r - rows / 2 and at angle theta projects to detector position
t = x cos(theta) - y sin(theta) + axis, so `forwardproject ! backproject` returns the slice.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

from ..core import Property, Spec, Task
from ..core.errors import GraphError
from ..core.ufocompat import UfoSemantics

#: distance between the samples along each ray, in pixels (bilinear interpolation between them)
RAY_STEP = 0.5


@numba.njit(nogil=True, fastmath=True, cache=True)
def _project(image, cos_, sin_, axis, cx, cy, step, out):  # pragma: no cover - compiled
    """out[a, k] = step * sum_i bilinear(image, point i of the ray through detector pixel k at angle a).

    The ray is {x cos - y sin = k - axis}; its points are (t cos + u sin, -t sin + u cos) for u
    from -half to +half of the slice diagonal; pixels outside the slice count as zero.
    """
    rows, cols = image.shape
    n_angles, width = out.shape
    half = 0.5 * math.sqrt(rows * rows + cols * cols) + 1.0
    n = int(2.0 * half / step) + 1
    for a in range(n_angles):
        c = cos_[a]
        s = sin_[a]
        for k in range(width):
            t = k - axis
            # the part of the ray inside the slice (with a one-pixel border for the interpolation)
            lo, hi = -half, half
            for start, slope, size in ((t * c + cx, s, cols), (-t * s + cy, c, rows)):
                if abs(slope) < 1e-12:
                    if not -1.0 < start < size:
                        hi = lo - 1.0
                    continue
                u1 = (-1.0 - start) / slope
                u2 = (size - start) / slope
                lo = max(lo, min(u1, u2))
                hi = min(hi, max(u1, u2))
            acc = 0.0
            first = max(0, math.ceil((lo + half) / step))
            last = min(n - 1, math.floor((hi + half) / step))
            for i in range(first, last + 1):
                u = -half + i * step
                col = t * c + u * s + cx
                row = -t * s + u * c + cy
                j0 = math.floor(col)
                i0 = math.floor(row)
                if j0 < -1 or j0 >= cols or i0 < -1 or i0 >= rows:
                    continue
                fx = col - j0
                fy = row - i0
                j = int(j0)
                r = int(i0)
                v00 = image[r, j] if r >= 0 and j >= 0 else 0.0
                v01 = image[r, j + 1] if r >= 0 and j + 1 < cols else 0.0
                v10 = image[r + 1, j] if r + 1 < rows and j >= 0 else 0.0
                v11 = image[r + 1, j + 1] if r + 1 < rows and j + 1 < cols else 0.0
                acc += (1.0 - fy) * ((1.0 - fx) * v00 + fx * v01) + fy * ((1.0 - fx) * v10 + fx * v11)
            out[a, k] = acc * step


def forwardproject(image: np.ndarray, angles: np.ndarray, axis: float | None = None,
                   out: np.ndarray | None = None, shift: float = 0.0) -> np.ndarray:
    """Line integrals of a 2-D slice at `angles` (radians): a (len(angles), columns) sinogram, float32.

    Rays are sampled every RAY_STEP pixels with bilinear interpolation over the whole slice
    (UFO integrates only inside the circle inscribed in it; outside that circle ours also counts).
    The slice rotates about (columns / 2 + shift, rows / 2 + shift) in pixel indices (`shift`
    -0.5: UFO's centre, whose pixel k's centre lies at k + 0.5)."""
    rows, cols = image.shape
    axis = cols / 2 if axis is None else axis
    if out is None:
        out = np.empty((len(angles), cols), np.float32)
    theta = np.asarray(angles, np.float64)
    _project(np.ascontiguousarray(image, np.float32), np.cos(theta), np.sin(theta), float(axis),
             cols / 2 + shift, rows / 2 + shift, RAY_STEP, out)
    return out


class Forwardproject(Task):
    """Project each slice (rows x columns) into a sinogram of `number` angles x columns (UFO's `forwardproject`).

    Angles are angle-offset + i * angle-step (default step pi / number, a half turn), the
    detector has the slice's width and the rotation axis sits at `axis` (default columns / 2),
    as `backproject` expects. float32 output. On a GPU (ufo.gpu.projection) the same rays, one
    CUDA thread per detector pixel and angle.
    """

    devices = ("cpu", "gpu")
    name = "forwardproject"
    number = Property(int, 256, range=(1, 32768), doc="number of projections (rows of the sinogram)")
    angle_step = Property(float, None, unit="rad", doc="angle between projections (default: pi / number)")
    angle_offset = Property(float, 0.0, unit="rad", doc="angle of the first projection")
    axis = Property(float, None, aliases=("axis_pos",),
                    doc="rotation axis position on the detector in pixels (default: columns / 2)")
    orientation = Property(str, "scikit-image", choices=("scikit-image", "ufo"),
                           doc="scikit-image: t = x cos - y sin with rows counted down (scikit-image's radon, "
                           "`backproject`'s default); ufo: t = x cos + y sin about the point half a pixel before "
                           "the centre, as UFO's forwardproject (the slice mirrored top to bottom)")
    #: ufo-filters' forwardproject.cl walks rays with D = (cos, sin) in image coordinates (rows down)
    ufo_semantics = UfoSemantics({"orientation": "ufo"},
                                 "UFO's forwardproject puts y down in t = x cos + y sin (ufo's sinograms are "
                                 "those of the slice mirrored top to bottom, as scikit-image's radon's are) and "
                                 "integrates only inside the circle inscribed in the slice")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        if spec.shape is None or len(spec.shape) != 2:
            raise GraphError(f"task 'forwardproject' projects 2-D slices of a fixed shape, got shape {spec.shape}")
        if self.angle_step == 0:
            raise GraphError("task 'forwardproject': angle-step must not be 0")
        return Spec((self.number, spec.shape[1]), np.float32, spec.count)

    def angles(self) -> np.ndarray:
        """The angles the rays are cast at: with orientation=ufo negated, so that
        t = x cos(-a) - y sin(-a) = x cos a + y sin a (UFO's forwardproject.cl)."""
        step = self.angle_step if self.angle_step is not None else math.pi / self.number
        angles = self.angle_offset + step * np.arange(self.number)
        return -angles if self.orientation == "ufo" else angles

    def setup(self, ctx: Any) -> None:
        super().setup(ctx)
        self._angles = self.angles()

    def centre_shift(self) -> float:
        """Where the slice rotates, against columns / 2: UFO's kernel rotates it about the point
        half a pixel before (its pixel k's centre at k + 0.5)."""
        return -0.5 if self.orientation == "ufo" else 0.0

    def process(self, image: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        return forwardproject(image, self._angles, self.axis, out=out, shift=self.centre_shift())
