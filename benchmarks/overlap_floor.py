"""The I/O floor of a file-to-file reconstruction when reading and writing share one disk.

Why: docs/benchmarks.md takes max(read, write) as the floor of `ufo reco` where reading the scan
and writing the slices overlap (issue 24: "as tomocupy overlaps them"). That holds while the
output fits the page cache's dirty allowance; past it (a 2048^3 float32 volume is 34 GB) the
kernel writes back beside the reads on the same disk, and the overlap is not free. This measures,
on the scan's disk, from a dropped page cache: the scan read alone (64 MiB reads), the output's
bytes written alone (64 MiB `pwrite` calls into reserved blocks, through the page cache, no
fsync, as ufo's volume writer), and both at once from two threads (no GIL held in either call).

The scan holds the same uint16 frame throughout (20 darks, 20 flats, ANGLES projections of
SIZE x SIZE): only its bytes matter here. Root is needed to drop the page cache.

Run (device machine): python benchmarks/overlap_floor.py [--size 2048] [--angles 2048]
[--dir /tmp/ufo-overlap] [--rounds 2]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import sys

from ufo.bench.overlap_floor import make_scan, measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=2048, help="frame width = height = slice size = slices")
    parser.add_argument("--angles", type=int, default=2048)
    parser.add_argument("--dir", default="/tmp/ufo-overlap")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    scan, out = os.path.join(args.dir, "scan.nx"), os.path.join(args.dir, "out.bin")
    nbytes = args.size ** 3 * 4
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, {datetime.date.today()}")
    print(f"command: python {' '.join(sys.argv)}")
    try:
        make_scan(scan, args.size, args.angles)
        print(f"scan {os.path.getsize(scan) / 1e9:.1f} GB, output {nbytes / 1e9:.1f} GB float32")
        for k in range(args.rounds):
            r = measure(scan, out, nbytes)
            a, w = r["read alone"], r["write alone"]
            print(f"round {k + 1}: read alone {a:.2f} s, write alone {w:.2f} s, max {max(a, w):.2f} s, "
                  f"sum {a + w:.2f} s; at once {r['both']:.2f} s (read {r['read at once']:.2f} s, "
                  f"write {r['write at once']:.2f} s)", flush=True)
    finally:
        shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
