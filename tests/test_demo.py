"""`ufo demo` end to end (the streaming engine behind it), and the parts it brought: feeds, the graph addon,
auto-axis, fast medians, metrics."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys

import h5py
import numpy as np
import pytest
import tifffile
from scipy import ndimage

import ufo
from ufo.control import GraphAddon, ImageWriter, SimulatedBeamline, Tomography
from ufo.core.errors import Cancelled, GraphError, UsageError
from ufo.core.memory import Feed
from ufo.core.registry import create
from ufo.demo import Demo, DemoOptions
from ufo.demo.montage import montage, write_png
from ufo.demo.quality import psnr, ssim
from ufo.demo.run import clean_rows
from ufo.kernels.median import median_2d, median_rows
from ufo.storage.walker import walker
from ufo.tomo.phantom import Phantom

from .reference import assert_matches, line_integrals


def ufo_cli(*args: str, cwd=None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}  # the summary's lines unbroken
    return subprocess.run([sys.executable, "-m", "ufo", *args], check=False, capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=env)


# -- the command ---------------------------------------------------------------------------
def assert_matches_phantom(image: np.ndarray, scan: str, row: int, axis: float, threshold: float = 6.0) -> None:
    """Row `row` of the phantom, as close as scikit-image's FBP (Hann window, as the demo's) of the
    frames in `scan` with the zingers replaced by their 3 x 3 median (scipy, `threshold` robust
    sigmas, as the demo cleans them); mirrored, shifted, scaled or constant slices fail the same
    tolerance (tests/reference.py)."""
    with h5py.File(scan, "r") as f:
        keys = f["entry/instrument/detector/image_key"][()]
        angles = np.radians(f["entry/sample/rotation_angle"][()][keys == 0])
        data = f["entry/instrument/detector/data"]
        size = data.shape[2]
        near = slice(max(row - 1, 0), row + 2)
        frames = data[:, near].astype(np.float64)
    median = ndimage.median_filter(frames, size=(1, 3, 3), mode="reflect")
    diff = frames - median
    sigma = 1.4826 * np.median(np.abs(diff), axis=(1, 2), keepdims=True)
    frames = np.where(np.abs(diff) > threshold * sigma, median, frames)[:, row - near.start]
    sino = line_integrals(frames[keys == 0], frames[keys == 2], frames[keys == 1])
    truth = 0.01 * Phantom(size).slice(z=row - size / 2, size=size)
    assert_matches(image, truth, sino, angles, axis, filter_name="hann")


def test_ufo_demo_runs_the_whole_experiment(tmp_path):
    proc = ufo_cli("demo", "--size", "96", "--projections", "150", "--output", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for words in ("frames/s", "MB/s", "streaming", "PSNR", "SSIM", "scan.nx", "montage.png"):
        assert words in text, words
    assert re.search(r"190 frames in [\d.]+ s: \d+ frames/s, 0 dropped by the camera", text), text
    lag, written = (float(v) for v in re.search(r"slices complete ([\d.]+) s after the camera's last frame, "
                                                r"written ([\d.]+) s after it", text).groups())
    assert 0 <= lag <= written < 60
    found, true = (float(v) for v in re.search(r"found ([\d.]+) px, true ([\d.]+) px", text).groups())
    assert true == pytest.approx(96 / 2 + 96 / 40 + 0.37)
    assert abs(found - true) < 0.5

    scan = tmp_path / "out" / "scan_0000"
    with h5py.File(scan / "scan.nx", "r") as f:  # NXtomo as NeXus tools read it: raw frames
        entry = f["entry"]
        assert entry.attrs["NX_class"] == "NXentry"
        assert entry["definition"][()] == b"NXtomo"
        keys = entry["instrument/detector/image_key"][()]
        assert list(np.bincount(keys)) == [150, 20, 20]
        data = entry["instrument/detector/data"]
        assert data.shape == (190, 96, 96)
        angles = entry["sample/rotation_angle"][()][keys == 0]
        assert angles[0] == pytest.approx(0) and angles[-1] == pytest.approx(180 * 149 / 150)
        darks = data[np.flatnonzero(keys == 2)[:3]]
        assert np.median(darks) == pytest.approx(100, abs=3)
        assert (data[-1] == 65535).sum() > 0  # the zingers are in the file: only the reconstruction is cleaned

    slices = sorted((scan / "slices").glob("slice-*.tif"))
    assert len(slices) == 96  # 96 rows: all reconstructed by default
    for row in (30, 48, 66):
        assert_matches_phantom(tifffile.imread(slices[row]), str(scan / "scan.nx"), row, found)

    from PIL import Image

    picture = np.array(Image.open(scan / "montage.png"))
    assert picture.ndim == 2 and picture.shape == (2 * 96 + 4, 3 * 96 + 8)  # 3 slices: phantom above, ufo below
    assert picture.std() > 20  # a picture, not a blank

    again = ufo_cli("demo", "--size", "64", "--projections", "64", "--output", "out", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "out" / "scan_0001" / "scan.nx").exists()  # a second run never replaces the first


def test_ufo_demo_checks_its_options(tmp_path):
    proc = ufo_cli("demo", "--size", "8", cwd=tmp_path)
    assert proc.returncode == 2 and "--size 8" in proc.stderr
    proc = ufo_cli("demo", "--rows", "50:10", "--size", "64", cwd=tmp_path)
    assert proc.returncode == 2 and "--rows" in proc.stderr
    proc = ufo_cli("demo", "--rows", "0:64:0", "--size", "64", cwd=tmp_path)
    assert proc.returncode == 2 and "STEP" in proc.stderr
    proc = ufo_cli("demo", "--axis", "middle", "--size", "64", cwd=tmp_path)
    assert proc.returncode == 2 and "--axis" in proc.stderr
    proc = ufo_cli("demo", "--axis-offset", "40", "--size", "64", cwd=tmp_path)
    assert proc.returncode == 2 and "too far off centre" in proc.stderr
    if not ufo_gpu_available():
        proc = ufo_cli("demo", "--gpu", "--size", "64", cwd=tmp_path)
        assert proc.returncode == 2 and "no GPU" in proc.stderr
    help_text = ufo_cli("demo", "--help").stdout
    assert "Examples" in help_text and "64 rows spread over" in help_text


def ufo_gpu_available() -> bool:
    from ufo.gpu import available

    return available() > 0


def test_demo_rows_default_to_a_spread_subset_on_the_cpu():
    assert DemoOptions().row_slice() == slice(4, 512, 8) and len(DemoOptions().row_list()) == 64
    assert DemoOptions(gpu=True).row_slice() == slice(0, 512, 1)
    assert DemoOptions(size=96).row_slice() == slice(0, 96, 1)  # small detectors: every row
    assert DemoOptions(rows="all").row_list() == list(range(512))
    assert DemoOptions(rows="200:300").row_slice() == slice(200, 300, 1)
    assert DemoOptions(rows="0:512:4").row_list() == list(range(0, 512, 4))
    assert DemoOptions().describe_rows() == "rows 4:512:8, one in 8"
    for bad in ("10", "1:2:3:4", "a:b", "0:513", "5:5", "0:10:-1"):
        with pytest.raises(UsageError, match="--rows"):
            DemoOptions(rows=bad).check()


def test_clean_rows_replaces_zingers_and_dead_pixels_of_the_reconstructed_rows_only():
    rng = np.random.default_rng(1)
    frame = (3000 + rng.normal(0, 20, (40, 50))).astype(np.uint16)
    frame[:, 7] = 0  # a dead column
    frame[10, 20] = frame[25, 30] = 65535  # zingers
    raw = frame.copy()
    for rows in (slice(8, 30, 1), slice(2, 40, 4)):
        cleaned = clean_rows(frame, rows, 6.0)
        np.testing.assert_array_equal(frame, raw)  # the caller's frame (the file's) is untouched
        index = np.arange(40)[rows]
        others = np.setdiff1d(np.arange(40), index)
        np.testing.assert_array_equal(cleaned[others], raw[others])
        assert cleaned.dtype == np.uint16
        assert np.all(np.abs(cleaned[index].astype(float) - 3000) < 150)  # no zinger, no dead pixel left
        quiet = np.ones(50, bool)
        quiet[[6, 7, 8, 19, 20, 21, 29, 30, 31]] = False
        assert np.mean(cleaned[index][:, quiet] == raw[index][:, quiet]) > 0.999  # noise stays as it was


def test_demo_reconstructs_a_row_range_through_the_api(tmp_path):
    run = Demo(DemoOptions(size=64, projections=96, output=str(tmp_path), rows="20:40", darks=4, flats=4))
    result = asyncio.run(run.run())
    assert result.slices == 20 == run.reconstructed and result.rows == list(range(20, 40))
    assert min(p.name for p in (tmp_path / "scan_0000" / "slices").iterdir()) == "slice-00020.tif"
    assert result.frames == 104 == result.frames_expected and run.written == 104
    assert result.frames_dropped == 0
    assert result.axis_auto and abs(result.axis_error) < 0.5
    assert 0 <= result.lag_s <= result.slices_written_s  # the engine's lag: from its last frame to the slices
    assert run.backprojected == 96
    assert result.psnr > 17 and 0.3 < result.ssim <= 1
    assert_matches_phantom(tifffile.imread(result.slices_path % 32), str(tmp_path / "scan_0000" / "scan.nx"), 32,
                           result.found_axis)


def test_demo_rows_outside_the_sample_are_said(tmp_path):
    """--rows 0:2 found an axis 19 px off and compared nothing, with no word."""
    run = Demo(DemoOptions(size=64, projections=30, output=str(tmp_path), rows="0:2", darks=2, flats=2))
    result = asyncio.run(run.run())
    assert result.compared_slices == 0
    assert [w for w in result.warnings if "hold no part of the sample, which fills rows" in w
            and "the axis found there is not the sample's" in w]
    inside = asyncio.run(Demo(DemoOptions(size=64, projections=30, output=str(tmp_path / "in"), rows="30:32", darks=2,
                                          flats=2)).run())
    assert not [w for w in inside.warnings if "no part of the sample" in w]


def test_demo_with_a_given_axis_back_projects_while_the_scan_runs(tmp_path):
    options = DemoOptions(size=64, projections=96, output=str(tmp_path), rows="8:64:8", darks=4, flats=4)
    options.axis = options.true_axis
    seen: list[int] = []
    run = Demo(options)

    async def watch():
        task = asyncio.ensure_future(run.run())
        while run.acquired < run.frames_total:
            seen.append(run.backprojected)
            await asyncio.sleep(0.005)
        return await task

    result = asyncio.run(watch())
    assert not result.axis_auto and result.found_axis == options.true_axis
    assert max(seen) > 0  # batches were back-projected before the last frame arrived
    assert result.slices == 7 and result.rows == [8, 16, 24, 32, 40, 48, 56]
    names = sorted(p.name for p in (tmp_path / "scan_0000" / "slices").iterdir())
    assert names == [f"slice-{row:05d}.tif" for row in result.rows]  # files named by detector row
    assert result.frames_dropped == 0 and 0 <= result.lag_s < 5
    assert_matches_phantom(tifffile.imread(result.slices_path % 32), str(tmp_path / "scan_0000" / "scan.nx"), 32,
                           options.true_axis)


# -- the graph addon ---------------------------------------------------------------------------
def test_graph_addon_streams_acquisitions_into_a_graph_while_they_run(tmp_path):
    seen: dict[str, int] = {}

    def build(feeds, experiment):
        seen["started_in"] = experiment.current
        corrected = create("flat-field-correct")(feeds["projections"], feeds["darks"], feeds["flats"])
        return create("write", path=str(tmp_path / "corrected.h5:/data"))(corrected)

    async def scan():
        async with SimulatedBeamline(width=48, height=8) as beamline:
            experiment = Tomography(beamline, walker(str(tmp_path / "exp")), projections=30, darks=3, flats=3)
            writer = experiment.attach(ImageWriter())
            addon = experiment.attach(GraphAddon(build, ("darks", "flats", "projections"), counts={"projections": 30}))
            await experiment.run()
            return addon, writer

    addon, writer = asyncio.run(scan())
    assert seen["started_in"] == "scan_0000"
    assert addon.handle.stats["write"].frames_in == 30 and writer.frames == 36
    with h5py.File(tmp_path / "corrected.h5", "r") as f:
        corrected = f["data"][()]
    truth = np.exp(-0.01 * np.stack([Phantom(48, height=8).projection(a, rows=slice(0, 8))
                                     for a in np.arange(30) * np.pi / 30]))
    np.testing.assert_allclose(corrected, truth, atol=2e-3)  # transmission, counts rounded to integers


def test_graph_addon_error_fails_the_experiment_and_keeps_the_raw_file(tmp_path):
    def build(feeds, experiment):
        return create("write", path=str(tmp_path / "x.tif"))(create("crop", x=1000)(feeds["projections"]))

    async def scan():
        async with SimulatedBeamline(width=32, height=4) as beamline:
            experiment = Tomography(beamline, walker(str(tmp_path / "exp")), projections=10, darks=2, flats=2)
            experiment.attach(ImageWriter())
            experiment.attach(GraphAddon(build, ("projections",)))
            await experiment.run()

    with pytest.raises(GraphError, match="crop"):
        asyncio.run(scan())
    with h5py.File(tmp_path / "exp" / "scan_0000" / "scan.nx", "r") as f:
        assert f["entry/instrument/detector/data"].shape[1:] == (4, 32)


def test_feed_declares_its_frames_and_never_hangs_a_producer():
    feed = Feed(shape=(4, 5), dtype=np.uint16, count=3)
    stream = create("calculate", expression="x * 2")(feed())
    handle = create("memory-out", out=(out := []))(stream).run()
    for i in range(3):
        feed.put(np.full((4, 5), i, np.uint16), {"angle": i / 10})
    feed.close()
    feed.close()  # twice is harmless
    handle.wait()
    assert [int(frame[0, 0]) for frame in out] == [0, 2, 4]
    with pytest.raises(GraphError, match="shape"):
        feed.put(np.zeros((5, 4)))
    with pytest.raises(GraphError, match="shape"):
        Feed()

    stopped = Feed(shape=(2, 2), capacity=1)
    handle = create("null")(stopped()).run()
    handle.cancel()
    with pytest.raises(Cancelled):
        handle.wait()
    with pytest.raises(Cancelled):
        for _ in range(5):  # the queue holds one frame; after that only the stopped graph answers
            stopped.put(np.zeros((2, 2), np.float32))


# -- auto-axis and backproject with metadata -------------------------------------------------------
@pytest.mark.parametrize("offset", [-6.3, 0.0, 4.7])
def test_auto_axis_tags_sinograms_and_backproject_uses_it(offset):
    n, rows = 96, 12
    phantom = Phantom(n, height=rows)
    angles = np.arange(120) * np.pi / 120
    true = n / 2 + offset
    sinos = np.stack([phantom.sinogram(angles, axis=true, z=r - rows / 2) for r in range(rows)]).astype(np.float32)
    finder = create("auto-axis")
    slices = list(create("unstack")(create("backproject")(create("stack", number=5, partial=True)(finder(sinos)))))
    assert abs(finder.axis - true) < 0.3
    assert len(slices) == rows and all(s.meta["axis"] == finder.axis for s in slices)
    reference = create("unstack")(ufo.Backproject(axis=finder.axis)(create("stack", number=5, partial=True)(sinos))).collect()
    np.testing.assert_array_equal(np.stack(slices), reference)  # same as giving the axis by hand
    given = ufo.Backproject(axis=true)(create("auto-axis")(sinos)).collect()  # the property wins
    np.testing.assert_allclose(given, ufo.Backproject(axis=true)(sinos).collect())


def test_auto_axis_on_a_360_degree_scan_and_its_errors():
    n = 80
    true = n / 2 + 3.2
    sino = Phantom(n).sinogram(np.arange(200) * 2 * np.pi / 200, axis=true).astype(np.float32)
    finder = create("auto-axis", angle_step=2 * np.pi / 200)
    finder(sino[None]).collect()
    assert abs(finder.axis - true) < 0.3
    with pytest.raises(GraphError, match="row=5"):
        create("auto-axis", row=5)(np.zeros((2, 10, 10), np.float32)).collect()
    with pytest.raises(GraphError, match="sinograms"):
        create("auto-axis")(np.zeros((2, 2, 2, 3, 4), np.float32)).collect()


# -- kernels and metrics against their references ----------------------------------------------------
@pytest.mark.parametrize("size", [3, 5, 7])
@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
def test_median_kernels_equal_scipy(size, dtype):
    rng = np.random.default_rng(size)
    for shape in [(64, 80), (3, 2), (1, 1), (17, 5)]:
        data = (rng.random(shape) * 50).astype(dtype)  # many ties
        np.testing.assert_array_equal(median_2d(data, size, np.empty_like(data)),
                                      ndimage.median_filter(data, size=size, mode="reflect"))
        for width in (w for w in (size, 21) if w // 2 < shape[1]):  # wider windows: scipy's borders are irregular
            np.testing.assert_array_equal(median_rows(data, width, np.empty_like(data)),
                                          ndimage.median_filter(data, size=(1, width), mode="reflect"))


def test_quality_metrics_equal_scikit_image():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    rng = np.random.default_rng(3)
    truth = Phantom(64).slice(size=64)
    test = truth + rng.normal(0, 0.05, truth.shape)
    assert psnr(truth, test, 1.0) == pytest.approx(peak_signal_noise_ratio(truth, test, data_range=1.0), rel=1e-12)
    expected = structural_similarity(truth, test, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False)
    assert ssim(truth, test, 1.0) == pytest.approx(expected, rel=1e-9)
    assert ssim(truth, truth, 1.0) == pytest.approx(1.0) and psnr(truth, truth) == np.inf
    with pytest.raises(ValueError, match="shapes"):
        psnr(truth, test[1:])


def test_png_montage_reads_back_with_pillow(tmp_path):
    from PIL import Image

    a = np.linspace(0, 1, 30 * 40).reshape(30, 40)
    picture = montage([[a, 1 - a], [a]], 0.0, 1.0, gap=2)
    assert picture.shape == (62, 82) and picture[0, 40] == 255  # the gap is white
    write_png(str(tmp_path / "m.png"), picture)
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "m.png")), picture)
    rgb = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    write_png(str(tmp_path / "c.png"), rgb)
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "c.png")), rgb)
    with pytest.raises(ValueError, match="shape"):
        write_png(str(tmp_path / "x.png"), np.zeros((2, 2, 2), np.uint8))


def test_phantom_projection_equals_its_sinograms():
    phantom = Phantom(70, height=30)
    for angle in (0.0, 0.7, 2.9):
        rows = np.array([phantom.sinogram(np.array([angle]), 37.3, z=r - 15)[0] for r in range(5, 25)])
        np.testing.assert_allclose(phantom.projection(angle, 37.3, slice(5, 25)), rows, atol=1e-9)


class _FailsAtThird(ufo.Task):
    name = "_fails-at-third"

    def setup(self, ctx):
        super().setup(ctx)
        self.seen = 0

    def process(self, frame, out):
        self.seen += 1
        if self.seen == 3:
            raise OSError("No space left on device (simulated)")
        return frame


def test_graph_failing_mid_scan_reports_its_own_error(tmp_path):
    def build(feeds, experiment):
        return create("null")(_FailsAtThird()(feeds["projections"]))

    async def scan():
        async with SimulatedBeamline(width=32, height=4) as beamline:
            experiment = Tomography(beamline, walker(str(tmp_path / "exp")), projections=200, darks=1, flats=1)
            writer = experiment.attach(ImageWriter())
            experiment.attach(GraphAddon(build, ("projections",), queue_size=2))
            try:
                await experiment.run()
            finally:
                assert experiment.state == "error"
            return writer

    with pytest.raises(Exception, match="No space left on device"):
        asyncio.run(scan())
    with h5py.File(tmp_path / "exp" / "scan_0000" / "scan.nx", "r") as f:
        taken = f["entry/instrument/detector/data"].shape[0]
    assert 2 < taken < 202  # the scan stopped early; what was taken is in the file
