"""UFO's C runtime (`ufo-launch`) and `ufo run --ufo` on the same UFO pipeline strings, in one run
(issue 22): every string of ufo.bench.ufo_pipelines through both with the outputs compared file
by file, then real-size pipelines timed per core (both pinned to one core) and on the whole
machine. Needs Debian's libufo-bin and ufo-filters (apt-get install libufo-bin ufo-filters);
without them it says so and exits 0. The measuring code is ufo.bench.ufolaunch.

Run: python benchmarks/ufo_launch.py [--repeat 3] [--scale 1.0] [--folder /tmp/ufo-launch-bench]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import tempfile
from pathlib import Path

from ufo.bench.ufo_pipelines import make_data
from ufo.bench.ufolaunch import compare_strings, installed, make_timing_data, peer_label, time_cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="median of this many runs per command")
    parser.add_argument("--scale", type=float, default=1.0, help="scale the number of frames of the timed cases")
    parser.add_argument("--folder", type=Path, help="work folder (default: a temporary one, removed after)")
    args = parser.parse_args()
    if not installed():
        print("ufo-launch / ufo-runjson not found: install Debian's libufo-bin and ufo-filters to compare; skipped")
        return
    folder = args.folder or Path(tempfile.mkdtemp(prefix="ufo-launch-bench-"))
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.2f}")
    print(f"peer: {peer_label()}; ufo: ufo run --ufo (CPU)")
    try:
        rows = compare_strings(make_data(folder / "strings"))
        same = sum(r.status == "same" for r in rows)
        print(f"\nnumbers: {same} of {len(rows)} UFO pipelines give the same files (rtol 1e-5 of the range)")
        print("| pipeline (UFO spelling) | result | detail |\n| --- | --- | --- |")
        for r in rows:
            print(f"| `{r.text.replace('|', '/')}` | {r.status} | {r.detail} |")
        cases = make_timing_data(folder / "timing", args.scale)
        print("\n| case | cores | ufo-launch [s] | ufo [s] | ufo / ufo-launch | per frame ufo-launch / ufo [ms] | numbers |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for pinned in (True, False):
            for t in time_cases(folder / "timing", cases, args.repeat, pinned):
                a, b = t.per_frame_ms
                cores = "1 (taskset)" if pinned else f"all {len(os.sched_getaffinity(0))}"
                print(f"| {t.what} | {cores} | {t.peer_s:.2f} | {t.ufo_s:.2f} | {t.ufo_s / t.peer_s:.2f} | "
                      f"{a:.2f} / {b:.2f} | {t.numbers} |")
    finally:
        if args.folder is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
