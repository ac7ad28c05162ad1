"""Watching a run from the command line: a progress bar, Ctrl-C handling, a summary table.

The bar reads the progress API (`ufo.core.progress`): the same updates a script, the GUI's
event stream or a Bluesky callback get, with the run's own smoothed rate and ETA.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ..core.errors import Cancelled
from ..core.handle import RunHandle
from ..core.progress import Progress as Update
from ..core.progress import Watchable


class RateEtaColumn(ProgressColumn):
    """Rate and ETA as the run estimates them (rich's own would re-estimate from the bar)."""

    def render(self, task: Task) -> Text:
        update: Update | None = task.fields.get("update")
        if update is None or update.rate <= 0:
            return Text("-", style="progress.remaining")
        eta = update.time_remaining
        left = "" if eta is None else f", {int(eta // 3600)}:{int(eta % 3600 // 60):02d}:{int(eta % 60):02d} left"
        return Text(f"{update.rate:.1f} {update.unit}/s{left}", style="progress.remaining")


def bar(console: Console, unit: str = "frames", disable: bool = False) -> Progress:
    """A rich progress bar for `Progress` updates (see `show`)."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
                    TimeElapsedColumn(), RateEtaColumn(), console=console, transient=False, disable=disable)


def show(source: Watchable, progress: Progress, description: str | None = None, interval: float = 0.1) -> Update:
    """Drive `progress` with `source`'s updates until the final one, and return that one.
    The description follows the stage ('running', 'finishing', 'pass 2/3', ...) unless given."""
    task_id = progress.add_task(description or "starting", total=None)
    update = source.progress()
    for update in source.updates(interval):
        progress.update(task_id, completed=update.current, total=update.target, update=update,
                        description=description or update.stage)
    return update


def watch(handle: RunHandle, console: Console, show_progress: bool = True) -> None:
    """Wait for `handle` with a progress bar; Ctrl-C cancels cleanly (files are closed)."""
    total = handle.progress().target
    progress = bar(console, disable=not show_progress or not console.is_terminal and total is None)
    try:
        with progress:
            show(handle, progress)
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
