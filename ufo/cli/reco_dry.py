"""`ufo reco --dry-run`: the plan, the path the run would take and the first pass's graph.

A module of its own beside ufo/cli/reco.py. A dry run checks what the run would check: an output
that exists is said as a warning here (the run refuses it without --overwrite), not as the error
that used to end the dry run before it printed the plan (`ufo reco --config reco.toml --dry-run`
after one real run with that config).
"""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console

from ..core.errors import UsageError


def dry_run(plan: Any, console: Console) -> None:
    """Print `plan` as the run would take it (made with outputs=False: the output is checked here)."""
    from .. import reco as reco_mod
    from ..gpu import select
    from ..reco.output_checks import room, room_problem, size_text
    from ..reco.planning import check_outputs, resident_reason

    options = plan.options
    try:
        check_outputs(options)
    except UsageError as exc:
        console.print(f"[yellow]warning:[/] the run would stop here: {exc}")
    if (problem := room_problem(plan)) is not None:
        console.print(f"[yellow]warning:[/] the run would stop here: {problem}")
    need, free = room(plan)
    size = f"output: {size_text(need)} of slices" + (f", {size_text(free)} free on its disk" if free is not None else "")
    reason = resident_reason(plan, len(select(options.gpus)))
    if reason is None:  # the resident path's passes (as the GPU's memory allows), not the sinogram path's
        from ..reco.passes import describe, resident_passes

        lines = plan.describe().splitlines()
        click.echo("\n".join(describe(resident_passes(plan, 1 << 62)) + " (fewer rows a pass where the GPU's free "
                             "memory is smaller)" if line.startswith("passes:") else line for line in lines))
        click.echo(size)
        click.echo("path: resident (one GPU): every frame read once, then flat-field correction, filter and "
                   "back-projection on the GPU into slices kept there, then written")
        return
    click.echo(plan.describe())
    click.echo(size)
    if options.projections:
        click.echo(f"path: sinograms ({'not resident: ' + reason})")
    axis = plan.axis if plan.axis is not None or not options.half_acquisition else plan.width / 8
    if axis != plan.axis:  # --axis auto, found when the run starts: a half acquisition's graph needs a stand-in
        click.echo(f"axis: found when the run starts (--axis auto); the graph below shows {axis:g} px as a stand-in")
    graph, _ = reco_mod.graph(plan, plan.passes[0], axis)
    click.echo("graph of the first pass:\n" + graph.describe())
