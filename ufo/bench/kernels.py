"""The online-reconstruction kernels against their peers, same data, same run.

1. 3 x 3 median (zinger removal): ufo.kernels.median.median_2d vs scipy.ndimage.median_filter
   on 2048 x 2048 float32 (results equal).
2. Stripe removal (Vo's sorting method, window 21) on a 1500 x 2048 sinogram: ufo vs
   algotom's remove_stripe_based_sorting and the same steps with scipy's median filter.
3. Rotation axis by Vo's metric on a 1500 x 2048 sinogram of the phantom, axis 13.3 px off
   centre, 2 % noise: ufo.tomo.axis.axis_from_sinogram vs algotom's find_center_vo.

benchmarks/kernels.py prints `compare()`'s rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import ndimage

from ufo.kernels.median import median_2d
from ufo.tomo.axis import axis_from_sinogram
from ufo.tomo.phantom import Phantom
from ufo.tomo.rings import remove_stripes_sorting


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """(best seconds of `repeat` calls after one that compiles, the last result)."""
    fn()  # compiled and cached outside the timing
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def scipy_stripes(sino: np.ndarray, size: int) -> np.ndarray:
    """Vo's sorting method with scipy's median filter: the same steps, the peer's implementation."""
    order = np.argsort(sino, axis=0, kind="stable")
    ranked = np.take_along_axis(sino, order, axis=0)
    smoothed = ndimage.median_filter(ranked, size=(1, size), mode="reflect")
    out = np.empty_like(sino)
    np.put_along_axis(out, order, smoothed, axis=0)
    return out


def compare(repeat: int = 3) -> list[tuple[str, float, str, float, str]]:
    """[(kernel, ufo seconds, peer, peer seconds, how the results compare)]; a missing algotom
    gives a row that says so (0 seconds)."""
    rng = np.random.default_rng(0)
    rows: list[tuple[str, float, str, float, str]] = []

    frame = rng.random((2048, 2048)).astype(np.float32)
    t_ufo, ours = best(lambda: median_2d(frame, 3, np.empty_like(frame)), repeat)
    t_peer, theirs = best(lambda: ndimage.median_filter(frame, size=3, mode="reflect"), repeat)
    rows.append(("3x3 median, 2048^2 float32", t_ufo, "scipy.ndimage.median_filter", t_peer,
                 "equal" if np.array_equal(ours, theirs) else "DIFFERENT"))

    n, m = 2048, 1500
    true = n / 2 + 13.3
    sino = Phantom(n).sinogram(np.arange(m) * np.pi / m, axis=true, z=100)
    sino = (sino + rng.normal(0, 0.02 * sino.max(), sino.shape)).astype(np.float32)
    t_ufo, ours = best(lambda: remove_stripes_sorting(sino, 21), repeat)
    t_scipy, theirs = best(lambda: scipy_stripes(sino, 21), repeat)
    rows.append(("stripe removal (sorting, 21), 1500 x 2048", t_ufo, "same steps with scipy", t_scipy,
                 "equal" if np.array_equal(ours, theirs) else f"max diff {np.abs(ours - theirs).max():.2g}"))
    try:
        from algotom.prep.calculation import find_center_vo
        from algotom.prep.removal import remove_stripe_based_sorting
    except ImportError:
        rows.append(("algotom peers", 0.0, "not installed (pip install -e '.[bench]')", 0.0, ""))
    else:
        t_algo, theirs = best(lambda: remove_stripe_based_sorting(sino, 21), repeat)
        rows.append(("stripe removal (sorting, 21), 1500 x 2048", t_ufo, "algotom remove_stripe_based_sorting", t_algo,
                     f"max diff {np.abs(ours - theirs).max():.2g}"))
        t_ufo, axis = best(lambda: axis_from_sinogram(sino), 1)
        t_algo, axis_algo = best(lambda: find_center_vo(sino), 1)
        rows.append(("axis by Vo's metric, 1500 x 2048", t_ufo, "algotom find_center_vo", t_algo,
                     f"error ufo {axis - true:+.2f} px, algotom {axis_algo - true:+.2f} px"))
    return rows
