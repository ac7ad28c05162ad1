"""Compiling checked kernels: numba on the CPU, numba-cuda on GPUs; one version per signature.

Elementwise kernels become numba ufuncs (numpy broadcasting and `out=` for free; the
parallel target for large arrays). Stencil kernels are rewritten so `x[-1, 0]` reads the
padded input at the current pixel plus that offset, and a generated driver loops over the
pixels (prange on the CPU, one thread per pixel on the GPU). Borders come from padding the
inputs with the kernel's boundary mode, so every offset reads a defined value.
"""

from __future__ import annotations

import ast
import copy
import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from .check import Kernel

INDEX = "_ufo_i"


# numba-cuda's module that registers `overload(np.row_stack)` unconditionally (numba-cuda 0.30.4
# does; numba 0.68's own copy checks the numpy version). It is imported lazily, at the first kernel
# compilation, so cuda_module imports it at once, while the alias exists.
_ROW_STACK_USER = "numba.cuda.np.arrayobj"


@functools.cache  # one entry: the setup below runs once, later calls (one per GPU kernel call) return at once
def cuda_module() -> Any:
    """numba.cuda, imported without changing numpy or numba for the rest of the process.

    Why the alias: NumPy 2.5 removed `np.row_stack` (deprecated since 2.0), and with numba-cuda
    0.30.4 (seen on the device machine: numpy 2.5.2) the first GPU kernel compilation fails with
    "AttributeError: module 'numpy' has no attribute 'row_stack'" in `_ROW_STACK_USER`. Only
    the imports here see the alias; it is removed again, so no other code finds a
    `np.row_stack` that numpy does not have. With NumPy <= 2.4 (2.4.6 on the CPU machine) the
    attribute exists and nothing is touched.

    Frames of a few thousand pixels launch grids of under 128 blocks, and numba-cuda warns about
    low occupancy at every new grid size: true, and no fault of the kernel. Instead of setting
    numba.config.CUDA_LOW_OCCUPANCY_WARNINGS for everyone, a warnings filter for that one
    message is appended, so the user's own filters (-W, catch_warnings) still decide first.
    """
    import importlib
    import sys
    import warnings

    # by message alone: numba-cuda 0.30 raises its own NumbaPerformanceWarning class, not numba's
    warnings.filterwarnings("ignore", message=r".*will likely result in GPU under-utilization due to low occupancy",
                            append=True)  # added once: a filter already there is skipped

    # Threads calling this at once: one sets the alias, the others see it and add none; an import
    # under way in another thread is waited for (module locks), so nobody imports without it.
    alias = _ROW_STACK_USER not in sys.modules and not hasattr(np, "row_stack")
    if alias:
        np.row_stack = np.vstack  # type: ignore[attr-defined]
    try:
        from numba import cuda

        if alias:
            try:
                importlib.import_module(_ROW_STACK_USER)
            except ImportError:  # numba's own numba.cuda, or a numba-cuda laid out otherwise
                pass
    finally:
        if alias and getattr(np, "row_stack", None) is np.vstack:
            del np.row_stack  # type: ignore[attr-defined]
    return cuda


def _rewrite(kernel: Kernel, arrays: set[str]) -> ast.FunctionDef:
    """`x[o0, o1]` -> `x[i0 + r0 + o0, i1 + r1 + o1]`; a bare array `y` -> its centre pixel."""
    tree = copy.deepcopy(kernel.tree)
    radius = kernel.radius
    dims = len(radius)

    def at(offsets: list[int]) -> ast.expr:
        elts = [ast.BinOp(ast.Name(f"{INDEX}{d}", ast.Load()), ast.Add(), ast.Constant(radius[d] + offsets[d]))
                for d in range(dims)]
        return ast.Tuple(elts, ast.Load()) if dims > 1 else elts[0]

    class Rewrite(ast.NodeTransformer):
        def visit_Subscript(self, node: ast.Subscript) -> Any:
            from .check import _offset

            items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            node.slice = at([_offset(i) for i in items])  # type: ignore[misc]
            return node

        def visit_Name(self, node: ast.Name) -> Any:
            if node.id in arrays and isinstance(node.ctx, ast.Load):
                return ast.Subscript(ast.Name(node.id, ast.Load()), at([0] * dims), ast.Load())
            return node

    tree = Rewrite().visit(tree)
    tree.name = "_ufo_kernel"
    tree.args.args += [ast.arg(f"{INDEX}{d}") for d in range(dims)]
    return ast.fix_missing_locations(tree)


def _namespace(kernel: Kernel) -> dict[str, Any]:
    import math

    namespace = dict(kernel.function.__globals__)
    namespace.setdefault("math", math)
    namespace.setdefault("np", np)
    return namespace


def stencil_source(kernel: Kernel, arrays: set[str], gpu: bool) -> tuple[Callable[..., Any], Callable[..., Any], str]:
    """(the rewritten kernel as Python, the driver's source, the driver's name)."""
    namespace = _namespace(kernel)
    module = ast.Module([_rewrite(kernel, arrays)], [])
    exec(compile(module, f"<@jit {kernel.name} at {kernel.filename}:{kernel.first_line}>", "exec"), namespace)
    python_kernel = namespace["_ufo_kernel"]
    dims = len(kernel.radius)
    params = ", ".join(kernel.parameters)
    index = ", ".join(f"{INDEX}{d}" for d in range(dims))
    if gpu:
        body = [f"def _ufo_drive(_ufo_out, {params}):",
                f"    {index} = cuda.grid({dims})",
                "    if " + " and ".join(f"{INDEX}{d} < _ufo_out.shape[{d}]" for d in range(dims)) + ":",
                f"        _ufo_out[{index}] = _ufo_kernel({params}, {index})"]
    else:
        body = [f"def _ufo_drive(_ufo_out, {params}):"]
        for d in range(dims):
            loop = "prange" if d == 0 else "range"
            body.append("    " * (d + 1) + f"for {INDEX}{d} in {loop}(_ufo_out.shape[{d}]):")
        body.append("    " * (dims + 1) + f"_ufo_out[{index}] = _ufo_kernel({params}, {index})")
    return python_kernel, namespace, "\n".join(body)  # type: ignore[return-value]


def cpu_stencil(kernel: Kernel, arrays: set[str]) -> Callable[..., Any]:
    import numba

    python_kernel, namespace, source = stencil_source(kernel, arrays, gpu=False)
    namespace["_ufo_kernel"] = numba.njit(inline="always")(python_kernel)
    namespace["prange"] = numba.prange
    exec(source, namespace)
    return numba.njit(parallel=True)(namespace["_ufo_drive"])  # type: ignore[no-any-return]


def gpu_stencil(kernel: Kernel, arrays: set[str]) -> Callable[..., Any]:
    cuda = cuda_module()

    python_kernel, namespace, source = stencil_source(kernel, arrays, gpu=True)
    namespace["_ufo_kernel"] = cuda.jit(device=True)(python_kernel)
    namespace["cuda"] = cuda
    exec(source, namespace)
    return cuda.jit(namespace["_ufo_drive"])  # type: ignore[no-any-return]


def python_stencil(kernel: Kernel, arrays: set[str]) -> Callable[..., Any]:
    return stencil_source(kernel, arrays, gpu=False)[0]


def cpu_ufunc(kernel: Kernel, signature: str) -> Callable[..., Any]:
    import numba

    return numba.vectorize([signature])(kernel.function)  # type: ignore[no-any-return]


def _flat_source(kernel: Kernel, arrays: set[str], gpu: bool) -> str:
    params = ", ".join(kernel.parameters)
    call = ", ".join(f"{p}[_ufo_i]" if p in arrays else p for p in kernel.parameters)
    if gpu:
        return (f"def _ufo_drive(_ufo_out, {params}):\n"
                f"    _ufo_i = cuda.grid(1)\n"
                f"    if _ufo_i < _ufo_out.size:\n"
                f"        _ufo_out[_ufo_i] = _ufo_kernel({call})\n")
    return (f"def _ufo_drive(_ufo_out, {params}):\n"
            f"    for _ufo_i in prange(_ufo_out.size):\n"
            f"        _ufo_out[_ufo_i] = _ufo_kernel({call})\n")


def cpu_flat(kernel: Kernel, arrays: set[str]) -> Callable[..., Any]:
    """A prange loop over contiguous same-shape arrays, raveled (numba's parallel ufunc target
    schedules poorly: 5-8x slower than this loop on large frames)."""
    import numba

    namespace = _namespace(kernel)
    namespace["_ufo_kernel"] = numba.njit(inline="always")(kernel.function)
    namespace["prange"] = numba.prange
    exec(_flat_source(kernel, arrays, gpu=False), namespace)
    return numba.njit(parallel=True)(namespace["_ufo_drive"])  # type: ignore[no-any-return]


def gpu_flat(kernel: Kernel, arrays: set[str]) -> Callable[..., Any]:
    """One thread per pixel of contiguous arrays (numba-cuda's device ufuncs cost ~100 ms a
    call in their argument handling; a plain kernel launch costs microseconds)."""
    cuda = cuda_module()
    namespace = _namespace(kernel)
    namespace["_ufo_kernel"] = cuda.jit(device=True)(kernel.function)
    namespace["cuda"] = cuda
    exec(_flat_source(kernel, arrays, gpu=True), namespace)
    return cuda.jit(namespace["_ufo_drive"])  # type: ignore[no-any-return]


def inferred_type(function: Callable[..., Any], types: list[Any]) -> np.dtype:
    """The result type numba infers for the scalar function (when numpy's cannot be found)."""
    import numba

    dispatcher = numba.njit(function)
    dispatcher.compile(tuple(types))
    return np.dtype(str(dispatcher.overloads[tuple(types)].signature.return_type))
