"""When each step of one `ufo reco` ran, in this process: imports, planning, then every node of
every graph (the passes' front graphs and the back graph) with its start, end and busy seconds
from the process's start. Where `--profile` sums busy time per stage, this shows what waited
for what (which pass read when, when the back-projection started, how long the tail was).

Usage: python benchmarks/reco_timeline.py SCAN.nx OUTPUT.h5 AXIS [option=value ...]
(options as RecoOptions fields, e.g. pass_height=128 gpus=cpu); prints one line per node.
"""

from __future__ import annotations

import sys
import time

T0 = time.perf_counter()


def main() -> None:
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    scan, out, axis = sys.argv[1:4]
    extra = dict(a.split("=", 1) for a in sys.argv[4:])
    from ufo.reco import RecoOptions, plan
    from ufo.reco.running import run

    t1 = time.perf_counter()
    p = plan(RecoOptions(projections=scan, output=out + ":/data", axis=axis, overwrite=True,
                         **{k: (int(v) if v.isdigit() else v) for k, v in extra.items()}))
    t2 = time.perf_counter()
    result = run(p)
    t3 = time.perf_counter()
    print(f"imports {t1 - T0:.2f} s, plan {t2 - t1:.2f} s, run {t3 - t2:.2f} s, {len(p.passes)} passes")
    for handle in result.handles:
        for s in handle.stats.values():
            print(f"  {s.name:28s} start {s.started - T0:6.2f} end {s.ended - T0:6.2f} busy {s.busy:6.2f} "
                  f"frames {s.frames}")


if __name__ == "__main__":
    main()
