"""A camera-rate scan into storage and online reconstruction, end to end (issue 18's acceptance
runs; benchmarks/stream.py is its command line, `ufo bench stream` the everyday version).

Steps: (1) on a GPU, the GPU engine against the CPU engine on a small scan (180 and 360
degrees, auto axis); (2) a uint16 NXtomo scan of the phantom is rendered; (3) it is replayed
at the rate into the NXtomo writer on `out_dir` (disk) and the online reconstruction, then 8
slices are compared with `ufo reco` on the frames written; (4) with `shm_dir`, the frames
are replayed again into a writer there (to separate the software from the disk); (5) with
`find_max`, the highest rate with zero drops; (6) with `variants`, the same search with the
reconstruction alone, the writer alone and fp16 storage (which part limits the rate).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .stream import compare_with_reco, find_max_rate, render_scan, rows_of, stream_once, warm_up


def gpu_against_cpu() -> dict[str, float]:
    """The CUDA steps against the CPU steps on the same small scans: max relative deviation."""
    from ..tomo.phantom import Phantom
    from ..tomo.streaming import StreamingReconstructor

    out = {}
    width, height, n = 256, 24, 360
    phantom = Phantom(width, height=height)
    for span in (math.pi, 2 * math.pi):
        angles = np.arange(n) * span / n
        frames = [np.rint(100 + 3000 * np.exp(-0.01 * phantom.projection(a, width / 2 + 3.3))).astype(np.uint16)
                  for a in angles]
        results = {}
        for device in ("cpu", "gpu"):
            engine = StreamingReconstructor(axis="auto", device=device, rows=slice(4, 20))
            engine.add(np.full((height, width), 100, np.uint16), {"image_key": 2})
            engine.add(np.full((height, width), 3100, np.uint16), {"image_key": 1})
            for a, f in zip(angles, frames):
                engine.add(f, {"image_key": 0, "angle": float(a)})
            results[device] = (engine.finish(), engine.found_axis)
        (cpu, axis_cpu), (gpu, axis_gpu) = results["cpu"], results["gpu"]
        key = "180" if span == math.pi else "360"
        out[f"gpu_vs_cpu_{key}"] = float(np.abs(gpu - cpu).max() / np.abs(cpu).max())
        out[f"axis_cpu_{key}"], out[f"axis_gpu_{key}"] = axis_cpu, axis_gpu
    return out


@dataclass
class Acceptance:
    """What to run (benchmarks/stream.py's options, same defaults)."""

    width: int = 1024
    height: int = 1024
    projections: int = 1500
    darks: int = 20
    flats: int = 20
    rate: float = 100.0
    rows: str = "16"  # a count around the middle, FROM:TO, or 'all'
    device: str = "auto"
    precision: str = "fp32"
    scan_dir: str = "/tmp"  # where the rendered scan is written
    out_dir: str = "/tmp"  # where the raw frames are written (the disk)
    shm_dir: str | None = None  # also write the frames here in a second run (/dev/shm)
    find_max: bool = False
    search_projections: int = 600
    search_rate: float | None = None  # first rate of the search (default: rate)
    variants: bool = False


def run_acceptance(a: Acceptance, report: dict[str, Any], log: Callable[[str], None] = lambda _: None,
                   save: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """Run the steps, filling `report` (returned); `log` gets a line as each step ends, `save`
    is called after every stage, so that a run cut short still reports what it measured."""
    from ..gpu import available

    if available():
        report.update(gpu_against_cpu())
        log(f"GPU against CPU engine: { {k: v for k, v in report.items() if k.startswith(('gpu_', 'axis_'))} }")
    warm_up(a.device)
    scan = os.path.join(a.scan_dir, "ufo-stream-scan.nx")
    t0 = time.perf_counter()
    axis = render_scan(scan, a.width, a.height, a.projections, a.darks, a.flats, axis_offset=a.width / 40 + 0.37)
    report["render_seconds"] = time.perf_counter() - t0
    log(f"rendered {a.projections} projections of {a.height} x {a.width} in {report['render_seconds']:.1f} s")
    rows = rows_of(a.rows, a.height)
    options: dict[str, Any] = dict(rows=rows, axis=axis, device=a.device, precision=a.precision)
    disk = os.path.join(a.out_dir, "ufo-stream-frames.nx")
    for name, target in (("disk", disk), ("shm", os.path.join(a.shm_dir, "ufo-stream-frames.nx") if a.shm_dir else None)):
        if target is None:
            continue
        run, engine = stream_once(scan, a.rate, output=target, **options)
        if run.dropped == 0:  # the engine saw the whole scan: compare with ufo reco on it
            run.deviation = compare_with_reco(engine, scan, rows, axis, a.out_dir)
        del engine
        os.remove(target)
        report[name] = run.as_dict()
        log(f"to {name}: {run}")
        save()
    search = os.path.join(a.shm_dir or a.out_dir, "ufo-stream-search.nx")
    if a.find_max:  # the searches replay the rendered scan
        best, runs = find_max_rate(scan, a.search_rate or a.rate, a.search_projections + a.darks + a.flats,
                                   output=search, **options)
        report["max_zero_drop_rate"] = best
        report["search"] = [r.as_dict() for r in runs]
        for r in runs:
            log(f"  {r.rate_asked:8.1f} fps asked: {r.fps_reached:8.1f} reached, {r.dropped} dropped, lag {r.lag:.2f} s, "
                f"writer {r.writer_mb_s:.0f} MB/s, {r.gups:.0f} GUPS")
        log(f"highest rate with zero drops: {best:g} frames/s")
        save()
    if a.variants:  # which part limits the rate: the reconstruction alone, the writer alone, fp16 storage
        frames = a.search_projections + a.darks + a.flats
        for name, extra in (("reconstruction only", dict(output=None)),
                            ("writer only", dict(output=search, reconstruct=False)),
                            ("fp16, writer", dict(output=search, precision="fp16"))):
            best, runs = find_max_rate(scan, a.search_rate or a.rate, frames, **{**options, **extra})
            report[f"max_rate {name}"] = best
            report[f"search {name}"] = [r.as_dict() for r in runs]
            log(f"highest rate with zero drops, {name}: {best:g} frames/s "
                f"({runs[-1].gups:.0f} GUPS, lag {runs[-1].lag:.2f} s)")
            save()
    for path in (scan, search):
        if os.path.exists(path):
            os.remove(path)
    save()
    return report
