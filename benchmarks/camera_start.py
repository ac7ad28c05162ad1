"""How long `ufo camera serve mock` at pco.edge size (2560 x 2160 x 16 bit, 200 frames/s) takes
to answer a client's start, and to deliver the first frame after it.

A client waits for both before its first frame; a start slower than the client's timeout ends
the client (issue: the mock built a 44 MB gradient at every start). No peer camera server runs
here: with --baseline DIR (a tree holding an older `ufo` package, e.g. scratch/old) the same
client times that tree's server in the same run, interleaved, for a before/after. The
measurements are ufo.bench.camera_start's.

Run: python benchmarks/camera_start.py [--starts 10] [--baseline scratch/old]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys

import numpy as np

from ufo.bench.camera_start import starts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument("--baseline", help="a tree with an older ufo package: its server timed beside this one")
    args = parser.parse_args()
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, {datetime.date.today()}")
    print(f"command: python {' '.join(sys.argv)}")
    for name, runs in starts(args.starts, args.baseline).items():
        started, first = np.array(runs).T * 1e3
        print(f"{name}: start answered in {np.median(started):.1f} ms median ({started.min():.1f}-{started.max():.1f}), "
              f"first 8 MiB frame {np.median(first):.1f} ms after it ({first.min():.1f}-{first.max():.1f}); "
              f"{len(runs)} starts")


if __name__ == "__main__":
    main()
