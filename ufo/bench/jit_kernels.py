"""@jit kernels shared by the jit benchmark (benchmarks/jit_check.py) and tests/test_jit.py.

A module of their own because @jit reads their source; in the product, not in tests/, so the
benchmark that measures them does not depend on the test suite.
"""

from __future__ import annotations

import math

import numpy as np

from ..kernels.jit import jit


@jit
def saxpy(a, x, y):
    return a * x + y


@jit
def branchy(x, threshold):
    if x > threshold:
        value = x - threshold
    elif x < -threshold:
        value = x + threshold
    else:
        value = 0.0 * x
    total = value
    for i in range(3):
        total = total + value * i
    return total


@jit
def mathy(x, y):
    return math.sqrt(x * x + y * y) + math.exp(-abs(x)) + (x if x > y else y) + np.float32(0.5) * min(x, y)


@jit
def scaled(x):
    return x * 3 + 7


@jit
def laplace(x):
    return x[-1, 0] + x[1, 0] + x[0, -1] + x[0, 1] - 4 * x


@jit(boundary="nearest")
def sobel_x(x):
    return (x[-1, 1] + 2 * x[0, 1] + x[1, 1]) - (x[-1, -1] + 2 * x[0, -1] + x[1, -1])


@jit
def smooth1d(x, w):
    return w * x[-2] + (1 - 2 * w) * x + w * x[2]
