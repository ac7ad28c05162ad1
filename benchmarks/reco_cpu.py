"""CPU filtered back-projection: ufo against scikit-image, ASTRA (CPU) and algotom, same data, same run.

Data: exact line integrals of the analytic Shepp-Logan phantom (ufo.tomo.phantom), 1024
projections over 180 degrees, 1024 pixels wide, reconstructed into 1024 x 1024 slices.
Each tool reconstructs as many slices as fit in its time budget; throughput is reported in
GUPS (giga voxel updates per second: angles x pixels x slices / seconds) and the accuracy as
RMSE against the phantom inside the reconstruction circle (each tool with its own grid
convention and the orientation that fits it best).

Run: python benchmarks/reco_cpu.py [--size 1024] [--angles 1024] [--slices 32]
"""

from __future__ import annotations

import argparse
import os
import platform

from ufo.bench.reco import compare_cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--angles", type=int, default=1024)
    parser.add_argument("--slices", type=int, default=32, help="slices for ufo")
    parser.add_argument("--peer-slices", type=int, default=1, help="slices for each peer")
    parser.add_argument("--replicas", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    n, m = args.size, args.angles
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"data: {m} projections x {n} pixels -> {n} x {n} slices")
    rows = compare_cpu(n, m, args.slices, args.peer_slices, args.replicas)
    ufo_gups = rows[0][3]
    width = max(len(r[0]) for r in rows)
    print(f"{'tool':<{width}}  slices  seconds    GUPS  ufo is    RMSE")
    for name, slices, t, gups, err in rows:
        ratio = f"{ufo_gups / gups:6.1f}x" if gups else "      -"
        print(f"{name:<{width}}  {slices:6d}  {t:7.2f}  {gups:6.3f}  {ratio}  {err:.4f}")
    print("goals: >= 10x ASTRA CPU, >= 20x scikit-image, at equal accuracy")


if __name__ == "__main__":
    main()
