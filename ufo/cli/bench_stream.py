"""`ufo bench stream`: a scan replayed at camera rate into an NXtomo writer and the online reconstructor."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time

import click
from rich.console import Console
from rich.table import Table

from .errors import FiniteFloatRange, handle_errors

EXAMPLES = """
\b
Examples:
  ufo bench stream                                   # 1024 x 1024 at 100 frames/s, 16 rows, ~20 s
  ufo bench stream --find-max                        # ... then the highest rate with zero drops
  ufo bench stream --width 2048 --height 2048 --projections 600 --find-max --rate 20
  ufo bench stream --width 2560 --height 2160 --projections 3000 --rows all --device gpu --dir /dev/shm
  ufo bench stream --scan my_scan.nx --rate 50       # replay a recorded scan instead
"""


@click.command(epilog=EXAMPLES)
@click.option("--scan", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Replay this recorded scan (NXtomo/HDF5/TIFF) instead of rendering one.")
@click.option("--width", default=1024, show_default=True, type=click.IntRange(16, 16384))
@click.option("--height", default=1024, show_default=True, type=click.IntRange(1, 16384))
@click.option("--projections", default=1500, show_default=True, type=click.IntRange(2, 100000))
@click.option("--darks", default=20, show_default=True, type=click.IntRange(0, 10000))
@click.option("--flats", default=20, show_default=True, type=click.IntRange(1, 10000))
@click.option("--span", default=180.0, show_default=True, type=FiniteFloatRange(1, 720), help="Scan angle in degrees.")
@click.option("--rate", default=100.0, show_default=True, type=FiniteFloatRange(0.1, 100000), help="Frames per second asked.")
@click.option("--rows", "rows_text", default="16", show_default=True,
              help="Rows to reconstruct: a count around the middle, FROM:TO, or 'all'.")
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "gpu"]))
@click.option("--precision", default="fp32", show_default=True, type=click.Choice(["fp32", "fp16"]))
@click.option("--dir", "directory", default=None, type=click.Path(file_okay=False, exists=True),
              help="Where the scan and the raw frames are written (default: the system's temporary directory).")
@click.option("--no-write", is_flag=True, help="Reconstruct only (no raw frames written).")
@click.option("--check/--no-check", default=True, show_default=True,
              help="Compare 8 slices with `ufo reco` on the same scan.")
@click.option("--find-max", is_flag=True, help="Then search the highest rate with zero drops.")
@click.option("--search-projections", default=600, show_default=True, type=click.IntRange(50, 100000),
              help="Projections replayed per try of --find-max.")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False), help="Also write the figures as JSON.")
@handle_errors
def stream(scan: str | None, width: int, height: int, projections: int, darks: int, flats: int, span: float,
           rate: float, rows_text: str, device: str, precision: str, directory: str | None, no_write: bool,
           check: bool, find_max: bool, search_projections: int, json_path: str | None) -> None:
    """Replay a scan at a frame rate into an NXtomo writer and the online reconstruction; report
    the rate sustained, frames dropped, MB/s written, the reconstruction's speed and the lag from
    the last frame to complete slices."""
    import math

    from ..bench.stream import compare_with_reco, find_max_rate, render_scan, rows_of, stream_once, warm_up
    from ..storage import open_source

    console = Console() if Console().is_terminal else Console(width=160)
    console.print(f"machine: {platform.node()}, {platform.machine()}, {os.cpu_count()} cores, "
                  f"Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(dir=directory, prefix="ufo-bench-stream-") as work:
        if scan is None:
            scan = os.path.join(work, "scan.nx")
            t0 = time.perf_counter()
            with console.status(f"rendering {projections} projections of {height} x {width} ..."):
                axis: float | str = render_scan(scan, width, height, projections, darks, flats, math.radians(span),
                                                axis_offset=width / 40 + 0.37)
            console.print(f"scan rendered in {time.perf_counter() - t0:.1f} s: {scan}")
        else:
            axis = "auto"
        source = open_source(scan)
        height = source.shape[0]
        source.close()
        rows = rows_of(rows_text, height)
        output = None if no_write else os.path.join(work, "frames.nx")
        options = dict(rows=rows, axis=axis, device=device, precision=precision)
        warm_up(device)
        with console.status(f"replaying at {rate:g} frames/s ..."):
            run, engine = stream_once(scan, rate, output=output, **options)
        if check and run.dropped == 0:  # with frames dropped, the slices lack projections that ufo reco has
            with console.status("comparing with ufo reco ..."):
                run.deviation = compare_with_reco(engine, scan, rows, run.axis, work)
        del engine
        runs = [run]
        best = None
        if find_max:
            with console.status("searching the highest rate with zero drops ..."):
                best, tries = find_max_rate(scan, rate, search_projections + darks + flats, output=output, **options)
            runs += tries
    table = Table(title="ufo bench stream: replayed scan -> NXtomo writer + online reconstruction", title_justify="left")
    for name in ("fps asked", "fps reached", "received", "dropped", "MB/s in", "writer MB/s", "slices", "GUPS",
                 "lag s", "device", "vs ufo reco"):
        table.add_column(name, justify="right")
    for r in runs:
        table.add_row(f"{r.rate_asked:g}", f"{r.fps_reached:.1f}", str(r.received),
                      f"[{'green' if r.dropped == 0 else 'red'}]{r.dropped}[/]", f"{r.fps_reached * r.frame_mb:.0f}",
                      f"{r.writer_mb_s:.0f}" if r.written else "-", str(r.slices), f"{r.gups:.2f}", f"{r.lag:.2f}",
                      r.device, "-" if r.deviation is None else f"{r.deviation:.1e}")
    console.print(table)
    if best is not None:
        console.print(f"highest rate with zero drops: {best:g} frames/s ({best * runs[0].frame_mb:.0f} MB/s)")
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"runs": [r.as_dict() for r in runs], "max_zero_drop_rate": best,
                       "machine": platform.node(), "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M")},
                      f, indent=2)
