"""ufo's HDF5 writer alone and beside a busy Python thread, per GIL switch interval (ufo.bench.writer_gil):
how much of the writer's time is waiting for the GIL on `ufo reco`'s multi-pass resident path.

Usage: python benchmarks/writer_gil.py [DIR] [--repeat N]   (DIR: where to write, default /dev/shm,
so that the page cache's speed and not a disk's is measured)
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform

from ufo.bench.writer_gil import beside_busy_thread, busy_rate_alone, write_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", nargs="?", default="/dev/shm")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    path = os.path.join(args.dir, "writer-gil.h5")
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, {datetime.date.today()}; "
          f"256 slices of 1024^2 float32 into {args.dir}")
    write_seconds(path, 32)  # h5py and the page cache warmed up
    for run in range(args.repeat):
        for volume, name in ((False, "SWMR appends (h5py)"), (True, "volume (pwrite)")):
            line = [f"alone {write_seconds(path, volume=volume):.3f} s"]
            for interval in (0.005, 0.0005, 0.0002, 0.0001):
                seconds, rate = beside_busy_thread(path, interval, volume=volume)
                line.append(f"beside a busy thread, switch {interval * 1e3:g} ms: {seconds:.3f} s "
                            f"(busy thread {rate:.1f} M/s)")
            print(f"run {run + 1}, {name}: " + "; ".join(line))
        print(f"run {run + 1}: busy thread alone {busy_rate_alone():.1f} M/s")


if __name__ == "__main__":
    main()
