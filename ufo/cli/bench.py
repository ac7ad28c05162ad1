"""`ufo bench`: the benchmark suite, ufo against its peers in the same run, one table."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..bench import AREAS, Measure, run_all
from ..core.small_files import check_report_file
from .errors import FiniteFloatRange, handle_errors

EXAMPLES = """
\b
Examples:
  ufo bench                                  # everything (a GPU row when CuPy sees a GPU), ~30 s on 2 cores
  ufo bench --only runtime,reco              # some areas
  ufo bench --scale 4 --dir /data/scratch    # bigger runs; storage writes into --dir
  ufo bench --json bench.json                # the figures for scripts

\b
Peers: threads + queue.Queue and UFO's ufo-launch (runtime), os.write (storage), pyzmq
(camera), scikit-image, ASTRA and algotom (reco: pip install 'ufo[bench]'), algotom's
numba-cuda FBP (gpu). The detailed scripts are in benchmarks/ (docs/benchmarks.md).
"""


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}" if value >= 1 else f"{value:.3f}"


def table(results: list[Measure]) -> Table:
    out = Table(title="ufo bench: ufo against its peers, same run", title_justify="left",
                caption="ratios: how many times ufo beats the peer (> 1: ufo is faster)", caption_justify="left")
    for name in ("area", "benchmark", "ufo", "peer", "ufo is"):
        out.add_column(name, justify="right" if name in ("ufo", "ufo is") else "left",
                       overflow="fold", ratio=3 if name in ("benchmark", "peer") else None)
    for r in results:
        ratio = r.ratio
        ratio_text = "-" if ratio is None else f"[{'green' if ratio >= 1 else 'yellow'}]{ratio:.2f}x[/]"
        peer = escape(f"{r.peer}: {_number(r.peer_value)} {r.unit}" if r.peer_value else r.peer)
        what = escape(r.what) + (f" [dim]({escape(r.note)})[/]" if r.note else "")
        out.add_row(r.area, what, f"{_number(r.ufo)} {r.unit}" if r.ufo else "-", peer, ratio_text)
    return out


@click.group(epilog=EXAMPLES, invoke_without_command=True)
@click.option("--only", default=",".join(AREAS), show_default=True, help="Comma-separated areas to run.")
@click.option("--scale", default=1.0, show_default=True, type=FiniteFloatRange(0.05, 100),
              help="Multiply the problem sizes (1: about half a minute on 2 cores).")
@click.option("--dir", "directory", default=None, type=click.Path(file_okay=False, exists=True),
              help="Where the storage benchmark writes (default: the system's temporary directory).")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False), help="Also write the figures as JSON.")
@click.pass_context
@handle_errors
def bench(ctx: click.Context, only: str, scale: float, directory: str | None, json_path: str | None) -> None:
    """Run the benchmark suite and print one table of ratios against the peers (`ufo bench stream`:
    a scan at camera rate into storage and online reconstruction)."""
    if ctx.invoked_subcommand is not None:
        return
    areas = tuple(a.strip() for a in only.split(",") if a.strip())
    unknown = [a for a in areas if a not in AREAS]
    if not areas:  # '' ran nothing and printed an empty table, exit 0
        raise click.BadParameter(f"name at least one area: {', '.join(AREAS)}", param_hint="--only")
    if directory is not None and not os.path.isdir(directory):  # a device passed click's file_okay=False
        raise click.BadParameter(f"'{directory}' is not a folder", param_hint="--dir")
    if json_path is not None:
        check_report_file(json_path, "--json")
    if unknown:
        raise click.BadParameter(f"unknown area(s) {', '.join(unknown)}; choose from {', '.join(AREAS)}",
                                 param_hint="--only")
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # a log file or a pipe: one line per row
    console.print(f"machine: {platform.node()}, {platform.machine()}, {os.cpu_count()} cores, "
                  f"Python {platform.python_version()}")
    with console.status("benchmarking ...") as status:
        results = run_all(areas, scale, directory, on_area=lambda area: status.update(f"benchmarking: {area} ..."))
    console.print(table(results))
    if json_path:
        with open(json_path, "w") as f:
            json.dump([{**asdict(r), "ratio": r.ratio} for r in results], f, indent=2)


from .bench_stream import stream  # noqa: E402 - the subcommand registers itself on the group

bench.add_command(stream)
