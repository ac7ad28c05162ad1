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
import os
import platform

import numpy as np

from ufo.bench.runtime import (TEMPLATE, Heavy, best, loop_large, make_kernel, queue_chain, ufo_chain, ufo_large,
                               ufo_launch, ufo_replicas)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100_000, help="frames for the overhead benchmark")
    parser.add_argument("--large", type=int, default=200, help="8 MiB frames for the large-frame benchmark")
    parser.add_argument("--heavy", type=int, default=200, help="frames for the replication benchmark")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    n = args.frames
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    rows = []

    t_ufo = best(lambda: ufo_chain(n), args.repeat)
    t_queue = best(lambda: queue_chain(n), args.repeat)
    t_c = ufo_launch(n)
    rows.append(("overhead: ufo, 5 nodes, 16x16", f"{n / t_ufo:,.0f} frames/s", "", ""))
    rows.append(("overhead: threads + queue.Queue", f"{n / t_queue:,.0f} frames/s", f"ufo {t_queue / t_ufo:.2f}x", ""))
    if t_c is not None:
        rows.append(("overhead: UFO C (ufo-launch, pocl CPU)", f"{n / t_c:,.0f} frames/s", f"ufo {t_c / t_ufo:.2f}x",
                     "goal >= 2x, >= 30,000 frames/s"))
    else:
        rows.append(("overhead: UFO C (ufo-launch)", "not installed", "", "goal >= 30,000 frames/s"))

    m = args.large
    t_ufo_l = best(lambda: ufo_large(m), args.repeat)
    t_loop_l = best(lambda: loop_large(m), args.repeat)
    mb = m * TEMPLATE.nbytes / 1e6
    rows.append(("large frames: ufo 4-node chain, 8 MiB", f"{mb / t_ufo_l:,.0f} MB/s", "", ""))
    rows.append(("large frames: plain loop, same calls", f"{mb / t_loop_l:,.0f} MB/s", f"ufo {t_loop_l / t_ufo_l:.2f}x",
                 "goal >= 0.9x"))

    Heavy.kernel = make_kernel()
    Heavy.kernel(np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32))  # compile outside the timing
    k = args.heavy
    t1 = best(lambda: ufo_replicas(k, 1), args.repeat)
    t2 = best(lambda: ufo_replicas(k, 2), args.repeat)
    rows.append(("replication: numba nogil map, replicas=1", f"{k / t1:,.1f} frames/s", "", ""))
    rows.append(("replication: numba nogil map, replicas=2", f"{k / t2:,.1f} frames/s", f"{t1 / t2:.2f}x vs 1",
                 "goal >= 1.7x on 2 cores"))

    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'rate':>18}  {'ratio':>14}  goal")
    for name, rate, ratio, goal in rows:
        print(f"{name:<{width}}  {rate:>18}  {ratio:>14}  {goal}")


if __name__ == "__main__":
    main()
