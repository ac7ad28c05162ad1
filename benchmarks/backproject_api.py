"""Per-core CPU FBP: ufo's API short form (single sinograms) and stacked path against ASTRA and scikit-image.

All four run in one process on the same phantom sinogram, float32, on the cores the process
may use: pin it to one core for per-core figures (every tool then runs one thread).

Run: taskset -c 0 python benchmarks/backproject_api.py [--size 512] [--angles 512] [--slices 32]
"""

from __future__ import annotations

import argparse
import platform

from ufo.bench.backproject_api import compare, threads


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--angles", type=int, default=512)
    parser.add_argument("--slices", type=int, default=32, help="slices for every tool")
    parser.add_argument("--peer-slices", type=int, help="slices for ASTRA and scikit-image (default: --slices)")
    args = parser.parse_args()
    cores = threads()
    print(f"machine: {platform.node()} {platform.machine()}, Python {platform.python_version()}; "
          f"{cores} core(s) available to this process{' (per core)' if cores == 1 else ' (NOT per core: use taskset -c 0)'}")
    print(f"data: {args.angles} projections x {args.size} pixels -> {args.size} x {args.size} slices, float32")
    rows = compare(args.size, args.angles, args.slices, args.peer_slices)
    api = rows[0].gups_cpu
    width = max(len(r.tool) for r in rows)
    print("GUPS: wall time; GUPS/cpu: CPU time of the process (leaves out what other processes took); "
          "'API is' compares GUPS/cpu")
    print(f"{'tool':<{width}}  slices  seconds  cpu s    GUPS  GUPS/cpu  ms/slice  API is    RMSE")
    for r in rows:
        ratio = f"{api / r.gups_cpu:6.2f}x" if r.gups_cpu else "      -"
        per = 1000 * r.seconds / r.slices if r.slices else 0.0
        print(f"{r.tool:<{width}}  {r.slices:6d}  {r.seconds:7.2f}  {r.cpu_seconds:5.1f}  {r.gups:6.3f}  "
              f"{r.gups_cpu:8.3f}  {per:8.1f}  {ratio}  {r.rmse:.4f}")


if __name__ == "__main__":
    main()
