"""What a simulated camera shows: a scene it projects at the rotation stage's angle.

The mock camera renders projections of a `Scene`, any object with a `project` method
(structural typing: a scene need not import this package). The default, `Cylinders`, is
defined here so that the camera package stands on its own; the tomography package offers
the 3-D Shepp-Logan phantom (`ufo.tomo.phantom.PhantomScene`), which the demo, the simulated
beamline and the `ufo camera` command pass explicitly. `scene_option` adds a scene to the
settings of cameras that take one, so code that opens cameras by name needs no name checks.

Geometry follows `backproject` (docs/conventions.md): detector position
t = x cos(theta) - y sin(theta) + axis, x along columns, y along rows (downwards); sensor rows
are planes z = row - height / 2.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Scene(Protocol):
    """Line integrals through an object on a rotation stage, as a parallel beam sees them."""

    def project(self, angle: float, shape: tuple[int, int], axis: float | None = None,
                rows: slice | None = None) -> np.ndarray:
        """Line integrals (in pixels x density) at `angle` (radians) for a sensor of `shape` (height, width).

        `axis` is the rotation axis' column (default width / 2); `rows` the sensor rows to render
        (default all), so a camera with a region of interest renders only what it reads out.
        """
        ...


@dataclass(frozen=True)
class Cylinder:
    """A vertical cylinder; lengths are shares of the sensor width (height: of the sensor height)."""

    radius: float
    x: float = 0.0  # centre, from the rotation axis
    y: float = 0.0
    density: float = 1.0
    height: float = 0.8  # centred on the sensor's middle row


#: A wide, weakly absorbing cylinder on the axis and two dense rods off it, whose shadows move
#: on sine curves as the stage turns (so the rotation and the axis position are visible).
DEFAULT_CYLINDERS = (
    Cylinder(radius=0.4, density=0.2),
    Cylinder(radius=0.05, x=0.2, y=0.1, density=1.0, height=0.6),
    Cylinder(radius=0.03, x=-0.1, y=-0.25, density=0.6, height=0.7),
)


class Cylinders:
    """A scene of vertical cylinders, whose projections are closed-form: a chord 2 sqrt(r^2 - d^2) each."""

    def __init__(self, cylinders: tuple[Cylinder, ...] = DEFAULT_CYLINDERS):
        self.cylinders = tuple(cylinders)

    def project(self, angle: float, shape: tuple[int, int], axis: float | None = None,
                rows: slice | None = None) -> np.ndarray:
        height, width = shape
        axis = width / 2 if axis is None else axis
        first, stop, _ = (rows or slice(None)).indices(height)
        z = np.arange(first, stop, dtype=np.float64) - height / 2
        t = np.arange(width, dtype=np.float64) - axis
        out = np.zeros((len(z), width))
        for c in self.cylinders:
            radius = c.radius * width
            centre = c.x * width * np.cos(angle) - c.y * width * np.sin(angle)
            chord = 2 * c.density * np.sqrt(np.clip(radius ** 2 - (t - centre) ** 2, 0, None))
            out += np.where(np.abs(z) <= c.height * height / 2, 1.0, 0.0)[:, None] * chord[None, :]
        return out


def scene_option(camera: type[Any], scene: Scene) -> dict[str, Scene]:
    """`{"scene": scene}` for a camera class that renders a scene (its constructor takes `scene`), else `{}`.

    For code that opens cameras by name (`open_camera(name, **scene_option(camera_class(name), s), ...)`):
    a real camera records what is in front of it and takes no scene.
    """
    try:
        parameters = inspect.signature(camera).parameters
    except (TypeError, ValueError):  # a class whose signature Python cannot tell takes no scene we know of
        return {}
    return {"scene": scene} if "scene" in parameters else {}
