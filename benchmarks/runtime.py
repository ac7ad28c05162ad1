"""Runtime overhead benchmarks: ufo against the peers it must beat, measured in the same run.

1. Per-frame overhead: N frames of 16x16 float32 through a source, three `calculate v+1`
   maps and a sink. Peers: a bare chain of threads joined by `queue.Queue`s doing the same
   numpy work, and UFO's C runtime (`ufo-launch`, Debian's ufo-core, on the CPU through
   pocl) when it is installed.
2. Large frames: 8 MiB frames through a 4-node chain (fill, pass, pass, sum) against a plain
   single-thread loop calling the same functions on the same buffers.
3. Replication: a CPU-bound numba kernel (nogil) as a map with replicas=2 against replicas=1.

Run: python benchmarks/runtime.py [--frames 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys

from ufo.bench.runtime import PEER_C, detailed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100_000, help="frames for the overhead benchmark")
    parser.add_argument("--large", type=int, default=200, help="8 MiB frames for the large-frame benchmark")
    parser.add_argument("--heavy", type=int, default=200, help="frames for the replication benchmark")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load {os.getloadavg()[0]:.1f}, {datetime.date.today()}")
    print(f"command: python {' '.join(sys.argv)} (best of {args.repeat} for every side, ufo-launch included)")
    r = detailed(args.frames, args.large, args.heavy, args.repeat)
    n, mb, k = r.frames, r.large_mb, r.heavy
    rows = [("overhead: ufo, 5 nodes, 16x16", f"{n / r.ufo:,.0f} frames/s", "", "goal >= 30,000 frames/s"),
            ("overhead: threads + queue.Queue", f"{n / r.queue:,.0f} frames/s", f"ufo {r.queue / r.ufo:.2f}x", "")]
    if r.ufo_launch is not None:
        rows.append((f"overhead: {PEER_C}", f"{n / r.ufo_launch:,.0f} frames/s",
                     f"ufo {r.ufo_launch / r.ufo:.2f}x", "goal >= 2x"))
    else:
        rows.append((f"overhead: {PEER_C}", "not installed", "", ""))
    rows.append(("large frames: ufo 4-node chain, 8 MiB", f"{mb / r.ufo_large:,.0f} MB/s", "", ""))
    rows.append(("large frames: plain loop, same calls", f"{mb / r.loop_large:,.0f} MB/s",
                 f"ufo {r.loop_large / r.ufo_large:.2f}x", "goal >= 0.9x"))
    rows.append(("replication: numba nogil map, replicas=1", f"{k / r.replicas_1:,.1f} frames/s", "", ""))
    rows.append(("replication: numba nogil map, replicas=2", f"{k / r.replicas_2:,.1f} frames/s",
                 f"{r.replicas_1 / r.replicas_2:.2f}x vs 1", "goal >= 1.7x on 2 cores"))

    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'rate':>18}  {'ratio':>14}  goal")
    for name, rate, ratio, goal in rows:
        print(f"{name:<{width}}  {rate:>18}  {ratio:>14}  {goal}")


if __name__ == "__main__":
    main()
