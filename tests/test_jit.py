"""@ufo.jit against numpy: elementwise and stencil kernels, dtypes, broadcasting, borders,
compilation once per signature, clear errors; Map / `jit` tasks in graphs."""

from __future__ import annotations

import numpy as np
import pytest

import ufo
from tests import jit_kernels as k
from ufo.kernels.jit import JitError, jit

rng = np.random.default_rng(7)


def close(result, expected):
    """Equal up to a few units of rounding of the larger terms (float32 sums cancel)."""
    eps = np.finfo(np.float32).eps if result.dtype == np.float32 else np.finfo(np.float64).eps
    scale = float(np.max(np.abs(expected.astype(np.float64)))) if expected.size else 1.0
    np.testing.assert_allclose(result.astype(np.float64), expected.astype(np.float64), rtol=8 * eps,
                               atol=16 * eps * scale)


def random(shape, dtype):
    if np.dtype(dtype).kind == "u":
        return rng.integers(0, 4000, shape).astype(dtype)
    return (rng.standard_normal(shape) * 10).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64", "uint16"])
def test_elementwise_matches_numpy_in_value_and_dtype(dtype):
    x, y = random((64, 80), dtype), random((64, 80), dtype)
    expected = 2 * x + y
    result = k.saxpy(2, x, y)
    assert result.dtype == expected.dtype
    close(result, expected)
    result = k.scaled(x)  # uint16 wraps around as numpy's does
    assert result.dtype == (x * 3 + 7).dtype
    close(result, x * 3 + 7)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_branches_loops_and_math_match_a_python_loop(dtype):
    x, y = random((40, 30), dtype), random((40, 30), dtype)
    result = k.branchy(x, 5.0)
    reference = np.vectorize(k.branchy.function)(x.astype(np.float64), 5.0)
    np.testing.assert_allclose(result, reference, rtol=1e-5, atol=1e-5)
    result = k.mathy(x, y)
    reference = np.vectorize(k.mathy.function)(x.astype(np.float64), y.astype(np.float64))
    np.testing.assert_allclose(result, reference, rtol=1e-5, atol=1e-5)


def test_broadcasting_scalars_and_out():
    x = random((6, 1, 5), "float32")
    y = random((1, 4, 5), "float32")
    result = k.saxpy(0.5, x, y)
    assert result.shape == (6, 4, 5) and result.dtype == np.float32  # a Python float takes the arrays' dtype
    close(result, 0.5 * x + y)
    row = random((5,), "float64")
    np.testing.assert_allclose(k.saxpy(row, x, 1.0), row * x + 1.0, rtol=1e-12)
    out = np.empty((6, 4, 5), np.float32)
    assert k.saxpy(0.5, x, y, out=out) is out
    close(out, 0.5 * x + y)
    with pytest.raises(JitError, match="saxpy takes 3 arguments \\(a, x, y\\), got 2"):
        k.saxpy(x, y)
    with pytest.raises(JitError, match="argument 'a' is a str"):
        k.saxpy("2", x, y)


def test_large_arrays_take_the_parallel_version_with_the_same_results():
    x, y = random((512, 512), "float32"), random((512, 512), "float32")
    close(k.saxpy(3.0, x, y), 3 * x + y)
    u = random((512, 512), "uint16") * 8
    result = k.scaled(u)
    assert result.dtype == np.uint16 and np.array_equal(result, u * 3 + 7)  # wraps around as numpy's does
    out = np.empty((512, 512), np.float32)
    assert k.saxpy(3.0, x, y, out=out) is out


def test_the_second_call_does_not_compile_again():
    kernel = jit(k.saxpy.function)
    x, y = random((8, 8), "float32"), random((8, 8), "float32")
    kernel(2.0, x, y)
    assert kernel.compilations == 1
    kernel(3.0, random((16, 4), "float32"), random((16, 4), "float32"))  # same dtypes: same version
    assert kernel.compilations == 1
    kernel(2.0, x.astype(np.float64), y.astype(np.float64))
    assert kernel.compilations == 2


def _padded(x, mode, radius=1):
    return np.pad(x, radius, mode={"constant": "constant", "nearest": "edge", "reflect": "symmetric",
                                   "mirror": "reflect", "wrap": "wrap"}[mode])


@pytest.mark.parametrize("mode", ["constant", "nearest", "reflect", "mirror", "wrap"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "uint16"])
def test_stencils_at_the_borders(mode, dtype):
    x = random((17, 23), dtype)
    kernel = jit(k.laplace.function, boundary=mode)
    p = _padded(x, mode)
    expected = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * x
    result = kernel(x)
    assert result.dtype == expected.dtype
    close(result, expected)


def test_stencils_agree_with_scipy_and_take_scalars():
    from scipy import ndimage

    x = random((30, 20), "float64")
    weights = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float)
    np.testing.assert_allclose(k.sobel_x(x), ndimage.correlate(x, weights, mode="nearest"), rtol=1e-12, atol=1e-10)
    line = random((50,), "float32")
    p = np.pad(line, 2)
    np.testing.assert_allclose(k.smooth1d(line, 0.25), 0.25 * p[:-4] + 0.5 * line + 0.25 * p[4:], rtol=1e-5)
    with pytest.raises(JitError, match="offsets have 2 dimension\\(s\\), the arrays 1"):
        k.laplace(line)
    with pytest.raises(JitError, match="'x' is read with offsets, so it must be an array"):
        k.laplace(3.0)


@pytest.mark.parametrize("function, construct, marker", [
    (k.uses_list, "a list", "[x, x]"),
    (k.uses_attribute, "the attribute 'x.real'", "x.real"),
    (k.uses_while_true_import, "an import", "import os"),
    (k.uses_unknown_call, "calling 'print'", "print(x)"),
    (k.uses_variable_index, "the index in 'x\\[i, 0\\]'", "x[i, 0]"),
])
def test_unsupported_python_is_named_with_its_line(function, construct, marker):
    import inspect

    lines, first = inspect.getsourcelines(function)
    line = first + next(i for i, text in enumerate(lines) if marker in text)
    with pytest.raises(JitError, match=f"@jit {function.__name__}: {construct} is not supported \\(line {line} of "
                                       ".*jit_kernels.py"):
        jit(function)


def test_map_task_in_a_graph_and_in_pipeline_text(tmp_path):
    frames = random((4, 12, 10), "float32")
    out = ufo.Map(k.saxpy, a=2)(frames, frames).collect()
    close(out, 2 * frames + frames)
    out = ufo.Map(k.laplace, boundary="wrap")(frames).collect()
    p = np.pad(frames, ((0, 0), (1, 1), (1, 1)), mode="wrap")
    np.testing.assert_allclose(out, p[:, :-2, 1:-1] + p[:, 2:, 1:-1] + p[:, 1:-1, :-2] + p[:, 1:-1, 2:] - 4 * frames,
                               rtol=1e-5, atol=1e-4)

    source = tmp_path / "kernels.py"
    source.write_text("def shift(x, offset):\n    return x + offset\n")
    from ufo.core.pipeline import parse

    import subprocess
    import sys

    import tifffile

    target = tmp_path / "shifted.tif"
    command = [sys.executable, "-m", "ufo", "run",
               f"dummy-data shape=8,8 number=3 value=1 ! jit file={source} function=shift offset=2.5 ! write path={target}"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    result = tifffile.imread(target)
    assert result.shape == (3, 8, 8) and np.all(result == 3.5)
    with pytest.raises(ufo.UsageError, match="has no parameter 'scale'"):
        parse(f"dummy-data shape=8,8 number=3 ! jit file={source} function=shift scale=2")
    with pytest.raises(ufo.UsageError, match="has no function 'nope'; it has shift"):
        parse(f"dummy-data shape=8,8 number=3 ! jit file={source} function=nope")
    with pytest.raises(ufo.UsageError, match="needs file=KERNELS.py and function=NAME"):
        ufo.task("jit")
