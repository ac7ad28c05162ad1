"""UFO's image filters (median-filter, blur, gradient, clip, binarize, mask, subtract) against
scipy.ndimage / numpy references, run through real graphs, with stated tolerances."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tifffile
from scipy import ndimage

import ufo
from ufo.core.errors import GraphError

RNG = np.random.default_rng(22)
FRAMES = RNG.random((3, 17, 23)).astype(np.float32)


def run(name, frames=FRAMES, **props):
    return ufo.task(name, **props)(frames).collect()


@pytest.mark.parametrize("size", [1, 3, 5])
def test_median_filter_equals_scipy(size):
    # exact: the same order statistic of the same float32 values
    out = run("median-filter", size=size)
    expected = np.stack([ndimage.median_filter(f, size=size, mode="reflect") for f in FRAMES])
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.float32


@pytest.mark.parametrize("shape, size", [((1, 500), 3), ((500, 1), 5), ((2, 40), 7), ((1, 1), 3)])
def test_median_filter_of_frames_narrower_than_its_window_equals_scipy(shape, size):
    """A frame of one row (a detector line, a sinogram row) was refused at size 3, though mirrored
    onto itself as scipy's 'reflect' does; remove-outliers and blur took it."""
    frames = np.random.default_rng(3).random((2, *shape)).astype(np.float32)
    expected = np.stack([ndimage.median_filter(f, size=size, mode="reflect") for f in frames])
    np.testing.assert_array_equal(run("median-filter", frames, size=size), expected)


def test_median_filter_removes_a_zinger_from_integers():
    frames = np.full((1, 9, 9), 100, np.uint16)
    frames[0, 4, 4] = 60000
    assert run("median-filter", frames, size=3).max() == 100


@pytest.mark.parametrize("size", [3, 5, 7])
def test_median_filter_leaves_nan_out_of_every_window_at_every_size(size):
    """A NaN (kept by a flat-field correction) moved to a good neighbour at size 3, stayed at 5 and
    vanished at 7: sorting networks and scipy's selection order NaN by accident. Now each window's
    median of its other values, numpy's nanmedian, at every size."""
    frame = RNG.random((15, 16)).astype(np.float32)
    frame[5, 6] = frame[0, 0] = np.nan
    frame[9, 9:9 + size] = np.nan  # a row of them, as wide as the window
    half = size // 2
    padded = np.pad(frame, half, mode="symmetric")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size)).reshape(*frame.shape, -1)
    expected = np.nanmedian(windows, axis=-1)
    out = run("median-filter", frame[None], size=size)[0]
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert not np.isnan(out).any()


@pytest.mark.parametrize("size,sigma", [(5, 1.0), (7, 2.5), (3, 0.7)])
def test_blur_equals_scipy_gaussian_with_the_same_truncation(size, sigma):
    # float32 separable sums vs scipy's float64 filter: rtol 1e-5, atol 1e-6
    out = run("blur", size=size, sigma=sigma)
    expected = np.stack([ndimage.gaussian_filter(f.astype(np.float64), sigma, radius=size // 2, mode="reflect")
                         for f in FRAMES])
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def _padded_diff(frames, axis, kind, mode):
    pad = [(0, 0), (1, 1), (1, 1)]
    p = np.pad(frames.astype(np.float64), pad, mode=mode)
    h, w = frames.shape[1:]
    core = p[:, 1:-1, 1:-1]
    if axis == 2:
        nxt, prv = p[:, 1:-1, 2:], p[:, 1:-1, :w]
    else:
        nxt, prv = p[:, 2:, 1:-1], p[:, :h, 1:-1]
    return {"forward": nxt - core, "backward": core - prv, "central": (nxt - prv) / 2}[kind]


def test_gradient_central_interior_equals_numpy_gradient():
    # np.gradient uses the same central difference inside the frame: rtol 1e-6
    gy, gx = np.gradient(FRAMES.astype(np.float64), axis=(1, 2))
    out = run("gradient", direction="horizontal")
    np.testing.assert_allclose(out[:, :, 1:-1], gx[:, :, 1:-1], rtol=1e-6, atol=1e-7)
    out = run("gradient", direction="vertical")
    np.testing.assert_allclose(out[:, 1:-1, :], gy[:, 1:-1, :], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", ["forward", "backward", "central"])
@pytest.mark.parametrize("mode,np_mode", [("clamp", "constant"), ("clamp_to_edge", "edge"), ("repeat", "wrap"),
                                          ("mirrored_repeat", "symmetric")])
def test_gradient_borders_follow_the_addressing_mode(kind, mode, np_mode):
    dx = _padded_diff(FRAMES, 2, kind, np_mode)
    dy = _padded_diff(FRAMES, 1, kind, np_mode)
    for direction, expected in [("horizontal", dx), ("vertical", dy), ("both", dx + dy),
                                ("both_abs", np.abs(dx) + np.abs(dy)), ("both_mag", np.hypot(dx, dy))]:
        out = run("gradient", direction=direction, finite_difference_type=kind, addressing_mode=mode)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6, err_msg=direction)


def test_gradient_forward_equals_numpy_diff():
    out = run("gradient", finite_difference_type="forward", addressing_mode="clamp_to_edge")
    np.testing.assert_allclose(out[:, :, :-1], np.diff(FRAMES, axis=2), rtol=1e-6, atol=1e-7)
    assert np.all(out[:, :, -1] == 0)


def test_clip_and_binarize_equal_numpy():
    np.testing.assert_array_equal(run("clip", min=0.25, max=0.5), np.clip(FRAMES, 0.25, 0.5))
    np.testing.assert_array_equal(run("binarize", threshold=0.5), (FRAMES >= 0.5).astype(np.float32))
    np.testing.assert_array_equal(run("binarize", threshold=0.5, invert=True), (FRAMES < 0.5).astype(np.float32))
    nan = np.array([[[np.nan, 0.2, 0.7]]], np.float32)  # NaN: 1 as in UFO's kernel (not below the threshold)
    np.testing.assert_array_equal(run("binarize", nan, threshold=0.5), [[[1, 0, 1]]])
    np.testing.assert_array_equal(run("binarize", nan, threshold=0.5, invert=True), [[[0, 1, 0]]])
    ints = np.arange(12, dtype=np.uint16).reshape(1, 3, 4)
    np.testing.assert_array_equal(run("clip", ints, min=2, max=9), np.clip(ints, 2, 9).astype(np.float32))


def _disk(h, w, cx, cy, r):
    out = np.zeros((h, w), bool)
    for row in range(h):
        for col in range(w):
            out[row, col] = (col - cx) ** 2 + (row - cy) ** 2 <= r * r
    return out


def test_mask_default_is_ufos_circle_on_square_frames():
    frames = RNG.random((2, 16, 16)).astype(np.float32) + 1
    out = run("mask", frames)
    inside = _disk(16, 16, 8, 8, 8)
    np.testing.assert_array_equal(out, np.where(inside, frames, 0))


def test_mask_with_radius_centre_and_value():
    out = run("mask", radius=5.5, x=7, y=6, value=np.nan)
    inside = _disk(17, 23, 7, 6, 5.5)
    np.testing.assert_array_equal(out, np.where(inside, FRAMES, np.nan))


def test_subtract_two_streams():
    b = RNG.random(FRAMES.shape).astype(np.float32)
    out = ufo.task("subtract")(FRAMES, b).collect()
    np.testing.assert_array_equal(out, FRAMES - b)


@pytest.mark.parametrize("name,props,shape,message", [
    ("median-filter", {"size": 4}, (8, 8), "must be odd"),
    ("median-filter", {"size": 3}, (2, 8, 8), "2-D frames"),
    ("blur", {"size": 6}, (8, 8), "must be odd"),
    ("gradient", {}, (8,), "2-D frames"),
    ("clip", {"min": 2, "max": 1}, (8, 8), "larger than max"),
    ("mask", {}, (4, 8, 8), "task 'mask'"),
])
def test_bad_shapes_and_properties_fail_when_the_graph_is_built(name, props, shape, message):
    with pytest.raises(GraphError, match=message):
        ufo.task(name, **props)([np.zeros(shape, np.float32)] * 2).collect()


def test_subtract_refuses_different_shapes():
    with pytest.raises(GraphError, match="task 'subtract'"):
        ufo.task("subtract")(np.zeros((2, 4, 4), np.float32), np.zeros((2, 4, 5), np.float32)).collect()


def test_ufo_run_median_and_blur_pipeline(tmp_path):
    (tmp_path / "in").mkdir()
    for number, frame in enumerate(FRAMES):
        tifffile.imwrite(tmp_path / "in" / f"frame-{number}.tif", frame)
    result = subprocess.run([sys.executable, "-m", "ufo", "run",
                             "read path=in/ ! median-filter size=3 ! blur size=5 sigma=1.5 ! write path=out.tif"],
                            check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = tifffile.imread(tmp_path / "out.tif")
    expected = np.stack([ndimage.gaussian_filter(ndimage.median_filter(f, size=3, mode="reflect").astype(np.float64),
                                                 1.5, radius=2, mode="reflect") for f in FRAMES])
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_ufo_run_subtract_two_branches(tmp_path):
    b = RNG.random(FRAMES.shape).astype(np.float32)
    for folder, frames in (("a", FRAMES), ("b", b)):
        (tmp_path / folder).mkdir()
        for number, frame in enumerate(frames):
            tifffile.imwrite(tmp_path / folder / f"frame-{number}.tif", frame)
    result = subprocess.run([sys.executable, "-m", "ufo", "run", "[read path=a/, read path=b/] ! subtract ! write path=out.tif"],
                            check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out.tif"), FRAMES - b)
