"""Why transpose-projections stores projection after projection (ufo/tasks/sinogram.py): both
layouts of one pass's stack, timed storing the projections and gathering every sinogram, in a
fresh array as the task has (page faults included). The measurement is ufo.bench.passes.

Usage: python benchmarks/transpose_layouts.py [n] [rows] [width]   (default 1024 128 1024)
"""

from __future__ import annotations

import sys

from ufo.bench.passes import transpose_layouts


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:4]]
    for name, (store, gather) in transpose_layouts(*sizes).items():
        print(f"{name}: store {store:.3f} s, gather the sinograms {gather:.3f} s")


if __name__ == "__main__":
    main()
