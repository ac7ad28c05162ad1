"""Measurements behind `ufo reco`'s passes: when each node of a run did its work (the timeline
that `--profile` sums away), and the two layouts transpose-projections could store a pass in.

`timeline` runs one reconstruction in this process and reports, for every node of every graph
(the passes' front graphs and the back graph), its start, end and busy seconds from the
process's start: which pass read when, when the back-projection began, how long the tail was.
`transpose_layouts` times storing `n` projections and gathering every sinogram in a fresh
array, row by row (rows, n, width) and projection after projection (n, rows, width).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def timeline(scan: str, output: str, axis: str, started: float, **options: Any) -> list[str]:
    """Lines: imports, plan and run seconds, then one line per node (times from `started`)."""
    t0 = time.perf_counter()
    from ..reco import RecoOptions, plan
    from ..reco.running import run

    t1 = time.perf_counter()
    p = plan(RecoOptions(projections=scan, output=output + ":/data", axis=axis, overwrite=True, **options))
    t2 = time.perf_counter()
    result = run(p)
    t3 = time.perf_counter()
    lines = [f"imports {t1 - t0:.2f} s (process start to here {t1 - started:.2f} s), plan {t2 - t1:.2f} s, "
             f"run {t3 - t2:.2f} s, {len(p.passes)} passes"]
    for handle in result.handles:
        for s in handle.stats.values():
            lines.append(f"  {s.name:28s} start {s.started - started:6.2f} end {s.ended - started:6.2f} "
                         f"busy {s.busy:6.2f} frames {s.frames}")
    return lines


def transpose_layouts(n: int = 1024, rows: int = 128, width: int = 1024) -> dict[str, tuple[float, float]]:
    """{layout: (seconds storing the projections, seconds gathering the sinograms)}."""
    projection = np.random.default_rng(0).random((rows, width), dtype=np.float32)
    out = np.empty((n, width), np.float32)
    times = {}
    for name, by_row in (("row by row (rows, n, width)", True), ("projection after projection (n, rows, width)", False)):
        t0 = time.perf_counter()
        stack = np.empty((rows, n, width) if by_row else (n, rows, width), np.float32)
        for i in range(n):
            if by_row:
                stack[:, i, :] = projection
            else:
                stack[i] = projection
        t1 = time.perf_counter()
        for r in range(rows):
            np.copyto(out, stack[r] if by_row else stack[:, r, :])
        times[name] = (t1 - t0, time.perf_counter() - t1)
        del stack
    return times
