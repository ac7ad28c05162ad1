"""Frames from a camera server through a walker server to disk, vs writing locally, same run.

Servers are real `ufo tango camera` and `ufo tango walker` processes on 127.0.0.1 (no Tango
database); the client registers a camera endpoint, lets the walker write it and records N
frames of 2048 x 2048 uint16 (mock camera without pattern filling: the camera costs
nothing, the transport and the writer are measured). Rates count from the record command
to the walker's last frame on disk (its file closed).

Peers in the same run, same frames, same directory:
  local      mock camera -> HDF5 writer in one process (what a single host does)
  raw disk   the same bytes written with one write() per frame
None of them calls fsync: all measure writing into the page cache, as a scan does while the
kernel flushes behind it (use --dir on a tmpfs to take the disk out entirely).
The measurements are ufo.bench.tango's; this script prints them.

Run: python benchmarks/tango_stream.py [--frames 400] [--dir /tmp] [--format h5|raw] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile

from ufo.bench.tango import MB, SHAPE, compare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--format", choices=("h5", "raw"), default="h5")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each path; the median is shown")
    args = parser.parse_args()
    n = args.frames
    size = n * SHAPE[0] * SHAPE[1] * 2 / MB
    results = compare(n, args.dir, args.format, args.repeat)
    print(f"# median of {args.repeat} interleaved runs; {n} frames {SHAPE[0]}x{SHAPE[1]} uint16 ({size:.0f} MB) to {args.dir} as {args.format}; "
          f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    reference = size / results["local: camera -> writer (one process)"]
    print(f"{'path':42s} {'s':>8s} {'MB/s':>8s} {'vs local':>9s}")
    for name, seconds in results.items():
        rate = size / seconds
        print(f"{name:42s} {seconds:8.2f} {rate:8.0f} {rate / reference:8.2f}x")


if __name__ == "__main__":
    main()
