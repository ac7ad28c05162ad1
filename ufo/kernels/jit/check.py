"""What a @jit kernel may contain, checked on its syntax tree before any compiler sees it.

Scalar arithmetic, comparisons, boolean logic, if/else (statements and expressions), local
variables, `for i in range(...)` loops, math and numpy scalar functions, and relative
indexing of array arguments (`x[-1, 0]`) for stencils. Anything else gets an error naming
the construct and its line, where numba's own message would be about types and IR.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...core.errors import UsageError

ALLOWED = (
    ast.Module, ast.FunctionDef, ast.arguments, ast.arg, ast.Return, ast.Assign, ast.AugAssign, ast.AnnAssign,
    ast.If, ast.IfExp, ast.For, ast.While, ast.Break, ast.Continue, ast.Pass, ast.Expr,
    ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Call, ast.Name, ast.Load, ast.Store, ast.Constant,
    ast.Attribute, ast.Subscript, ast.Tuple, ast.keyword,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.USub, ast.UAdd, ast.Not, ast.Invert,
    ast.BitAnd, ast.BitOr, ast.BitXor, ast.LShift, ast.RShift, ast.And, ast.Or,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE,
)
BUILTINS = {"abs", "min", "max", "float", "int", "bool", "round", "range"}
MODULES = {"math", "np", "numpy", "cmath"}
NAMES = {
    ast.ListComp: "a list comprehension", ast.List: "a list", ast.Dict: "a dict", ast.Set: "a set",
    ast.Lambda: "a lambda", ast.With: "a with block", ast.Try: "try/except", ast.Raise: "raise",
    ast.Import: "an import", ast.ImportFrom: "an import", ast.Global: "global", ast.Nonlocal: "nonlocal",
    ast.Yield: "yield", ast.Await: "await", ast.Slice: "slicing", ast.Starred: "*args", ast.JoinedStr: "an f-string",
    ast.GeneratorExp: "a generator", ast.DictComp: "a dict comprehension", ast.ClassDef: "a class",
    ast.Delete: "del", ast.Assert: "assert", ast.NamedExpr: "the walrus operator",
}


class JitError(UsageError):
    """A kernel uses Python that @jit does not compile, or is called with unfit arguments."""


@dataclass
class Kernel:
    """A checked kernel: its tree, parameters, and which parameters are read as stencils."""

    function: Callable[..., Any]
    tree: ast.FunctionDef
    parameters: list[str]
    stencil: dict[str, int] = field(default_factory=dict)  # parameter -> dimensions of its relative indices
    radius: list[int] = field(default_factory=list)  # largest |offset| per dimension
    filename: str = "?"
    first_line: int = 1

    @property
    def name(self) -> str:
        return self.function.__name__


def _offset(node: ast.expr) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _offset(node.operand)
        if inner is not None:
            return -inner if isinstance(node.op, ast.USub) else inner
    return None


def analyse(function: Callable[..., Any]) -> Kernel:
    try:
        source = textwrap.dedent(inspect.getsource(function))
        filename = inspect.getsourcefile(function) or "?"
        first = function.__code__.co_firstlineno
    except (OSError, TypeError) as err:
        raise JitError(f"@jit needs the source of {getattr(function, '__name__', function)!r}; define it in a file "
                       "(not in an interactive prompt without source, not a builtin)") from err
    module = ast.parse(source)
    tree = next((n for n in module.body if isinstance(n, ast.FunctionDef)), None)
    if tree is None:
        raise JitError(f"@jit takes a function defined with def, got {function!r}")
    tree.decorator_list = []
    kernel = Kernel(function, tree, [a.arg for a in tree.args.args], filename=filename, first_line=first)

    def fail(node: ast.AST, what: str, hint: str = "") -> None:
        line = first + getattr(node, "lineno", 1) - 1
        raise JitError(f"@jit {function.__name__}: {what} is not supported (line {line} of {filename})"
                       + (f"; {hint}" if hint else ""))

    args = tree.args
    if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs or args.defaults:
        fail(tree, "*args, **kwargs, keyword-only arguments or defaults", "give every parameter plainly")
    if not kernel.parameters:
        fail(tree, "a kernel without parameters")
    assigned = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    for node in ast.walk(tree):
        if not isinstance(node, ALLOWED):
            fail(node, NAMES.get(type(node), type(node).__name__))
        if isinstance(node, ast.FunctionDef) and node is not tree:
            fail(node, "a nested function")
        if isinstance(node, ast.Call):
            callee = node.func
            if isinstance(callee, ast.Name):
                if callee.id not in BUILTINS:
                    fail(node, f"calling '{callee.id}'", "use math.*, numpy scalar functions, abs, min, max, "
                                                         "float, int, round")
            elif not (isinstance(callee, ast.Attribute) and isinstance(callee.value, ast.Name)
                      and callee.value.id in MODULES):
                fail(node, f"calling '{ast.unparse(callee)}'", "only math.*, np.* and plain functions can be called")
        if isinstance(node, ast.Attribute) and not (isinstance(node.value, ast.Name) and node.value.id in MODULES):
            fail(node, f"the attribute '{ast.unparse(node)}'", "kernels see scalars, not objects")
        if isinstance(node, ast.For):
            it = node.iter
            if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range") \
                    or not isinstance(node.target, ast.Name) or node.orelse:
                fail(node, f"the loop 'for {ast.unparse(node.target)} in {ast.unparse(it)}'", "loop over range(...)")
        if isinstance(node, ast.Subscript):
            base = node.value
            if not (isinstance(base, ast.Name) and base.id in kernel.parameters and base.id not in assigned):
                fail(node, f"indexing '{ast.unparse(node)}'", "only parameters can be indexed, with constant "
                                                              "offsets such as x[-1, 0]")
            index = node.slice
            items = index.elts if isinstance(index, ast.Tuple) else [index]
            offsets = [_offset(i) for i in items]
            if any(o is None for o in offsets):
                fail(node, f"the index in '{ast.unparse(node)}'", "stencil offsets are integer constants (x[-1, 0])")
            dims = len(offsets)
            if kernel.stencil.get(base.id, dims) != dims or (kernel.radius and len(kernel.radius) != dims):
                fail(node, f"'{ast.unparse(node)}' with {dims} offsets where others have "
                           f"{len(kernel.radius) or kernel.stencil[base.id]}")
            kernel.stencil[base.id] = dims
            if not kernel.radius:
                kernel.radius = [0] * dims
            kernel.radius = [max(r, abs(o)) for r, o in zip(kernel.radius, offsets)]  # type: ignore[arg-type]
    if not any(isinstance(n, ast.Return) and n.value is not None for n in ast.walk(tree)):
        fail(tree, "a kernel without 'return value'", "a kernel returns the output pixel's value")
    return kernel
