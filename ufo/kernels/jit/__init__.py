"""`@ufo.jit`: a scalar Python function, compiled for the CPU (numba) or a GPU (numba-cuda).

    @jit
    def saxpy(a, x, y):
        return a * x + y

    saxpy(2.0, x, y)            # numpy arrays: parallel CPU code; CuPy arrays: a CUDA kernel
    saxpy(2.0, x, y, out=x)     # in place

    @jit(boundary="nearest")
    def laplace(x):
        return x[-1, 0] + x[1, 0] + x[0, -1] + x[0, 1] - 4 * x

The first call with a new combination of dtypes (and array or scalar arguments) compiles
one version; later calls reuse it. Python numbers take the arrays' dtype as in numpy
(`saxpy(2.0, float32, float32)` is float32), and the result has the dtype numpy gives the
same function on those inputs.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .check import JitError, Kernel, analyse

BOUNDARIES = {"constant": "constant", "nearest": "edge", "reflect": "symmetric", "mirror": "reflect", "wrap": "wrap"}
PARALLEL_SIZE = 1 << 16  # below this, threads cost more than they gain


def _is_cupy(value: Any) -> bool:
    return type(value).__module__.startswith("cupy")


class JitKernel:
    """A compiled-on-demand kernel; call it like the function, with arrays."""

    def __init__(self, function: Callable[..., Any], boundary: str = "constant", cval: float = 0.0):
        if boundary not in BOUNDARIES:
            raise JitError(f"boundary is one of {', '.join(BOUNDARIES)}, not '{boundary}'")
        self.kernel: Kernel = analyse(function)
        self.function = function
        self.boundary = boundary
        self.cval = cval
        self.compilations = 0
        self._versions: dict[tuple[Any, ...], Any] = {}  # compiled code per device and signature
        self._types: dict[tuple[Any, ...], np.dtype] = {}
        functools.update_wrapper(self, function)

    @property
    def is_stencil(self) -> bool:
        return bool(self.kernel.stencil)

    @property
    def parameters(self) -> list[str]:
        return list(self.kernel.parameters)

    # -- types ----------------------------------------------------------------------------
    def _typed(self, args: tuple[Any, ...]) -> tuple[list[Any], list[np.dtype], bool]:
        """Arguments as arrays or dtype-typed scalars, their dtypes, and whether they live on a GPU."""
        if len(args) != len(self.kernel.parameters):
            raise JitError(f"{self.kernel.name} takes {len(self.kernel.parameters)} arguments "
                           f"({', '.join(self.kernel.parameters)}), got {len(args)}")
        arrays = [a for a in args if isinstance(a, np.ndarray) or _is_cupy(a)]
        gpu = any(_is_cupy(a) for a in arrays)
        if gpu and not all(_is_cupy(a) for a in arrays):
            raise JitError(f"{self.kernel.name}: some arrays are on the GPU (CuPy) and some on the host (numpy); "
                           "move them to one place (cupy.asarray / .get())")
        array_types = [a.dtype for a in arrays]
        typed, dtypes = [], []
        for name, value in zip(self.kernel.parameters, args):
            if isinstance(value, np.ndarray) or _is_cupy(value):
                typed.append(value)
                dtypes.append(value.dtype)
                continue
            if name in self.kernel.stencil:
                raise JitError(f"{self.kernel.name}: '{name}' is read with offsets, so it must be an array, "
                               f"got {type(value).__name__}")
            if not isinstance(value, (bool, int, float, np.generic)):
                raise JitError(f"{self.kernel.name}: argument '{name}' is a {type(value).__name__}; "
                               "kernels take arrays and numbers")
            dtype = np.result_type(*array_types, value) if array_types else np.result_type(value)
            try:
                scalar = dtype.type(value)
                if scalar != value:
                    raise OverflowError
            except (OverflowError, ValueError):
                dtype = np.result_type(value)
                scalar = dtype.type(value)
            typed.append(scalar)
            dtypes.append(dtype)
        return typed, dtypes, gpu

    def _result_type(self, dtypes: list[np.dtype], arrays: set[str]) -> np.dtype:
        """What numpy gives for the same function on these dtypes; numba's inference where numpy cannot run it."""
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if self.is_stencil:
                    from .compile import python_stencil

                    dims = len(self.kernel.radius)
                    size = [2 * r + 1 for r in self.kernel.radius]
                    args = [np.ones(size, d) if n in arrays else d.type(1) for n, d in zip(self.kernel.parameters, dtypes)]
                    value = python_stencil(self.kernel, arrays)(*args, *([0] * dims))
                else:
                    value = self.function(*[d.type(1) for d in dtypes])
            if isinstance(value, (np.generic, np.ndarray)):
                return np.dtype(value.dtype)
            if isinstance(value, (bool, int, float)):
                return np.dtype(type(value) if not isinstance(value, bool) else np.bool_)
        except Exception:  # noqa: BLE001 - e.g. math.log(0) for the probe value: ask numba instead
            pass
        import numba

        from .compile import inferred_type, python_stencil

        if self.is_stencil:
            return inferred_type(python_stencil(self.kernel, arrays),
                                 [numba.typeof(np.ones([1] * len(self.kernel.radius), d)) if n in arrays
                                  else numba.from_dtype(d) for n, d in zip(self.kernel.parameters, dtypes)]
                                 + [numba.intp] * len(self.kernel.radius))
        return inferred_type(self.function, [numba.from_dtype(d) for d in dtypes])

    # -- calls ----------------------------------------------------------------------------
    def __call__(self, *args: Any, out: Any = None) -> Any:
        typed, dtypes, gpu = self._typed(args)
        if self.is_stencil:
            return self._stencil(typed, dtypes, gpu, out)
        return self._elementwise(typed, dtypes, gpu, out)

    def result_dtype(self, *args: Any) -> np.dtype:
        """The dtype a call with these arguments returns (nothing is compiled for it)."""
        typed, dtypes, _ = self._typed(args)
        return self._result_for(typed, dtypes)

    def _result_for(self, typed: list[Any], dtypes: list[np.dtype]) -> np.dtype:
        arrays = {n for n, a in zip(self.kernel.parameters, typed) if not isinstance(a, np.generic)} \
            if self.is_stencil else set()
        key = (tuple(sorted(arrays)), *map(str, dtypes))
        if key not in self._types:
            self._types[key] = self._result_type(dtypes, arrays)
        return self._types[key]

    def _version(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        if key not in self._versions:
            self._versions[key] = make()
            self.compilations += 1
        return self._versions[key]

    def _elementwise(self, typed: list[Any], dtypes: list[np.dtype], gpu: bool, out: Any) -> Any:
        from . import compile as compiler

        result = self._result_for(typed, dtypes)
        signature = f"{result}({', '.join(str(d) for d in dtypes)})".replace("bool", "boolean")
        array_args = [a for a in typed if not isinstance(a, np.generic)]
        shape = np.broadcast_shapes(*[a.shape for a in array_args]) if array_args else ()
        if gpu:
            return self._elementwise_gpu(typed, dtypes, shape, result, out)
        size = int(np.prod(shape)) if shape else 1
        flat = size >= PARALLEL_SIZE and all(a.shape == shape and a.flags.c_contiguous for a in array_args) \
            and (out is None or (out.shape == shape and out.flags.c_contiguous))
        if flat:  # the common case of whole frames: one parallel loop
            names = {n for n, a in zip(self.kernel.parameters, typed) if not isinstance(a, np.generic)}
            driver = self._version(("flat", tuple(sorted(names)), *map(str, dtypes)),
                                   lambda: compiler.cpu_flat(self.kernel, names))
            target = out if out is not None else np.empty(shape, result)
            self._check_out(target, shape, result)
            driver(target.reshape(-1), *[a.reshape(-1) if not isinstance(a, np.generic) else a for a in typed])
            return target
        ufunc = self._version(("cpu", *map(str, dtypes)), lambda: compiler.cpu_ufunc(self.kernel, signature))
        try:
            return ufunc(*typed, out=out) if out is not None else ufunc(*typed)
        except (TypeError, ValueError) as exc:
            raise JitError(f"{self.kernel.name}: {exc}") from exc

    def _elementwise_gpu(self, typed: list[Any], dtypes: list[np.dtype], shape: tuple[int, ...], result: np.dtype,
                         out: Any) -> Any:
        import cupy

        from . import compile as compiler

        cuda = compiler.cuda_module()
        names = {n for n, a in zip(self.kernel.parameters, typed) if _is_cupy(a)}
        driver = self._version(("gpu", tuple(sorted(names)), *map(str, dtypes)),
                               lambda: compiler.gpu_flat(self.kernel, names))
        target = out if out is not None else cupy.empty(shape, result)
        self._check_out(target, shape, result)
        direct = target.flags.c_contiguous
        flat_out = target if direct else cupy.empty(shape, result)
        inputs = [cuda.as_cuda_array(cupy.ascontiguousarray(cupy.broadcast_to(a, shape)).reshape(-1))
                  if _is_cupy(a) else a for a in typed]  # copies only what broadcasting or striding needs
        size = int(np.prod(shape)) if shape else 1
        stream = cuda.external_stream(cupy.cuda.get_current_stream().ptr)
        driver[max(1, math.ceil(size / 256)), 256, stream](cuda.as_cuda_array(flat_out.reshape(-1)), *inputs)
        if not direct:
            target[...] = flat_out
        return target

    def _check_out(self, out: Any, shape: tuple[int, ...], dtype: np.dtype) -> None:
        if tuple(out.shape) != tuple(shape) or out.dtype != dtype:
            raise JitError(f"{self.kernel.name}: out= must have shape {tuple(shape)} and dtype {dtype}, "
                           f"got {tuple(out.shape)} {out.dtype}")

    def _stencil(self, typed: list[Any], dtypes: list[np.dtype], gpu: bool, out: Any) -> Any:
        from . import compile as compiler

        names = self.kernel.parameters
        arrays = {n for n, a in zip(names, typed) if not isinstance(a, np.generic)}
        shapes = {tuple(a.shape) for n, a in zip(names, typed) if n in arrays}
        if len(shapes) != 1:
            raise JitError(f"{self.kernel.name}: stencil inputs need one shape, got {sorted(shapes)}")
        shape = shapes.pop()
        radius = self.kernel.radius
        if len(shape) != len(radius):
            raise JitError(f"{self.kernel.name}: its offsets have {len(radius)} dimension(s), "
                           f"the arrays {len(shape)} ({shape})")
        xp = __import__("cupy") if gpu else np
        mode = BOUNDARIES[self.boundary]
        widths = [(r, r) for r in radius]
        padded = [xp.pad(a, widths, mode=mode, **({"constant_values": self.cval} if mode == "constant" else {}))
                  if n in arrays else a for n, a in zip(names, typed)]
        tag = tuple(sorted(arrays))
        result = self._result_for(typed, dtypes)
        target = out if out is not None else xp.empty(shape, result)
        self._check_out(target, shape, result)
        driver = self._version(("gpu" if gpu else "cpu", tag, *map(str, dtypes)),
                               lambda: (compiler.gpu_stencil if gpu else compiler.cpu_stencil)(self.kernel, arrays))
        if gpu:
            import cupy

            cuda = compiler.cuda_module()
            block = {1: (256,), 2: (16, 16), 3: (8, 8, 4)}[len(shape)]
            grid = tuple(math.ceil(s / b) for s, b in zip(shape, block))
            stream = cuda.external_stream(cupy.cuda.get_current_stream().ptr)
            driver[grid, block, stream](cuda.as_cuda_array(target),
                                        *[cuda.as_cuda_array(a) if _is_cupy(a) else a for a in padded])
        else:
            driver(target, *padded)
        return target

    def __repr__(self) -> str:
        kind = "stencil" if self.is_stencil else "elementwise"
        return f"<jit {kind} kernel {self.kernel.name}({', '.join(self.kernel.parameters)})>"


def jit(function: Callable[..., Any] | None = None, *, boundary: str = "constant", cval: float = 0.0) -> Any:
    """Compile a scalar function for the CPU and GPUs: `@jit` or `@jit(boundary='nearest')`."""
    if function is None:
        return lambda f: JitKernel(f, boundary, cval)
    return JitKernel(function, boundary, cval)


__all__ = ["JitError", "JitKernel", "jit"]
