"""An analytic 3-D Shepp-Logan phantom: exact slices and exact parallel-beam projections.

Ellipsoids have closed-form line integrals, so projections at any angle, axis position and
detector row are exact: ground truth for reconstruction and axis tests, and what a simulated
camera shows (`PhantomScene`, a scene for `ufo.camera.mock.MockCamera(scene=...)`). Geometry follows `backproject` (docs/conventions.md): detector position
t = x cos(theta) - y sin(theta) + axis, x along columns, y along rows (downwards).
"""

from __future__ import annotations

import numpy as np

# Modified Shepp-Logan (Toft): density, semi-axes a, b (x, y), centre x0, y0, rotation (deg);
# y points up in these numbers and is flipped when rendered. The z semi-axis is 0.9 b.
SHEPP_LOGAN = np.array([
    (1.0, 0.69, 0.92, 0.0, 0.0, 0.0),
    (-0.8, 0.6624, 0.874, 0.0, -0.0184, 0.0),
    (-0.2, 0.11, 0.31, 0.22, 0.0, -18.0),
    (-0.2, 0.16, 0.41, -0.22, 0.0, 18.0),
    (0.1, 0.21, 0.25, 0.0, 0.35, 0.0),
    (0.1, 0.046, 0.046, 0.0, 0.1, 0.0),
    (0.1, 0.046, 0.046, 0.0, -0.1, 0.0),
    (0.1, 0.046, 0.023, -0.08, -0.605, 0.0),
    (0.1, 0.023, 0.023, 0.0, -0.606, 0.0),
    (0.1, 0.023, 0.046, 0.06, -0.605, 0.0),
])


class Phantom:
    """Ellipsoids scaled to a detector `width` (pixels); `scale` is the object's share of it."""

    def __init__(self, width: int, scale: float = 0.9, ellipses: np.ndarray = SHEPP_LOGAN, height: int | None = None):
        self.width = width
        self.height = height if height is not None else width
        half = 0.5 * width * scale
        e = np.asarray(ellipses, np.float64)
        self.rho = e[:, 0]
        self.a = e[:, 1] * half
        self.b = e[:, 2] * half
        self.c = 0.9 * e[:, 2] * half * self.height / width
        self.x0 = e[:, 3] * half
        self.y0 = -e[:, 4] * half  # rows grow downwards
        self.phi = -np.radians(e[:, 5])

    def _section(self, z: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Semi-axes of each ellipse in the plane z (rows from the centre) and which exist there."""
        k2 = 1.0 - (z / self.c) ** 2
        present = k2 > 0
        k = np.sqrt(np.clip(k2, 0, None))
        return self.a * k, self.b * k, present

    def slice(self, z: float = 0.0, size: int | None = None, centre: float | None = None) -> np.ndarray:
        """The true slice at height z (pixels from the centre row), size x size, centred at `centre`.

        The default centre, size / 2, is where `backproject` puts the rotation axis; other
        tools (ASTRA) put the centre of the volume at (size - 1) / 2.
        """
        n = size or self.width
        centre = n / 2 if centre is None else centre
        yy, xx = np.mgrid[:n, :n].astype(np.float64)
        xx -= centre
        yy -= centre
        out = np.zeros((n, n))
        a, b, present = self._section(z)
        for i in np.flatnonzero(present):
            c, s = np.cos(self.phi[i]), np.sin(self.phi[i])
            dx, dy = xx - self.x0[i], yy - self.y0[i]
            u = (dx * c + dy * s) / a[i]
            v = (-dx * s + dy * c) / b[i]
            out[u * u + v * v <= 1.0] += self.rho[i]
        return out

    def sinogram(self, angles: np.ndarray, axis: float | None = None, z: float = 0.0) -> np.ndarray:
        """Exact line integrals at detector pixel centres: (angles, width)."""
        axis = self.width / 2 if axis is None else axis
        t = np.arange(self.width, dtype=np.float64) - axis
        theta = np.asarray(angles, np.float64)[:, None]
        out = np.zeros((len(angles), self.width))
        a, b, present = self._section(z)
        for i in np.flatnonzero(present):
            # direction onto which the slice projects: n = (cos theta, -sin theta)
            nx, ny = np.cos(theta), -np.sin(theta)
            e1 = nx * np.cos(self.phi[i]) + ny * np.sin(self.phi[i])
            e2 = -nx * np.sin(self.phi[i]) + ny * np.cos(self.phi[i])
            s2 = (a[i] * e1) ** 2 + (b[i] * e2) ** 2
            centre = self.x0[i] * nx + self.y0[i] * ny
            d2 = s2 - (t[None, :] - centre) ** 2
            out += np.where(d2 > 0, 2 * self.rho[i] * a[i] * b[i] * np.sqrt(np.clip(d2, 0, None)) / s2, 0.0)
        return out

    def projection(self, angle: float, axis: float | None = None, rows: slice | None = None) -> np.ndarray:
        """Exact projection (height x width) at one angle; rows are planes z = row - height / 2.

        Each ellipsoid is evaluated only inside its shadow's bounding box, so a 512 x 512
        projection takes milliseconds: fast enough for a simulated camera at its frame rate.
        """
        axis = self.width / 2 if axis is None else axis
        first, stop, _ = (rows or slice(None)).indices(self.height)
        z = np.arange(first, stop, dtype=np.float64) - self.height / 2
        t = np.arange(self.width, dtype=np.float64) - axis
        out = np.zeros((len(z), self.width))
        nx, ny = np.cos(angle), -np.sin(angle)
        for i in range(len(self.rho)):
            k2 = 1.0 - (z / self.c[i]) ** 2
            inside = np.flatnonzero(k2 > 0)
            if not len(inside):
                continue
            e1 = nx * np.cos(self.phi[i]) + ny * np.sin(self.phi[i])
            e2 = -nx * np.sin(self.phi[i]) + ny * np.cos(self.phi[i])
            s2 = (self.a[i] * e1) ** 2 + (self.b[i] * e2) ** 2
            centre = self.x0[i] * nx + self.y0[i] * ny
            reach = np.sqrt(s2)
            lo = max(0, int(np.floor(centre - reach + axis)))
            hi = min(self.width, int(np.ceil(centre + reach + axis)) + 1)
            if lo >= hi:
                continue
            r0, r1 = inside[0], inside[-1] + 1
            d2 = k2[r0:r1, None] * s2 - (t[None, lo:hi] - centre) ** 2
            np.maximum(d2, 0, out=d2)
            out[r0:r1, lo:hi] += (2 * self.rho[i] * self.a[i] * self.b[i] / s2) * np.sqrt(d2)
        return out


class PhantomScene:
    """The phantom as a simulated camera's scene: sized to whatever sensor asks for a projection.

    It implements `ufo.camera.scene.Scene` structurally (a `project` method), so this package
    does not import the camera package above it. One `Phantom` per sensor shape is kept.
    """

    def __init__(self, scale: float = 0.9, ellipses: np.ndarray = SHEPP_LOGAN):
        self.scale = scale
        self.ellipses = ellipses
        self._phantoms: dict[tuple[int, int], Phantom] = {}

    def phantom(self, shape: tuple[int, int]) -> Phantom:
        """The phantom scaled to a sensor of `shape` (height, width)."""
        height, width = shape
        if (height, width) not in self._phantoms:
            self._phantoms[(height, width)] = Phantom(width, self.scale, self.ellipses, height=height)
        return self._phantoms[(height, width)]

    def project(self, angle: float, shape: tuple[int, int], axis: float | None = None,
                rows: slice | None = None) -> np.ndarray:
        """Exact line integrals at `angle` for a sensor of `shape` (height, width); see `Phantom.projection`."""
        return self.phantom(shape).projection(angle, axis, rows)
