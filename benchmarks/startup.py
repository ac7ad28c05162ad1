"""Start-up time of the `ufo` command (issue 22): import time of the CLI and the wall time of
`ufo --help`, `ufo tasks` and `ufo run "dummy-data number=10 ! null"` (median of --repeat runs,
each in a fresh interpreter), beside `ufo-launch` / `ufo-query` when UFO's C tools are installed.

Goal: each command under 0.3 s wall. The measurements are ufo.bench.startup; this script prints.

Two settings: as this environment runs Python (where PYTHONDONTWRITEBYTECODE=1, every start
compiles each ufo module it imports), and with --bytecode, compiled modules cached as an
installed ufo has them (in a temporary PYTHONPYCACHEPREFIX, nothing written into the tree).

With --small-frames, also the cost of one more small frame through a flat-field chain in ufo and
in ufo-launch (ufo.bench.small_frames: 72 and 720 frames of 16 x 512, start-up cancelled out),
pinned to one core and not.

With --before DIR, the `ufo` package in DIR (an older commit's: `git archive COMMIT ufo | tar -x -C DIR`)
runs in the same rounds, so a before/after comparison sees the same load.

Run: python benchmarks/startup.py [--repeat 5] [--imports 12] [--bytecode] [--small-frames] [--before DIR]
"""

from __future__ import annotations

import argparse
import os
import platform

from ufo.bench.small_frames import report
from ufo.bench.startup import bytecode_written, environment, import_time, measure, peer_installed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="median of this many runs per command")
    parser.add_argument("--imports", type=int, default=12, help="show this many costliest imports")
    parser.add_argument("--bytecode", action="store_true", help="cache compiled modules (as an installed ufo has)")
    parser.add_argument("--small-frames", action="store_true", help="also time one more small frame, ufo and ufo-launch")
    parser.add_argument("--before", metavar="DIR", help="also time the ufo package in DIR, in the same rounds "
                        "(git archive COMMIT ufo | tar -x -C DIR)")
    args = parser.parse_args()
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load {os.getloadavg()[0]:.2f}")
    cached = args.bytecode or bytecode_written()
    print("bytecode: " + ("cached" if cached else "not written (PYTHONDONTWRITEBYTECODE): modules compiled on each start"))
    rows = measure(args.repeat, args.bytecode, args.before)
    width = max(len(r.what) for r in rows)
    print(f"{'command':<{width}}  {'ufo [s]':>8}  {'peer':<40} {'peer [s]':>8}  goal")
    for r in rows:
        peer = "-" if r.peer_value is None else f"{r.peer_value:.3f}"
        goal = "< 0.3 s" if r.what.startswith("ufo") else ""
        print(f"{r.what:<{width}}  {r.ufo:8.3f}  {r.peer:<40} {peer:>8}  {goal} {r.note}")
    if not peer_installed():
        print("ufo-launch is not on PATH (Debian: libufo-bin, ufo-filters, pocl-opencl-icd): no peer figures")
    print("\ncostliest imports under `import ufo.cli.main` (cumulative s):")
    for name, seconds in import_time(top=args.imports, env=environment(args.bytecode)).largest:
        print(f"  {seconds:7.3f}  {name}")
    if args.small_frames:
        report(args.repeat, peer_installed())
    print(f"load at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
