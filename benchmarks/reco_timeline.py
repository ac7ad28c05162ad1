"""When each step of one `ufo reco` ran, in this process: imports, planning, then every node of
every graph (the passes' front graphs and the back graph) with its start, end and busy seconds
from the process's start. Where `--profile` sums busy time per stage, this shows what waited
for what. The measurement is ufo.bench.passes.timeline.

Usage: python benchmarks/reco_timeline.py SCAN.nx OUTPUT.h5 AXIS [option=value ...]
(options as RecoOptions fields, e.g. pass_height=128 gpus=cpu)
"""

from __future__ import annotations

import sys
import time

STARTED = time.perf_counter()

from ufo.bench.passes import timeline  # noqa: E402 - after the clock starts, so imports count


def main() -> None:
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    options = {k: (int(v) if v.isdigit() else v) for k, v in (a.split("=", 1) for a in sys.argv[4:])}
    for line in timeline(sys.argv[1], sys.argv[2], sys.argv[3], STARTED, **options):
        print(line)


if __name__ == "__main__":
    main()
