"""The resident path's parts, each alone (ufo.bench.resident_parts): the download of a 1024^3
volume from the GPU (pinned against pageable), ufo's HDF5 writer (a flush per slice against one
per 16) and the reader thread over a scan (frame by frame and in runs), from a dropped page cache where allowed (root).

Usage (GPU host; the reader rows run anywhere): python benchmarks/resident_parts.py SCAN.nx [scratch-dir]
"""

from __future__ import annotations

import os
import sys

from ufo.bench.resident_parts import download, reader, writer
from ufo.bench.storage import drop_caches


def main() -> None:
    scan = sys.argv[1]
    folder = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(scan))
    try:
        for name, seconds in download().items():
            print(f"download 1024 slices of 1024^2, {name}: {seconds:.2f} s")
    except ImportError as exc:  # no CuPy: the host parts only
        print(f"download: skipped ({exc})")
    for name, seconds in writer(os.path.join(folder, "resident-parts.h5")).items():
        print(f"1024 slices of 1024^2 float32, {name}: {seconds:.2f} s")
    # frame by frame against runs of 8 and 32 frames a read (the default: 64 MiB), alone and beside a
    # busy Python thread (CuPy's start, the engine's thread), from a dropped cache and from the page
    # cache (no disk: the GIL's part)
    for cache in ("dropped", "warm"):
        for beside in (False, True):
            for run in (1, 8, 32):
                dropped = drop_caches() if cache == "dropped" else True
                count, wall, busy = reader(scan, 64, run, beside)
                print(f"reader, {run} frame(s) a read, {'beside a busy thread' if beside else 'alone'}, page cache "
                      f"{cache if dropped else 'not dropped'}: {count} frames in {wall:.2f} s wall, {busy:.2f} s busy")


if __name__ == "__main__":
    main()
