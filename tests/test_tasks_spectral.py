"""UFO's Fourier-space helpers (power-spectrum, swap-quadrants, zeropad, polar-coordinates) and
find-large-spots against numpy references and closed forms, run through real graphs."""

from __future__ import annotations

import math
import subprocess
import sys
from collections import deque

import numpy as np
import pytest
import tifffile

import ufo
from ufo.core.errors import GraphError
from ufo.tasks.filters2d import estimate_noise_sigma

RNG = np.random.default_rng(24)
FRAMES = RNG.random((2, 12, 15)).astype(np.float32)


def test_power_spectrum_equals_numpy_fft():
    # complex64 in, float32 out: rtol 1e-6
    coefficients = np.fft.fft2(FRAMES).astype(np.complex64)
    out = ufo.task("power-spectrum")(coefficients).collect()
    np.testing.assert_allclose(out, np.abs(coefficients.astype(np.complex128)) ** 2, rtol=1e-6)
    assert out.dtype == np.float32


def test_power_spectrum_refuses_real_frames():
    with pytest.raises(GraphError, match="task 'power-spectrum' needs complex"):
        ufo.task("power-spectrum")(FRAMES).collect()


@pytest.mark.parametrize("task", ["retrieve-phase energy=20 distance=0.1 pixel-size=1e-6", "bin size=2",
                                  "rotate angle=30deg", "remove-outliers"])
def test_tasks_on_real_frames_refuse_fourier_coefficients(tmp_path, task):
    """`fft ! retrieve-phase` (tofu's phase pipeline without dimensions=2) wrote the real part's
    phase retrieval, numbers that meant nothing, with exit 0; a swap-quadrants between keeps them complex."""
    tifffile.imwrite(tmp_path / "f.tif", FRAMES)
    run = subprocess.run([sys.executable, "-m", "ufo", "run", f"read path={tmp_path}/f.tif ! fft ! swap-quadrants ! "
                          f"{task} ! write path={tmp_path}/o.tif"], capture_output=True, text=True)
    assert run.returncode == 2 and not (tmp_path / "o.tif").exists()
    assert f"task '{task.split()[0]}' works on real frames, its input is complex" in run.stderr
    assert "Traceback" not in run.stderr
    fine = ufo.task("ifft")(ufo.task("fft")(FRAMES)).collect()  # fft ! ifft stays allowed
    np.testing.assert_allclose(fine[:, :, :15], FRAMES, atol=1e-5)


@pytest.mark.parametrize("shape", [(12, 15), (8, 8), (7, 9)])
@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
def test_swap_quadrants_equals_fftshift(shape, dtype):
    frames = RNG.random((2, *shape)).astype(dtype)
    if dtype == np.complex64:
        frames = frames + 1j * frames[:, ::-1, ::-1]
    out = ufo.task("swap-quadrants")(frames).collect()
    np.testing.assert_array_equal(out, np.fft.fftshift(frames, axes=(1, 2)))
    assert out.dtype == dtype


@pytest.mark.parametrize("oversampling,center,axis", [(1, -1, 7), (2, -1, 7), (1, 5, 5), (1, 9.7, 9)])
def test_zeropad_puts_the_axis_first_and_zeros_in_the_middle(oversampling, center, axis):
    out = ufo.task("zeropad", oversampling=oversampling, center_of_rotation=center)(FRAMES).collect()
    size = 16 * oversampling
    assert out.shape == (2, 12, size) and out.dtype == np.complex64
    expected = np.zeros((2, 12, size), np.complex64)
    w = FRAMES.shape[2]
    for k in range(size):  # hand-built: output column k holds input column axis + k, wrapped about the padding
        source = axis + k if k < w - axis else (k - size + axis if k >= size - axis else None)
        if source is not None:
            expected[:, :, k] = FRAMES[:, :, source]
    np.testing.assert_array_equal(out, expected)
    # the axis column is the origin: the transform of a centred delta is flat
    delta = np.zeros((1, 1, 15), np.float32)
    delta[0, 0, axis] = 1
    spectrum = np.fft.fft(ufo.task("zeropad", center_of_rotation=center)(delta).collect()[0, 0])
    np.testing.assert_allclose(spectrum, np.ones(16), atol=1e-6)


def test_zeropad_refuses_an_axis_outside_the_frame():
    with pytest.raises(GraphError, match="task 'zeropad'.*outside"):
        ufo.task("zeropad", center_of_rotation=40)(FRAMES).collect()


def _linear(shape, a=0.3, b=-0.7, c=2.0):
    rows, cols = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    return (a * cols + b * rows + c).astype(np.float32), (a, b, c)


def test_polar_coordinates_cartesian_to_polar_default_shape_and_values():
    # bilinear interpolation is exact for a linear image inside it: atol 1e-4 (float32 coordinates)
    h, w = 20, 26
    image, (a, b, c) = _linear((h, w))
    out = ufo.task("polar-coordinates")(image[None]).collect()[0]
    oh, ow = round(2 * math.pi / math.tan(2.0 / 26)), round(math.sqrt(w * w / 4 + h * h / 4))
    assert out.shape == (oh, ow)
    radius = np.arange(ow)[None, :]
    angle = (2.0 * np.arange(oh)[:, None] / oh - 1) * math.pi
    x = radius * np.cos(angle) + w / 2 - 0.5
    y = radius * np.sin(angle) + h / 2 - 0.5
    inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    np.testing.assert_allclose(out[inside], (a * x + b * y + c)[inside], atol=1e-4)
    assert inside.sum() > out.size / 3


def test_polar_coordinates_polar_to_cartesian_values():
    h, w = 40, 30  # a polar image: rows are angles, columns radii
    image, (a, b, c) = _linear((h, w))
    out = ufo.task("polar-coordinates", direction="polar_to_cartesian", width=32, height=24)(image[None]).collect()[0]
    assert out.shape == (24, 32)
    px, py = np.meshgrid(np.arange(32) - 16, np.arange(24) - 12)
    r = np.hypot(px, py) - 0.5
    row = (np.arctan2(py, px) + math.pi) * h / (2 * math.pi) - 0.5
    inside = (r >= 0) & (r <= w - 1) & (row >= 0) & (row <= h - 1)
    np.testing.assert_allclose(out[inside], (a * r + b * row + c)[inside], atol=1e-4)


def _grow_and_fill(data, seeds, grow):
    """UFO's find-large-spots written out with loops: grow until stable, then flood the background from the edge."""
    h, w = data.shape
    mask = seeds.copy()
    changed = True
    while changed:
        changed = False
        for y in range(1, h - 1):
            for x in range(1, w - 1):
                if mask[y, x]:
                    continue
                for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
                    if mask[y + dy, x + dx] and abs(float(data[y, x]) - float(data[y + dy, x + dx])) > grow:
                        mask[y, x] = changed = True
                        break
    outside = np.zeros_like(mask)
    queue = deque((y, x) for y in range(h) for x in range(w) if (y in (0, h - 1) or x in (0, w - 1)) and not mask[y, x])
    for y, x in queue:
        outside[y, x] = True
    while queue:
        y, x = queue.popleft()
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            ny, nx = y + dy, x + dx
            if 0 <= ny < h and 0 <= nx < w and not mask[ny, nx] and not outside[ny, nx]:
                outside[ny, nx] = True
                queue.append((ny, nx))
    return ~outside


def test_find_large_spots_equals_ufos_algorithm():
    data = (RNG.normal(0, 0.05, (24, 28))).astype(np.float32)
    data[5:11, 6:13] += np.float32(1.0) + RNG.random((6, 7)).astype(np.float32)  # a large spot ...
    data[7:9, 8:10] = 0  # ... with a hole
    data[16:20, 18:22] -= 3  # a dark one
    for mode, threshold, seeds in [("absolute", 1.5, np.abs(data) > 1.5), ("above", 1.5, data > 1.5),
                                   ("below", -2.0, data < -2.0)]:
        out = ufo.task("find-large-spots", spot_threshold=threshold, spot_threshold_mode=mode,
                       grow_threshold=0.5)(data[None]).collect()[0]
        np.testing.assert_array_equal(out, _grow_and_fill(data, seeds, 0.5).astype(np.float32), err_msg=mode)
    assert out[7, 8] == 0 and out[17, 19] == 1


def test_noise_estimate_equals_immerkaers_formula_and_the_true_sigma():
    data = RNG.normal(0, 0.1, (256, 256)).astype(np.float32)
    assert estimate_noise_sigma(data) == pytest.approx(0.1, rel=0.05)  # white noise of sigma 0.1
    small = data[:40, :50].astype(np.float64)
    padded = np.pad(small, 1, mode="symmetric")  # OpenCL's mirrored_repeat
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]])
    total = sum(abs((padded[y:y + 3, x:x + 3] * kernel).sum()) for y in range(40) for x in range(50))
    assert estimate_noise_sigma(small) == pytest.approx(math.sqrt(math.pi / 2) / (6 * 48 * 38) * total, rel=1e-12)


def test_find_large_spots_grows_by_the_estimated_noise():
    data = RNG.normal(0, 0.1, (48, 48)).astype(np.float32)
    data[20:30, 20:30] += 5
    out = ufo.task("find-large-spots", spot_threshold=3)(data[None]).collect()[0]
    expected = _grow_and_fill(data, np.abs(data) > 3, 4.29 * estimate_noise_sigma(data))
    np.testing.assert_array_equal(out, expected.astype(np.float32))
    assert out[20:30, 20:30].all()


def test_ufo_run_zeropad_power_spectrum_pipeline(tmp_path):
    (tmp_path / "in").mkdir()
    for number, frame in enumerate(FRAMES):
        tifffile.imwrite(tmp_path / "in" / f"frame-{number}.tif", frame)
    result = subprocess.run([sys.executable, "-m", "ufo", "run",
                             "read path=in/ ! zeropad ! power-spectrum ! swap-quadrants ! write path=out.tif"],
                            check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = tifffile.imread(tmp_path / "out.tif")
    padded = np.zeros((2, 12, 16))
    padded[:, :, :8] = FRAMES[:, :, 7:]
    padded[:, :, 9:] = FRAMES[:, :, :7]
    np.testing.assert_allclose(out, np.fft.fftshift(padded ** 2, axes=(1, 2)), rtol=1e-6)
