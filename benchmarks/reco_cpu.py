"""CPU filtered back-projection: ufo against scikit-image, ASTRA (CPU) and algotom on equal terms.

Each tool runs in fresh processes twice: pinned to one core ("per core"), and using the
whole machine as it can (ufo: one replica per core; algotom: its numba threads; scikit-image
and ASTRA, single-threaded: one process per core, started together). Every process warms up
on a small slice first. Data: exact line integrals of the analytic Shepp-Logan phantom,
float32; throughput in GUPS (angles x pixels^2 x slices / seconds), accuracy as RMSE against
the phantom inside the reconstruction circle. Ratios are taken only between runs on the
same cores. The measurements are ufo.bench.reco_fair's.

Run: python benchmarks/reco_cpu.py [--size 1024] [--angles 1024] [--slices 32] [--peer-slices 1]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys

from ufo.bench.reco_fair import TOOLS, compare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--angles", type=int, default=1024)
    parser.add_argument("--slices", type=int, default=32, help="slices for ufo (per process)")
    parser.add_argument("--peer-slices", type=int, default=1, help="slices for each peer process")
    parser.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)), help="cores for 'whole machine'")
    args = parser.parse_args()
    n, m = args.size, args.angles
    print(f"machine: {platform.node()} {platform.machine()}, {args.cores} of {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.1f}, Python {platform.python_version()}, {datetime.date.today()}")
    print(f"command: python {' '.join(sys.argv)}")
    print(f"data: {m} projections x {n} pixels -> {n} x {n} slices, float32")
    run = compare(n, m, args.slices, args.peer_slices, args.cores, log=lambda line: print("  running " + line,
                                                                                         flush=True))
    ours = run.timings.get(TOOLS[0].name)
    width = max(len(t.name) for t in TOOLS)
    for scope in ("per core", "whole machine"):
        cores = 1 if scope == "per core" else args.cores
        print(f"\n{scope} ({cores} core{'s' if cores > 1 else ''}):")
        print(f"{'tool':<{width}}  slices  seconds     GUPS  ufo is  CPU s  GUPS/core-s  ufo is   RMSE    dtype")
        for tool in TOOLS:
            if tool.name in run.missing:
                print(f"{tool.name:<{width}}  not installed ({run.missing[tool.name]}: pip install -e '.[bench]')")
                continue
            t = run.timings[tool.name][scope]
            peer = ours and tool is not TOOLS[0]
            ratio = f"{ours[scope].gups / t.gups:6.1f}x" if peer else "       "
            ratio_cpu = f"{ours[scope].gups_cpu / t.gups_cpu:6.1f}x" if peer else "       "
            print(f"{tool.name:<{width}}  {t.slices:6d}  {t.seconds:7.2f}  {t.gups:7.3f}  {ratio}  {t.cpu_seconds:5.1f}  "
                  f"{t.gups_cpu:11.3f}  {ratio_cpu}  {t.rmse:.4f}  {t.dtype}")
    print("\nGUPS: by wall time; GUPS/core-s: by the CPU time of the tool's processes (steadier on a shared machine)")
    print("goals (issue 24): per core >= 10x ASTRA CPU and >= 20x scikit-image, at equal accuracy")


if __name__ == "__main__":
    main()
