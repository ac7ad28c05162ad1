"""Reconstruction on a Dask LocalCluster against the single-process run, same data, same run.

Data: an NXtomo scan of the phantom (darks, flats, projections with noise) written first.
Runs: `ufo.reco.run` in this process (all cores), then `ufo.distributed.reconstruct`
on a LocalCluster of 1 worker (all cores) and of 2 workers (half the cores each), each into
an HDF5 volume; the cluster times include planning, the axis search and joining the parts,
not starting the cluster. Every cluster result is compared with the single-process slices.
The measurements are ufo.bench.cluster's; this script prints them.

Run: python benchmarks/cluster.py [--width 512] [--rows 256] [--angles 512]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile

from ufo.bench.cluster import compare, write_scan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--angles", type=int, default=512)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    work = tempfile.mkdtemp(prefix="ufo-cluster-bench-")
    try:
        scan = os.path.join(work, "scan.nx")
        write_scan(scan, args.width, args.rows, args.angles)
        print(f"machine: {platform.node()}, {cores} cores; {args.angles} projections of {args.rows} x {args.width} "
              f"-> {args.rows} slices of {args.width}^2")
        rows = compare(work, scan)
        single = rows[0][2]
        print(f"{'run':<42} {'seconds':>8} {'slices/s':>9} {'vs single':>10}  max |difference|")
        for name, _, seconds, difference in rows:
            print(f"{name:<42} {seconds:8.2f} {args.rows / seconds:9.1f} {single / seconds:9.2f}x  {difference:.2g}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
