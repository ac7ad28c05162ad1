"""`ufo tasks`: what tasks exist and how to set them."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from ..core import registry
from .errors import handle_errors

EXAMPLES = """
\b
Examples:
  ufo tasks              list every task with a one-line description
  ufo tasks read         kind, inputs and properties of 'read'
  ufo tasks read --json  the same as JSON (for scripts and the GUI)
"""


def describe(name: str) -> dict[str, object]:
    cls = registry.get(name)
    return {
        "name": cls.name,
        "doc": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
        "kind": cls.kind.value,
        "inputs": [i.name + (" (collected)" if i.collect else "") + (" (optional)" if i.optional else "") for i in cls.inputs],
        "devices": list(cls.devices),
        "properties": [p.to_dict() for p in cls.properties().values()],
    }


@click.command(epilog=EXAMPLES)
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
@handle_errors
def tasks(name: str | None, as_json: bool, debug: bool) -> None:
    """List tasks, or show one task's kind, inputs and properties."""
    console = Console()
    if name is None:
        infos = [describe(n) for n in registry.names()]
        if as_json:
            click.echo(json.dumps(infos, indent=2))
            return
        table = Table("task", "kind", "description")
        for info in infos:
            table.add_row(str(info["name"]), str(info["kind"]), str(info["doc"]))
        console.print(table)
        return
    info = describe(name)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    console.print(f"[bold]{info['name']}[/] ({info['kind']}): {info['doc']}")
    console.print(f"inputs: {', '.join(info['inputs']) or 'none'}   devices: {', '.join(info['devices'])}")  # type: ignore[arg-type]
    table = Table("property", "type", "default", "unit", "range / choices", "description")
    cls = registry.get(name)
    for prop in cls.properties().values():
        default = "required" if prop.required else ("-" if prop.default is None else str(prop.default))
        table.add_row(prop.cli_name, prop.type_name(), default, prop.unit or "", prop.describe_constraint(), prop.doc)
    console.print(table)
