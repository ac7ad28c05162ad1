"""`ufo demo`: a simulated beamline runs a whole online-tomography experiment."""

from __future__ import annotations

import asyncio
import math
import os

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..demo import Demo, DemoOptions, DemoResult
from .errors import handle_errors

EXAMPLES = """
\b
Examples:
  ufo demo                                   # 512 x 512 detector, 720 projections, CPU
  ufo demo --size 256 --projections 360      # a quicker look
  ufo demo --size 2048 --projections 1500 --gpu --output /data/demo
  ufo demo --rows 200:300                    # reconstruct 100 slices only

\b
It writes OUTPUT/scan_NNNN/scan.nx (NXtomo: darks, flats, projections with image keys
and angles), OUTPUT/scan_NNNN/slices/slice-NNNNN.tif and OUTPUT/scan_NNNN/montage.png
(three phantom slices above their reconstructions). Read the raw scan again with
`ufo reco --projections OUTPUT/scan_0000/scan.nx --axis auto`.
"""


@click.command(epilog=EXAMPLES)
@click.option("--size", default=512, show_default=True, type=int, help="Detector width and height (pixels).")
@click.option("--projections", default=720, show_default=True, type=int, help="Projections over 180 degrees.")
@click.option("--gpu", is_flag=True, help="Reconstruct on the GPU (needs CuPy: pip install -e '.[gpu]').")
@click.option("--output", "-o", default="ufo-demo", show_default=True, type=click.Path(file_okay=False),
              help="Directory for the experiment; each run adds scan_NNNN.")
@click.option("--rows", default=None, metavar="FROM:TO", help="Detector rows to reconstruct (default: all).")
@click.option("--axis-offset", default=None, type=float, metavar="PIXELS",
              help="Rotation axis position from the detector centre (default: size / 40 + 0.37).")
@click.option("--noise", default=20.0, show_default=True, type=float, help="Detector noise (counts; flat field 3000).")
@click.option("--frame-rate", default=0.0, show_default=True, type=float,
              help="Camera frames per second (0: as fast as the simulation renders).")
@handle_errors
def demo(size: int, projections: int, gpu: bool, output: str, rows: str | None, axis_offset: float | None,
         noise: float, frame_rate: float) -> None:
    """Run a simulated online-tomography experiment end to end.

    The control layer drives a simulated beamline (rotation stage, flat-field motor,
    shutter, a mock camera over a 3-D phantom with noise, zingers, dead columns and the
    rotation axis off centre) through darks, flats and projections. The frames stream at
    once into an NXtomo file (through the walker) and into an online reconstruction
    graph: flat-field correction, zinger and ring removal, automatic axis, filtered
    back-projection, slices written as TIFF. A summary compares them with the phantom.
    """
    console = Console()
    options = DemoOptions(size=size, projections=projections, gpu=gpu, output=output, rows=rows,
                          axis_offset=axis_offset, noise=noise, frame_rate=frame_rate)
    run = Demo(options)
    console.print(f"[bold]ufo demo[/]: {size} x {size} detector, {options.darks} darks, {options.flats} flats, "
                  f"{projections} projections, axis at {options.true_axis:g} px, "
                  f"reconstruction on the {'GPU' if gpu else f'CPU ({options.replicas} threads)'}")
    result = asyncio.run(_watch(run, console))
    console.print(summary(result))


async def _watch(run: Demo, console: Console) -> DemoResult:
    progress = Progress(TextColumn("[bold]{task.description:<14}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[unit]}"), TimeElapsedColumn(), console=console)
    with progress:
        acquired = progress.add_task("acquisition", total=run.frames_total, unit="frames")
        written = progress.add_task("writing", total=run.frames_total, unit="frames")
        sliced = progress.add_task("reconstruction", total=run.slices_total, unit="slices")
        task = asyncio.ensure_future(run.run())
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=0.1)
                progress.update(acquired, completed=run.acquired)
                progress.update(written, completed=run.written)
                progress.update(sliced, completed=run.reconstructed)
        except (KeyboardInterrupt, asyncio.CancelledError):
            task.cancel()
            console.print("[yellow]interrupted: closing the shutter and the files ...[/]")
            await asyncio.gather(task, return_exceptions=True)
            raise
    return task.result()


def summary(r: DemoResult) -> Table:
    table = Table(title=f"ufo demo: done in {r.total_s:.1f} s", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    raw_mb = r.bytes_written / 1e6
    table.add_row("acquisition", f"{r.frames} frames in {r.acquisition_s:.1f} s: {r.frames_per_s:.0f} frames/s")
    table.add_row("written", f"{raw_mb:.0f} MB NXtomo at {r.mb_per_s:.0f} MB/s (while acquiring)")
    table.add_row("reconstruction", f"{r.slices} slices, {r.slices_per_s:.1f} slices/s over the whole run; "
                  f"last slice {r.reco_after_scan_s:.1f} s after the last frame")
    table.add_row("axis", f"found {r.found_axis:.2f} px, true {r.options.true_axis:.2f} px "
                  f"(error {r.axis_error:+.2f} px)")
    quality = "-" if math.isnan(r.psnr) else f"PSNR {r.psnr:.1f} dB, SSIM {r.ssim:.3f}"
    table.add_row("vs phantom", f"{quality} (mean of {r.compared_slices} slices)")
    table.add_row("raw data", os.path.relpath(r.raw_file))
    table.add_row("slices", os.path.relpath(r.slices_path))
    table.add_row("montage", f"{os.path.relpath(r.montage)} (phantom slices above, their reconstructions below)")
    return table
