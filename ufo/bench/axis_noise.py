"""Vo's axis search against photon noise: ufo's `axis_from_sinogram` and algotom's `find_center_vo`
on the same noisy sinograms of random phantoms (exact line integrals of disks), axis known.

Why: a probe found ufo's search pulled toward the detector's centre on one phantom under noise
(-0.15 px at 4e4 counts) where algotom's was not; this measures both on many phantoms before any
change (smoothing as algotom does made ufo's errors larger here: docs/benchmarks.md).

Run: python benchmarks/axis_vo_noise.py [PHANTOMS] [SEED]
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from ..tomo.axis_vo import axis_from_sinogram

WIDTH, ANGLES = 512, 720


def phantom_sinogram(angles: np.ndarray, axis: float, rng: np.random.Generator) -> np.ndarray:
    """Line integrals (attenuation x length, a few disks inside a body) about `axis`."""
    u = np.arange(WIDTH) - axis
    sino = 0.5 / WIDTH * 2 * np.sqrt(np.clip((0.45 * WIDTH) ** 2 - u[None] ** 2, 0, None)) * np.ones((len(angles), 1))
    for _ in range(rng.integers(3, 9)):
        radius = rng.uniform(0.03, 0.15) * WIDTH
        distance, phi = rng.uniform(0, 0.4 * WIDTH - radius), rng.uniform(0, 2 * np.pi)
        x, y, mu = distance * np.cos(phi), distance * np.sin(phi), rng.uniform(0.5, 3) / WIDTH
        centre = x * np.cos(angles)[:, None] + y * np.sin(angles)[:, None]
        sino += mu * 2 * np.sqrt(np.clip(radius ** 2 - (u[None] - centre) ** 2, 0, None))
    return sino


def run(count: int = 12, seed: int = 7) -> None:
    """Print the table of both searches' errors over `count` phantoms."""
    rng = np.random.default_rng(seed)
    try:
        from algotom.prep.calculation import find_center_vo
    except ImportError:
        find_center_vo = None
    angles = np.arange(ANGLES) * np.pi / ANGLES
    levels = (None, 4e4, 1e4)
    errors: dict[str, dict[object, list[float]]] = {"ufo": {lv: [] for lv in levels}, "algotom": {lv: [] for lv in levels}}
    seconds = {"ufo": 0.0, "algotom": 0.0}
    for _ in range(count):
        axis = WIDTH / 2 + rng.uniform(-15, 15)
        line = phantom_sinogram(angles, axis, rng)
        for level in levels:
            sino = line if level is None else -np.log(np.maximum(rng.poisson(level * np.exp(-line)), 1) / level)
            t0 = time.perf_counter()
            errors["ufo"][level].append(axis_from_sinogram(sino.astype(np.float32)) - axis)
            seconds["ufo"] += time.perf_counter() - t0
            if find_center_vo is not None:
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    errors["algotom"][level].append(find_center_vo(sino) - axis)
                seconds["algotom"] += time.perf_counter() - t0
    print(f"{count} random phantoms, {WIDTH} px, {ANGLES} angles over 180 degrees, axis known")
    print("| method | counts a pixel | mean error (px) | mean abs error | max abs error |")
    print("|---|---|---|---|---|")
    for method, by_level in errors.items():
        for level, values in by_level.items():
            if values:
                e = np.array(values)
                shown = "no noise" if level is None else f"{level:g}"
                print(f"| {method} | {shown} | {e.mean():+.3f} | {np.abs(e).mean():.3f} | {np.abs(e).max():.3f} |")
    print(f"seconds: {', '.join(f'{k} {v:.1f}' for k, v in seconds.items() if v)}")
