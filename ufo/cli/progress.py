"""Watching a run from the command line: a progress bar, Ctrl-C handling, a summary table."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from ..core.errors import Cancelled
from ..core.handle import RunHandle


def _progress_node(handle: RunHandle) -> tuple[str, int | None]:
    """The node whose frame count measures progress: the first sink that knows its total."""
    sinks = [s for s in handle.stats.values() if s.kind == "sink"]
    for stats in sinks:
        if stats.expected:
            return stats.name, stats.expected
    return (sinks[0].name if sinks else next(iter(handle.stats))), None


def watch(handle: RunHandle, console: Console, show_progress: bool = True) -> None:
    """Wait for `handle` with a progress bar; Ctrl-C cancels cleanly (files are closed)."""
    name, total = _progress_node(handle)
    stats = handle.stats[name]
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
        disable=not show_progress or not console.is_terminal and total is None,
    )
    try:
        with progress:
            bar = progress.add_task("running", total=total)
            while not handle.done:
                time.sleep(0.1)
                progress.update(bar, completed=stats.frames_in)
            progress.update(bar, completed=stats.frames_in)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: stopping the graph and closing files ...[/]")
        handle.cancel()
        try:
            handle.wait(timeout=30)
        except Cancelled:
            pass
        raise
    handle.wait()


def summary(handle: RunHandle) -> Table:
    wall = handle.elapsed
    table = Table(title=f"ufo run: {wall:.2f} s", title_justify="left")
    for column in ("node", "kind", "frames", "busy s", "busy %", "MB/s"):
        table.add_column(column, justify="left" if column in ("node", "kind") else "right")
    for stats in handle.stats.values():
        rep = f" x{stats.replicas}" if stats.replicas > 1 else ""
        busy_pct = 100 * stats.busy / (wall * stats.replicas) if wall > 0 else 0
        table.add_row(stats.name + rep, stats.kind, str(stats.frames), f"{stats.busy:.3f}", f"{busy_pct:.0f}",
                      f"{stats.bytes / wall / 1e6:.1f}" if wall > 0 else "-")
    return table
