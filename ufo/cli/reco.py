"""`ufo reco`: reconstruct slices from projections or sinograms (like tofu's `tofu tomo`).

Its reconstruction flags are generated from the one declaration of the options (`ufo.reco.RecoOptions`,
ufo/reco/schema.py): help, defaults, units, ranges and choices come from there and every value is checked by
the same `Option.convert` as in the GUI and in config files. This module adds only what is the command's own:
--config, --cluster, --dry-run, --quiet, --debug, the progress bar and Ctrl-C.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from ..core.errors import UsageError
from .. import reco as reco_mod
from ..reco import config, schema
from ..reco.hints import geometry_hints
from .errors import handle_errors
from .tofu_names import RecoCommand

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

NOT_OPTIONS = ("cluster", "dry_run", "quiet", "debug", "profile", "serve", "on_server")  # flags of the command, not of the reconstruction


class OptionType(click.ParamType):
    """A value checked by its option's declaration: the same conversion (units: '20keV', '5cm',
    '0.25deg'), ranges and messages as the GUI, config files and the Python API."""

    def __init__(self, option: schema.Option):
        self.option = option
        self.name = option.type_name()

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str | None:
        o = self.option
        if o.choices is not None:
            return "[" + "|".join(str(c) for c in o.choices) + "]"
        kind = {bool: "BOOL", int: "INT", float: "NUMBER", str: "PATH" if o.path else "TEXT"}[o.type]
        if o.array:
            return ",".join([kind] * (o.length or 2)) + ("" if o.length else ",...")
        return kind + (f"[{o.unit}]" if o.unit else "") + "".join(f"|{k}" for k in o.keywords)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return self.option.convert(value)
        except schema.OptionError as err:
            self.fail(err.reason, param, ctx)


def click_option(option: schema.Option) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The click option of one declared option: flag, help (doc, unit, range), default."""
    flags = [option.flag] + ([option.short] if option.short else [])
    extra = option.describe()
    help_text = option.doc + (f" [{extra}]" if extra and option.choices is None else "")
    if option.type is bool and option.default is None:  # tri-state: on, off, or decided later
        return click.option(f"{option.flag}/--no-{option.flag[2:]}", option.name, default=None, help=help_text)
    if option.type is bool:
        return click.option(*flags, option.name, is_flag=True, default=option.default, help=help_text)
    default: Any = option.default
    return click.option(*flags, option.name, type=OptionType(option), default=default,
                        show_default=option.default_text or (default is not None), help=help_text)


def _load_config(ctx: click.Context, param: Any, path: str | None) -> str | None:
    """Values from a TOML or JSON file become the defaults; options on the command line win. Checked by the option
    declarations: a bad value names the file and key; `serve = true` (a server that never ended) is no setting."""
    if not path:
        return path
    cls = getattr(ctx.command, "options_class", reco_mod.RecoOptions)
    try:
        values, rest = config.load(path, cls, extra=tuple(n for n in NOT_OPTIONS if n not in ("serve", "on_server")))
    except UsageError as err:
        raise click.BadParameter(str(err), ctx, param) from err
    ctx.default_map = {**values, **rest}
    return path


def make_command(cls: Any = reco_mod.RecoOptions) -> click.Command:
    """`ufo reco` for the options `cls` declares (RecoOptions; a test passes an extension of it)."""

    def reco(**kw: Any) -> None:
        """Reconstruct slices by filtered back-projection or direct Fourier inversion (parallel beam)."""
        if kw["serve"]:
            _serve_alone(click.get_current_context())
            from .reco_server import serve

            sys.exit(serve())
        if kw["on_server"]:
            from .reco_client import forward

            ctx = click.get_current_context()
            argv = list(ctx.meta["ufo.argv"])  # `ufo --debug reco --on-server`: the group's --debug goes too
            debug = ctx.parent is not None and ctx.parent.params.get("debug") and "--debug" not in argv
            code = forward([*argv, "--debug"] if debug else argv)
            if code is not None:
                sys.exit(code)
        options = cls(**{name: kw[name] for name in schema.options_of(cls)})
        _reconstruct(options, kw)

    command: Any = handle_errors(reco)
    for decorator in (  # applied last to first: the help lists --config, the options, then these
        click.option("--debug", is_flag=True, help="Show full tracebacks."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary."),
        click.option("--profile", is_flag=True, help="At the end, print where the time went: axis search, read, "
                     "correct, filter, back-project, write, waiting."),
        click.option("--dry-run", is_flag=True, help="Print the plan and exit."),
        click.option("--on-server", is_flag=True, help="Run on the warm reconstruction server of this user "
                     "(`ufo reco --serve`): no start-up (imports, CUDA, kernels); output, Ctrl-C and exit status as "
                     "here. Without a server: runs here, after a warning."),
        click.option("--serve", is_flag=True, help="Keep the imports, CUDA and its kernels warm and run the "
                     "`ufo reco --on-server` commands of this user, one at a time, until Ctrl-C (127.0.0.1 only)."),
        click.option("--cluster", metavar="ADDRESS",
                     help="Spread the rows over a Dask cluster: a scheduler address (tcp://host:8786) or local:N "
                          "(N worker processes here). Outputs: TIFF sequence, HDF5, Zarr."),
        *[click_option(declared) for declared in reversed(list(schema.options_of(cls).values()))],
        click.option("--config", type=click.Path(dir_okay=False), callback=_load_config, is_eager=True,
                     expose_value=False, help="TOML or JSON file with option values (a [reco] table or top-level "
                     "keys named as the options); the command line wins over it."),
    ):
        command = decorator(command)
    result = click.command("reco", epilog=EXAMPLES, cls=RecoCommand)(command)
    result.options_class = cls  # type: ignore[attr-defined]
    return result


def _check_cluster(output: str) -> None:
    """Dask there, and an output a cluster writes: before the plan is printed and the cluster started."""
    try:
        from ..distributed.outputs import cluster_output_problem
        import distributed  # noqa: F401 - said now, not after the plan
    except ImportError as err:
        raise UsageError("--cluster needs Dask: pip install 'ufo[cluster]'") from err
    if (problem := cluster_output_problem(output)) is not None:  # it came after a bar of 0 slices
        raise UsageError(problem)


def _reconstruct(options: Any, kw: dict[str, Any]) -> None:
    if options.gpus is not None:
        from ..gpu import select

        select(options.gpus)  # a bad --gpus is an error before any work
    if kw["cluster"]:
        _check_cluster(options.output)
    plan = reco_mod.plan(options, outputs=not kw["dry_run"])  # a dry run says an existing output (reco_dry)
    console = Console(stderr=True)
    for warning in plan.warnings:  # a dry run too: it is where a plan is checked
        console.print(f"[yellow]warning:[/] {warning}")
    if kw["dry_run"]:
        from .reco_dry import dry_run

        dry_run(plan, console)
        return
    if not kw["quiet"]:
        console.print(plan.describe())
    if kw["cluster"]:
        _on_cluster(options, plan.slices, kw["cluster"], console, kw["quiet"], kw.get("debug", False))
        return
    import queue
    import threading

    from ..core.progress import JobProgress
    from .progress import bar, show

    progress = bar(console, "slices", disable=kw["quiet"])
    job = JobProgress("reco", unit="slices", target=plan.slices)  # the bar follows it, not the sinks' counters
    watched: list[Any] = []

    stopping = threading.Event()
    existed = _output_exists(options.output)  # a file this run makes and leaves empty is removed at a stop

    def on_start(handle: Any, before: int) -> None:
        watched[:] = [handle, before]
        if stopping.is_set():  # Ctrl-C came between two passes: this one must not run
            handle.cancel()

    result_box: list[Any] = []
    errors: list[BaseException] = []
    ended = threading.Event()

    # the quality hints look at the middle row's sinogram beside the reconstruction: the one the
    # run read anyway (the resident path hands it over), else read here (ufo.reco.running.run)
    hints: list[str] = []
    rows: queue.Queue[Any] = queue.Queue()

    def work() -> None:
        try:
            result_box.append(reco_mod.run(plan, on_start, progress=job, middle_row=rows.put if not kw["quiet"] else None,
                                           stop=stopping))  # Ctrl-C ends an axis search between its candidates
        except BaseException as exc:  # noqa: BLE001 - reported in the main thread
            errors.append(exc)
        finally:
            if not job.progress().final:  # failed before the job began: the bar must still end
                job.end(errors[0] if errors else None)
            ended.set()

    def written() -> int:
        return job.progress().current

    def hint() -> None:
        from ..reco.hints import sinogram_hints

        _warm_hints()  # while the frames are read, not while the slices are written
        while True:  # None: read the row here; nothing before the run ended (it failed): no hints
            try:
                source = rows.get(timeout=0.1)
                break
            except queue.Empty:
                if ended.is_set() and rows.empty():
                    return
        hints.extend(sinogram_hints(plan, source))

    hinter = threading.Thread(target=hint, name="ufo:reco-hints", daemon=True)
    if not kw["quiet"]:
        hinter.start()
    # an Event, not Thread.join: a join cut short by KeyboardInterrupt can report a live thread as ended
    worker = threading.Thread(target=work, name="ufo:reco", daemon=True)
    try:
        with progress:
            worker.start()
            show(job, progress)
        ended.wait()
    except KeyboardInterrupt:
        _stop_reco(stopping, watched, ended, console)
        if written():
            console.print(f"[yellow]interrupted: {written()} of {plan.slices} slices were written to {options.output} "
                          "before the stop; the output is closed (the rest of the slices are missing)[/]")
        else:
            from ..reco.output_checks import remove_if_empty

            gone = remove_if_empty(options.output, existed)
            console.print(f"[yellow]interrupted before the first of {plan.slices} slices was written"
                          f"{': the empty output file was removed' if gone else ''}[/]")
        if hinter.ident is not None:
            hinter.join()  # it reads the inputs: HDF5 must not be torn down under it at exit
        sys.exit(130)
    if errors:
        if hinter.ident is not None:
            hinter.join()
        raise errors[0]
    result = result_box[0]
    shown = set(plan.warnings)  # an input's note comes again from each task that read it: said once
    for warning in [*result.warnings, *geometry_hints(plan, result.axis)]:  # also with --quiet, as the plan's
        said = re.sub(r"^[a-z][a-z0-9-]*: ", "", warning)  # without the task's name ("read-2: ...")
        if said in shown or warning in shown:
            continue
        shown.add(said)
        console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    if options.slice is not None:
        click.echo(_preview_line(options, plan.rows[0], plan.slice_shape(result.axis)))
    if not kw["quiet"]:
        table = Table(title=f"ufo reco ({options.method})", title_justify="left")
        for column in ("slices", "seconds", "slices/s", "GUPS", "axis", "output"):
            table.add_column(column)
        table.add_row(str(plan.slices), f"{result.seconds:.2f}", f"{result.slices_per_second:.2f}",
                      f"{result.gups:.2f}", f"{result.axis:.2f}", options.output)
        Console().print(table)
        hinter.join()
        for hint in hints:
            Console().print(f"hint: {hint}")
    if kw.get("profile"):
        Console().print(_profile_table(result))
        timeline = result.stages.timeline()
        if timeline:
            click.echo("timeline (seconds since the command started): " +
                       " · ".join(f"{event} {at:.2f}" for event, at in timeline))


def _profile_table(result: Any) -> Table:
    """--profile: CPU seconds per stage (ufo.reco.profile) and their share of the wall time."""
    from ..reco.profile import stage_rows

    path = "GPU-resident path" if result.path == "resident" else "sinogram path"
    table = Table(title=f"where the time went ({result.seconds:.2f} s wall, {path}; stages overlap)",
                  title_justify="left")
    for column in ("stage", "seconds", "% of wall", "note"):
        table.add_column(column)
    for row in stage_rows(result):
        table.add_row(row.stage, f"{row.seconds:.2f}", f"{100 * row.share:.0f}", row.note.strip())
    return table


def _preview_line(options: Any, row: int, shape: tuple[int, int]) -> str:
    """--slice: the slice's file and min/max/mean, read back (a .raw with the slice's `shape` and type)."""
    import numpy as np

    from ..core.registry import create
    from ..storage.convert import from_bits, stored_scale
    from ..storage.formats import FileKind, parse_output_path

    target = parse_output_path(options.output)
    path = target.frame_path(row) if target.kind is FileKind.TIFF_SEQUENCE else options.output
    bits = {8: "uint8", 16: "uint16"}.get(options.output_bits or 32, "float32")
    raw = {"raw_height": shape[0], "raw_width": shape[1], "raw_dtype": bits} if target.kind is FileKind.RAW else {}
    image = np.asarray(create("read", path=path, **raw)().collect()[-1])
    scale = stored_scale(options.output) if image.dtype in (np.uint8, np.uint16) else None
    image = from_bits(image, *scale) if scale else image.astype(np.float64)  # values, not stored integers
    return (f"slice of row {row}: {path}  min {image.min():.6g}  max {image.max():.6g}  "
            f"mean {image.mean():.6g}")


def _warm_hints() -> None:
    """Import the hints' checks (numpy only) on tiny data. The middle row's correction needs no
    warm-up: on the GPU path the run's device makes it (CuPy is up; numba's import from a cold
    disk would compete with the frames being read), elsewhere the reconstruction has loaded it."""
    import numpy as np

    from ..tomo.quality_hints import check_sinogram

    with contextlib.suppress(Exception):  # a warm-up: the hints themselves say what fails
        check_sinogram(np.ones((8, 8), np.float32))


def _serve_alone(ctx: click.Context) -> None:
    """--serve takes no reconstruction: with --projections or --dry-run it started a server and
    waited, the options ignored without a word (a probe)."""
    from click.core import ParameterSource

    given = [f"--{name.replace('_', '-')}" for name in ctx.params if name not in ("serve", "quiet", "debug")
             and ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)]
    if given:
        raise click.UsageError(f"--serve starts the reconstruction server and takes no {', '.join(given)}: give "
                               "those to `ufo reco --on-server ...`, which runs on it")


def _output_exists(output: str) -> bool:
    import os

    from ..storage import parse_output_path

    return os.path.exists(parse_output_path(output).path)


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


def _on_cluster(options: reco_mod.RecoOptions, slices: int, address: str, console: Console, quiet: bool,
                debug: bool = False) -> None:
    import logging

    from .. import distributed

    if not debug:  # Dask logs its reconnect attempts with tracebacks; the command says what went wrong once
        try:
            import distributed as dask_distributed  # noqa: F401 - its import sets its loggers' levels: set after it
        except ImportError:  # no Dask: connect() says how to install it
            pass
        for name in [n for n in logging.root.manager.loggerDict if n.split(".")[0] == "distributed"] + ["distributed"]:
            logging.getLogger(name).setLevel(logging.CRITICAL)

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


reco = make_command()
