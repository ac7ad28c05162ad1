"""The online-reconstruction kernels against their peers, same data, same run.

1. 3 x 3 median (zinger removal): ufo.kernels.median.median_2d vs scipy.ndimage.median_filter
   on 2048 x 2048 float32 (results equal).
2. Stripe removal (Vo's sorting method, window 21) on a 1500 x 2048 sinogram: ufo vs
   algotom's remove_stripe_based_sorting and the same steps with scipy's median filter.
3. Rotation axis by Vo's metric on a 1500 x 2048 sinogram of the phantom, axis 13.3 px off
   centre, 2 % noise: ufo.tomo.axis.axis_from_sinogram vs algotom's find_center_vo.

Run: python benchmarks/kernels.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from scipy import ndimage

from ufo.kernels.median import median_2d
from ufo.tomo.axis import axis_from_sinogram
from ufo.tomo.phantom import Phantom
from ufo.tomo.rings import remove_stripes_sorting


def best(fn, repeat):
    fn()  # compiled and cached outside the timing
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def scipy_stripes(sino, size):
    order = np.argsort(sino, axis=0, kind="stable")
    ranked = np.take_along_axis(sino, order, axis=0)
    smoothed = ndimage.median_filter(ranked, size=(1, size), mode="reflect")
    out = np.empty_like(sino)
    np.put_along_axis(out, order, smoothed, axis=0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.node()}, {os.cpu_count()} cores")
    rng = np.random.default_rng(0)
    rows = []

    frame = rng.random((2048, 2048)).astype(np.float32)
    t_ufo, ours = best(lambda: median_2d(frame, 3, np.empty_like(frame)), args.repeat)
    t_peer, theirs = best(lambda: ndimage.median_filter(frame, size=3, mode="reflect"), args.repeat)
    rows.append(("3x3 median, 2048^2 float32", t_ufo, "scipy.ndimage.median_filter", t_peer,
                 "equal" if np.array_equal(ours, theirs) else "DIFFERENT"))

    n, m = 2048, 1500
    true = n / 2 + 13.3
    sino = Phantom(n).sinogram(np.arange(m) * np.pi / m, axis=true, z=100)
    sino = (sino + rng.normal(0, 0.02 * sino.max(), sino.shape)).astype(np.float32)
    t_ufo, ours = best(lambda: remove_stripes_sorting(sino, 21), args.repeat)
    t_scipy, theirs = best(lambda: scipy_stripes(sino, 21), args.repeat)
    rows.append(("stripe removal (sorting, 21), 1500 x 2048", t_ufo, "same steps with scipy", t_scipy,
                 "equal" if np.array_equal(ours, theirs) else f"max diff {np.abs(ours - theirs).max():.2g}"))
    try:
        from algotom.prep.calculation import find_center_vo
        from algotom.prep.removal import remove_stripe_based_sorting
    except ImportError:
        rows.append(("algotom peers", 0.0, "not installed (pip install -e '.[bench]')", 0.0, ""))
    else:
        t_algo, theirs = best(lambda: remove_stripe_based_sorting(sino, 21), args.repeat)
        rows.append(("stripe removal (sorting, 21), 1500 x 2048", t_ufo, "algotom remove_stripe_based_sorting", t_algo,
                     f"max diff {np.abs(ours - theirs).max():.2g}"))
        t_ufo, axis = best(lambda: axis_from_sinogram(sino), 1)
        t_algo, axis_algo = best(lambda: find_center_vo(sino), 1)
        rows.append(("axis by Vo's metric, 1500 x 2048", t_ufo, "algotom find_center_vo", t_algo,
                     f"error ufo {axis - true:+.2f} px, algotom {axis_algo - true:+.2f} px"))
    width = max(len(r[0]) for r in rows)
    print(f"{'kernel':<{width}}  {'ufo s':>8}  {'peer':<38}  {'peer s':>8}  ufo is  result")
    for name, t_ufo, peer, t_peer, note in rows:
        ratio = f"{t_peer / t_ufo:5.1f}x" if t_ufo and t_peer else "     -"
        print(f"{name:<{width}}  {t_ufo:8.4f}  {peer:<38}  {t_peer:8.4f}  {ratio}  {note}")


if __name__ == "__main__":
    main()
