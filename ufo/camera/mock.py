"""The mock camera: a simulated sensor with a frame rate, test patterns and a tomography mode.

In tomography mode it renders exact parallel-beam projections of its scene (`scene=`, any object
with the `ufo.camera.scene.Scene` method `project`; default: a few cylinders) at the angle a
callable returns (a simulated rotation stage's position), with flat/dark levels, noise,
zingers and dead columns as real detectors have them. The scene is a parameter so that the
camera needs no tomography code: the demo and the simulated beamline pass the 3-D Shepp-Logan
phantom (`ufo.tomo.phantom.PhantomScene`).

It runs on its own clock (`Camera.clocked`): at frames_per_second > 0 frame n is due at
t0 + n / frames_per_second; buffered, frames that nobody can take in time are dropped and
counted instead of the camera slowing down.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .base import Camera, CameraProperty, max_lag_property
from .scene import Cylinders, Scene


MAX_ZINGERS = 1_000_000  # zingers per frame: 10^10 asked for 75 GiB of places before the first frame


class MockCamera(Camera):
    name = "mock"
    clocked = True
    max_lag = max_lag_property()

    sensor_width = CameraProperty(int, 512, range=(1, 65536), doc="simulated sensor width")
    sensor_height = CameraProperty(int, 512, range=(1, 65536), doc="simulated sensor height")
    sensor_bitdepth = CameraProperty(int, 16, range=(1, 32), doc="simulated bit depth")
    pattern = CameraProperty(str, "counter", choices=("none", "counter", "gradient", "noise", "tomography"),
                             while_recording=True,
                             doc="frame content: none (untouched, fastest), counter (the frame number), gradient, noise, tomography")
    memory_frames = CameraProperty(int, 0, range=(0, 100000), doc="frames kept in simulated camera memory (0: none)")
    angle_step = CameraProperty(float, None, unit="rad", while_recording=True,
                                doc="tomography: angle between frames when no angle source is set (default pi / 1000)")
    axis_offset = CameraProperty(float, 0.0, doc="tomography: rotation axis position relative to the sensor centre (pixels)")
    flat_level = CameraProperty(float, 3000.0, range=(0, None), doc="tomography: counts of the open beam")
    dark_level = CameraProperty(float, 100.0, range=(0, None), doc="tomography: counts without beam")
    attenuation = CameraProperty(float, 0.01, range=(0, None), doc="tomography: attenuation per pixel of the scene")
    noise = CameraProperty(float, 0.0, range=(0, None), while_recording=True, doc="Gaussian noise, standard deviation in counts")
    zingers = CameraProperty(int, 0, range=(0, MAX_ZINGERS), while_recording=True,
                             doc="bright single pixels per frame (their places are drawn per frame: at most a million)")
    dead_columns = CameraProperty(int, 0, range=(0, None), doc="columns that always read 0")
    beam = CameraProperty(str, "open", choices=("open", "closed"), while_recording=True,
                          doc="tomography: closed shutter gives darks; open beam with the sample moved out gives flats")
    sample_in = CameraProperty(bool, True, while_recording=True, doc="tomography: the sample is in the beam")
    seed = CameraProperty(int, 0, range=(0, None), doc="random seed of noise, zingers and dead columns")

    def __init__(self, angle_source: Callable[..., float] | None = None, scene: Scene | None = None,
                 beam_source: Callable[[], tuple[bool, bool]] | None = None, **properties: Any):
        #: what tomography mode projects; a parameter, not a property: an object, not a setting
        self.scene: Scene = scene if scene is not None else Cylinders()
        # a source that takes an argument gets the frame's scheduled time (time.monotonic()),
        # so a late-rendered frame still shows the stage where it was when the frame was due
        self.angle_source = angle_source
        self._timed_source = angle_source is not None and bool(inspect.signature(angle_source).parameters)
        #: (the beam is on, the sample is in it) as each frame is made, from a simulated beamline's shutter,
        #: ring and flat-field motor: a free-running (buffered) frame during a beam loss is dark and one
        #: after the sample moved out a flat, as real ones are; without it `beam` and `sample_in` say
        self.beam_source = beam_source
        super().__init__(**properties)
        self._state(has_camram_recording=self.memory_frames > 0)

    def _start(self) -> None:
        # one noise generator per camera and seed, not per recording: a stepped scan records
        # each projection separately, and a reseeded generator gave every one the same noise
        # and zingers (which reconstruct into rings)
        if getattr(self, "_rng_seed", None) != self.seed:
            self._rng, self._rng_seed = np.random.default_rng(self.seed), self.seed
        h, w = self.sensor_shape
        self._dead = np.random.default_rng(self.seed + 1).choice(w, min(self.dead_columns, w), replace=False)
        self._memory: list[np.ndarray] = []
        self._state(has_camram_recording=self.memory_frames > 0, recorded_frames=0)
        self._gradient: np.ndarray | None = None  # made at the first gradient frame: a start stays quick
        if self.pattern == "tomography":  # one row now: a scene's setup for this sensor is not paid on the clock
            self.scene.project(0.0, (self.sensor_height, self.sensor_width), rows=slice(0, 1))

    def angle(self, number: int, due: float | None = None) -> float:
        if self.angle_source is not None:
            if self._timed_source:
                return float(self.angle_source(due if due is not None else time.monotonic()))
            return float(self.angle_source())
        step = self.angle_step if self.angle_step is not None else math.pi / 1000
        return number * step

    def _acquire(self, out: np.ndarray, number: int) -> dict[str, Any]:
        # the base class waited for this frame's time on the camera's clock (self._due)
        meta: dict[str, Any] = {}
        top = (1 << self.sensor_bitdepth) - 1
        pattern = self.pattern
        if pattern == "counter":
            out.fill(number & top)
        elif pattern == "gradient":
            if self._gradient is None:  # 0.03-0.7 s at 2560 x 2160, which every start paid (a server's too)
                h, w = self.sensor_shape
                self._gradient = (np.add.outer(np.arange(h), np.arange(w)) * (top / max(h + w - 2, 1))).astype(self.dtype)
            np.copyto(out, self._gradient)
        elif pattern == "noise":
            out[...] = self._rng.integers(0, top, out.shape, dtype=out.dtype, endpoint=True)
        elif pattern == "tomography":
            meta.update(self._tomography(out, number, top))
        if pattern != "none":
            if self.noise and pattern != "noise":
                noisy = self._rng.standard_normal(out.shape, dtype=np.float32) * np.float32(self.noise) + out
                np.copyto(out, np.clip(noisy, 0, top), casting="unsafe")
            if self.zingers:
                rows = self._rng.integers(0, out.shape[0], self.zingers)
                cols = self._rng.integers(0, out.shape[1], self.zingers)
                out[rows, cols] = top
            if len(self._dead):
                out[:, self._dead] = 0
        if self.memory_frames:
            if len(self._memory) < self.memory_frames:
                self._memory.append(out.copy())
                self._state(recorded_frames=len(self._memory))
        return meta

    def _tomography(self, out: np.ndarray, number: int, top: int) -> dict[str, Any]:
        x0, y0, w, h = self._roi()
        key = self.tags.get("image_key")  # a trigger's tags say what the simulated beamline shows
        beam, sample_in = self.beam_source() if self.beam_source is not None else (self.beam == "open", self.sample_in)
        if not beam or key == 2:
            out.fill(int(round(self.dark_level)))
            if key is None and sample_in:  # a free-running frame without beam: where the stage was
                return {"image_key": 2, "angle": float(self.tags["angle"]) if "angle" in self.tags
                        else self.angle(number, self._due)}
            return {"image_key": 2}
        if not sample_in or key == 1:
            out.fill(int(round(min(self.dark_level + self.flat_level, top))))
            return {"image_key": 1}
        angle = float(self.tags["angle"]) if "angle" in self.tags else self.angle(number, self._due)
        axis = self.sensor_width / 2 + self.axis_offset
        shape = (self.sensor_height, self.sensor_width)
        bx, by = self.sensor_horizontal_binning, self.sensor_vertical_binning  # the region is in binned pixels:
        line_integrals = self.scene.project(angle, shape, axis, slice(y0 * by, (y0 + h) * by))[:, x0 * bx: (x0 + w) * bx]
        intensity = self.dark_level + self.flat_level * np.exp(-self.attenuation * line_integrals)
        if bx > 1 or by > 1:  # each binned pixel the mean of its sensor pixels (it was the top-left part, cropped)
            intensity = intensity.reshape(h, by, w, bx).mean(axis=(1, 3))
        np.copyto(out, np.clip(np.rint(intensity), 0, top), casting="unsafe")
        return {"image_key": 0, "angle": angle}

    def _readout(self, index: int, out: np.ndarray) -> None:
        np.copyto(out, self._memory[index])
