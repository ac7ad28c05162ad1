"""Kernels for tests/test_jit.py: the @jit kernels come from the product (ufo.bench.jit_kernels,
which the jit benchmark measures too); the Python constructs @jit refuses are here, test-only
(a module of their own: @jit reads their source and names this file in its errors)."""

from ufo.bench.jit_kernels import branchy, laplace, mathy, saxpy, scaled, smooth1d, sobel_x

__all__ = ["branchy", "laplace", "mathy", "saxpy", "scaled", "smooth1d", "sobel_x"]


def uses_list(x):
    values = [x, x]
    return values[0]


def uses_attribute(x):
    return x.real


def uses_while_true_import(x):
    import os  # noqa: F401
    return x


def uses_unknown_call(x):
    return print(x)


def uses_variable_index(x, i):
    return x[i, 0]
