"""The online-reconstruction kernels against their peers, same data, same run.

1. 3 x 3 median (zinger removal): ufo.kernels.median.median_2d vs scipy.ndimage.median_filter
   on 2048 x 2048 float32 (results equal).
2. Stripe removal (Vo's sorting method, window 21) on a 1500 x 2048 sinogram: ufo vs
   algotom's remove_stripe_based_sorting and the same steps with scipy's median filter.
3. Rotation axis by Vo's metric on a 1500 x 2048 sinogram of the phantom, axis 13.3 px off
   centre, 2 % noise: ufo.tomo.axis.axis_from_sinogram vs algotom's find_center_vo.
The measurements are ufo.bench.kernels'; this script prints them.

Run: python benchmarks/kernels.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform

from ufo.bench.kernels import compare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.node()}, {os.cpu_count()} cores")
    rows = compare(args.repeat)
    width = max(len(r[0]) for r in rows)
    print(f"{'kernel':<{width}}  {'ufo s':>8}  {'peer':<38}  {'peer s':>8}  ufo is  result")
    for name, t_ufo, peer, t_peer, note in rows:
        ratio = f"{t_peer / t_ufo:5.1f}x" if t_ufo and t_peer else "     -"
        print(f"{name:<{width}}  {t_ufo:8.4f}  {peer:<38}  {t_peer:8.4f}  {ratio}  {note}")


if __name__ == "__main__":
    main()
