"""A camera-rate scan into storage and online reconstruction, end to end (issue 18's acceptance runs).

    python benchmarks/stream.py                                  # 2-core figures: 1024^2 at 100 fps, 16 rows
    python benchmarks/stream.py --width 2560 --height 2160 --projections 3000 --rows all --device gpu \\
        --scan-dir /dev/shm --out-dir /tmp --shm-dir /dev/shm    # the GPU host's run

Steps: (1) on a GPU, the GPU engine against the CPU engine on a small scan (180 and 360
degrees, auto axis); (2) a uint16 NXtomo scan of the phantom is rendered; (3) it is replayed
at --rate into the NXtomo writer on --out-dir (disk) and the online reconstruction, then 8
slices are compared with `ufo reco` on the frames written; (4) with --shm-dir, the frames
written in (3) are replayed again into a writer on --shm-dir (to separate the software from
the disk); (5) with --find-max, the highest rate with zero drops (--search-projections per try).
Everything is printed and, with --json, written to one file. The steps are
ufo.bench.stream_acceptance's; this script parses and prints.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import fields

from ufo.bench.stream_acceptance import Acceptance, run_acceptance


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--height", type=int, default=1024)
    p.add_argument("--projections", type=int, default=1500)
    p.add_argument("--darks", type=int, default=20)
    p.add_argument("--flats", type=int, default=20)
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--rows", default="16", help="a count around the middle, or 'all'")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--scan-dir", default="/tmp", help="where the rendered scan is written")
    p.add_argument("--out-dir", default="/tmp", help="where the raw frames are written (the disk)")
    p.add_argument("--shm-dir", default=None, help="also write the frames here in a second run (/dev/shm)")
    p.add_argument("--find-max", action="store_true")
    p.add_argument("--search-projections", type=int, default=600)
    p.add_argument("--search-rate", type=float, default=None, help="first rate of the search (default --rate)")
    p.add_argument("--variants", action="store_true", help="also search with the reconstruction alone, the writer "
                   "alone and fp16 storage (which part limits the rate)")
    p.add_argument("--json", default=None)
    a = p.parse_args()

    report: dict[str, object] = {"machine": platform.node(), "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M"),
                                 "args": vars(a)}

    def save() -> None:  # after every stage: a run cut short still reports what it measured
        if a.json:
            with open(a.json, "w") as f:
                json.dump(report, f, indent=2, default=float)

    options = Acceptance(**{f.name: getattr(a, f.name) for f in fields(Acceptance)})
    run_acceptance(options, report, log=lambda line: print(line, flush=True), save=save)


if __name__ == "__main__":
    main()
