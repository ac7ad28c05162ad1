"""Writing frames at disk speed: every ufo writer against large os.write calls, same run.

Each writer stores N frames of 2048 x 2048 uint16 (4 GiB by default) and fsyncs every file
it made; the reference writes the same bytes with 64 MiB os.write calls into one file and
fsyncs it (this disk's raw limit). Reads are timed after dropping the page cache when the
machine allows it (root), else from the cache (said in the table).

Run: python benchmarks/storage.py [--gib 4] [--dir /work/bench-storage]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil

import numpy as np

from ufo.bench.storage import SHAPE, drop_caches, raw_reference, read_format, write_format


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=4.0)
    parser.add_argument("--dir", default="/work/bench-storage")
    parser.add_argument("--only", help="comma separated words picking formats, e.g. zarr,hdf5")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved (format, reference) pairs per format")
    args = parser.parse_args()
    frame_bytes = SHAPE[0] * SHAPE[1] * 2
    n = int(args.gib * 2**30 // frame_bytes) // 8 * 8
    gb = n * frame_bytes / 1e9
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 4096, SHAPE, dtype=np.uint16) for _ in range(8)]
    shutil.rmtree(args.dir, ignore_errors=True)
    os.makedirs(args.dir)
    print(f"machine: {platform.node()}, {os.cpu_count()} cores; {n} frames of {SHAPE[0]}x{SHAPE[1]} uint16 = {gb:.2f} GB "
          f"into {args.dir} (free {shutil.disk_usage(args.dir).free / 1e9:.0f} GB)")
    formats = [
        ("TIFF sequence (one file per frame)", "seq/frame-%05i.tif", {}, lambda p: os.path.dirname(p)),
        ("BigTIFF stack", "stack.tif", {}, None),
        ("HDF5, direct chunk writes, SWMR", "data.h5:/data", {}, None),
        ("NXtomo (HDF5)", "scan.nx", {}, None),
        ("raw", "frames.raw", {}, None),
        ("Zarr v3", "stack.zarr", {}, None),
    ]
    if args.only:
        formats = [f for f in formats if any(key in f[0].lower() for key in args.only.split(","))]
    rows = []
    for name, rel, options, read_path in formats:
        path = os.path.join(args.dir, rel)
        pairs = []
        for _ in range(args.repeat):  # interleaved with the reference: the disk's mood hits both alike
            raw = raw_reference(os.path.join(args.dir, "reference.bin"), frames, n)
            os.remove(os.path.join(args.dir, "reference.bin"))
            pairs.append((write_format(path, frames, n, **options), raw))
        t = float(np.median([p[0] for p in pairs]))
        raw = float(np.median([p[1] for p in pairs]))
        ratio = float(np.median([p[1] / p[0] for p in pairs]))
        cold = drop_caches()
        read_options = {"raw_width": SHAPE[1], "raw_height": SHAPE[0]} if rel.endswith(".raw") else {}
        tr, count = read_format(read_path(path) if read_path else path, **read_options)
        rows.append((name, gb / t, gb / raw, ratio, gb / tr, cold, count))
        target = path.split(":")[0]
        if os.path.isdir(target):
            shutil.rmtree(target)
        elif os.path.isfile(target):
            os.remove(target)
        shutil.rmtree(os.path.join(args.dir, "seq"), ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"{'format':<{width}}  write GB/s  raw GB/s  ratio  read GB/s   (medians of {args.repeat} interleaved pairs)")
    for name, w, r, ratio, rd, cold, count in rows:
        print(f"{name:<{width}}  {w:10.2f}  {r:8.2f}  {ratio:5.2f}  {rd:9.2f}{'' if cold else ' (cached)'}  [{count} frames]")
    print("goal: every format >= 0.9x raw (UFO's 2014 study: TIFF 0.52x, HDF5 0.64x of dd)")
    shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
