"""`ufo run`: run a pipeline given as text or as a JSON graph."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from ..core.errors import UsageError
from ..core.small_files import check_report_file, check_small_file
from ..core.pipeline import parse
from .errors import handle_errors
from .progress import stderr_console, summary, watch

if TYPE_CHECKING:
    from rich.console import Console

EXAMPLES = """
\b
Examples:
  ufo run "dummy-data shape=512,512 number=100 init=random ! calculate expression='x * 2 + 1' ! write path=out/frame-%05i.tif"
  ufo run "read path=scan/*.tif y=100 height=200 ! bin size=2 ! write path=binned.h5:/data bits=16"
  ufo run "[read path=a.tif, read path=b.tif] ! calculate expression='x0 - x1' ! write path=diff.tif"
  ufo run "dummy-data number=1000 ! rotate angle=5deg replicas=2 ! null" --trace trace.json
  ufo run --json graph.json
"""


@click.command(epilog=EXAMPLES)
@click.argument("pipeline", nargs=-1)
@click.option("--json", "json_file", type=click.Path(dir_okay=False), help="Run the graph in this JSON file.")
@click.option("--dump", type=click.Path(dir_okay=False), help="Save the graph as JSON to this file.")
@click.option("--trace", type=click.Path(dir_okay=False), help="Write a Chrome trace (chrome://tracing, Perfetto).")
@click.option("--gpus", help="GPUs to use: 'all', 'cpu' or numbers like 0,1 (default: UFO_DEVICES, else all).")
@click.option("--gpu-streams", type=click.IntRange(1, 64),
              help="CUDA streams per GPU for GPU segments (default: UFO_GPU_STREAMS, else 2).")
@click.option("--dry-run", is_flag=True, help="Validate and print the graph without running it.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary (warnings are still shown).")
@click.option("--ufo", "ufo_semantics", is_flag=True,
              help="UFO's meaning where a spelling means something else here (bin sums, ...): see docs/ufo-compat.md.")
@click.option("--ufo-compat-report", is_flag=True, help="Print how each UFO property of the pipeline maps; run nothing.")
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
@handle_errors
def run(pipeline: tuple[str, ...], json_file: str | None, dump: str | None, trace: str | None, gpus: str | None,
        gpu_streams: int | None, dry_run: bool, quiet: bool, ufo_semantics: bool, ufo_compat_report: bool, debug: bool) -> None:
    """Run a pipeline: TASK key=value ... ! TASK ... (see 'ufo tasks')."""
    if json_file and pipeline:
        raise UsageError("give either a pipeline or --json FILE, not both")
    if ufo_compat_report:  # before building the graph: a report also for pipelines that would not build
        from .compat import compat_report

        if json_file:
            check_small_file(json_file, "JSON graph")
            try:
                with open(json_file) as f:
                    text = f.read()
            except OSError as exc:
                raise UsageError(f"cannot read JSON graph '{json_file}': {exc.strerror}") from exc
            click.echo(compat_report(text, is_json=True))
        else:
            click.echo(compat_report(" ".join(pipeline)))
        return
    if gpus is not None:
        from ..gpu import select

        select(gpus)  # a bad --gpus is an error even when no task of the graph could use a GPU
    if json_file:
        check_small_file(json_file, "JSON graph")
        try:
            text = open(json_file).read()
        except OSError as exc:
            raise UsageError(f"cannot read JSON graph '{json_file}': {exc.strerror}") from exc
        from ..core import serialize

        graph = serialize.loads(text, json_file)
    elif pipeline:
        graph = parse(" ".join(pipeline))
    else:
        raise click.UsageError("give a pipeline, e.g. ufo run \"dummy-data number=10 ! null\", or --json FILE")
    made: list[Console] = []

    def console() -> Console:
        """The run's console on stderr, made when something is to be shown (a quiet run needs no rich)."""
        if not made:
            made.append(stderr_console())
        return made[0]

    if ufo_semantics:
        from ..core.ufocompat import apply as ufo_apply

        ufo_apply(graph.nodes, force=True)
    notes = [note for task in graph.nodes for note in task.ufo_notes]
    for note in notes:
        console().print(f"[yellow]UFO:[/] {note}")
    description = graph.describe()
    _check_side_files(graph, {"--dump": dump, "--trace": trace})
    if dump:
        from ..core import serialize

        with open(dump, "w") as f:
            f.write(serialize.dumps(graph))
    _check_outputs(graph, dry_run)
    if dry_run:
        click.echo(description)
        return
    handle = graph.run(trace=bool(trace), device=gpus, gpu_streams=gpu_streams)
    try:
        watch(handle, None if quiet else console(), show_progress=not quiet, drain=True)
    except KeyboardInterrupt:
        handle.stop()  # cancelled, its sinks' files closed (where `watch` had not: the exit hook waited for it)
        update = handle.progress()
        done = {s.name: s.frames for s in handle.stats.values() if s.kind == "sink"}
        console().print(f"[yellow]stopped after {update.current} of {update.target or '?'} {update.unit} "
                      f"({update.time_elapsed:.1f} s); frames written per sink: {done}[/]")
        _say_warnings(handle, console)
        sys.exit(130)
    except BaseException:  # a failure, Ctrl-C, SIGTERM: the frames lost or dropped are said all the same
        _say_warnings(handle, console)
        raise
    finally:
        if trace and handle.done and handle.trace_events is not None:
            with open(trace, "w") as f:
                json.dump({"traceEvents": handle.trace_events, "displayTimeUnit": "ms"}, f)
    if not quiet:
        from rich.console import Console as StdoutConsole

        StdoutConsole().print(summary(handle))
    _say_warnings(handle, console)


def _say_warnings(handle: Any, console: Any) -> None:
    """The run's warnings, also with --quiet and whatever its end: frames lost or left out are never
    kept silent (a run stopped with 289 frames dropped said nothing of them)."""
    from rich.markup import escape

    for warning in handle.warnings:
        console().print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)


def _check_side_files(graph: Any, files: dict[str, str | None]) -> None:
    """--dump and --trace (JSON files) never replace a file of the graph (read, written, a jit kernel)
    nor an existing file that is not JSON: a mistyped name would destroy data (exit 2, before any work)."""
    import os

    used = [value for t in graph.nodes for key in ("path", "file")
            if isinstance(value := getattr(t, key, None), str) and value]
    for option, path in files.items():
        if path is None:
            continue
        check_report_file(path, option)
        for other in used:
            file = other.split(":", 1)[0] if ":" in other[2:] else other  # 'scan.h5:/data' -> 'scan.h5'
            if os.path.exists(file) and os.path.exists(path) and os.path.samefile(file, path) \
                    or os.path.abspath(file) == os.path.abspath(path):
                raise UsageError(f"{option} '{path}' is '{other}' of the graph; choose another file")
        if os.path.isfile(path) and not _is_json(path):
            raise UsageError(f"{option} '{path}' exists and is not a JSON file; ufo will not overwrite it: "
                             "remove it or choose another file")


def _is_json(path: str) -> bool:
    """Whether a file looks like JSON (an earlier --dump or --trace): empty, or a JSON object at its start."""
    try:
        with open(path, "rb") as f:
            head = f.read(256).lstrip()
    except OSError:
        return False
    return not head or head.startswith(b"{")


def _check_outputs(graph: Any, dry_run: bool) -> None:
    """Before anything starts: no output is, contains or lies inside an input of the whole graph
    (branches included), and every output can be written (not there, or overwrite/append)."""
    writes = [t for t in graph.nodes if t.name == "write" and getattr(t, "path", None)]
    if not writes:  # nothing to check: the storage layer is not imported (start-up, issue 22)
        return
    from ..storage.guard import check_output, refuse_conflict

    reads = [str(t.path) for t in graph.nodes if t.name == "read" and getattr(t, "path", None)]
    for task in writes:
        refuse_conflict(task.path, reads, task.bytes_per_file)
    _refuse_shared_outputs(graph, writes)
    if dry_run:
        return
    for task in writes:
        check_output(task.path, task.overwrite, task.append, task.start, task.layout,
                     fix="add overwrite=true to the write task")


def _refuse_shared_outputs(graph: Any, writes: list[Any]) -> None:
    """UsageError where two write nodes of the graph write one output (file, or HDF5/Zarr data
    set): it ran, wrote part of the frames and failed with exit 1, as "exists; refusing to
    overwrite" (this very run made it) or "being written by another process"."""
    import os

    from ..core.errors import UsageError
    from ..storage.formats import parse_output_path

    names = graph.names()
    seen: dict[tuple[str, str | None], Any] = {}
    for task in writes:
        target = parse_output_path(str(task.path))  # one file of HDF5 data sets: each written whole, its own
        key = (os.path.realpath(os.path.expanduser(target.path)), None)  # lock (hdf5_volume)
        if key in seen:
            raise UsageError(f"nodes '{names[id(seen[key])]}' and '{names[id(task)]}' both write "
                             f"'{seen[key].path}' and '{task.path}'; give each its own file")
        seen[key] = task
