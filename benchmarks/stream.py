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
Everything is printed and, with --json, written to one file.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time

import numpy as np

from ufo.bench.stream import compare_with_reco, find_max_rate, render_scan, stream_once, warm_up


def gpu_against_cpu() -> dict[str, float]:
    """The CUDA steps against the CPU steps on the same small scans: max relative deviation."""
    from ufo.tomo.phantom import Phantom
    from ufo.tomo.streaming import StreamingReconstructor

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


def rows_of(text: str, height: int) -> slice:
    if text == "all":
        return slice(0, height)
    n = int(text)
    return slice(height // 2 - n // 2, height // 2 - n // 2 + n)


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
    from ufo.gpu import available

    if available():
        report.update(gpu_against_cpu())
        print("GPU against CPU engine:", {k: v for k, v in report.items() if k.startswith(("gpu_", "axis_"))}, flush=True)
    warm_up(a.device)
    scan = os.path.join(a.scan_dir, "ufo-stream-scan.nx")
    t0 = time.perf_counter()
    axis = render_scan(scan, a.width, a.height, a.projections, a.darks, a.flats, axis_offset=a.width / 40 + 0.37)
    report["render_seconds"] = time.perf_counter() - t0
    print(f"rendered {a.projections} projections of {a.height} x {a.width} in {report['render_seconds']:.1f} s", flush=True)
    rows = rows_of(a.rows, a.height)
    options = dict(rows=rows, axis=axis, device=a.device, precision=a.precision)
    disk = os.path.join(a.out_dir, "ufo-stream-frames.nx")

    def save() -> None:  # after every stage: a run cut short still reports what it measured
        if a.json:
            with open(a.json, "w") as f:
                json.dump(report, f, indent=2, default=float)

    for name, target in (("disk", disk), ("shm", os.path.join(a.shm_dir, "ufo-stream-frames.nx") if a.shm_dir else None)):
        if target is None:
            continue
        run, engine = stream_once(scan, a.rate, output=target, **options)
        if run.dropped == 0:  # the engine saw the whole scan: compare with ufo reco on it
            run.deviation = compare_with_reco(engine, scan, rows, axis, a.out_dir)
        del engine
        os.remove(target)
        report[name] = run.as_dict()
        print(f"to {name}:", run, flush=True)
        save()
    disk = scan  # the searches replay the rendered scan
    if a.find_max:
        target = os.path.join(a.shm_dir or a.out_dir, "ufo-stream-search.nx")
        best, runs = find_max_rate(disk, a.search_rate or a.rate, a.search_projections + a.darks + a.flats,
                                   output=target, **options)
        report["max_zero_drop_rate"] = best
        report["search"] = [r.as_dict() for r in runs]
        for r in runs:
            print(f"  {r.rate_asked:8.1f} fps asked: {r.fps_reached:8.1f} reached, {r.dropped} dropped, lag {r.lag:.2f} s, "
                  f"writer {r.writer_mb_s:.0f} MB/s, {r.gups:.0f} GUPS", flush=True)
        print(f"highest rate with zero drops: {best:g} frames/s", flush=True)
        save()
    if a.variants:  # which part limits the rate: the reconstruction alone, the writer alone, fp16 storage
        target = os.path.join(a.shm_dir or a.out_dir, "ufo-stream-search.nx")
        frames = a.search_projections + a.darks + a.flats
        for name, extra in (("reconstruction only", dict(output=None)),
                            ("writer only", dict(output=target, reconstruct=False)),
                            ("fp16, writer", dict(output=target, precision="fp16"))):
            best, runs = find_max_rate(disk, a.search_rate or a.rate, frames, **{**options, **extra})
            report[f"max_rate {name}"] = best
            report[f"search {name}"] = [r.as_dict() for r in runs]
            print(f"highest rate with zero drops, {name}: {best:g} frames/s "
                  f"({runs[-1].gups:.0f} GUPS, lag {runs[-1].lag:.2f} s)", flush=True)
            save()
    for path in (scan, os.path.join(a.shm_dir or a.out_dir, "ufo-stream-search.nx")):
        if os.path.exists(path):
            os.remove(path)
    save()


if __name__ == "__main__":
    main()
