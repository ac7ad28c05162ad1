"""What each registered task is, read from its source without importing it.

`ufo tasks` lists every task with its kind and one-line description. Importing every task
module for that would load numpy, scipy, numba kernels, h5py and zmq (over a second); the
same facts are in the source text, so they are read with `ast` from the file the entry point
names. Only an outline of each file is parsed (its imports, `if` blocks and class statements
without the method bodies: ~15 ms for all built-in tasks, where whole files take ~60 ms); an
outline that does not parse falls back to the whole file. A class's `kind` is found along its
C3 method resolution order, following imports between modules as Python would.

Whatever the source does not say plainly (a `kind` computed at import time, a base class that
cannot be found as source, a module already imported) is taken from the class itself, by
importing it: the answer is never a guess. tests/test_startup.py checks that both ways agree for
every registered task.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import sys
from dataclasses import dataclass

from . import registry

KINDS = {"SOURCE": "source", "MAP": "map", "REDUCE": "reduce", "SINK": "sink"}  # ufo.core.task.Kind


@dataclass(frozen=True)
class Summary:
    """One line of `ufo tasks`: the task's name, its kind ('map', ...) and the first line of its docstring."""

    name: str
    kind: str
    doc: str


class _Unknown(Exception):
    """The source does not say plainly; the class is imported instead."""


def summaries() -> list[Summary]:
    """Every registered task, by name, read from source where possible."""
    points = registry._entry_points()
    return [summary(name, points[name]) for name in sorted(points)]


def summary(name: str, point: object) -> Summary:
    """One task's summary: from its source, or from the class when the source is not plain."""
    module, _, attribute = str(getattr(point, "value", "")).partition(":")
    if module and attribute and "." not in attribute and module not in sys.modules:
        try:
            node = _class(module, attribute)
            return Summary(name, _kind(module, attribute), _first_line(ast.get_docstring(node, clean=False)))
        except (_Unknown, SyntaxError, OSError, ImportError, ValueError):
            pass
    cls = registry.get(name)
    return Summary(name, cls.kind.value, _first_line(cls.__doc__))


def _first_line(doc: str | None) -> str:
    """The first line of a docstring as `ufo tasks NAME` shows it."""
    return doc.strip().splitlines()[0] if doc and doc.strip() else ""


@functools.cache
def _tree(module: str) -> ast.Module:
    """The parsed outline of `module`, found without executing it (its parent packages are imported)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise _Unknown(module)
    with open(spec.origin, encoding="utf-8") as f:
        source = f.read()
    try:
        return ast.parse(outline(source), spec.origin)
    except SyntaxError:  # a string or bracket at column 0 cut the outline: read the whole file
        return ast.parse(source, spec.origin)


_KEEP = ("class ", "from ", "import ", "if ", "@")  # top-level statements the outline keeps
_GOES_ON = ("", "#", ")", "]", "}")  # a line starting so continues the statement before it


def outline(source: str) -> str:
    """`source` less what cannot define a class or bind a name to one: top-level functions and
    assignments, and the bodies of methods (a `pass` stands in for them). Cut by lines, not
    parsed, so a line at column 0 inside a string may cut it wrongly; such an outline does not
    parse and the caller reads the whole file."""
    kept: list[str] = []
    keep = in_class = skip = False
    body: int | None = None  # indentation of the current class body
    decorated: int | None = None  # where the decorators before the coming statement start in `kept`
    for line in source.splitlines():
        text = line.lstrip()
        indent = len(line) - len(text)
        if indent == 0 and text[:1] not in _GOES_ON:  # a new top-level statement
            if decorated is not None and not line.startswith(("@", "class ")):
                del kept[decorated:]  # the decorators of a function left out go with it
            if line.startswith("@"):
                decorated = len(kept) if decorated is None else decorated
            else:
                decorated = None
            keep, in_class, skip, body = line.startswith(_KEEP), line.startswith("class "), False, None
            if keep:
                kept.append(line)
            continue
        if not keep:
            continue
        if in_class and text[:1] not in _GOES_ON:
            body = indent if body is None else body
            if indent == body:  # a statement of the class body: a method (or its decorator) is left out
                skip = text.startswith(("def ", "async def ", "@"))
                if skip and kept[-1] != " " * body + "pass":
                    kept.append(" " * body + "pass")
        if not skip:
            kept.append(line)
    return "\n".join(kept)


def _top_level(tree: ast.Module) -> list[ast.stmt]:
    """The module's statements, with the bodies of top-level `if` blocks (TYPE_CHECKING imports)."""
    found: list[ast.stmt] = []
    for node in tree.body:
        found += [node, *node.body, *node.orelse] if isinstance(node, ast.If) else [node]
    return found


def _resolve(module: str, relative: str | None, level: int) -> str:
    """The absolute name of `from <level dots><relative> import ...` written in `module`."""
    if level == 0:
        return relative or ""
    package = module if _is_package(module) else module.rpartition(".")[0]
    return importlib.util.resolve_name("." * level + (relative or ""), package)


def _is_package(module: str) -> bool:
    spec = importlib.util.find_spec(module)
    return spec is not None and spec.submodule_search_locations is not None


def _class(module: str, name: str) -> ast.ClassDef:
    """The definition of class `name` as seen from `module`, following `from X import name`."""
    return _find(module, name)[1]


@functools.cache
def _find(module: str, name: str) -> tuple[str, ast.ClassDef]:
    """(defining module, class node) of `name` as bound in `module`."""
    for node in _top_level(_tree(module)):
        if isinstance(node, ast.ClassDef) and node.name == name:
            return module, node
    for node in _top_level(_tree(module)):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return _find(_resolve(module, node.module, node.level), alias.name)
    raise _Unknown(f"{module}.{name}")


def _base(module: str, expr: ast.expr) -> tuple[str, str] | None:
    """(module, class name) of a base class expression: `Task` or `_task.Task`; None for `object`."""
    if isinstance(expr, ast.Name):
        if expr.id == "object":
            return None
        where, node = _find(module, expr.id)
        return where, node.name
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
        for node in _top_level(_tree(module)):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if (alias.asname or alias.name) == expr.value.id:
                        target = _resolve(module, node.module, node.level) + "." + alias.name
                        where, found = _find(target, expr.attr)
                        return where, found.name
    raise _Unknown(ast.dump(expr))


@functools.cache
def _mro(module: str, name: str) -> tuple[tuple[str, str], ...]:
    """C3 linearization of the class, as Python computes `__mro__` (without `object`)."""
    _, node = _find(module, name)
    if node.keywords or node.decorator_list:
        raise _Unknown(f"{module}.{name}: decorated or with a metaclass")
    bases = [b for b in (_base(module, expr) for expr in node.bases) if b is not None]
    sequences = [list(_mro(*base)) for base in bases] + [list(bases)]
    result = [(module, name)]
    while any(sequences):
        for sequence in sequences:
            if sequence and not any(sequence[0] in other[1:] for other in sequences):
                head = sequence[0]
                break
        else:
            raise _Unknown(f"{module}.{name}: no consistent method resolution order")
        result.append(head)
        sequences = [s[1:] if s and s[0] == head else s for s in sequences]
    return tuple(result)


def _kind(module: str, name: str) -> str:
    """The `kind` the class would have: the first assignment along its MRO."""
    where, node = _find(module, name)
    for where, cls in _mro(where, node.name):
        for node in _find(where, cls)[1].body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                node, ast.AnnAssign) else []
            if any(isinstance(t, ast.Name) and t.id == "kind" for t in targets):
                value = getattr(node, "value", None)
                if (isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name)
                        and value.value.id == "Kind" and value.attr in KINDS):
                    return KINDS[value.attr]
                raise _Unknown(f"{where}.{cls}: kind is not a plain Kind.X")
    raise _Unknown(f"{module}.{name}: no kind")
