"""Assembly tasks (UFO's stitch, tile, interpolate, horizontal-interpolate, cut-sinogram) through
real graphs. References: the image the pieces were cut from (exact, or float32 rounding at
rtol 1e-6 where a ramp or weight is applied), pixel loops transcribed from UFO's OpenCL kernels
(atol 1e-5), and the parallel-beam symmetry p(theta + pi, t) = p(theta, -t) of an analytic
phantom (atol 1e-9 relative to the sinogram's range)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tifffile

import ufo
from ufo.core import GraphError
from ufo.tomo.phantom import Phantom

RNG = np.random.default_rng(5)
IMAGE = (RNG.random((3, 6, 20)) + 0.5).astype(np.float32)


def run(task, *inputs):
    return task(*inputs).collect()


@pytest.mark.parametrize("blend", [False, True])
def test_stitch_of_overlapping_pieces_gives_the_whole_image(blend):
    left, right = IMAGE[:, :, :12], IMAGE[:, :, 8:]  # overlap of 4 columns
    np.testing.assert_allclose(run(ufo.task("stitch", shift=8, blend=blend), left, right), IMAGE, rtol=1e-6)
    # a negative shift swaps the inputs
    np.testing.assert_allclose(run(ufo.task("stitch", shift=-8, blend=blend), right, left), IMAGE, rtol=1e-6)


def test_stitch_adjust_mean_undoes_a_brighter_second_image():
    left, right = IMAGE[:, :, :12], 2.5 * IMAGE[:, :, 8:]
    out = run(ufo.task("stitch", shift=8, adjust_mean=True, blend=True), left, right)
    np.testing.assert_allclose(out, IMAGE, rtol=1e-5)


def _ufo_stitch(a, b, shift, adjust_mean, blend):
    """UFO's three kernels (copy rect, pad_with_image, interpolate_horizontally) as pixel loops."""
    if shift < 0:
        a, b, shift = b, a, -shift
    h, lw = a.shape
    rw = b.shape[1]
    overlap = lw - shift
    width = lw + rw - overlap
    out = np.zeros((h, width))
    weight = 1.0
    if adjust_mean and overlap:
        weight = a[:, lw - overlap:].sum() / b[:, :overlap].sum()
    for y in range(h):
        for x in range(lw - overlap if blend else lw):
            out[y, x] = a[y, x]
        for x in range(rw - overlap):
            out[y, x + lw] = weight * b[y, x + overlap]
        if blend and overlap:
            for x in range(overlap):
                alpha = x / (overlap - 1.0)
                out[y, x + lw - overlap] = (1 - alpha) * a[y, x + lw - overlap] + alpha * weight * b[y, x]
    return out


@pytest.mark.parametrize("shift,adjust_mean,blend", [(5, False, False), (5, True, True), (-3, True, False),
                                                    (7, False, True), (10, True, True)])
def test_stitch_matches_ufos_kernels(shift, adjust_mean, blend):
    a = RNG.random((2, 5, 10)).astype(np.float32) + 1
    b = RNG.random((2, 5, 10)).astype(np.float32) + 2
    out = run(ufo.task("stitch", shift=shift, adjust_mean=adjust_mean, blend=blend), a, b)
    for i in range(2):
        np.testing.assert_allclose(out[i], _ufo_stitch(a[i], b[i], shift, adjust_mean, blend), atol=1e-5)


@pytest.mark.parametrize("shift,message", [(11, "gap"), (-11, "gap")])
def test_stitch_refuses_a_gap(shift, message):
    with pytest.raises(GraphError, match=message):
        run(ufo.task("stitch", shift=shift), IMAGE[:, :, :10], IMAGE[:, :, :10])


def test_stitch_refuses_different_heights():
    with pytest.raises(GraphError, match="same height"):
        run(ufo.task("stitch", shift=2), IMAGE, IMAGE[:, :5])


def test_tile_cuts_row_by_row_and_declares_the_count():
    stream = ufo.task("tile", width=5, height=3)(IMAGE)
    assert stream.graph().validate()[id(stream.task)].count == 3 * 8
    out = list(stream)
    expected = IMAGE.reshape(3, 2, 3, 4, 5).transpose(0, 1, 3, 2, 4).reshape(24, 3, 5)
    np.testing.assert_array_equal(np.stack(out), expected)
    assert [(t.meta["tile_y"], t.meta["tile_x"]) for t in out[:5]] == [(0, 0), (0, 5), (0, 10), (0, 15), (3, 0)]


@pytest.mark.parametrize("props,message", [({"width": 7}, "multiple"), ({"height": 9}, "larger")])
def test_tile_refuses_sizes_that_do_not_divide(props, message):
    with pytest.raises(GraphError, match=message):
        run(ufo.task("tile", **props), IMAGE)


def test_interpolate_blends_the_first_frames_of_two_inputs():
    x, y = IMAGE[:2], IMAGE[1:3] * 3
    out = run(ufo.task("interpolate", number=5), x, y)
    alpha = np.arange(5)[:, None, None] / 4
    np.testing.assert_allclose(out, (1 - alpha) * x[0] + alpha * y[0], rtol=1e-6)


def _ufo_mask_interpolate(image, mask, use_gradient):
    """UFO's interpolate_mask_horizontally kernel, one pixel at a time."""
    out = image.astype(np.float64).copy()
    h, w = image.shape
    for y in range(h):
        row, m = image[y].astype(np.float64), mask[y]
        for x in range(w):
            if not m[x]:
                continue
            left, right = x, x
            while left > -1 and m[left] > 0:
                left -= 1
            while right < w and m[right] > 0:
                right += 1
            if left < 0:
                if right < w - 1:
                    out[y, x] = row[right] + (row[right] - row[right + 1]) * (right - x) if use_gradient else row[right]
                elif right == w - 1:
                    out[y, x] = row[right]
            elif right >= w:
                if left > 0:
                    out[y, x] = row[left] + (row[left] - row[left - 1]) * (x - left) if use_gradient else row[left]
                else:
                    out[y, x] = row[left]
            else:
                span = right - left
                out[y, x] = (right - x) / span * row[left] + (x - left) / span * row[right]
    return out


@pytest.mark.parametrize("gradient", [True, False])
def test_horizontal_interpolate_matches_ufos_kernel(gradient):
    frames = RNG.random((3, 6, 12)).astype(np.float32)
    mask = np.zeros((6, 12), np.float32)
    mask[:, [0, 1, 4, 5, 6, 11]] = 1  # runs at both borders and inside
    mask[2] = 1  # a row without good pixels stays as it is
    mask[3, :11] = 1  # one good pixel, at the right border
    out = run(ufo.task("horizontal-interpolate", use_one_sided_gradient=gradient), frames, mask[None])
    for i in range(3):
        np.testing.assert_allclose(out[i], _ufo_mask_interpolate(frames[i], mask, gradient), atol=1e-5)


def test_horizontal_interpolate_restores_linear_rows_exactly():
    frames = np.tile((np.arange(16, dtype=np.float32) * 0.5 + 1)[None, None], (2, 4, 1))
    mask = np.zeros((4, 16), np.uint8)
    mask[:, [0, 1, 7, 8, 15]] = 1
    out = run(ufo.task("horizontal-interpolate"), frames, mask[None])
    np.testing.assert_allclose(out, frames, rtol=1e-6)


def test_horizontal_interpolate_pairs_a_mask_stream_with_frames():
    frames = np.tile(np.arange(8, dtype=np.float32)[None, None], (2, 3, 1))
    masks = np.zeros((2, 3, 8), np.float32)
    masks[0, :, 3] = 1
    masks[1, :, 5] = 1
    broken = frames.copy()
    broken[0, :, 3] = broken[1, :, 5] = -100
    np.testing.assert_allclose(run(ufo.task("horizontal-interpolate"), broken, masks), frames, rtol=1e-6)


def test_cut_sinogram_centres_the_axis():
    width, axis = 64, 40.2  # UFO rounds the axis to 40: keep columns 16 .. 64
    phantom = Phantom(width, scale=0.5)
    sino = phantom.sinogram(np.array([0.3, 0.3 + np.pi]), axis=40.0).astype(np.float32)
    out = run(ufo.task("cut-sinogram", center_of_rotation=axis), sino[None])[0]
    assert out.shape == (2, 48)
    np.testing.assert_array_equal(out, sino[:, 16:])
    # parallel beam: the opposite projection is the mirror image about the (now central) axis
    np.testing.assert_allclose(out[1, 1:], out[0, :0:-1], atol=1e-9 * np.ptp(sino))


def test_cut_sinogram_left_of_centre_and_its_errors():
    sino = RNG.random((1, 5, 30)).astype(np.float32)
    np.testing.assert_array_equal(run(ufo.task("cut-sinogram", center_of_rotation=10), sino), sino[:, :, :20])
    np.testing.assert_array_equal(run(ufo.task("cut-sinogram"), sino), sino)
    with pytest.raises(GraphError, match="cut-sinogram"):
        run(ufo.task("cut-sinogram", center_of_rotation=31), sino)


def test_cli_pipeline_stitch_two_inputs(tmp_path):
    tifffile.imwrite(tmp_path / "left.tif", IMAGE[0, :, :12])
    tifffile.imwrite(tmp_path / "right.tif", IMAGE[0, :, 8:])
    result = subprocess.run(
        [sys.executable, "-m", "ufo", "run", "-q",
         "[read path=left.tif, read path=right.tif] ! stitch shift=8 blend=true ! tile width=10 ! write path=out/t-%02i.tif"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    files = sorted((tmp_path / "out").iterdir())
    assert len(files) == 2
    np.testing.assert_allclose(np.hstack([tifffile.imread(f) for f in files]), IMAGE[0], rtol=1e-6)
