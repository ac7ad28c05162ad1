"""Camera throughput against its peer, same run.

1. net camera over tcp://127.0.0.1, 2048 x 2048 uint16: MB/s through `ufo camera serve`'s
   server and the net client, vs a bare pyzmq PUSH/PULL pair sending the same frames
   (zero-copy send, receive, copy into the caller's array: the client's own work), sender
   and receiver each with its own ZMQ context as two processes have. Runs interleaved,
   medians reported.
2. mock camera without pattern filling: grabs/s, the camera API's own cost per frame (no
   pixels are written, so there is no peer to compare it with).
The measurements are ufo.bench.camera's.

Run: python benchmarks/camera.py [--frames 500] [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys

import numpy as np

from ufo.bench.camera import detailed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, {datetime.date.today()}")
    print(f"command: python {' '.join(sys.argv)}")
    grabs, ours, bare = detailed(args.frames, args.repeat)
    ratios = sorted(o / b for o, b in zip(ours, bare))
    print(f"net camera 2048x2048 uint16 over tcp://127.0.0.1: {np.median(ours):,.0f} MB/s (runs {min(ours):,.0f}-"
          f"{max(ours):,.0f}); bare pyzmq PUSH/PULL {np.median(bare):,.0f} MB/s ({min(bare):,.0f}-{max(bare):,.0f}); "
          f"ufo/pyzmq median {np.median(ratios):.2f}x (goal >= 0.9)")
    print(f"mock grab, pattern none (no pixels written: API cost only, no peer), 2048x2048: {grabs:,.0f} grabs/s")


if __name__ == "__main__":
    main()
