"""Watching a run from the command line: a progress bar, Ctrl-C handling, a summary table.

The bar reads the progress API (`ufo.core.progress`): the same updates a script, the GUI's
event stream or a Bluesky callback get, with the run's own smoothed rate and ETA. rich is
imported where something is shown (`ufo.cli.progress_bar`, `summary`): a quiet run that
succeeds needs none of it (start-up, issue 22). `bar`, `show` and `RateEtaColumn` are
importable from here as before.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from ..core.errors import Cancelled
from ..core.handle import RunHandle

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

INTERVAL = 0.1  # s between the bar's updates (`progress_bar.show`'s default)
DRAIN_WAIT = 10.0  # s the frames on their way after Ctrl-C may take to reach the sinks (`watch(drain=True)`)
DRAIN_STILL = 1.0  # s without a frame moving that end the wait


def stderr_console() -> Console:
    """A console on stderr, for a run's notes, warnings and messages (rich imported here)."""
    from rich.console import Console

    return Console(stderr=True)


def watch(handle: RunHandle, console: Console | None, show_progress: bool = True, drain: bool = False) -> None:
    """Wait for `handle` with a progress bar; Ctrl-C cancels cleanly (files are closed), or with
    `drain` stops the sources and lets the frames already taken reach the sinks (up to DRAIN_WAIT
    s, then cancels). No bar without a console or `show_progress`, nor where the console is no
    terminal and the total is unknown; then the same updates are read without showing them."""
    try:  # all of it: a Ctrl-C while the bar is set up (0.3 s after the start) left the graph running
        total = handle.progress().target
        shown = show_progress and console is not None and (console.is_terminal or total is not None)
        if shown:
            from .progress_bar import bar, show

            with bar(console) as progress:  # type: ignore[arg-type]
                show(handle, progress, interval=INTERVAL)
        else:
            for _ in handle.updates(INTERVAL):
                pass
    except KeyboardInterrupt:
        if drain:
            (console or stderr_console()).print("[yellow]interrupted: the sources stop; the frames on their way "
                                                "are written ...[/]")
            handle.drain(stall=DRAIN_STILL)  # a source blocked in a receive (no sender) must not hold Ctrl-C up
            with contextlib.suppress(Exception):
                handle.wait(timeout=DRAIN_WAIT)
        if not handle.done:
            (console or stderr_console()).print("[yellow]interrupted: stopping the graph and closing files ...[/]")
        handle.cancel()
        try:
            handle.wait(timeout=30)
        except Cancelled:
            pass
        raise
    handle.wait()


def summary(handle: RunHandle) -> Table:
    from rich.table import Table

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


def __getattr__(name: str) -> Any:
    """`bar`, `show` and `RateEtaColumn` (in `ufo.cli.progress_bar`) resolved on first use (PEP 562)."""
    if name in ("bar", "show", "RateEtaColumn"):
        from . import progress_bar

        return getattr(progress_bar, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
