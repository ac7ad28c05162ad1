"""How a run on one GPU is cut into passes: bands of rows whose slices stay on the device.

Pure planning (ufo.reco.resident runs them): the device's free memory bounds a pass, and a large
volume is cut further so that writing one pass overlaps reading the next (`overlap_height`).
"""

from __future__ import annotations

import os
from itertools import accumulate

from ..core.errors import UsageError
from .planning import PASSES_IN_FLIGHT, Pass, Plan

#: a volume of at least this many bytes is made in OVERLAP_PASSES passes (`overlap_height`)
OVERLAP_BYTES = 256 << 20
OVERLAP_PASSES = 4
#: bytes a frame's band must have for passes to be tapered (`tapered`): a disk that caps requests
#: per second reads smaller ones below its bandwidth (a lent H200 host's: bands of 256 rows of
#: 1024 uint16 pixels, 512 KiB, at 2 GB/s, the scan's in-order pace; of 128 rows at 1.1 GB/s, of
#: 32 at 0.2 GB/s: about 4000 requests a second; docs/benchmarks.md, 2026-12-04 11:30 UTC)
MIN_REQUEST = 512 << 10


def overlap_height(plan: Plan) -> int:
    """Rows per pass that let the writing of one pass overlap the reading of the next.

    Why: every slice needs the last projection, so with one pass the slices are written only
    after the whole scan is read, and the command takes the read plus the write. In passes, each
    pass's bands of rows of every frame are read (ahead, in pass order, by a child process:
    `prefetch.start_ranges`, at the disk's pace) while the pass before is written; only the last
    pass's write follows the read. OVERLAP_PASSES passes for volumes of OVERLAP_BYTES or more,
    else all rows. An axis (--axis auto) or an 8/16-bit scale to be found comes from rows read
    before the first pass (ufo.reco.resident_sample)."""
    rows = len(plan.rows)
    if rows * _slice_bytes(plan, plan.width) < OVERLAP_BYTES or rows < 2 * OVERLAP_PASSES:
        return rows
    return -(-rows // OVERLAP_PASSES)


def resident_passes(plan: Plan, device_memory: int) -> list[Pass]:
    """Bands of rows whose slices stay on a device with `device_memory` free bytes: all rows in
    one pass when the volume and the engine's buffers fit in 80 % of it, else bands of which two
    fit (one is downloaded and written while the next is read); at most `overlap_height` rows;
    the first and last half as high (`tapered`) where their bands are still MIN_REQUEST bytes a
    frame; --pass-height wins (even passes)."""
    o = plan.options
    width = plan.width * (2 if o.half_acquisition else 1)  # stitched slices are up to twice as wide
    per_row = _slice_bytes(plan, width) + 2 * 32 * width * 2 + 2 * 32 * width * 8  # slices, staged frames, padded FFT rows
    fits = int(device_memory * 0.8) // per_row
    rows = plan.rows
    band = o.pass_height or min(len(rows) if len(rows) <= fits else fits // PASSES_IN_FLIGHT, overlap_height(plan))
    if band < 1:
        raise UsageError(f"one slice of {width} x {width} pixels does not fit in the GPU's free memory "
                         f"({device_memory / 2**30:.1f} GiB); use --gpu-path sinograms or --gpus cpu")
    step = rows[1] - rows[0] if len(rows) > 1 else 1
    even = [min(band, len(rows) - first) for first in range(0, len(rows), band)]
    edge_bytes = band // 2 * plan.width * 2  # a tapered edge's request per frame, 16-bit frames
    heights = even if o.pass_height else _given_heights(len(rows), band) or (
        tapered(len(rows), band) if edge_bytes >= MIN_REQUEST else even)
    firsts = accumulate(heights[:-1], initial=0)
    return [Pass(rows[first], h, step, slice(0, h), first) for first, h in zip(firsts, heights)]


def tapered(count: int, band: int) -> list[int]:
    """Heights of passes of at most `band` rows covering `count` rows: the first and the last half
    as high as the others where there are several.

    Why: every slice of a pass needs the last frame's band of it, so nothing is written before the
    first pass is read whole, and after the last frame only the last pass is left to complete and
    write: both waits scale with those passes' heights, while the ones between overlap reading
    and writing whatever their height. Halving the two edges only (not every pass) keeps the
    reads of the others one band of a frame per request, which a disk reads at its pace. A
    2048-wide 1024-row scan of 1024 projections through a warm server on lent H200 VMs: the
    first slices at the writer 0.56-0.70 s after the job started against 0.86-0.99 s in four
    even passes, the job 4.66-5.50 s against 4.98-6.14 s (docs/benchmarks.md, 2026-12-04)."""
    if count <= band:
        return [count]
    edge = max(1, band // 2)
    middle = count - 2 * edge
    if middle < edge:  # too few rows for three heights: even passes
        n = -(-count // band)
        return [count // n + (k < count % n) for k in range(n)]
    n = -(-middle // band)
    return [edge] + [middle // n + (k < middle % n) for k in range(n)] + [edge]


def describe(passes: list[Pass]) -> str:
    """The `passes:` line of `ufo reco --dry-run` for the resident path: how many, how high."""
    heights = [p.rows for p in passes]
    if len(heights) == 1:
        return f"passes: 1 of {heights[0]} rows, every slice kept on the GPU until the last frame"
    shown = ", ".join(map(str, heights)) if len(heights) <= 8 else \
        f"{heights[0]}, {heights[1]}, ... {heights[-2]}, {heights[-1]}"
    return f"passes: {len(heights)} of {shown} rows, each pass's slices written while the next is read"


def _given_heights(count: int, band: int) -> list[int] | None:
    """UFO_PASS_HEIGHTS (rows of each pass, comma-separated: a benchmark's variant), cut to `count`
    rows; None where unset, or where a height is not a number from 1 to `band`."""
    given = [h.strip() for h in os.environ.get("UFO_PASS_HEIGHTS", "").split(",") if h.strip()]
    if not given or not all(h.isdigit() and 1 <= int(h) <= band for h in given):
        return None
    heights: list[int] = []
    for h in map(int, given):
        if sum(heights) < count:
            heights.append(min(h, count - sum(heights)))
    while sum(heights) < count:
        heights.append(min(band, count - sum(heights)))
    return heights


def _slice_bytes(plan: Plan, width: int) -> int:
    """Bytes of one float32 slice: the --roi's, else `width` squared."""
    o = plan.options
    return (o.roi[2] * o.roi[3] if o.roi else width * width) * 4
