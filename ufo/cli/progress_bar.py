"""The progress bar of a command: rich's bar driven by the progress API (`ufo.core.progress`).

Apart from `ufo.cli.progress` so that a run that shows no bar (`ufo run -q`, output not a
terminal and no known total) does not import rich's progress and live-display modules.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text

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
