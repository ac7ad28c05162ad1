"""Why transpose-projections stores projection after projection (ufo/tasks/sinogram.py): the
two layouts of the stack of one pass, each timed storing `n` projections and gathering every
sinogram, in a fresh array as the task has (page faults included).

Usage: python benchmarks/transpose_layouts.py [n] [rows] [width]   (default 1024 128 1024)
"""

from __future__ import annotations

import sys
import time

import numpy as np


def main() -> None:
    n, rows, width = (int(a) for a in (sys.argv[1:] + ["1024", "128", "1024"][len(sys.argv) - 1:])[:3])
    projection = np.random.default_rng(0).random((rows, width), dtype=np.float32)
    out = np.empty((n, width), np.float32)
    for name, shape in (("row by row (rows, n, width)", (rows, n, width)),
                        ("projection after projection (n, rows, width)", (n, rows, width))):
        t0 = time.perf_counter()
        stack = np.empty(shape, np.float32)
        for i in range(n):
            if shape[0] == rows:
                stack[:, i, :] = projection
            else:
                stack[i] = projection
        t1 = time.perf_counter()
        for r in range(rows):
            np.copyto(out, stack[r] if shape[0] == rows else stack[:, r, :])
        t2 = time.perf_counter()
        print(f"{name}: store {t1 - t0:.3f} s, gather the sinograms {t2 - t1:.3f} s")
        del stack


if __name__ == "__main__":
    main()
