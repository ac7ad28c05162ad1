"""Writing frames at disk speed: every ufo writer against a raw ceiling of the same bytes, same run.

Each writer stores N frames of 2048 x 2048 uint16 (4 GiB by default) and fsyncs every file
it made; the ceiling writes the same bytes with 64 MiB O_DIRECT writes (past the page cache)
into one file and fsyncs it. The one-file-per-frame formats (TIFF sequence, Zarr) are also
measured against a ceiling with their layout: each frame one O_DIRECT write into its own file,
every file fsynced (rows "vs raw files per frame"). Writer and ceiling runs alternate (5 of
each by default, order swapped every run, each after a sync); the table gives medians, never
a best run. Reads are timed after dropping the page cache when the machine allows it (root), else
from the cache (said in the table). The measurements are ufo.bench.storage's.

Run: python benchmarks/storage.py [--gib 4] [--repeat 5] [--dir /work/bench-storage]
     python benchmarks/storage.py --tiff-frames [--dir /dev/shm]   (a TIFF sequence's cost a frame
     without a disk: ufo's writer, tifffile.imwrite, a bare os.write; medians of --repeat)
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import sys

from ufo.bench.storage import SHAPE, compare_formats, frames_for, tiff_frame_costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=4.0)
    parser.add_argument("--dir", default="/work/bench-storage")
    parser.add_argument("--only", help="comma separated words picking formats, e.g. zarr,hdf5")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each format and of the ceiling, interleaved")
    parser.add_argument("--tiff-frames", action="store_true", help="only a TIFF sequence's cost a frame, in memory")
    args = parser.parse_args()
    if args.tiff_frames:
        where = args.dir if args.dir != parser.get_default("dir") else "/dev/shm"
        print(f"command: python {' '.join(sys.argv)}, {datetime.date.today()}, load {os.getloadavg()[0]:.1f}; "
              f"machine: {platform.node()}, {os.cpu_count()} cores; files in {where}")
        for frame, way, seconds in tiff_frame_costs(where, args.repeat):
            print(f"{frame:16s} {way:26s} {seconds * 1e3:7.3f} ms a frame (median of {args.repeat})")
        return
    n, frames = frames_for(args.gib)
    gb = n * SHAPE[0] * SHAPE[1] * 2 / 1e9
    shutil.rmtree(args.dir, ignore_errors=True)
    os.makedirs(args.dir)
    print(f"command: python {' '.join(sys.argv)}, {datetime.date.today()}, load {os.getloadavg()[0]:.1f}")
    print(f"machine: {platform.node()}, {os.cpu_count()} cores; {n} frames of {SHAPE[0]}x{SHAPE[1]} uint16 = {gb:.2f} GB "
          f"into {args.dir} (free {shutil.disk_usage(args.dir).free / 1e9:.0f} GB)")
    rows = compare_formats(args.dir, frames, n, args.only, args.repeat)
    width = max(len(r[0]) for r in rows)
    for how in dict.fromkeys(r[4] for r in rows):
        print(f"raw ceiling: {how}" + (" (rows marked 'vs raw files per frame')" if "per frame" in how else ""))
    print(f"{'format':<{width}}  write GB/s  raw GB/s  ratio  read GB/s   (medians of {args.repeat} interleaved runs each)")
    for name, w, r, ratio, _, rd, cold, count in rows:
        print(f"{name:<{width}}  {w:10.2f}  {r:8.2f}  {ratio:5.2f}  {rd:9.2f}{'' if cold else ' (cached)'}  [{count} frames]")
    print("a ratio above 1 means the ceiling is not one here (say so beside the figure)")
    print("goal: every format >= 0.9x raw (UFO's 2014 study: TIFF 0.52x, HDF5 0.64x of dd)")
    shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
