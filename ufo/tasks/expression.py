"""Safe elementwise expressions for `calculate`: parsed into numpy ufunc calls, never `eval`.

The text is parsed with `ast` and only a whitelist of node types, names and functions is
accepted. The outermost operation writes straight into the output buffer, so `x * 2 + 1`
costs two passes over the frame and no temporary.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core.errors import PropertyError

Evaluator = Callable[[Sequence[np.ndarray], "np.ndarray | None"], Any]

_BINARY = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide,
    ast.FloorDiv: np.floor_divide, ast.Mod: np.mod, ast.Pow: np.power,
}
_COMPARE = {
    ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater, ast.GtE: np.greater_equal,
    ast.Eq: np.equal, ast.NotEq: np.not_equal,
}
_UNARY_FUNCS = {
    "abs": np.absolute, "sqrt": np.sqrt, "exp": np.exp, "log": np.log, "log10": np.log10, "log2": np.log2,
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "arcsin": np.arcsin, "arccos": np.arccos, "arctan": np.arctan,
    "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh, "floor": np.floor, "ceil": np.ceil, "round": np.rint,
    "sign": np.sign, "isnan": np.isnan, "isinf": np.isinf,
}
_BINARY_FUNCS = {"min": np.minimum, "max": np.maximum, "arctan2": np.arctan2, "pow": np.power, "hypot": np.hypot}
_CONSTANTS = {"pi": math.pi, "e": math.e, "nan": math.nan, "inf": math.inf}
FUNCTIONS = sorted([*_UNARY_FUNCS, *_BINARY_FUNCS, "where", "clip"])


def _names(n_inputs: int) -> dict[str, int]:
    names = {"x": 0, "v": 0}
    for i in range(n_inputs):
        names[f"x{i}"] = i
        names[f"v{i}"] = i
    return names


def compile_expression(text: str, n_inputs: int = 1, dtype: Any = np.float32) -> Evaluator:
    """Compile `text` into `f(inputs, out) -> array`, validating every name and operation."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        pointer = " " * max((exc.offset or 1) - 1, 0) + "^"
        raise PropertyError(f"task 'calculate': cannot parse expression:\n  {text}\n  {pointer} {exc.msg}") from exc
    dt = np.dtype(dtype)
    names = _names(n_inputs)

    def fail(node: ast.AST, what: str) -> PropertyError:
        col = getattr(node, "col_offset", 0)
        return PropertyError(f"task 'calculate': {what}\n  {text}\n  {' ' * col}^")

    def build(node: ast.AST) -> tuple[bool, Any]:
        """(is_constant, value or evaluator(inputs, out))."""
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise fail(node, f"only numbers are allowed as constants, got {node.value!r}")
            return True, node.value
        if isinstance(node, ast.Name):
            if node.id in _CONSTANTS:
                return True, _CONSTANTS[node.id]
            if node.id not in names:
                valid = ", ".join(sorted(names))
                raise fail(node, f"unknown name '{node.id}'; inputs are {valid}; constants pi, e")
            index = names[node.id]
            return False, lambda inputs, out, i=index: inputs[i] if out is None else _copy(inputs[i], out)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _combine(_BINARY[type(node.op)], [build(node.left), build(node.right)], dt)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return _combine(np.negative, [build(node.operand)], dt)
            if isinstance(node.op, ast.UAdd):
                return build(node.operand)
            if isinstance(node.op, ast.Not):
                return _combine(np.logical_not, [build(node.operand)], None)
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            return _combine(_COMPARE[type(node.ops[0])], [build(node.left), build(node.comparators[0])], None)
        if isinstance(node, ast.BoolOp):
            func = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            result = build(node.values[0])
            for value in node.values[1:]:
                result = _combine(func, [result, build(value)], None)
            return result
        if isinstance(node, ast.IfExp):
            return _where([build(node.test), build(node.body), build(node.orelse)])
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            fname = node.func.id
            arity = 1 if fname in _UNARY_FUNCS else 2 if fname in _BINARY_FUNCS else 3 if fname in ("where", "clip") else None
            if arity is None:
                raise fail(node, f"unknown function '{fname}'; available: {', '.join(FUNCTIONS)}")
            args = [build(a) for a in node.args]
            if len(args) != arity:
                raise fail(node, f"function '{fname}' takes {arity} argument(s), got {len(args)}")
            if fname == "where":
                return _where(args)
            if fname == "clip":
                return _combine(np.clip, args, None)
            func = _UNARY_FUNCS.get(fname) or _BINARY_FUNCS[fname]
            return _combine(func, args, None if fname in ("isnan", "isinf", "sign") else dt)
        raise fail(node, f"'{ast.unparse(node)}' is not allowed; use numbers, inputs, operators and functions")

    constant, value = build(tree.body)
    if constant:
        return lambda inputs, out: _fill(value, out, inputs[0].shape, dt)
    return value  # type: ignore[no-any-return]


def _copy(source: np.ndarray, out: np.ndarray) -> np.ndarray:
    np.copyto(out, source, casting="unsafe")
    return out


def _fill(value: float, out: np.ndarray | None, shape: tuple[int, ...], dt: np.dtype) -> np.ndarray:
    if out is None:
        return np.full(shape, value, dtype=dt)
    out[...] = value
    return out


def _combine(func: Any, args: list[tuple[bool, Any]], dt: np.dtype | None) -> tuple[bool, Any]:
    if all(constant for constant, _ in args):  # in float64: 2**200 folded in int64 was 0, 3**41 negative, 7//0 0
        with np.errstate(all="ignore"):
            return True, np.asarray(func(*[np.float64(v) for _, v in args])).item()
    parts = [(c, v) for c, v in args]
    kwargs = {"dtype": dt} if dt is not None and func is not np.clip else {}
    if len(parts) == 1:
        (_, a), = parts
        return False, lambda inputs, out: func(a(inputs, None), out=out, **kwargs) if out is not None else func(a(inputs, None), **kwargs)
    if len(parts) == 2:
        (ca, a), (cb, b) = parts
        if ca:
            return False, lambda inputs, out: _call(func, (a, b(inputs, None)), out, kwargs)
        if cb:
            return False, lambda inputs, out: _call(func, (a(inputs, None), b), out, kwargs)
        return False, lambda inputs, out: _call(func, (a(inputs, None), b(inputs, None)), out, kwargs)
    evals = [(lambda inputs, v=v: v) if c else (lambda inputs, f=v: f(inputs, None)) for c, v in parts]
    return False, lambda inputs, out: _call(func, tuple(e(inputs) for e in evals), out, kwargs)


def _call(func: Any, args: tuple[Any, ...], out: np.ndarray | None, kwargs: dict[str, Any]) -> Any:
    if out is None:
        return func(*args, **kwargs)
    try:
        return func(*args, out=out, **kwargs)
    except TypeError:  # e.g. a comparison cannot cast its bool result with a dtype request
        np.copyto(out, func(*args), casting="unsafe")
        return out


def _where(args: list[tuple[bool, Any]]) -> tuple[bool, Any]:
    # constants as float64: where(x > 100, x, -1) of uint16 frames gave 65535 for -1, 70000 became 4464
    evals = [(lambda inputs, v=np.float64(v): v) if c else (lambda inputs, f=v: f(inputs, None)) for c, v in args]

    def run(inputs: Sequence[np.ndarray], out: np.ndarray | None) -> Any:
        result = np.where(*(e(inputs) for e in evals))
        if out is None:
            return result
        np.copyto(out, result, casting="unsafe")
        return out

    return False, run
