"""Direct Fourier inversion against filtered back-projection (ufo's and scikit-image's): speed and accuracy.

Why: DFI is offered as the fast second method; this shows how much faster it is, on the same
sinograms and the same number of threads, and that it is as accurate (RMSE against the exact
phantom inside the reconstruction circle).

Data: exact line integrals of the analytic Shepp-Logan phantom (ufo.tomo.phantom) at
`--slices` heights, `--angles` projections over 180 degrees, `--size` pixels wide. Every tool
gets `--threads` threads: ufo's FBP and iradon one slice per thread (as the backproject task's
replicas run), DFI both ways (one slice per thread, and the whole stack with internal threads).
iradon runs on `--peer-slices` slices only (it is slow) and is scaled per slice.

Run: python benchmarks/dfi.py [--size 1024] [--angles 1500] [--slices 8] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import platform

from ufo.bench.dfi import compare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--angles", type=int, default=1500)
    parser.add_argument("--slices", type=int, default=8)
    parser.add_argument("--peer-slices", type=int, default=2, help="slices for scikit-image (0: skip it)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    n, m, k, threads = args.size, args.angles, args.slices, args.threads
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, {threads} threads, "
          f"Python {platform.python_version()}")
    print(f"data: {k} sinograms of {m} projections x {n} pixels -> {n} x {n} slices")
    rows = compare(n, m, k, threads, args.peer_slices)
    fbp_per_slice = rows[0][2] / rows[0][1]
    width = max(len(r[0]) for r in rows)
    print(f"{'method':<{width}}  slices  seconds  s/slice  vs ufo fbp    RMSE")
    for name, count, seconds, error in rows:
        per_slice = seconds / count
        print(f"{name:<{width}}  {count:6d}  {seconds:7.2f}  {per_slice:7.3f}  {fbp_per_slice / per_slice:9.2f}x  {error:.4f}")


if __name__ == "__main__":
    main()
