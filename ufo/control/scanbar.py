"""The terminal's view of a scan: one rich bar per acquisition and one for the whole run.

Fed with `ScanUpdate`s by `ScanProgress(bar=True)` from a progress watcher thread; it starts
drawing at the first update and stops at the final one, so a session shows each run as it
goes and keeps the finished bars in its scrollback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only for hints: progress.py imports this module when a bar is asked for
    from .progress import ScanUpdate


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def describe(update: ScanUpdate) -> dict[str, str]:
    """Line texts by bar ('run' for the whole run): frames, rate, ETA; angle and drops where they tell something."""
    overall = update.overall
    head = f"{update.scan or 'scan'} {update.run_id or ''}".strip()
    extra = [f"{update.angle:.2f} deg" if update.angle is not None else "",
             f"[red]{update.dropped} dropped[/]" if update.dropped else ""]
    lines = {"run": f"{head} ({overall.stage}) {overall.rate:.1f} {overall.unit}/s, "
                    f"ETA {_clock(overall.time_remaining)} " + " ".join(e for e in extra if e)}
    for name, part in update.acquisitions.items():
        lines[name] = f"  {name} ({part.stage}) {part.rate:.1f} {part.unit}/s, ETA {_clock(part.time_remaining)}"
    return lines


class ScanBar:
    """A callable for ScanProgress: draws the updates of one run with rich."""

    def __init__(self, title: str = "scan", console: Any = None):
        self.title = title
        self.console = console
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def __call__(self, update: ScanUpdate) -> None:
        if self._progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                      TextColumn("{task.description}"), console=self.console or Console(stderr=True))
            self._progress.start()
        texts = describe(update)
        counts = {"run": (update.overall.current, update.overall.target)}
        counts.update({name: (p.current, p.target) for name, p in update.acquisitions.items()})
        for name, text in texts.items():
            if name not in self._tasks:
                self._tasks[name] = self._progress.add_task(text, total=counts[name][1])
            self._progress.update(self._tasks[name], completed=counts[name][0], total=counts[name][1],
                                  description=text)
        if update.final:
            self._progress.stop()
