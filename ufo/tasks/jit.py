"""User kernels in graphs: `Map(kernel, **constants)` in Python, `jit file=... function=...` in text.

The kernel's parameters that are not given as constants take the frames of the task's
inputs, in order (one to four inputs). Frames on the host run the CPU version, frames on a
GPU (inside a GPU segment) the CUDA version of the same kernel.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
from typing import Any

import numpy as np

from ..core import Input, Kind, Property, Spec, Task
from ..core.errors import GraphError, PropertyError
from ..kernels.jit import JitKernel, jit

KERNEL_FILES_KEPT = 32  # imported kernel files kept; see _import


# Bounded: the key holds the file's modification time, so a user editing a kernel file in a long
# session (the GUI, a notebook) adds one entry per save; an unbounded dict would keep every old
# version of the module (and the numba code compiled for it) until the process ends. 32 covers
# the files one session switches between; an evicted file is only imported again.
@functools.lru_cache(maxsize=KERNEL_FILES_KEPT)
def _import(path: str, mtime: float) -> Any:
    """The module in `path` as it was at `mtime` (a failed import raises and is not cached)."""
    spec = importlib.util.spec_from_file_location(f"ufo_user_kernels_{abs(hash((path, mtime)))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_kernel(file: str, function: str) -> JitKernel:
    """`function` from the Python file `file`, as a jit kernel (the file is imported once per change)."""
    path = os.path.abspath(os.path.expanduser(file))
    if not os.path.isfile(path):
        raise PropertyError(f"task 'jit': kernel file '{file}' does not exist")
    try:
        module = _import(path, os.path.getmtime(path))
    except Exception as exc:
        raise PropertyError(f"task 'jit': importing '{file}' failed: {type(exc).__name__}: {exc}") from exc
    value = getattr(module, function, None)
    if value is None:
        names = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        raise PropertyError(f"task 'jit': '{file}' has no function '{function}'; it has {', '.join(names) or 'none'}")
    return value if isinstance(value, JitKernel) else jit(value)


def _constant(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            pass
    return value


def _float_frames(frames: tuple[Any, ...]) -> tuple[Any, ...]:
    """Integer frames (a camera's uint16) as float32, as UFO's opencl task computes: in their own type
    `2 * x + 1` of 40000 gave 14465 and a Laplacian wrapped. Float frames are handed on as they are."""
    return tuple(f.astype(np.float32) if f.dtype.kind in "iu" else f for f in frames)


class Map(Task):
    """Apply a @jit kernel (a scalar Python function) to every frame, on the CPU or a GPU; integer
    frames reach the kernel as float32 (as `calculate` and UFO's opencl compute)."""

    name = "jit"
    kind = Kind.MAP
    extra_properties = True  # the kernel's constants, checked against its parameters in __init__
    inputs = (Input("x0"), Input("x1", optional=True), Input("x2", optional=True), Input("x3", optional=True))

    file = Property(str, None, doc="Python file that defines the kernel function")
    function = Property(str, None, doc="name of the kernel function in the file")
    boundary = Property(str, "constant", choices=("constant", "nearest", "reflect", "mirror", "wrap"),
                        doc="stencil kernels: values outside the frame")

    def __init__(self, kernel: Any = None, replicas: int = 1, **properties: Any):
        declared = {k: v for k, v in properties.items() if k.replace("-", "_") in self.properties()}
        constants = {k.replace("-", "_"): _constant(v) for k, v in properties.items() if k not in declared}
        super().__init__(replicas=replicas, **declared)
        if kernel is None:
            if not self.file or not self.function:
                raise PropertyError("task 'jit' needs file=KERNELS.py and function=NAME (or Map(kernel) in Python)")
            kernel = load_kernel(self.file, self.function)
        elif not isinstance(kernel, JitKernel):
            kernel = jit(kernel, boundary=self.boundary)
        if kernel.boundary != self.boundary and "boundary" in declared:
            kernel = JitKernel(kernel.function, self.boundary, kernel.cval)
        self.kernel = kernel
        unknown = [k for k in constants if k not in kernel.parameters]
        if unknown:
            raise PropertyError(f"task 'jit': kernel {kernel.kernel.name}({', '.join(kernel.parameters)}) has no "
                                f"parameter {', '.join(repr(u) for u in unknown)}")
        self.constants = constants
        self.frame_parameters = [p for p in kernel.parameters if p not in constants]
        if not 1 <= len(self.frame_parameters) <= 4:
            raise PropertyError(f"task 'jit': kernel {kernel.kernel.name} leaves {len(self.frame_parameters)} "
                                "parameters for frames; give constants so that 1 to 4 remain")
        # one frame input: the task can join GPU segments (which carry one stream of frames)
        self.devices = ("cpu", "gpu") if len(self.frame_parameters) == 1 else ("cpu",)  # type: ignore[misc]

    def clone(self) -> Task:
        return type(self)(self.kernel, replicas=self.replicas, **self.property_values(only_set=True), **self.constants)

    def _arguments(self, frames: tuple[Any, ...]) -> list[Any]:
        if len(frames) != len(self.frame_parameters):
            raise GraphError(f"task 'jit': kernel {self.kernel.kernel.name} takes frames for "
                             f"{', '.join(self.frame_parameters)}, the task has {len(frames)} input(s)")
        given = dict(zip(self.frame_parameters, frames))
        return [given[p] if p in given else self.constants[p] for p in self.kernel.parameters]

    def output_spec(self, *specs: Spec) -> Spec:
        if any(s.shape is None or s.dtype is None for s in specs):
            return Spec(None, None, specs[0].count)
        probes = _float_frames(tuple(np.empty((1,) * len(s.shape), s.dtype) for s in specs))  # dtypes matter
        dtype = self.kernel.result_dtype(*self._arguments(probes))
        return Spec(np.broadcast_shapes(*[s.shape for s in specs]), dtype, specs[0].count)

    def process(self, *frames: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        return self.kernel(*self._arguments(_float_frames(frames)), out=out)  # type: ignore[no-any-return]
