"""`ufo demo`: a simulated beamline runs a whole online-tomography experiment."""

from __future__ import annotations

import asyncio
import math
import os

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..core.errors import InputError, UsageError
from ..demo import Demo, DemoOptions, DemoResult
from ..demo.run import CPU_ROWS
from .errors import FiniteFloatRange, default_sigint, handle_errors

EXAMPLES = """
\b
Examples:
  ufo demo                                   # 512 x 512 detector, 720 projections, CPU
  ufo demo --size 256 --projections 360      # a quicker look
  ufo demo --size 1024 --projections 1500 --gpu --output /data/demo
  ufo demo --rows all                        # reconstruct all 512 slices (~8x the back-projection)
  ufo demo --rows 200:300                    # reconstruct these 100 slices
  ufo demo --rows 0:512:4                    # every 4th row: 128 slices
  ufo demo --axis 269.17                     # a given axis: slices final one batch after the last frame

\b
It writes OUTPUT/scan_NNNN/scan.nx (NXtomo: darks, flats, projections with image keys
and angles), OUTPUT/scan_NNNN/slices/slice-NNNNN.tif and OUTPUT/scan_NNNN/montage.png
(three phantom slices above their reconstructions). Read the raw scan again with
`ufo reco --projections OUTPUT/scan_0000/scan.nx --axis auto`.
"""


@click.command(epilog=EXAMPLES)
@click.option("--size", default=512, show_default=True, type=int, help="Detector width and height (pixels).")
@click.option("--projections", default=720, show_default=True, type=int, help="Projections over 180 degrees.")
@click.option("--gpu", is_flag=True, help="Reconstruct on the GPU (needs CuPy: pip install 'ufo[gpu]').")
@click.option("--output", "-o", default="ufo-demo", show_default=True, type=click.Path(file_okay=False),
              help="Directory for the experiment; each run adds scan_NNNN.")
@click.option("--rows", default=None, metavar="FROM:TO[:STEP]|all",
              help=f"Detector rows to reconstruct, TO excluded (default on the CPU: {CPU_ROWS} rows spread over "
                   f"the detector, 4:512:8 at 512 pixels, to stay within ~25 s on two cores; all of them up to "
                   f"{2 * CPU_ROWS} pixels and with --gpu).")
@click.option("--axis", "axis", default="auto", show_default=True, metavar="auto|PIXELS",
              help="Rotation axis for the reconstruction: found by Vo's method once the projections cover a "
                   "half turn (on a 180-degree scan: after the last projection, so the kept projections are "
                   "back-projected then), or a detector column given in pixels (back-projected while the scan runs).")
@click.option("--axis-offset", default=None, type=FiniteFloatRange(), metavar="PIXELS",
              help="Rotation axis position from the detector centre (default: size / 40 + 0.37).")
@click.option("--noise", default=20.0, show_default=True, type=FiniteFloatRange(0),
              help="Detector noise (counts; flat field 3000).")
@click.option("--frame-rate", default=0.0, show_default=True, type=FiniteFloatRange(0),
              help="Camera frames per second (0: as fast as the simulation renders).")
@handle_errors
def demo(size: int, projections: int, gpu: bool, output: str, rows: str | None, axis: str,
         axis_offset: float | None, noise: float, frame_rate: float) -> None:
    """Run a simulated online-tomography experiment end to end.

    The control layer drives a simulated beamline (rotation stage, flat-field motor,
    shutter, a mock camera over a 3-D phantom with noise, zingers, dead columns and the
    rotation axis off centre) through darks, flats and projections. The frames stream at
    once into an NXtomo file (through the walker) and into the streaming reconstruction
    engine: flat-field correction and filtered back-projection of each batch of
    projections into slices kept in memory, the axis found automatically (zingers and
    dead pixels of the reconstructed rows are replaced by their local median first; no
    ring removal). After the last frame the slices are written as TIFF and compared with
    the phantom; the summary states the frames the camera dropped and the lag from the
    last frame to the complete slices.
    """
    console = Console()
    try:
        axis_value: float | str = "auto" if axis.strip().lower() == "auto" else float(axis)
    except ValueError as err:
        raise UsageError(f"--axis '{axis}' must be 'auto' or a detector column in pixels") from err
    options = DemoOptions(size=size, projections=projections, gpu=gpu, output=output, rows=rows, axis=axis_value,
                          axis_offset=axis_offset, noise=noise, frame_rate=frame_rate)
    run = Demo(options)
    console.print(f"[bold]ufo demo[/]: {size} x {size} detector, {options.darks} darks, {options.flats} flats, "
                  f"{projections} projections, axis at {options.true_axis:g} px; reconstructing "
                  f"{run.slices_total} slices ({options.describe_rows()}) on the "
                  f"{'GPU' if gpu else f'CPU ({options.replicas} threads)'}")
    with default_sigint():  # Ctrl-C cancels the experiment's task: shutter closed, files closed, then exit 130
        result = asyncio.run(_watch(run, console))
    console.print(summary(result))
    if result.check:  # a self-check that cannot fail is none: exit 1, saying why (and the axis, where given)
        off = result.axis_error
        hint = "" if result.axis_auto or abs(off) < 1 else \
            f"; the axis given ({result.found_axis:g} px) is {off:+.2f} px off the true {options.true_axis:.2f} px"
        raise InputError(f"{result.check}{hint}")


async def _watch(run: Demo, console: Console) -> DemoResult:
    progress = Progress(TextColumn("[bold]{task.description:<14}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[unit]}"), TimeElapsedColumn(), console=console)
    with progress:
        acquired = progress.add_task("acquisition", total=run.frames_total, unit="frames")
        written = progress.add_task("writing", total=run.frames_total, unit="frames")
        projected = progress.add_task("reconstruction", total=run.options.projections, unit="projections")
        sliced = progress.add_task("slices", total=run.slices_total, unit="slices written")
        task = asyncio.ensure_future(run.run())
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=0.1)
                progress.update(acquired, completed=run.acquired)
                progress.update(written, completed=run.written)
                progress.update(projected, completed=run.backprojected)
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
    received = f" ({r.frames} of {r.frames_expected} received)" if r.frames_dropped else ""
    table.add_row("acquisition", f"{r.frames} frames in {r.acquisition_s:.1f} s: {r.frames_per_s:.0f} frames/s, "
                  f"{r.frames_dropped} dropped by the camera{received}")
    table.add_row("written", f"{raw_mb:.0f} MB NXtomo at {r.mb_per_s:.0f} MB/s (while acquiring)")
    table.add_row("reconstruction", f"{r.slices} slices ({r.options.describe_rows()}) on the {r.device.upper()} by the "
                  f"streaming engine: flat-field correction, {r.options.filter.capitalize()}-filtered back-projection "
                  "(zingers and dead pixels, which the file keeps, replaced by their local median; no ring removal)")
    table.add_row("lag", f"slices complete {r.reco_after_scan_s:.1f} s after the camera's last frame, "  # both from
                  f"written {r.slices_written_s:.1f} s after it")  # it: the engine's own lag began behind its queue
    if r.axis_auto:
        table.add_row("", "(the axis is found once the projections cover a half turn, on this 180-degree scan at "
                      "the last one: the back-projection waits for it; with --axis PIXELS it runs during the scan)")
    how = "found" if r.axis_auto else "given"
    table.add_row("axis", f"{how} {r.found_axis:.2f} px, true {r.options.true_axis:.2f} px "
                  f"(error {r.axis_error:+.2f} px)")
    quality = "-" if math.isnan(r.psnr) else f"PSNR {r.psnr:.1f} dB, SSIM {r.ssim:.3f}"
    table.add_row("vs phantom", f"{quality} (mean of {r.compared_slices} slices)")
    for warning in r.warnings:
        table.add_row("warning", warning)
    table.add_row("raw data", os.path.relpath(r.raw_file))
    table.add_row("slices", os.path.relpath(r.slices_path))
    table.add_row("montage", f"{os.path.relpath(r.montage)} (phantom slices above, their reconstructions below)")
    return table
