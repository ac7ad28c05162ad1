"""What a warm `ufo reco --serve` adds to each job (ufo.bench.server_overhead): the client's wall
time less the job's own, over small jobs (the part every scan pays, whatever its size).

Run: python benchmarks/server_overhead.py [--dir /tmp/ufo-server] [--jobs 12]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import sys

from ufo.bench.server_overhead import measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default="/tmp/ufo-server")
    parser.add_argument("--jobs", type=int, default=12)
    args = parser.parse_args()
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, {datetime.date.today()}")
    print(f"command: python {' '.join(sys.argv)}")
    try:
        r = measure(args.dir, jobs=args.jobs)
    finally:
        shutil.rmtree(args.dir, ignore_errors=True)
    print(f"{args.jobs} jobs of 64 slices of 256^2 through the server: client wall {r['wall']:.3f} s (median), "
          f"outside the job {r['outside']:.3f} s (median, least {r['least outside']:.3f} s)")


if __name__ == "__main__":
    main()
