"""`ufo tasks`: what tasks exist and how to set them."""

from __future__ import annotations

import inspect
import json

import click
from rich.console import Console
from rich.table import Table

from ..core import catalog, registry
from .errors import handle_errors

EXAMPLES = """
\b
Examples:
  ufo tasks              list every task with a one-line description
  ufo tasks read         kind, inputs and properties of 'read'
  ufo tasks read --json  the same as JSON (for scripts and the GUI)
  ufo tasks --markdown > docs/tasks.md   the task reference of the documentation
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


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def reference_markdown() -> str:
    """The task reference (docs/tasks.md), generated from the registry so it cannot drift from the code."""
    names = registry.names()
    lines = ["# Task reference", "",
             "Generated from the task registry by `ufo tasks --markdown > docs/tasks.md` (a test checks that this",
             "file is current). Pipelines name tasks and set properties as `ufo run \"read path=scan/ ! crop x=10 !",
             "write path=out.tif\"`; in Python the same tasks are `ufo.Read(path=...)`, `ufo.Crop(x=10)`, ...; values",
             "take units where a property has one (`angle=90deg`).", "",
             "| task | kind | what it does |", "|---|---|---|"]
    for name in names:
        info = describe(name)
        lines.append(f"| [`{name}`](#{name}) | {info['kind']} | {_cell(info['doc'])} |")
    for name in names:
        cls = registry.get(name)
        info = describe(name)
        lines += ["", f"## {name}", "", inspect.cleandoc(cls.__doc__ or "").strip(), ""]
        inputs = ", ".join(info["inputs"]) or "none"  # type: ignore[arg-type]
        lines.append(f"Kind: {info['kind']}. Inputs: {inputs}. Devices: {', '.join(info['devices'])}. "  # type: ignore[arg-type]
                     f"Python: `ufo.{registry.camel(name)}`.")
        props = cls.properties().values()
        if props:
            lines += ["", "| property | type | default | unit | range / choices | description |", "|---|---|---|---|---|---|"]
            for prop in props:
                default = "required" if prop.required else ("" if prop.default is None else f"`{prop.default}`")
                lines.append(f"| `{prop.cli_name}` | {prop.type_name()} | {_cell(default)} | {prop.unit or ''} | "
                             f"{_cell(prop.describe_constraint())} | {_cell(prop.doc)} |")
    return "\n".join(lines) + "\n"


@click.command(epilog=EXAMPLES)
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--markdown", is_flag=True, help="Print the reference of every task as Markdown (docs/tasks.md).")
@click.option("--ufo-compat", is_flag=True, help="Print the UFO compatibility table as Markdown (docs/ufo-compat.md).")
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
@handle_errors
def tasks(name: str | None, as_json: bool, markdown: bool, ufo_compat: bool, debug: bool) -> None:
    """List tasks, or show one task's kind, inputs and properties."""
    console = Console()
    if name is not None and (markdown or ufo_compat):
        raise click.UsageError(f"--{'markdown' if markdown else 'ufo-compat'} prints every task; drop '{name}' "
                               f"(or drop the flag: ufo tasks {name})")
    if ufo_compat:
        from .compat import compat_markdown

        click.echo(compat_markdown(registry.names(), registry.get), nl=False)
        return
    if markdown:
        click.echo(reference_markdown(), nl=False)
        return
    if name is None:
        if as_json:
            click.echo(json.dumps([describe(n) for n in registry.names()], indent=2))
            return
        # read from the task modules' source, not imported: the list starts at once (ufo.core.catalog)
        table = Table("task", "kind", "description")
        for task in catalog.summaries():
            table.add_row(task.name, task.kind, task.doc)
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
