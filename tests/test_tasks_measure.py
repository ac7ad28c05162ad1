"""UFO's measurements (measure, measure-sharpness, stat-monitor) against numpy/scipy.stats
references, run through real graphs, with stated tolerances."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tifffile
from scipy import stats

import ufo
from ufo.core.errors import GraphError

RNG = np.random.default_rng(23)
FRAMES = (RNG.random((3, 13, 19)) ** 2).astype(np.float32)  # skewed, so skew and kurtosis are not ~0

REFERENCES = {
    "min": np.min, "max": np.max, "sum": np.sum, "mean": np.mean,
    "var": lambda a, axis: np.var(a, axis=axis, ddof=0),
    "std": lambda a, axis: np.std(a, axis=axis, ddof=0),
    "skew": lambda a, axis: stats.skew(a, axis=axis, bias=True),
    "kurtosis": lambda a, axis: stats.kurtosis(a, axis=axis, fisher=True, bias=True),
}


@pytest.mark.parametrize("metric", list(REFERENCES))
@pytest.mark.parametrize("axis,numpy_axis", [(-1, None), (0, 1), (1, 0)])
def test_measure_equals_numpy_and_scipy_stats(metric, axis, numpy_axis):
    # float64 inside, float32 out: rtol 1e-6
    out = ufo.task("measure", metric=metric, axis=axis)(FRAMES).collect()
    data = FRAMES.astype(np.float64)
    expected = np.stack([np.atleast_1d(REFERENCES[metric](f, axis=numpy_axis)) for f in data])
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-9)
    assert out.dtype == np.float32


def test_measure_whole_frame_value_is_in_the_metadata():
    frames = list(ufo.task("measure", metric="mean")(FRAMES))
    assert [f.meta["mean"] for f in frames] == pytest.approx(FRAMES.astype(np.float64).mean(axis=(1, 2)), rel=1e-12)


def test_measure_of_a_flat_frame_has_zero_skew_and_kurtosis_minus_three():
    flat = np.ones((1, 4, 4), np.float32)
    assert ufo.task("measure", metric="skew")(flat).collect()[0, 0] == 0
    assert ufo.task("measure", metric="kurtosis")(flat).collect()[0, 0] == -3


def _sharpness(frame):
    f = frame.astype(np.float64)
    h, w = f.shape
    total = 0.0
    for y in range(1, h):
        for x in range(1, w):
            total += abs(f[y, x] - f[y, x - 1]) + abs(f[y, x] - f[y - 1, x])
    return total / 2.0 / (w * h)


def test_measure_sharpness_equals_ufos_loop():
    # UFO's C loop written out in Python: rtol 1e-6 (float32 output)
    frames = list(ufo.task("measure-sharpness")(FRAMES))
    for frame, data in zip(frames, FRAMES):
        assert frame.shape == (1,)
        assert frame[0] == pytest.approx(_sharpness(data), rel=1e-6)
        assert frame.meta["sharpness"] == pytest.approx(_sharpness(data), rel=1e-12)


def test_measure_sharpness_prefers_the_sharper_frame():
    from scipy import ndimage

    sharp = np.zeros((32, 32), np.float32)
    sharp[8:24, 8:24] = 1
    blurred = ndimage.gaussian_filter(sharp, 2).astype(np.float32)
    values = ufo.task("measure-sharpness")(np.stack([sharp, blurred])).collect()[:, 0]
    assert values[0] > values[1]


def _stat_line(index, frame):
    d = frame.astype(np.float64)
    return [index, d.min(), d.max(), d.sum(), (d * d).sum(), d.mean(), d.var(ddof=1)]


def test_stat_monitor_passes_frames_and_writes_statistics(tmp_path):
    path = tmp_path / "stats.txt"
    frames = list(ufo.task("stat-monitor", filename=str(path))(FRAMES))
    np.testing.assert_array_equal(np.stack(frames), FRAMES)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# index min max sum")
    table = np.array([[float(v) for v in line.split()] for line in lines[1:]])
    expected = np.array([_stat_line(i, f) for i, f in enumerate(FRAMES)])
    # printed with 7 significant digits: rtol 1e-6; var by sums of squares in float64: atol 1e-9
    np.testing.assert_allclose(table, expected, rtol=1e-6, atol=1e-9)
    assert frames[1].meta["stats"]["var"] == pytest.approx(FRAMES[1].astype(np.float64).var(ddof=1), rel=1e-9)


@pytest.mark.parametrize("name,shape", [("measure", (2, 4, 4)), ("measure-sharpness", (1, 5)),
                                        ("measure-sharpness", (4,))])
def test_bad_shapes_fail_when_the_graph_is_built(name, shape):
    with pytest.raises(GraphError, match=f"task '{name}'"):
        ufo.task(name)([np.zeros(shape, np.float32)] * 2).collect()


def test_ufo_run_stat_monitor_and_measure_pipeline(tmp_path):
    (tmp_path / "in").mkdir()
    for number, frame in enumerate(FRAMES):
        tifffile.imwrite(tmp_path / "in" / f"frame-{number}.tif", frame)
    pipeline = "read path=in/ ! stat-monitor filename=stats.txt ! measure metric=max axis=0 ! stack number=3 ! write path=out.tif"
    result = subprocess.run([sys.executable, "-m", "ufo", "run", pipeline], check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = tifffile.imread(tmp_path / "out.tif")
    np.testing.assert_array_equal(np.reshape(out, (3, 13)), FRAMES.max(axis=2))
    assert len((tmp_path / "stats.txt").read_text().splitlines()) == 4


def test_stat_monitor_replicas_write_one_header_and_every_frame(tmp_path):
    path = tmp_path / "stats.txt"
    frames = np.repeat(FRAMES, 4, axis=0)
    out = ufo.task("stat-monitor", filename=str(path))(frames, replicas=2).collect()
    np.testing.assert_array_equal(out, frames)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("#") and len(lines) == 1 + len(frames)
    assert sorted(int(line.split()[0]) for line in lines[1:]) == list(range(len(frames)))
