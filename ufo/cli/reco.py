"""`ufo reco`: reconstruct slices from projections or sinograms (like tofu's `tofu tomo`)."""

from __future__ import annotations

import json
import math
import os
import sys
import tomllib
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from ..core.errors import UsageError
from ..core.units import to_unit
from .. import reco as reco_mod
from ..tomo.filters import FILTERS
from .errors import handle_errors

EXAMPLES = """
\b
Examples:
  ufo reco --projections scan/proj --darks scan/darks --flats scan/flats --axis auto
  ufo reco --projections scan.h5 --darks d.tif --flats f.tif --axis 1021.5 --region 500:1500:10 --output slices.h5:/data
  ufo reco --sinograms sinos/ --axis 1021.54 --filter shepp-logan --output reco/slice-%05i.tif --output-bits 16
  ufo reco --projections proj/ --darks d/ --flats f/ --energy 20keV --distance 10cm --pixel-size 1.4um --delta-beta 200
  ufo reco --config reco.toml --dry-run
  ufo reco --projections scan.nx --axis auto --output volume.h5:/slices --cluster local:4
  ufo reco --projections /gpfs/scan.h5:/data --darks d.tif --flats f.tif --axis auto --output /gpfs/reco.zarr --cluster tcp://10.0.0.1:8786
"""


class QuantityType(click.ParamType):
    """A number in `unit`, or a quantity with its own unit ('0.25deg', '10cm', '20keV')."""

    name = "quantity"

    def __init__(self, unit: str):
        self.unit = unit

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        number = self._number(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number (expected a value in {self.unit})", param, ctx)
        return number

    def _number(self, value: Any, param: Any, ctx: Any) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return float(value)
        except ValueError:
            pass
        try:
            return to_unit(value, self.unit)
        except ValueError as exc:
            self.fail(f"{exc} (expected a value in {self.unit})", param, ctx)


def _load_config(ctx: click.Context, param: Any, path: str | None) -> str | None:
    """Values from a TOML or JSON file become the defaults; options on the command line win."""
    if not path:
        return path
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f) if not path.endswith(".json") else json.load(f)
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"cannot read config '{path}': {exc}") from None
    data = data.get("reco", data)
    by_option = {opt.lstrip("-").replace("-", "_"): p.name for p in ctx.command.params for opt in p.opts}
    unknown = [k for k in data if k.replace("-", "_") not in by_option]
    if unknown:
        raise click.BadParameter(f"config '{path}' has unknown keys: {', '.join(unknown)}")
    ctx.default_map = {by_option[k.replace("-", "_")]: v for k, v in data.items()}
    return path


@click.command(epilog=EXAMPLES)
@click.option("--config", type=click.Path(dir_okay=False), callback=_load_config, is_eager=True, expose_value=False,
              help="TOML or JSON file with option values (a [reco] table or top-level keys).")
@click.option("--projections", help="Projections: directory, glob, multi-page TIFF, HDF5 file.h5:/dataset.")
@click.option("--sinograms", help="Sinograms instead of projections (one per slice).")
@click.option("--darks", help="Dark fields (averaged).")
@click.option("--flats", help="Flat fields before the scan (median).")
@click.option("--flats2", help="Flat fields after the scan (interpolated with --flats by projection index).")
@click.option("--output", "-o", default="slices/slice-%05i.tif", show_default=True,
              help="slice-%05i.tif (one TIFF per slice), slices.tif (BigTIFF) or slices.h5:/data.")
@click.option("--axis", default=None, help="Rotation axis in detector pixels, or 'auto' (default: width / 2).")
@click.option("--axis-method", type=click.Choice(["sinogram", "scan"]), default="sinogram", show_default=True,
              help="How --axis auto finds the axis.")
@click.option("--angle", type=QuantityType("rad"), help="Angle step (rad, or with unit: 0.25deg); default pi / projections.")
@click.option("--offset", type=QuantityType("rad"), default=0.0, help="Angle of the first projection.")
@click.option("--number", type=click.IntRange(2), help="Use only the first N projections.")
@click.option("--filter", "filter_", type=click.Choice(FILTERS), default="ramp", show_default=True, help="FBP filter.")
@click.option("--filter-cutoff", type=click.FloatRange(0.001, 1.0), default=1.0, show_default=True,
              help="Highest frequency kept, as a fraction of Nyquist.")
@click.option("--region", help="Detector rows to reconstruct, from:to:step (to excluded).")
@click.option("--roi", help="Slice region x,y,width,height (pixels).")
@click.option("--absorption/--no-absorption", default=None,
              help="Take -log after flat-field correction (default: on when flats are given).")
@click.option("--remove-outliers", type=click.FloatRange(0.5), help="Remove zingers deviating more than this many sigma.")
@click.option("--remove-stripes", type=click.IntRange(3), help="Remove rings: stripe filter window (e.g. 21).")
@click.option("--energy", type=QuantityType("keV"), help="Phase retrieval: X-ray energy (keV).")
@click.option("--distance", type=QuantityType("m"), help="Phase retrieval: propagation distance (m).")
@click.option("--pixel-size", type=QuantityType("m"), help="Phase retrieval: effective pixel size (m).")
@click.option("--delta-beta", type=click.FloatRange(1e-6), default=100.0, show_default=True, help="Phase retrieval: delta/beta.")
@click.option("--output-bits", type=click.Choice(["8", "16", "32"]), help="Store as 8/16-bit integers or 32-bit floats.")
@click.option("--output-min", type=float, help="Value stored as 0 for 8/16 bits.")
@click.option("--output-max", type=float, help="Value stored as the largest integer for 8/16 bits.")
@click.option("--overwrite", is_flag=True, help="Replace existing output.")
@click.option("--pass-height", type=click.IntRange(1), help="Rows per pass (default: what fits in half the free memory).")
@click.option("--threads", type=click.IntRange(1), default=os.cpu_count() or 1, show_default=True,
              help="Threads for the heavy steps.")
@click.option("--gpus", help="GPUs to use: 'all', 'cpu' or numbers like 0,1 (default: UFO_DEVICES, else all).")
@click.option("--cluster", metavar="ADDRESS",
              help="Spread the rows over a Dask cluster: a scheduler address (tcp://host:8786) or local:N "
                   "(N worker processes here). Outputs: TIFF sequence, HDF5, Zarr.")
@click.option("--dry-run", is_flag=True, help="Print the plan and exit.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary.")
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
@handle_errors
def reco(**kw: Any) -> None:
    """Reconstruct slices by filtered back-projection (parallel beam)."""
    roi = None
    if kw["roi"]:
        try:
            roi = tuple(int(v) for v in str(kw["roi"]).split(","))
        except ValueError:
            roi = ()
        if len(roi) != 4:
            raise UsageError(f"--roi takes x,y,width,height, got '{kw['roi']}'")
    options = reco_mod.RecoOptions(
        projections=kw["projections"], sinograms=kw["sinograms"], darks=kw["darks"], flats=kw["flats"],
        flats2=kw["flats2"], output=kw["output"], axis=kw["axis"], axis_method=kw["axis_method"], angle=kw["angle"],
        offset=kw["offset"], number=kw["number"], filter=kw["filter_"], filter_cutoff=kw["filter_cutoff"],
        region=kw["region"], roi=roi, absorption=kw["absorption"],  # type: ignore[arg-type]
        remove_outliers=kw["remove_outliers"], remove_stripes=kw["remove_stripes"], energy=kw["energy"],
        distance=kw["distance"], pixel_size=kw["pixel_size"], delta_beta=kw["delta_beta"],
        output_bits=int(kw["output_bits"]) if kw["output_bits"] else None, output_min=kw["output_min"],
        output_max=kw["output_max"], overwrite=kw["overwrite"], pass_height=kw["pass_height"], replicas=kw["threads"],
        gpus=kw["gpus"],
    )
    if kw["gpus"] is not None:
        from ..gpu import select

        select(kw["gpus"])  # a bad --gpus is an error before any work
    plan = reco_mod.plan(options)
    console = Console(stderr=True)
    if kw["dry_run"]:
        click.echo(plan.describe())
        graph, _ = reco_mod.graph(plan, plan.passes[0], plan.axis)
        click.echo("graph of the first pass:\n" + graph.describe())
        return
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    if not kw["quiet"]:
        console.print(plan.describe())
    if kw["cluster"]:
        _on_cluster(options, plan.slices, kw["cluster"], console, kw["quiet"])
        return
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("slices"),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=console, disable=kw["quiet"])
    watched: list[Any] = []
    import threading

    stopping = threading.Event()

    def on_start(handle: Any, before: int) -> None:
        watched[:] = [handle, before]
        if stopping.is_set():  # Ctrl-C came between two passes: this one must not run
            handle.cancel()

    result_box: list[Any] = []
    errors: list[BaseException] = []
    ended = threading.Event()

    def work() -> None:
        try:
            result_box.append(reco_mod.run(plan, on_start))
        except BaseException as exc:  # noqa: BLE001 - reported in the main thread
            errors.append(exc)
        finally:
            ended.set()

    def written() -> int:
        if not watched:
            return 0
        handle, before = watched
        return before + sum(s.frames_in for s in handle.stats.values() if s.kind == "sink")

    # an Event, not Thread.join: a join cut short by KeyboardInterrupt can report a live thread as ended
    worker = threading.Thread(target=work, name="ufo:reco", daemon=True)
    try:
        with progress:
            bar = progress.add_task("reconstructing", total=plan.slices)
            worker.start()
            while not ended.wait(0.1):
                if watched:
                    progress.update(bar, completed=written())
            progress.update(bar, completed=plan.slices if not errors else None)
    except KeyboardInterrupt:
        _stop_reco(stopping, watched, ended, console)
        console.print(f"[yellow]interrupted: {written()} of {plan.slices} slices were written to {options.output} "
                      "before the stop; the output is closed (the rest of the slices are missing)[/]")
        sys.exit(130)
    if errors:
        raise errors[0]
    result = result_box[0]
    if not kw["quiet"]:
        table = Table(title="ufo reco", title_justify="left")
        for column in ("slices", "seconds", "slices/s", "GUPS", "axis", "output"):
            table.add_column(column)
        table.add_row(str(plan.slices), f"{result.seconds:.2f}", f"{result.slices_per_second:.2f}",
                      f"{result.gups:.2f}", f"{result.axis:.2f}", options.output)
        Console().print(table)


def _stop_reco(stopping: Any, watched: list[Any], ended: Any, console: Console) -> None:
    """Ctrl-C: no further pass starts, the running graph (or the axis search) is cancelled, and the
    command waits until the reconstruction thread has ended, so the writer has closed its file
    before the interpreter exits (a daemon thread still writing HDF5 at exit crashes it)."""
    from ..core.handle import stop_all
    from .errors import stop_after_interrupt

    stopping.set()
    stop_after_interrupt()  # a second Ctrl-C now only warns
    console.print("[yellow]interrupted: stopping the reconstruction and closing the output ...[/]")
    if watched:
        watched[0].cancel()
    while not ended.wait(0.1):  # the worker may be between passes, or starting the next graph
        stop_all(node_timeout=0.0)
        if watched:
            watched[0].cancel()


def _on_cluster(options: reco_mod.RecoOptions, slices: int, address: str, console: Console, quiet: bool) -> None:
    from .. import distributed

    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("slices"),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=console, disable=quiet)
    with distributed.connect(address) as client, progress:
        bar = progress.add_task(f"reconstructing on {len(client.scheduler_info(n_workers=-1)['workers'])} workers",
                                total=slices)
        result = distributed.reconstruct(options, client,
                                         on_progress=lambda done, total: progress.update(bar, completed=done))
    if not quiet:
        table = Table(title="ufo reco on a cluster", title_justify="left")
        for column in ("slices", "seconds", "slices/s", "workers", "tasks", "axis", "output"):
            table.add_column(column)
        table.add_row(str(result.slices), f"{result.seconds:.2f}", f"{result.slices_per_second:.2f}",
                      str(result.workers), str(result.parts), f"{result.axis:.2f}", result.output)
        Console().print(table)
