"""Each core task against a numpy/scipy reference, with stated tolerances."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ufo
from ufo.core import PropertyError
from ufo.tasks.expression import compile_expression

RNG = np.random.default_rng(7)
FRAMES = RNG.random((4, 9, 11)).astype(np.float32)


def run(task, frames=FRAMES):
    return task(frames).collect()


@pytest.mark.parametrize("expression,reference", [
    ("x * 2 + 1", lambda x: x * 2 + 1),
    ("-x + 3", lambda x: 3 - x),
    ("sqrt(x) * exp(-x)", lambda x: np.sqrt(x) * np.exp(-x)),
    ("where(x > 0.5, x, 0)", lambda x: np.where(x > 0.5, x, 0)),
    ("x if x < 0.3 else 1", lambda x: np.where(x < 0.3, x, 1)),
    ("max(x, 0.5) - min(x, 0.2)", lambda x: np.maximum(x, 0.5) - np.minimum(x, 0.2)),
    ("clip(x, 0.2, 0.4) ** 2", lambda x: np.clip(x, 0.2, 0.4) ** 2),
    ("2 * pi", lambda x: np.full_like(x, 2 * np.pi)),
    ("log(x + 1) / log10(10)", lambda x: np.log(x + 1)),
])
def test_calculate_matches_numpy_in_float64(expression, reference):
    out = run(ufo.Calculate(expression=expression))
    np.testing.assert_allclose(out, reference(FRAMES.astype(np.float64)), rtol=1e-6, atol=1e-6)
    assert out.dtype == np.float32


def test_calculate_on_integers_does_not_wrap():
    frames = np.full((2, 3, 3), 65535, np.uint16)
    assert run(ufo.Calculate(expression="v + 1"), frames)[0, 0, 0] == 65536


@pytest.mark.parametrize("expression, expected", [
    ("x * 2**64", [2.0**64, 2.0**65]),  # constants were folded in int64: 0
    ("x * 3**41", [3.0**41, 2 * 3.0**41]),  # negative
    ("x * (1 - 2**70)", [1 - 2.0**70, 2 * (1 - 2.0**70)]),  # x unchanged
    ("x + 7 // 0", [np.inf, np.inf]),  # 0
    ("x + 2**-1", [1.5, 2.5]),  # refused at run time naming the input
])
def test_calculate_folds_whole_number_constants_without_wrapping(expression, expected):
    with np.errstate(all="ignore"):
        out = ufo.Calculate(expression=expression)(np.array([[[1.0, 2.0]]], np.float32)).collect()
    np.testing.assert_allclose(out[0, 0], np.float32(expected), rtol=1e-6)


@pytest.mark.parametrize("expression", ["where(x > 100, x, -1)", "x if x > 100 else -1"])
def test_calculate_keeps_constants_outside_an_integer_inputs_range(expression):
    """The constant was cast into the uint16 input's type: -1 became 65535 (70000 became 4464)."""
    out = ufo.Calculate(expression=expression)(np.array([[[0, 1, 100, 65535]]], np.uint16)).collect()
    np.testing.assert_array_equal(out[0, 0], [-1, -1, -1, 65535])


@given(st.floats(-1e3, 1e3, allow_nan=False), st.floats(-1e3, 1e3, allow_nan=False))
@settings(max_examples=50, deadline=None)
def test_calculate_arithmetic_property(a, b):
    f = compile_expression(f"x * {a!r} + {b!r}", 1, np.float64)
    x = np.linspace(-1, 1, 7)
    np.testing.assert_allclose(f([x], None), x * a + b, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("expression,message", [
    ("__import__('os')", "unknown function"),
    ("x.real", "not allowed"),
    ("y + 1", "unknown name 'y'"),
    ("x +", "cannot parse"),
    ("'a' * 3", "only numbers"),
    ("sqrt(x, 2)", "takes 1 argument"),
])
def test_calculate_refuses_unsafe_or_bad_expressions(expression, message):
    with pytest.raises(PropertyError, match=message):
        compile_expression(expression)


def test_crop():
    np.testing.assert_array_equal(run(ufo.Crop(x=2, y=1, width=5, height=4)), FRAMES[:, 1:5, 2:7])
    np.testing.assert_array_equal(run(ufo.Crop(width=5, height=3, from_center=True)), FRAMES[:, 3:6, 3:8])


@pytest.mark.parametrize("mode,np_mode", [("clamp", "edge"), ("mirror", "symmetric"), ("repeat", "wrap")])
def test_pad_modes_match_numpy(mode, np_mode):
    out = run(ufo.Pad(width=15, height=13, x=1, y=3, addressing_mode=mode))
    expected = np.pad(FRAMES, ((0, 0), (3, 1), (1, 3)), mode=np_mode)
    np.testing.assert_array_equal(out, expected)


def test_pad_constant_centred():
    out = run(ufo.Pad(width=13, height=11, value=-1))
    expected = np.pad(FRAMES, ((0, 0), (1, 1), (1, 1)), constant_values=-1)
    np.testing.assert_array_equal(out, expected)


def test_pad_of_a_size_a_zero_too_large_is_refused_before_running():
    """width=100000 height=100000 passed the one-frame-in-memory check (18.6 GiB of uint16 on a 24 GB
    machine) and the process was killed for memory mid-run, without a word."""
    from ufo.core.errors import GraphError

    with pytest.raises(GraphError, match="pad width=100000 height=100000: 10000000000 pixels a frame"):
        run(ufo.Pad(width=100_000, height=100_000), np.zeros((1, 64, 64), np.uint16))


@pytest.mark.parametrize("mode", ["mean", "sum"])
def test_bin(mode):
    out = run(ufo.Bin(size=2, mode=mode))
    blocks = FRAMES[:, :8, :10].astype(np.float64).reshape(4, 4, 2, 5, 2)
    expected = blocks.mean(axis=(2, 4)) if mode == "mean" else blocks.sum(axis=(2, 4))
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_rescale_equals_the_closed_form_on_a_plane():
    """Linear interpolation reproduces a plane exactly. Pixel centres map as UFO's and scikit-image's:
    output pixel j samples input position (j + 0.5) n_in / n_out - 0.5 (the edge value past the
    edges), so the factor is the factor; a mirrored, shifted, corner-aligned or rescaled output fails."""
    yy, xx = np.mgrid[:8, :16].astype(np.float64)
    plane = (3 * xx - 2 * yy + 5).astype(np.float32)[None]
    out = run(ufo.Rescale(factor=2), plane)
    assert out.shape == (1, 16, 32)
    y, x = np.clip((np.arange(16) + 0.5) / 2 - 0.5, 0, 7), np.clip((np.arange(32) + 0.5) / 2 - 0.5, 0, 15)
    expected = 3 * x[None, :] - 2 * y[:, None] + 5
    corners = 3 * (np.arange(32) * 15 / 31)[None, :] - 2 * (np.arange(16) * 7 / 15)[:, None] + 5
    assert np.abs(out[0] - corners).max() > 1e-3 * np.abs(expected).max()  # the corner-aligned zoom fails
    np.testing.assert_allclose(out[0], expected, rtol=0, atol=2e-5 * np.abs(expected).max())
    for wrong in (expected[:, ::-1], expected[::-1], expected + 3 * 15 / 31 / 2, 1.01 * expected):
        assert np.abs(out[0] - wrong).max() > 1e-3 * np.abs(expected).max()
    half = run(ufo.Rescale(x_factor=0.5, y_factor=1), plane)
    assert half.shape == (1, 8, 8)  # column j samples 2 j + 0.5: the mean of columns 2 j and 2 j + 1
    np.testing.assert_allclose(half[0], plane[0].reshape(8, 8, 2).mean(axis=2), atol=1e-5)


def test_transpose_flip_rotate():
    np.testing.assert_array_equal(run(ufo.Transpose()), FRAMES.transpose(0, 2, 1))
    np.testing.assert_array_equal(run(ufo.Flip(direction="horizontal")), FRAMES[:, :, ::-1])
    np.testing.assert_array_equal(run(ufo.Flip(direction="vertical")), FRAMES[:, ::-1])
    np.testing.assert_array_equal(run(ufo.Flip(direction="both")), FRAMES[:, ::-1, ::-1])
    square = FRAMES[:, :9, :9]
    np.testing.assert_allclose(run(ufo.Rotate(angle="90deg"), square), np.rot90(square, 1, axes=(1, 2)), atol=1e-5)


def test_average_mean_and_median():
    np.testing.assert_allclose(run(ufo.Average())[0], FRAMES.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(run(ufo.Average(method="median"))[0], np.median(FRAMES, axis=0), rtol=1e-6)


def test_dummy_data_kinds():
    const = ufo.DummyData(shape=[3, 4], number=2, value=7, dtype="uint16")().collect()
    assert const.shape == (2, 3, 4) and const.dtype == np.uint16 and np.all(const == 7)
    a = ufo.DummyData(shape=[5, 5], number=3, init="random", seed=3)().collect()
    b = ufo.DummyData(shape=[5, 5], number=3, init="random", seed=3)().collect()
    np.testing.assert_array_equal(a, b)
    assert 0 <= a.min() and a.max() <= 1 and not np.all(a[0] == a[1])
    noise = ufo.DummyData(shape=[5, 5], number=2, init="random", dtype="uint16", value=100)().collect()
    assert noise.max() <= 100
    assert ufo.DummyData(width=16, height=8)().collect().shape == (1, 8, 16)


def test_center_of_rotation_by_sinogram_searches_a_full_turn_on_its_first_half():
    """angle-step was taken by method=scan only: a 360-degree sinogram of an object off the centre
    came out 11 px off (59.66 for 71) by method=sinogram, where auto-axis found 70.99."""
    from scipy.ndimage import shift
    from skimage.data import shepp_logan_phantom
    from skimage.transform import radon, resize

    image = shift(np.pad(resize(shepp_logan_phantom(), (96, 96)), 16), (6, -11), order=1)
    sino = shift(radon(image, theta=np.arange(360.0), circle=True).T, (0, 7), order=3).astype(np.float32)
    found = ufo.CenterOfRotation(method="sinogram", angle_step=2 * np.pi / 360)(sino).collect()[0, 0]
    assert abs(found - 71.0) < 0.25, found


def test_an_fft_of_odd_length_is_refused_before_ifft_and_filter_misread_it():
    """ifft and filter take n values for a row of 2 (n - 1): size=201 came back 0.51 off."""
    from ufo.core import GraphError

    with pytest.raises(GraphError, match="fft size=201 is odd; give an even length"):
        ufo.Ifft(crop_width=100)(ufo.Fft(size=201)(np.ones((1, 4, 100), np.float32))).collect()
    rows = np.random.default_rng(2).random((1, 4, 100)).astype(np.float32)
    back = ufo.Ifft(crop_width=100)(ufo.Fft(size=200)(rows)).collect()
    np.testing.assert_allclose(back, rows, atol=1e-6)
